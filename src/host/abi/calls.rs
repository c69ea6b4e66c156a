//! Calls out of the plugin: http_call and grpc_call, answered from the script once the current
//! callback returns, and foreign functions (none are registered).

use super::super::headers::HeaderMap;
use super::super::state::{CallRecord, HostState, PendingCall};
use super::{BAD_ARGUMENT, HostResult, NOT_FOUND, OK};
use super::{fault, hostcalls, memory_and_state, return_bytes};

/// A call the plugin asked for, before it is queued.
struct OutgoingCall {
    upstream: String,
    headers: HeaderMap,
    body: Vec<u8>,
    grpc: bool,
    method: String,
    path: String,
}

hostcalls! { "env":
    fn proxy_http_call(
        c, upstream_ptr, upstream_len, headers_ptr, headers_len, body_ptr, body_len,
        trailers_ptr, trailers_len, _timeout, ret_token,
    ) {
        let call = "proxy_http_call";
        let (mut memory, state) = memory_and_state(&mut c, call)?;
        let upstream = memory.text(upstream_ptr, upstream_len)?;
        let headers = memory.header_map(headers_ptr, headers_len)?;
        let body = memory.bytes(body_ptr, body_len)?.to_vec();
        memory.bytes(trailers_ptr, trailers_len)?;
        if [":method", ":path", ":authority"].iter().any(|h| !headers.contains(h)) {
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

    fn proxy_grpc_call(
        c, upstream_ptr, upstream_len, service_ptr, service_len, method_ptr, method_len,
        metadata_ptr, metadata_len, message_ptr, message_len, _timeout, ret_token,
    ) {
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
    fn proxy_get_status(c, ret_code, ret_ptr, ret_size) {
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
        _c, _name_ptr, _name_len, _args_ptr, _args_len, _ret_ptr, _ret_size,
    ) {
        // No foreign functions are registered, as in a proxy without extensions.
        Ok(NOT_FOUND)
    }
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
