//! Comparing what the plugin did with what a scenario expects, and saying exactly what differs.

use indexmap::IndexMap;

use super::expect::{CallExpect, Expect, LogExpect, Matcher, MessageExpect};
use super::metrics::MetricsNow;
use super::report::{CaseOutcome, CaseReport};
use crate::host::{CallRecord, HeaderMap, HostError, HttpOutcome, LogRecord, NetworkOutcome};

/// Checks one exchange or connection, the calls the plugin made in it, and the metrics after.
pub(super) fn outcome(
    case: &mut CaseReport,
    outcome: &CaseOutcome,
    calls: &[CallRecord],
    metrics_now: &MetricsNow,
    expect: &Expect,
) {
    let logged = match outcome {
        CaseOutcome::Http(outcome) => {
            exchange(case, outcome, expect);
            &outcome.logs
        }
        CaseOutcome::Connection(outcome) => {
            connection(case, outcome, expect);
            &outcome.logs
        }
    };
    logs(case, logged, &expect.logs, &expect.no_logs);
    if let Some(want) = &expect.calls {
        calls_made(case, calls, want);
    }
    metrics(case, metrics_now, &expect.metrics);
}

fn exchange(case: &mut CaseReport, outcome: &HttpOutcome, expect: &Expect) {
    if let Some(why) = &outcome.stalled {
        // A stall is only fine when nothing downstream was expected.
        if expect.response.is_some() || expect.upstream.is_some() {
            case.fail(format!("the exchange did not complete: {why}"));
        }
    }
    no_failure(case, expect.failure.as_ref());
    if let Some(want) = expect.local_reply {
        match (&outcome.local_reply, want) {
            (None, true) => {
                case.fail("expected a local reply, but the request went upstream".into())
            }
            (Some(reply), false) => case.fail(format!(
                "expected no local reply, but {} sent {} {:?}",
                reply.callback,
                reply.status,
                String::from_utf8_lossy(&reply.body)
            )),
            _ => {}
        }
    }
    let upstream = outcome.upstream.as_ref().map(|req| Message {
        status: None,
        headers: &req.headers,
        body: &req.body,
        trailers: &req.trailers,
    });
    let response = outcome.response.as_ref().map(|resp| Message {
        status: Some(resp.status),
        headers: &resp.headers,
        body: &resp.body,
        trailers: &resp.trailers,
    });
    for (what, missing, want, got) in [
        (
            "upstream request",
            "expected the request to reach the upstream, but it did not",
            &expect.upstream,
            upstream,
        ),
        (
            "response",
            "expected a response, but there was none",
            &expect.response,
            response,
        ),
    ] {
        match (want, got) {
            (None, _) => {}
            (Some(_), None) => case.fail(missing.into()),
            (Some(want), Some(got)) => message(case, what, &got, want),
        }
    }
}

fn connection(case: &mut CaseReport, outcome: &NetworkOutcome, expect: &Expect) {
    no_failure(case, expect.failure.as_ref());
    for (what, want, got) in [
        (
            "bytes to the upstream",
            &expect.to_upstream,
            &outcome.to_upstream,
        ),
        (
            "bytes to the client",
            &expect.to_downstream,
            &outcome.to_downstream,
        ),
    ] {
        if let Some(want) = want
            && !want.matches_bytes(got)
        {
            case.fail(format!("{what}: expected {want}, got {}", shown(got)));
        }
    }
}

/// A step the plugin came through, against the failure expected, if any.
fn no_failure(case: &mut CaseReport, expected: Option<&Matcher>) {
    if let Some(failure) = expected {
        case.fail(format!(
            "expected the plugin to fail with {failure}, but it did not"
        ));
    }
}

/// Checks a plugin failure against the one expected, if any.
pub(super) fn failure(case: &mut CaseReport, err: &HostError, expected: Option<&Matcher>) {
    let text = failure_text(err);
    match expected {
        Some(m) if m.matches(&err.to_string()) || m.matches(&text) => {}
        Some(m) => case.fail(format!("expected a failure {m}, got: {text}")),
        None => case.fail(text),
    }
}

