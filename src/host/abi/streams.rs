//! Stream control: resuming or closing the stream in progress, and answering a request locally.

use super::super::http::{HeaderAccess, LocalReply, Reset};
use super::super::state::HostState;
use super::{BAD_ARGUMENT, OK, UNIMPLEMENTED, hostcalls, memory_and_state};

hostcalls! { "env":
    fn proxy_continue_stream(c, kind) {
        let state = c.data_mut();
        let_go(state, kind);
        Ok(stream_flag(state, kind, false))
    }

    fn proxy_close_stream(c, kind) {
        Ok(stream_flag(c.data_mut(), kind, true))
    }

    fn proxy_send_local_response(
        c, status, details_ptr, details_len, body_ptr, body_len, headers_ptr, headers_len,
        grpc_status,
    ) {
        let (memory, state) = memory_and_state(&mut c, "proxy_send_local_response")?;
        let details = memory.text(details_ptr, details_len)?;
        let body = memory.bytes(body_ptr, body_len)?.to_vec();
        let headers = memory.header_map(headers_ptr, headers_len)?;
        let callback = state.callback;
        // In a context without a request (the root's, a connection's) it does nothing, as in
        // Envoy, and neither does a second one in the same callback: the first is sent.
        if std::mem::replace(&mut state.replied, true) {
            return Ok(OK);
        }
        let Some(stream) = state.http() else {
            return Ok(OK);
        };
        let reply = LocalReply {
            status: u16::try_from(status).unwrap_or(500),
            details,
            headers,
            body,
            callback,
        };
        if !stream.send_local_reply(reply, grpc_status) {
            // Too late: the response is on its way. Envoy resets the stream.
            stream.reset.get_or_insert(Reset::LateLocalReply);
        }
        Ok(OK)
    }
}

/// ABI 0.1.0's `proxy_continue_request` and `proxy_continue_response` (`name`), linked whatever
/// signature the SDK gave them; `proxy_clear_route_cache` does nothing.
pub(super) fn resume_v0_1(state: &mut HostState, name: &str) {
    let kind = match name {
        "proxy_continue_request" => 0,
        "proxy_continue_response" => 1,
        _ => return,
    };
    let_go(state, kind);
    stream_flag(state, kind, false);
}

/// What the plugin resumes goes on at once, as in Envoy: from then on the headers, a body it
/// held and the trailers are not the plugin's.
fn let_go(state: &mut HostState, kind: i32) {
    if let Some(s) = state.http() {
        match kind {
            0 => {
                (s.request.access, s.request.body_held) = (HeaderAccess::Closed, false);
                s.request.trailers_access = HeaderAccess::Closed;
            }
            1 => {
                (s.response.access, s.response.body_held) = (HeaderAccess::Closed, false);
                s.response.trailers_access = HeaderAccess::Closed;
            }
            _ => {}
        }
    }
}

/// Sets the flag that resumes (or, with `close`, closes) the stream `kind` names
/// (`proxy_stream_type_t`), when the active context has such a stream: the status to return.
/// As in Envoy 1.40, any context may name the request, the response, the downstream or (to close
/// it) the upstream, and gets Ok even when it has no such stream; an upstream connection cannot be
/// resumed (Unimplemented).
fn stream_flag(state: &mut HostState, kind: i32, close: bool) -> i32 {
    let flag = match (kind, close) {
        (0 | 1, true) => {
            if let Some(s) = state.http() {
                s.reset.get_or_insert(Reset::ByPlugin);
            }
            return OK;
        }
        (0, false) => state.http().map(|s| &mut s.request.resumed),
        (1, false) => state.http().map(|s| &mut s.response.resumed),
        (2 | 3, true) => state.network().map(|s| &mut s.closed),
        (2, false) => state.network().map(|s| &mut s.downstream.resumed),
        (3, false) => return UNIMPLEMENTED,
        _ => return BAD_ARGUMENT,
    };
    if let Some(flag) = flag {
        *flag = true;
    }
    OK
}
