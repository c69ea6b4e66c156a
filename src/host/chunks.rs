//! A body that arrives in chunks, through the plugin's body callback as Envoy delivers it: each
//! chunk is added to what the plugin has buffered, then, over HTTP/1, one empty call with
//! end_of_stream ends the body (when no trailers follow). What the plugin lets through (Continue)
//! goes on at once; a chunk it pauses on before the end is buffered, and the next call sees the
//! buffer and the new chunk together. So a plugin that wants the whole body pauses until the end:
//! one that lets the chunks through sees an empty body at the end, in Envoy as here.

use std::collections::VecDeque;

use super::headers::HeaderMap;
use super::http::{LocalReply, Reset};
use super::peers::{BodyPart, HttpPeers};
use super::{HostError, Vm};

const CONTINUE: i32 = 0;
const STOP_AND_BUFFER: i32 = 1;
const STOP_NO_BUFFER: i32 = 3;

/// How much of a body Envoy buffers for a plugin that holds it: its default per-connection
/// buffer limit (1 MiB), which `--envoy`'s listeners keep.
pub(crate) const BUFFER_LIMIT: usize = 1 << 20;

/// The chunk lengths of a body of `len` bytes: `chunks` when they add up to it, else one chunk.
pub(crate) fn chunk_sizes(len: usize, chunks: &[usize]) -> Vec<usize> {
    let chunks: Vec<usize> = chunks.iter().copied().filter(|&c| c > 0).collect();
    match chunks.iter().sum::<usize>() == len && !chunks.is_empty() {
        true => chunks,
        false => vec![len],
    }
}

/// Which body of the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Request,
    Response,
}

/// How a body's run through the plugin ended: the action of the last call, and the trailers that
/// followed the body, if any.
pub(super) struct BodyEnd {
    pub action: i32,
    pub trailers: Option<Vec<(String, String)>>,
}

impl BodyEnd {
    /// A body that ended without trailers, or stopped short.
    fn plain(action: i32) -> BodyEnd {
        BodyEnd {
            action,
            trailers: None,
        }
    }
}

/// The body callback's type: `(context, size, end_of_stream) -> action`.
type BodyCallback = wasmtime::TypedFunc<(i32, i32, i32), i32>;

impl Vm {
    /// Runs `side`'s body through the body callback `f` part by part as `peers` deliver it,
    /// passing on what the plugin lets through; with no callback every part passes. Returns the
    /// action of the last call made (the final chunk's, or an earlier one's when the plugin
    /// replied locally or reset the stream there) and the trailers, when the body ended with
    /// some. What the plugin still holds at the end stays in the stream, for the caller to pass
    /// on once it knows the exchange goes on.
    pub(super) fn stream_body(
        &mut self,
        context: u32,
        f: Option<BodyCallback>,
        callback: &'static str,
        side: Side,
        peers: &mut dyn HttpPeers,
    ) -> Result<BodyEnd, HostError> {
        let mut action = CONTINUE;
        let mut taken = VecDeque::new();
        if std::mem::take(&mut self.stream().side(side).held_back) {
            self.take_arrived(side, peers, &mut taken);
        }
        loop {
            let part = match taken.pop_front() {
                Some(part) => part,
                None => self.next_part(side, peers),
            };
            let (data, end_of_stream) = match part {
                BodyPart::Data {
                    data,
                    end_of_stream,
                } => (data, end_of_stream),
                BodyPart::End { trailers } if !trailers.is_empty() => {
                    let trailers = Some(trailers);
                    return Ok(BodyEnd { action, trailers });
                }
                BodyPart::End { .. } => (Vec::new(), true),
                BodyPart::Reset => {
                    self.stream().reset = Some(Reset::BrokenOff(side));
                    return Ok(BodyEnd::plain(action));
                }
            };
            let s = self.stream();
            if let Side::Request = side {
                s.request_received += data.len();
            }
            s.side(side).body.extend_from_slice(&data);
            let Some(f) = &f else {
                if end_of_stream {
                    return Ok(BodyEnd::plain(action));
                }
                self.pass(side, peers);
                continue;
            };
            action = self.body_call(context, f, callback, side, end_of_stream)?;
            if action == STOP_AND_BUFFER && self.stream().side(side).body.len() > BUFFER_LIMIT {
                self.overflow(side);
                return Ok(BodyEnd::plain(action));
            }
            if end_of_stream {
                return Ok(BodyEnd::plain(action));
            }
            // Envoy reads what has arrived before it hands the plugin any answer.
            if taken.is_empty() && !peers.arrived(side) {
                self.deliver_calls(context)?;
            }
            let s = self.stream();
            if s.local_reply.is_some() || s.reset.is_some() {
                return Ok(BodyEnd::plain(action));
            }
            if action == CONTINUE || std::mem::take(&mut s.side(side).resumed) {
                self.pass(side, peers);
            }
        }
    }