/// A request or response as the plugin left it; a forwarded request has no status.
struct Message<'a> {
    status: Option<u16>,
    headers: &'a HeaderMap,
    body: &'a [u8],
    trailers: &'a HeaderMap,
}

fn message(case: &mut CaseReport, what: &str, got: &Message, want: &MessageExpect) {
    let before = case.failures.len();
    if let (Some(want), Some(got)) = (want.status, got.status)
        && want != got
    {
        case.fail(format!("{what} status: expected {want}, got {got}"));
    }
    for (kind, want, got) in [
        ("header", &want.headers, got.headers),
        ("trailer", &want.trailers, got.trailers),
    ] {
        for (name, matcher) in want {
            match got.get(name) {
                None => case.fail(format!(
                    "{what} {kind} `{name}`: expected {matcher}, but it is missing"
                )),
                Some(value) if !matcher.matches(&value) => case.fail(format!(
                    "{what} {kind} `{name}`: expected {matcher}, got {value:?}"
                )),
                Some(_) => {}
            }
        }
    }
    for name in &want.absent {
        if let Some(value) = got.headers.get(name) {
            case.fail(format!(
                "{what} header `{name}`: expected absent, got {value:?}"
            ));
        }
    }
    if let Some(matcher) = &want.body
        && !matcher.matches_bytes(got.body)
    {
        case.fail(format!(
            "{what} body: expected {matcher}, got {}",
            shown(got.body)
        ));
    }
    if case.failures.len() > before {
        let listing: Vec<String> = got
            .headers
            .iter()
            .map(|(n, v)| format!("    {n}: {v}"))
            .collect();
        case.fail(format!("{what} headers were:\n{}", listing.join("\n")));
    }
}

pub(super) fn logs(
    case: &mut CaseReport,
    logs: &[LogRecord],
    want: &[LogExpect],
    unwanted: &[LogExpect],
) {
    let mut missing = false;
    for expectation in want {
        if !logs.iter().any(|l| expectation.matches(l)) {
            case.fail(format!("expected {expectation}, but none was logged"));
            missing = true;
        }
    }
    for expectation in unwanted {
        if let Some(record) = logs.iter().find(|l| expectation.matches(l)) {
            case.fail(format!(
                "expected no log like {expectation}, got {}: {}",
                record.level.as_str(),
                record.message
            ));
        }
    }
    if missing {
        let listing: Vec<String> = logs
            .iter()
            .map(|l| format!("    {} [{}] {}", l.level.as_str(), l.callback, l.message))
            .collect();
        if listing.is_empty() {
            case.fail("the plugin logged nothing".into());
        } else {
            case.fail(format!("the plugin logged:\n{}", listing.join("\n")));
        }
    }
}

fn metrics(case: &mut CaseReport, metrics: &MetricsNow, want: &IndexMap<String, i64>) {
    for (name, value) in want {
        match metrics.read.iter().find(|m| &m.name == name) {
            None => match metrics.why_unread(name) {
                Some(why) => case.unchecked.push(format!("metric `{name}`: {why}")),
                None => case.fail(format!(
                    "metric `{name}`: expected {value}, but it is not defined"
                )),
            },
            Some(m) if m.value != *value => case.fail(format!(
                "metric `{name}`: expected {value}, got {}",
                m.value
            )),
            Some(_) => {}
        }
    }
}

