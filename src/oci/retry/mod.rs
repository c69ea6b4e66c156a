//! The retry of every registry request (push, pull, authentication): bounded, jittered exponential
//! backoff that waits as long as a registry's `Retry-After` asks, up to a limit.

pub(super) mod after;

use std::future::Future;
use std::time::{Duration, SystemTime};

use oci_client::errors::OciDistributionError;
use rand::Rng;

use super::OciError;
use super::classify::{Classified, Peer};
use crate::http_date;

/// Attempts per request, the first one included.
const MAX_ATTEMPTS: u32 = 5;
const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(8);
/// The longest `Retry-After` waited out; a registry asking for more gets an error saying when to
/// try again, rather than a command that seems to hang.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// A failed attempt, with the wait the registry asked for, if it named one.
#[derive(Debug)]
pub struct Failure {
    pub error: OciDistributionError,
    pub retry_after: Option<Duration>,
}

impl From<OciDistributionError> for Failure {
    fn from(error: OciDistributionError) -> Self {
        Failure {
            error,
            retry_after: None,
        }
    }
}

impl From<reqwest::Error> for Failure {
    fn from(error: reqwest::Error) -> Self {
        OciDistributionError::RequestError(error).into()
    }
}

/// Runs `attempt` until it succeeds, fails for good, or has been tried [`MAX_ATTEMPTS`] times.
/// `action` ("upload a blob") and `peer` word the error; each retry is a note to the peer's
/// reporter (`-v`).
pub(crate) async fn with_retries<T, E, F, Fut>(
    peer: &Peer<'_>,
    action: &str,
    attempt: F,
) -> Result<T, OciError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<Failure>,
{
    let mut tried = 1;
    loop {
        let Failure { error, retry_after } = match attempt().await {
            Ok(value) => return Ok(value),
            Err(failure) => failure.into(),
        };
        let Classified { error, retryable } = peer.classify(action, &error);
        if !retryable || tried >= MAX_ATTEMPTS {
            return Err(error);
        }
        let why = error.to_string();
        let delay = delay_before(tried, retry_after, error, action)?;
        peer.reporter.note(&format!(
            "retrying to {action} in {:.1}s (attempt {} of {MAX_ATTEMPTS}): {why}",
            delay.as_secs_f64(),
            tried + 1
        ));
        tokio::time::sleep(delay).await;
        tried += 1;
    }
}

/// How long to wait after attempt `tried` failed with `error`; an error when the registry asks
/// for longer than [`RETRY_AFTER_CAP`].
fn delay_before(
    tried: u32,
    retry_after: Option<Duration>,
    error: OciError,
    action: &str,
) -> Result<Duration, OciError> {
    match retry_after {
        Some(wait) if wait > RETRY_AFTER_CAP => Err(OciError::RetryLater {
            error: Box::new(error),
            wait: after::human(wait),
            cap: after::human(RETRY_AFTER_CAP),
            until: SystemTime::now()
                .checked_add(wait)
                .and_then(http_date::format),
        }),
        Some(wait) => {
            // Never sooner than asked; the backoff step on top spreads clients that were all
            // told the same date.
            let delay = wait + backoff(tried);
            tracing::debug!(
                %error,
                attempt = tried,
                ?delay,
                "retrying {action}: waiting {}s as the registry asked (Retry-After)",
                after::whole_seconds(wait)
            );
            Ok(delay)
        }
        None => {
            let delay = backoff(tried);
            tracing::debug!(%error, attempt = tried, ?delay, "retrying {action}");
            Ok(delay)
        }
    }
}

/// A random 50-100% of an exponential step (250 ms, 500 ms, 1 s, ... capped at 8 s), so clients
/// that failed together do not retry together.
fn backoff(attempt: u32) -> Duration {
    let step = BACKOFF_BASE
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    let jitter = rand::rng().random_range(0.5..=1.0);
    step.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_grows() {
        for attempt in 1..20 {
            let d = backoff(attempt);
            assert!(d <= BACKOFF_CAP, "{d:?}");
            assert!(d >= BACKOFF_BASE / 2, "{d:?}");
        }
        assert!(backoff(1) <= BACKOFF_BASE);
        assert!(backoff(5) >= BACKOFF_BASE * 4);
    }
}
