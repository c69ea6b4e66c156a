//! Calls out of the plugin: http_call, grpc_call and gRPC streams, answered from the script once
//! the current callback returns.

use super::super::headers::HeaderMap;
use std::time::Duration;

use super::super::state::{
    CallAnswer, CallRecord, CallRequest, CalloutIds, HostState, PendingCall,
};
use super::memory::GuestMemory;
use super::{BAD_ARGUMENT, HostResult, NOT_FOUND, OK, PARSE_FAILURE};
use super::{fault, hostcalls, memory_and_state, return_bytes};

hostcalls! { "env":
    fn proxy_http_call(
        c, upstream_ptr, upstream_len, headers_ptr, headers_len, body_ptr, body_len,
        trailers_ptr, trailers_len, timeout, ret_token,
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
        let request = CallRequest {
            method: headers.get(":method").unwrap_or_default(),
            path: headers.get(":path").unwrap_or_default(),
            upstream,
            headers,
            body,
            grpc: false,
            stream: false,
            timeout: Duration::from_millis(u64::from(timeout as u32)),
        };
        queue_call(state, &mut memory, call, request, ret_token)
    }

    fn proxy_grpc_call(
        c, upstream_ptr, upstream_len, service_ptr, service_len, method_ptr, method_len,
        metadata_ptr, metadata_len, message_ptr, message_len, timeout, ret_token,
    ) {
        let call = "proxy_grpc_call";
        let (mut memory, state) = memory_and_state(&mut c, call)?;
        let at = [upstream_ptr, upstream_len, service_ptr, service_len, method_ptr, method_len];
        let mut request = grpc_request(&memory, at, metadata_ptr, metadata_len)?;
        request.body = memory.bytes(message_ptr, message_len)?.to_vec();
        request.timeout = Duration::from_millis(u64::from(timeout as u32));
        queue_call(state, &mut memory, call, request, ret_token)
    }

    /// Opens a gRPC stream; the plugin sends on it, and its answer comes once the plugin ends
    /// its side.
    fn proxy_grpc_stream(
        c, upstream_ptr, upstream_len, service_ptr, service_len, method_ptr, method_len,
        metadata_ptr, metadata_len, ret_token,
    ) {
        let call = "proxy_grpc_stream";
        let (mut memory, state) = memory_and_state(&mut c, call)?;
        let at = [upstream_ptr, upstream_len, service_ptr, service_len, method_ptr, method_len];
        let mut request = grpc_request(&memory, at, metadata_ptr, metadata_len)?;
        request.stream = true;
        if let Some(refused) = unknown_cluster(state, &request) {
            return Ok(refused);
        }
        let token = state.open_grpc_stream(request);
        memory.write_u32(ret_token, token)?;
        Ok(OK)
    }

    /// Sends a message on a gRPC stream; `end_of_stream` ends the plugin's side.
    fn proxy_grpc_send(c, token, message_ptr, message_len, end_of_stream) {
        let call = "proxy_grpc_send";
        let (memory, state) = memory_and_state(&mut c, call)?;
        let message = memory.bytes(message_ptr, message_len)?;
        state
            .send_on_grpc_stream(token as u32, message, end_of_stream != 0)
            .map_err(|message| fault(call, message))
    }

    /// Cancels a grpc_call that has no answer yet, or a gRPC stream: it gets no callback.
    fn proxy_grpc_cancel(c, token) {
        let state = c.data_mut();
        Ok(match CalloutIds::is_stream(token as u32) {
            true => state.cancel_grpc_stream(token as u32),
            false => grpc_cancel(state, token),
        })
    }

    /// Closes a gRPC stream from the plugin's side; as Envoy does, closing a grpc_call cancels
    /// it.
    fn proxy_grpc_close(c, token) {
        let state = c.data_mut();
        match CalloutIds::is_stream(token as u32) {
            true => state
                .close_grpc_stream(token as u32)
                .map_err(|message| fault("proxy_grpc_close", message)),
            false => Ok(grpc_cancel(state, token)),
        }
    }

    /// The gRPC status of the answer being delivered.
    fn proxy_get_status(c, ret_code, ret_ptr, ret_size) {
        let call = "proxy_get_status";
        let (code, message) = match &c.data().call_response {
            Some(d) => (d.response.grpc_status, d.response.grpc_message.clone()),
            None => (0, String::new()),
        };
        let (mut memory, _) = memory_and_state(&mut c, call)?;
        memory.write_u32(ret_code, code)?;
        return_bytes(&mut c, call, message.as_bytes(), ret_ptr, ret_size)?;
        Ok(OK)
    }
}

