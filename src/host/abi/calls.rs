//! Calls out of the plugin: http_call and grpc_call, answered from the script once the current
//! callback returns, and foreign functions (none are registered).

use super::super::headers::HeaderMap;
use super::super::state::{CallRecord, HostState, PendingCall};
use super::{
    BAD_ARGUMENT, HostCaller, HostFunctions, HostResult, NOT_FOUND, OK, define_all, fault,
    memory_and_state, return_bytes,
};

pub(super) fn define(host: &mut HostFunctions<'_>) -> wasmtime::Result<()> {
    define_all!(
        host,
        "env",
        [
            proxy_http_call,
            proxy_grpc_call,
            proxy_get_status,
            proxy_call_foreign_function,
        ]
    )
}

/// A call the plugin asked for, before it is queued.
struct OutgoingCall {
    upstream: String,
    headers: HeaderMap,
    body: Vec<u8>,
    grpc: bool,
    method: String,
    path: String,
}

#[allow(clippy::too_many_arguments)] // the ABI's signature
fn proxy_http_call(
    mut c: HostCaller<'_>,
    upstream_ptr: i32,
    upstream_len: i32,
    headers_ptr: i32,
    headers_len: i32,
    body_ptr: i32,
    body_len: i32,
    trailers_ptr: i32,
    trailers_len: i32,
    _timeout: i32,
    ret_token: i32,
) -> HostResult<i32> {
    let call = "proxy_http_call";
    let (mut memory, state) = memory_and_state(&mut c, call)?;
    let upstream = memory.text(upstream_ptr, upstream_len)?;
    let headers = memory.header_map(headers_ptr, headers_len)?;
    let body = memory.bytes(body_ptr, body_len)?.to_vec();
    memory.bytes(trailers_ptr, trailers_len)?;
    if [":method", ":path", ":authority"]
        .iter()
        .any(|h| !headers.contains(h))
    {
        return Ok(BAD_ARGUMENT);
    }
    let outgoing = OutgoingCall {
        method: headers.get(":method").unwrap_or_default(),
        path: headers.get(":path").unwrap_or_default(),
        upstream,
        headers,
        body,
        grpc: false,
    };
    let token = queue_call(state, call, outgoing)?;
    memory.write_u32(ret_token, token)?;
    Ok(OK)
}

#[allow(clippy::too_many_arguments)] // the ABI's signature
fn proxy_grpc_call(
    mut c: HostCaller<'_>,
    upstream_ptr: i32,
    upstream_len: i32,
    service_ptr: i32,
    service_len: i32,
    method_ptr: i32,
    method_len: i32,
    metadata_ptr: i32,
    metadata_len: i32,
    message_ptr: i32,
    message_len: i32,
    _timeout: i32,
    ret_token: i32,
) -> HostResult<i32> {
    let call = "proxy_grpc_call";
    let (mut memory, state) = memory_and_state(&mut c, call)?;
    let upstream = memory.text(upstream_ptr, upstream_len)?;
    let service = memory.text(service_ptr, service_len)?;
    let method = memory.text(method_ptr, method_len)?;
    let metadata = memory.bytes(metadata_ptr, metadata_len)?;
    let outgoing = OutgoingCall {
        upstream,
        headers: HeaderMap::deserialize(metadata).unwrap_or_default(),
        body: memory.bytes(message_ptr, message_len)?.to_vec(),
        grpc: true,
        method: "POST".into(),
        path: format!("/{service}/{method}"),
    };
    let token = queue_call(state, call, outgoing)?;
    memory.write_u32(ret_token, token)?;
    Ok(OK)
}

/// The gRPC status of the answer being delivered.
fn proxy_get_status(
    mut c: HostCaller<'_>,
    ret_code: i32,
    ret_ptr: i32,
    ret_size: i32,
) -> HostResult<i32> {
    let call = "proxy_get_status";
    let (code, message) = match &c.data().call_response {
        Some(r) => (r.grpc_status, r.grpc_message.clone()),
        None => (0, String::new()),
    };
    let (mut memory, _) = memory_and_state(&mut c, call)?;
    memory.write_u32(ret_code, code)?;
    return_bytes(&mut c, call, message.as_bytes(), ret_ptr, ret_size)?;
    Ok(OK)
}

fn proxy_call_foreign_function(
    _c: HostCaller<'_>,
    _name_ptr: i32,
    _name_len: i32,
    _args_ptr: i32,
    _args_len: i32,
    _ret_ptr: i32,
    _ret_size: i32,
) -> HostResult<i32> {
    // No foreign functions are registered, as in a proxy without extensions.
    Ok(NOT_FOUND)
}

/// Records the call, takes its scripted answer, and queues the answer for delivery once the
/// callback returns; the call's token. A call without an answer ends the callback, naming it.
fn queue_call(state: &mut HostState, call: &str, outgoing: OutgoingCall) -> HostResult<u32> {
    let OutgoingCall {
        upstream,
        headers,
        body,
        grpc,
        method,
        path,
    } = outgoing;
    let Some(response) = state.take_scripted(&upstream) else {
        return Err(fault(
            call,
            format!(
                "no response scripted for the call to upstream `{upstream}` ({method} {path}); \
                 script one (scenario `http_calls`, or `wasmctl run --call-response`)"
            ),
        ));
    };
    let token = state.next_token;
    state.next_token = state.next_token.wrapping_add(1).max(1);
    state.call_log.push(CallRecord {
        upstream: upstream.clone(),
        headers,
        body,
        grpc,
    });
    state.pending_calls.push_back(PendingCall {
        token,
        upstream,
        method,
        path,
        callback: state.callback,
        grpc,
        response: Some(response),
    });
    Ok(token)
}
