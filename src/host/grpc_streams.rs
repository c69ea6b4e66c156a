//! The gRPC streams a plugin opens (proxy_grpc_stream), kept as Envoy 1.40's gRPC client keeps
//! them (measured): the plugin sends messages until it ends its side (with end_of_stream, or
//! proxy_grpc_close); then the stream reaches its cluster, and the scripted service answers it
//! whole. Sending, closing and cancelling answer with Envoy's statuses at each point.

use super::state::{CallRecord, CallRequest, CalloutIds, HostState, PendingCall};

const OK: i32 = 0;
const NOT_FOUND: i32 = 1;
const BAD_ARGUMENT: i32 = 2;

/// Where a stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The plugin may send on it.
    Open,
    /// The plugin ended its side; the answer is on its way or coming in.
    HalfClosed,
    /// The answer has ended, and its close callback runs.
    RemoteClosed,
}

/// A gRPC stream that is not over.
#[derive(Debug)]
pub(crate) struct GrpcStream {
    pub token: u32,
    pub phase: Phase,
    /// The stream as it goes to its cluster; `body` holds the messages sent so far, one after
    /// another.
    pub request: CallRequest,
    /// The callback that opened it.
    pub callback: &'static str,
}

impl HostState {
    /// Opens a stream to a cluster the proxy has: its token.
    pub(crate) fn open_grpc_stream(&mut self, request: CallRequest) -> u32 {
        let token = self.callout_ids.next_stream();
        self.grpc_streams.push(GrpcStream {
            token,
            phase: Phase::Open,
            request,
            callback: self.callback,
        });
        token
    }

    /// Sends `message` on stream `token`, ending the plugin's side with `end`: the status, or
    /// why the plugin fails (see [`HostState::end_local_side`]). Once that side has ended, Envoy
    /// takes what is sent and drops it.
    pub(crate) fn send_on_grpc_stream(
        &mut self,
        token: u32,
        message: &[u8],
        end: bool,
    ) -> Result<i32, String> {
        let Some(index) = self.stream_index(token) else {
            return Ok(unknown(token));
        };
        let stream = &mut self.grpc_streams[index];
        if stream.phase == Phase::Open {
            stream.request.body.extend(crate::grpc::frame(message));
            if end {
                self.end_local_side(index)?;
            }
        }
        Ok(OK)
    }

    /// Closes stream `token` from the plugin's side: its side ends, or, once the answer has
    /// ended, the stream is over.
    pub(crate) fn close_grpc_stream(&mut self, token: u32) -> Result<i32, String> {
        let Some(index) = self.stream_index(token) else {
            return Ok(unknown(token));
        };
        match self.grpc_streams[index].phase {
            Phase::Open => self.end_local_side(index)?,
            Phase::HalfClosed => {}
            Phase::RemoteClosed => {
                self.grpc_streams.remove(index);
            }
        }
        Ok(OK)
    }

    /// Cancels stream `token`: no callback follows. One whose answer has not begun never left the
    /// proxy, so it leaves the call log, and its scripted answer is there for the next call.
    pub(crate) fn cancel_grpc_stream(&mut self, token: u32) -> i32 {
        let Some(index) = self.stream_index(token) else {
            return unknown(token);
        };
        let stream = self.grpc_streams.remove(index);
        if stream.phase == Phase::HalfClosed {
            self.cancel_grpc_call(token);
        }
        OK
    }

    /// Where stream `token` stands, if it is not over.
    pub(crate) fn grpc_stream_phase(&self, token: u32) -> Option<Phase> {
        self.stream_index(token).map(|i| self.grpc_streams[i].phase)
    }

    /// Marks stream `token` as answered to its end, for its close callback.
    pub(crate) fn grpc_stream_remote_closed(&mut self, token: u32) {
        if let Some(index) = self.stream_index(token) {
            self.grpc_streams[index].phase = Phase::RemoteClosed;
        }
    }

    /// The stream is over after its close callback.
    pub(crate) fn grpc_stream_over(&mut self, token: u32) {
        self.grpc_streams.retain(|s| s.token != token);
    }

    fn stream_index(&self, token: u32) -> Option<usize> {
        self.grpc_streams.iter().position(|s| s.token == token)
    }

    /// The plugin's side of the stream at `index` ends: it reaches its cluster, which takes the
    /// next answer scripted for it (or a [`super::Caller`] makes it), and the answer is delivered
    /// once the callback returns. With neither, the plugin fails, as a call does.
    fn end_local_side(&mut self, index: usize) -> Result<(), String> {
        let stream = &mut self.grpc_streams[index];
        stream.phase = Phase::HalfClosed;
        let (token, request, callback) = (stream.token, stream.request.clone(), stream.callback);
        let answer = self.take_scripted(&request.upstream);
        if answer.is_none() && self.options.caller.is_none() {
            return Err(request.unscripted());
        }
        self.call_log.push(CallRecord::reached(&request));
        self.pending_calls.push_back(PendingCall {
            token,
            request,
            callback,
            answer,
            logged: self.call_log.len() - 1,
            stream: true,
        });
        Ok(())
    }
}

/// Envoy's status for a stream id it does not have: not found for a stream's id (one that is
/// over), bad argument for any other.
fn unknown(token: u32) -> i32 {
    match CalloutIds::is_stream(token) {
        true => NOT_FOUND,
        false => BAD_ARGUMENT,
    }
}
