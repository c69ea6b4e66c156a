//! HTTP-dates (RFC 9110, section 5.6.7), as registries send them in `Retry-After` and as a proxy
//! stamps its responses' `date`.

use std::time::SystemTime;

use chrono::{DateTime, NaiveDateTime, Utc};

/// An HTTP-date in any of the three forms a recipient must accept: IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`)
/// and asctime (`Sun Nov  6 08:49:37 1994`).
pub(crate) fn parse(value: &str) -> Option<SystemTime> {
    let date = NaiveDateTime::parse_from_str(value, "%a, %d %b %Y %H:%M:%S GMT")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%A, %d-%b-%y %H:%M:%S GMT"))
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%a %b %e %H:%M:%S %Y"))
        .ok()?;
    Some(date.and_utc().into())
}

/// `at` as an IMF-fixdate, the form registries and proxies send; None beyond the calendar's range, where a
/// registry asking for millions of years would otherwise take the process down.
pub(crate) fn format(at: SystemTime) -> Option<String> {
    let since = at.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    let at: DateTime<Utc> =
        DateTime::from_timestamp(i64::try_from(since.as_secs()).ok()?, since.subsec_nanos())?;
    Some(at.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

/// Sun, 06 Nov 1994 08:49:37 GMT, the example date of RFC 9110.
#[cfg(test)]
pub(crate) fn rfc_example() -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn formats_round_trip() {
        let text = format(rfc_example()).unwrap();
        assert_eq!(text, "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse(&text), Some(rfc_example()));
    }

    #[test]
    fn a_date_past_the_calendar_is_not_formatted() {
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 60);
        assert_eq!(format(far), None);
    }
}