    /// Calls the body callback `f` on what `side` holds: its action. A chunk the plugin pauses on
    /// is the plugin's to change until it lets it go.
    fn body_call(
        &mut self,
        context: u32,
        f: &BodyCallback,
        callback: &'static str,
        side: Side,
        end_of_stream: bool,
    ) -> Result<i32, HostError> {
        let s = self.stream();
        let size = s.side(side).body.len() as i32;
        s.last_body_call = end_of_stream.then_some(side);
        let action = self.call(callback, |store| {
            f.call(store, (context as i32, size, end_of_stream as i32))
        })?;
        let (s, held) = (self.stream(), action != CONTINUE);
        s.last_body_call = None;
        s.side(side).body_held = held;
        // StopIterationNoBuffer: Envoy keeps nothing of the chunk; the plugin was to.
        if action == STOP_NO_BUFFER {
            s.side(side).body.clear();
        }
        Ok(action)
    }

    /// The plugin held more of `side`'s body than Envoy buffers: a request gets Envoy's 413, a
    /// response its 500 if it has not begun, else the stream is reset (measured).
    fn overflow(&mut self, side: Side) {
        let s = self.stream();
        s.side(side).body.clear();
        let (status, body, details) = match side {
            Side::Request => (413, "Payload Too Large", "request_payload_too_large"),
            Side::Response if s.response_started => {
                s.reset = Some(Reset::Overflow);
                return;
            }
            Side::Response => (500, "Internal Server Error", "response_payload_too_large"),
        };
        let reply = LocalReply {
            status,
            details: details.into(),
            headers: HeaderMap::new(),
            body: body.into(),
            callback: "envoy",
        };
        s.send_local_reply(reply, -1);
    }

    /// Takes every part of `side`'s body that has arrived into `taken`, the data as one part:
    /// Envoy holds them back while the plugin pauses the headers (it stops all iteration), then
    /// hands them over at once. Trailers that follow data stay a part of their own.
    fn take_arrived(
        &mut self,
        side: Side,
        peers: &mut dyn HttpPeers,
        taken: &mut VecDeque<BodyPart>,
    ) {
        let mut data = Vec::new();
        let end_of_stream = loop {
            match self.next_part(side, peers) {
                BodyPart::Data {
                    data: more,
                    end_of_stream,
                } => {
                    data.extend_from_slice(&more);
                    if end_of_stream || !peers.arrived(side) {
                        break end_of_stream;
                    }
                }
                BodyPart::End { trailers } if trailers.is_empty() => break true,
                end if data.is_empty() => return taken.push_back(end),
                end => {
                    taken.push_back(end);
                    break false;
                }
            }
        };
        taken.push_front(BodyPart::Data {
            data,
            end_of_stream,
        });
    }

    /// The next part of `side`'s body: a local reply's body is one chunk, held in the stream.
    fn next_part(&mut self, side: Side, peers: &mut dyn HttpPeers) -> BodyPart {
        match side {
            Side::Request => peers.request_body(),
            Side::Response => match self.stream().local_body.take() {
                Some(data) => BodyPart::Data {
                    data,
                    end_of_stream: true,
                },
                None => {
                    let part = peers.response_body();
                    if let BodyPart::Data {
                        end_of_stream: false,
                        ..
                    } = part
                    {
                        return part;
                    }
                    let now = self.store.data().clock_ns;
                    self.stream().progress.upstream_done_ns = Some(now);
                    part
                }
            },
        }
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
        assert_eq!(logs, ["chunk", "chunk", "end 7"]);
        assert_eq!(body, b"abcdefg");
    }

    #[test]
    fn a_chunk_let_through_goes_on_and_the_end_comes_empty() {
        let (logs, body) = exchange(&plugin(0), &[3, 2, 2]);
        assert_eq!(logs, ["chunk", "chunk", "chunk", "end other"]);
        assert_eq!(body, b"abcdefg");
    }

    #[test]
    fn one_chunk_comes_before_the_end_as_over_http1() {
        assert_eq!(exchange(&plugin(1), &[7]).0, ["chunk", "end 7"]);
        // Sizes that do not add up to the body are not trusted: one chunk.
        assert_eq!(exchange(&plugin(1), &[2, 2]).0, ["chunk", "end 7"]);
    }
}
