//! A body that arrives in chunks, through the plugin's body callback as Envoy delivers it: each
//! chunk is added to what the plugin has buffered, with end_of_stream on the last one only (when
//! no trailers follow). A chunk the plugin lets through (Continue) goes on; one it pauses on
//! before the end is buffered, and the next call sees the buffer and the new chunk together.

use super::http::HttpStream;
use super::{HostError, Vm};

const CONTINUE: i32 = 0;

/// The chunk lengths of a body of `len` bytes: `chunks` when they add up to it, else one chunk.
pub(crate) fn chunk_sizes(len: usize, chunks: &[usize]) -> Vec<usize> {
    let chunks: Vec<usize> = chunks.iter().copied().filter(|&c| c > 0).collect();
    match chunks.iter().sum::<usize>() == len && !chunks.is_empty() {
        true => chunks,
        false => vec![len],
    }
}

/// Which body of the exchange.
#[derive(Clone, Copy)]
pub(crate) enum Side {
    Request,
    Response,
}

impl Side {
    fn body(self, stream: &mut HttpStream) -> &mut Vec<u8> {
        match self {
            Side::Request => &mut stream.request_body,
            Side::Response => &mut stream.response_body,
        }
    }

    fn resumed(self, stream: &mut HttpStream) -> &mut bool {
        match self {
            Side::Request => &mut stream.request_resumed,
            Side::Response => &mut stream.response_resumed,
        }
    }
}

impl Vm {
    /// Runs the body callback `f` once per chunk of the body now in the stream, split as `chunks`
    /// says. Returns the action of the last call made: the final chunk's, or an earlier one's
    /// when the plugin replied locally or reset the stream there. The stream's body is then what
    /// was let through followed by what is still buffered.
    pub(super) fn stream_body(
        &mut self,
        context: u32,
        f: wasmtime::TypedFunc<(i32, i32, i32), i32>,
        callback: &'static str,
        side: Side,
        chunks: &[usize],
        trailers_follow: bool,
    ) -> Result<i32, HostError> {
        let body = std::mem::take(side.body(self.stream()));
        let mut passed = Vec::new();
        let mut at = 0;
        let mut action = CONTINUE;
        for (index, &len) in chunks.iter().enumerate() {
            let last = index + 1 == chunks.len();
            side.body(self.stream())
                .extend_from_slice(&body[at..at + len]);
            at += len;
            let size = side.body(self.stream()).len() as i32;
            let end_of_stream = last && !trailers_follow;
            action = self.call(callback, |store| {
                f.call(store, (context as i32, size, end_of_stream as i32))
            })?;
            if last {
                break;
            }
            self.deliver_calls(context)?;
            let s = self.stream();
            if s.local_reply.is_some() || s.closed {
                break;
            }
            if action == CONTINUE || std::mem::take(side.resumed(s)) {
                passed.append(side.body(s));
            }
        }
        let s = self.stream();
        let buffered = std::mem::take(side.body(s));
        passed.extend_from_slice(&buffered);
        *side.body(s) = passed;
        Ok(action)
    }
}