/// Records the call and queues it for delivery once the callback returns, with its scripted
/// answer, or for the [`Caller`] to make, writing its token at `ret_token`: the status, Ok or
/// the one it is refused with (see [`admit`]).
fn queue_call(
    state: &mut HostState,
    memory: &mut GuestMemory<'_>,
    call: &str,
    request: CallRequest,
    ret_token: i32,
) -> HostResult<i32> {
    let answer = match admit(state, call, &request)? {
        Ok(answer) => answer,
        Err(refused) => return Ok(refused),
    };
    let token = state.callout_ids.next(request.grpc);
    state.call_log.push(CallRecord::reached(&request));
    state.pending_calls.push_back(PendingCall {
        token,
        request,
        callback: state.callback,
        answer,
        logged: state.call_log.len() - 1,
        stream: false,
    });
    memory.write_u32(ret_token, token)?;
    Ok(OK)
}

/// Whether a call to `request.upstream` may go (see [`unknown_cluster`]), and its scripted
/// answer if it has one; one with neither an answer nor a caller ends the callback, naming it.
fn admit(
    state: &mut HostState,
    call: &str,
    request: &CallRequest,
) -> HostResult<Result<Option<CallAnswer>, i32>> {
    if let Some(refused) = unknown_cluster(state, request) {
        return Ok(Err(refused));
    }
    let answer = state.take_scripted(&request.upstream);
    if answer.is_none() && state.options.caller.is_none() {
        return Err(fault(call, request.unscripted()));
    }
    Ok(Ok(answer))
}

/// A gRPC call's (or stream's) request as the plugin gives it: the cluster, service and method
/// (`at`: each one's pointer and length) and the metadata; no message yet.
fn grpc_request(
    memory: &GuestMemory<'_>,
    at: [i32; 6],
    metadata_ptr: i32,
    metadata_len: i32,
) -> HostResult<CallRequest> {
    let service = memory.text(at[2], at[3])?;
    let method = memory.text(at[4], at[5])?;
    let metadata = memory.bytes(metadata_ptr, metadata_len)?;
    Ok(CallRequest {
        upstream: memory.text(at[0], at[1])?,
        headers: HeaderMap::deserialize(metadata).unwrap_or_default(),
        body: Vec::new(),
        grpc: true,
        stream: false,
        method: "POST".into(),
        path: format!("/{service}/{method}"),
        timeout: Duration::ZERO,
    })
}

/// The status Envoy refuses a call to a cluster it lacks with.
fn refusal(request: &CallRequest) -> i32 {
    match request.grpc {
        true => PARSE_FAILURE,
        false => BAD_ARGUMENT,
    }
}

/// Refuses a call (or gRPC stream) to a cluster the proxy lacks, or one a [`Caller`] cannot
/// make, recording it: the status Envoy returns for an unknown cluster, if so.
fn unknown_cluster(state: &mut HostState, request: &CallRequest) -> Option<i32> {
    let known = |clusters: &Vec<String>| clusters.contains(&request.upstream);
    let options = &state.options;
    let refused = match &options.caller {
        Some(caller) => !caller.knows(&request.upstream, request.grpc),
        None => !options.clusters.as_ref().is_none_or(known),
    };
    if !refused {
        return None;
    }
    state.call_log.push(CallRecord::refused(request));
    Some(refusal(request))
}

/// Envoy's status for cancelling (or closing) the grpc_call `token`: ok, not found once it is
/// over (or for a gRPC stream's id), bad argument for an id of no gRPC kind.
fn grpc_cancel(state: &mut HostState, token: i32) -> i32 {
    match state.cancel_grpc_call(token as u32) {
        Some(true) => OK,
        Some(false) => NOT_FOUND,
        None => BAD_ARGUMENT,
    }
}
