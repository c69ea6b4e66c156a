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

#[cfg(test)]
mod tests {
    use crate::host::{Plugin, Request, Response, Vm, VmOptions};

    /// A plugin whose body callback logs `chunk` before the end and, at the end, `end 7` when it
    /// sees 7 bytes (`end other` otherwise); it pauses before the end when `$pause` is 1.
    fn plugin(pause: i32) -> Plugin {
        let wat = format!(
            r#"(module
              (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
              (memory (export "memory") 1)
              (func (export "malloc") (param i32) (result i32) (i32.const 1024))
              (func (export "proxy_abi_version_0_2_1"))
              (data (i32.const 100) "chunk")
              (data (i32.const 200) "end 7")
              (data (i32.const 300) "end other")
              (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
                (if (i32.eqz (local.get 2))
                  (then (drop (call $log (i32.const 2) (i32.const 100) (i32.const 5)))
                        (return (i32.const {pause}))))
                (if (i32.eq (local.get 1) (i32.const 7))
                  (then (drop (call $log (i32.const 2) (i32.const 200) (i32.const 5))))
                  (else (drop (call $log (i32.const 2) (i32.const 300) (i32.const 9)))))
                (i32.const 0)))"#
        );
        Plugin::load(&wat::parse_str(&wat).unwrap()).unwrap()
    }

    fn exchange(plugin: &Plugin, chunks: &[usize]) -> (Vec<String>, Vec<u8>) {
        let mut vm = Vm::start(plugin, VmOptions::default()).unwrap();
        let request = Request {
            method: "POST".into(),
            body: b"abcdefg".to_vec(),
            ..Request::default()
        };
        let answer = |_: &_| (Response::default(), vec![0]);
        let outcome = vm.http_through(&request, chunks, &mut { answer }).unwrap();
        let logs = outcome.logs.iter().map(|l| l.message.clone()).collect();
        (logs, outcome.upstream.unwrap().body)
    }

    #[test]
    fn a_paused_chunk_is_buffered_with_the_next() {
        let (logs, body) = exchange(&plugin(1), &[3, 4]);
        assert_eq!(logs, ["chunk", "end 7"]);
        assert_eq!(body, b"abcdefg");
    }

    #[test]
    fn a_chunk_let_through_goes_on_and_the_next_is_seen_alone() {
        let (logs, body) = exchange(&plugin(0), &[3, 2, 2]);
        assert_eq!(logs, ["chunk", "chunk", "end other"]);
        assert_eq!(body, b"abcdefg");
    }

    #[test]
    fn one_chunk_is_the_whole_body_at_the_end() {
        assert_eq!(exchange(&plugin(1), &[7]).0, ["end 7"]);
        // Sizes that do not add up to the body are not trusted: one chunk.
        assert_eq!(exchange(&plugin(1), &[2, 2]).0, ["end 7"]);
    }
}
