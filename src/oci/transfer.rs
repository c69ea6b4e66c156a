//! How far an upload has got, told to a [`Reporter`].
//!
//! The HTTP body that sends a blob must own everything it touches (reqwest runs it on the
//! connection's task), so it counts bytes into a shared [`Sent`] counter, and the push, which
//! holds the borrowed reporter, reads the counter as the upload runs.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::{Either, select};

use crate::progress::Reporter;

/// How often a running upload reports its position; about as often as a bar redraws.
const TICK: Duration = Duration::from_millis(100);

/// Bytes of one blob handed to the connection so far.
#[derive(Debug, Clone, Default)]
pub(super) struct Sent(Arc<AtomicU64>);

impl Sent {
    pub fn add(&self, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Back to zero: a retried attempt sends the blob from its start again.
    pub fn restart(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs `upload`, reporting `start` plus the bytes sent so far, every tick and once at the end.
pub(super) async fn reporting<F: Future>(
    upload: F,
    sent: &Sent,
    start: u64,
    reporter: &dyn Reporter,
) -> F::Output {
    let mut upload = pin!(upload);
    loop {
        let tick = pin!(tokio::time::sleep(TICK));
        match select(upload.as_mut(), tick).await {
            Either::Left((output, _)) => {
                reporter.transfer_position(start + sent.get());
                return output;
            }
            Either::Right(_) => reporter.transfer_position(start + sent.get()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Recorder;

    #[test]
    fn a_restarted_upload_steps_back_to_its_start() {
        let (sent, positions) = (Sent::default(), Recorder::default());
        let upload = async {
            sent.add(700);
            tokio::time::sleep(TICK * 2).await;
            // The retry sends the blob again from its first byte.
            sent.restart();
            sent.add(300);
            "done"
        };
        let output = crate::oci::block_on(reporting(upload, &sent, 1000, &positions));
        assert_eq!(output, "done");
        let positions = positions.positions.into_inner().unwrap();
        assert!(positions.contains(&1700), "{positions:?}");
        assert_eq!(positions.last(), Some(&1300), "{positions:?}");
    }
}