/// The calls that reached their clusters (a refused one never left the proxy), one for each
/// expected. Calls made together race to their clusters in Envoy, so each expectation may be met
/// by any one call; when no way to pair them meets them all, they are checked in the order the
/// calls were made, and the failures say where.
fn calls_made(case: &mut CaseReport, calls: &[CallRecord], want: &[CallExpect]) {
    let mut made: Vec<&CallRecord> = calls.iter().filter(|c| !c.refused).collect();
    if made.len() != want.len() {
        let listing: Vec<String> = made
            .iter()
            .map(|c| {
                let (method, path) = (c.headers.get(":method"), c.headers.get(":path"));
                let (method, path) = (method.unwrap_or_default(), path.unwrap_or_default());
                format!("    to `{}`: {method} {path}", c.upstream)
            })
            .collect();
        let made_text = match listing.is_empty() {
            true => "none".to_string(),
            false => format!("{}:\n{}", made.len(), listing.join("\n")),
        };
        case.fail(format!(
            "expected {} call(s), the plugin made {made_text}",
            want.len()
        ));
        return;
    }
    let meets = |got: &CallRecord, want: &CallExpect| {
        let mut trial = CaseReport::new("");
        call_made(&mut trial, 0, got, want);
        trial.passed()
    };
    let fits: Vec<Vec<bool>> = (want.iter())
        .map(|w| made.iter().map(|got| meets(got, w)).collect())
        .collect();
    if let Some(pairing) = pairing(&fits, &mut vec![false; made.len()]) {
        made = pairing.iter().map(|&index| made[index]).collect();
    }
    for (index, (got, want)) in made.iter().zip(want).enumerate() {
        call_made(case, index, got, want);
    }
}

/// Checks call number `index` (from 0) against what was expected of it.
fn call_made(case: &mut CaseReport, index: usize, got: &CallRecord, want: &CallExpect) {
    let what = format!("call {} (to `{}`)", index + 1, got.upstream);
    if let Some(upstream) = want.upstream.as_ref().filter(|u| **u != got.upstream) {
        case.fail(format!("{what}: expected it to go to `{upstream}`"));
    }
    let message = Message {
        status: None,
        headers: &got.headers,
        body: &got.body,
        trailers: &HeaderMap::new(),
    };
    self::message(case, &what, &message, &want.as_message());
}

/// A call for each expectation, each call used once, where `fits[expected][call]` says which
/// calls meet which expectation: the calls' indexes, in the expectations' order, preferring the
/// order they were made in.
fn pairing(fits: &[Vec<bool>], used: &mut Vec<bool>) -> Option<Vec<usize>> {
    let Some((first, rest)) = fits.split_first() else {
        return Some(Vec::new());
    };
    for call in 0..first.len() {
        if first[call] && !used[call] {
            used[call] = true;
            if let Some(mut tail) = pairing(rest, used) {
                tail.insert(0, call);
                return Some(tail);
            }
            used[call] = false;
        }
    }
    None
}

/// Bytes as a failure shows them: quoted text, or base64 when they are not text.
fn shown(bytes: &[u8]) -> String {
    use base64::Engine as _;
    match std::str::from_utf8(bytes) {
        Ok(text) => format!("{text:?}"),
        Err(_) => format!(
            "base64 {:?}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ),
    }
}

/// Says, for a failed case, which of its calls were refused for want of a cluster: the likely
/// reason the plugin went another way.
pub(super) fn refused_calls(case: &mut CaseReport, calls: &[CallRecord]) {
    for call in calls.iter().filter(|c| c.refused) {
        let kind = if call.grpc { "grpc_call" } else { "http_call" };
        case.fail(format!(
            "the plugin's {kind} to upstream `{}` was refused, as Envoy refuses a call to a \
             cluster it lacks: no `http_calls` answer in this scenario names that upstream",
            call.upstream
        ));
    }
}

/// The error text with the plugin's last error log, as the report shows it.
pub(super) fn failure_text(err: &HostError) -> String {
    use crate::error::Hint;
    let mut text = err.to_string();
    for hint in err.hints() {
        text.push_str("\n  ");
        text.push_str(&hint);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::pairing;

    #[test]
    fn calls_pair_with_expectations_in_any_order_the_made_order_first() {
        let fits = |rows: &[&[bool]]| rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>();
        let both = fits(&[&[true, true], &[true, true]]);
        assert_eq!(pairing(&both, &mut vec![false; 2]), Some(vec![0, 1]));
        let swapped = fits(&[&[false, true], &[true, true]]);
        assert_eq!(pairing(&swapped, &mut vec![false; 2]), Some(vec![1, 0]));
        let one_call_twice = fits(&[&[true, false], &[true, false]]);
        assert_eq!(pairing(&one_call_twice, &mut vec![false; 2]), None);
    }
}
