//! Stream control: resuming or closing the stream in progress, and answering a request locally.

use super::super::http::LocalReply;
use super::super::state::HostState;
use super::{
    BAD_ARGUMENT, HostCaller, HostFunctions, HostResult, OK, define_all, memory_and_state,
};

pub(super) fn define(host: &mut HostFunctions<'_>) -> wasmtime::Result<()> {
    define_all!(
        host,
        "env",
        [
            proxy_continue_stream,
            proxy_close_stream,
            proxy_send_local_response,
        ]
    )
}

fn proxy_continue_stream(mut c: HostCaller<'_>, kind: i32) -> HostResult<i32> {
    Ok(stream_flag(c.data_mut(), kind, false))
}

fn proxy_close_stream(mut c: HostCaller<'_>, kind: i32) -> HostResult<i32> {
    Ok(stream_flag(c.data_mut(), kind, true))
}

/// ABI 0.1.0's `proxy_continue_request` and `proxy_continue_response` (`name`), linked whatever
/// signature the SDK gave them; `proxy_clear_route_cache` does nothing.
pub(super) fn resume_v0_1(state: &mut HostState, name: &str) {
    if let Some(s) = state.http() {
        match name {
            "proxy_continue_request" => s.request_resumed = true,
            "proxy_continue_response" => s.response_resumed = true,
            _ => {}
        }
    }
}

/// Resumes (or, with `close`, closes) the stream `kind` names (`proxy_stream_type_t`): the
/// status to return.
fn stream_flag(state: &mut HostState, kind: i32, close: bool) -> i32 {
    match kind {
        0 | 1 => {
            let Some(s) = state.http() else {
                return BAD_ARGUMENT;
            };
            if close {
                s.closed = true;
            } else if kind == 0 {
                s.request_resumed = true;
            } else {
                s.response_resumed = true;
            }
            OK
        }
        2 | 3 => {
            let Some(s) = state.network() else {
                return BAD_ARGUMENT;
            };
            if close {
                s.closed = true;
            } else if kind == 2 {
                s.downstream_resumed = true;
            } else {
                s.upstream_resumed = true;
            }
            OK
        }
        _ => BAD_ARGUMENT,
    }
}

#[allow(clippy::too_many_arguments)] // the ABI's signature
fn proxy_send_local_response(
    mut c: HostCaller<'_>,
    status: i32,
    details_ptr: i32,
    details_len: i32,
    body_ptr: i32,
    body_len: i32,
    headers_ptr: i32,
    headers_len: i32,
    _grpc_status: i32,
) -> HostResult<i32> {
    let (memory, state) = memory_and_state(&mut c, "proxy_send_local_response")?;
    let details = memory.text(details_ptr, details_len)?;
    let body = memory.bytes(body_ptr, body_len)?.to_vec();
    let headers = memory.header_map(headers_ptr, headers_len)?;
    let callback = state.callback;
    let Some(stream) = state.http() else {
        return Ok(BAD_ARGUMENT);
    };
    let reply = LocalReply {
        status: u16::try_from(status).unwrap_or(500),
        details,
        headers,
        body,
        callback,
    };
    if !stream.send_local_reply(reply) {
        // Too late: the response is on its way. Envoy resets the stream.
        stream.closed = true;
    }
    Ok(OK)
}
