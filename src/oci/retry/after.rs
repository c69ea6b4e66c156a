//! The `Retry-After` response header (RFC 9110, section 10.2.3): how long a registry that answered
//! 429 or 503 wants a client to wait, as delta-seconds (`120`) or as an HTTP-date.

use std::time::{Duration, SystemTime};

use crate::http_date;

/// The wait `value` asks for, counted from `now`. A date already past asks for no wait; a value in
/// neither form is None.
pub fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 still means "much later", not "no opinion".
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = http_date::parse(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Whole seconds, rounded up: a wait of 0.2 s is still a wait.
pub fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// A wait as people say it, to its two largest units: `45s`, `2m 30s`, `1h`, `3d 4h`.
pub fn human(wait: Duration) -> String {
    let secs = whole_seconds(wait);
    let units = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3600, "h"),
        (secs % 3600 / 60, "m"),
        (secs % 60, "s"),
    ];
    let Some(first) = units.iter().position(|(n, _)| *n > 0) else {
        return "0s".into();
    };
    units[first..(first + 2).min(units.len())]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http_date::rfc_example;

    #[test]
    fn delta_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse("1", now), Some(Duration::from_secs(1)));
        assert_eq!(parse(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(parse("0", now), Some(Duration::ZERO));
        assert_eq!(
            parse("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn http_date_in_all_three_forms() {
        let before = rfc_example() - Duration::from_secs(90);
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse(form, before), Some(Duration::from_secs(90)), "{form}");
        }
    }

    #[test]
    fn a_past_date_asks_for_no_wait() {
        let after = rfc_example() + Duration::from_secs(3600);
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:49:37 GMT", after),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn anything_else_is_no_answer() {
        let now = SystemTime::now();
        for value in [
            "",
            "soon",
            "-1",
            "1.5",
            "06 Nov 1994",
            "Sun, 06 Nov 1994 08:49:37 CET",
        ] {
            assert_eq!(parse(value, now), None, "{value:?}");
        }
    }

    #[test]
    fn waits_read_as_people_say_them() {
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_secs(150)), "2m 30s");
        assert_eq!(human(Duration::from_secs(3600)), "1h");
        assert_eq!(human(Duration::from_millis(200)), "1s");
        assert_eq!(
            human(Duration::from_secs(3 * 86_400 + 4 * 3600 + 59)),
            "3d 4h"
        );
        assert_eq!(human(Duration::ZERO), "0s");
    }
}
