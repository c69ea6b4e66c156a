//! Calls out of the plugin: http_call and grpc_call, answered from the script once the current
//! callback returns.

use super::super::headers::HeaderMap;
use std::time::Duration;

use super::super::state::{CallRecord, CallRequest, HostState, PendingCall};
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
            timeout: Duration::from_millis(u64::from(timeout as u32)),
        };
        match queue_call(state, call, request)? {
            Ok(token) => memory.write_u32(ret_token, token)?,
            Err(refused) => return Ok(refused),
        }
        Ok(OK)
    }

    fn proxy_grpc_call(
        c, upstream_ptr, upstream_len, service_ptr, service_len, method_ptr, method_len,
        metadata_ptr, metadata_len, message_ptr, message_len, timeout, ret_token,
    ) {
        let call = "proxy_grpc_call";
        let (mut memory, state) = memory_and_state(&mut c, call)?;
        let upstream = memory.text(upstream_ptr, upstream_len)?;
        let service = memory.text(service_ptr, service_len)?;
        let method = memory.text(method_ptr, method_len)?;
        let metadata = memory.bytes(metadata_ptr, metadata_len)?;
        let request = CallRequest {
            upstream,
            headers: HeaderMap::deserialize(metadata).unwrap_or_default(),
            body: memory.bytes(message_ptr, message_len)?.to_vec(),
            grpc: true,
            method: "POST".into(),
            path: format!("/{service}/{method}"),
            timeout: Duration::from_millis(u64::from(timeout as u32)),
        };
        match queue_call(state, call, request)? {
            Ok(token) => memory.write_u32(ret_token, token)?,
            Err(refused) => return Ok(refused),
        }
        Ok(OK)
    }

    /// Cancels a grpc_call that has no answer yet: it gets no callback.
    fn proxy_grpc_cancel(c, token) {
        Ok(grpc_cancel(c.data_mut(), token))
    }

    /// Closes a grpc_call (a unary call, the only kind here): as Envoy does, that cancels it.
    fn proxy_grpc_close(c, token) {
        Ok(grpc_cancel(c.data_mut(), token))
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
/// answer, or for the [`Caller`] to make; the call's token. A call to a cluster the proxy lacks,
/// or that the caller cannot make, is refused with the status Envoy returns for an unknown
/// cluster; one with neither an answer nor a caller ends the callback, naming it.
fn queue_call(
    state: &mut HostState,
    call: &str,
    request: CallRequest,
) -> HostResult<Result<u32, i32>> {
    let refusal = if request.grpc {
        PARSE_FAILURE
    } else {
        BAD_ARGUMENT
    };
    let known = |clusters: &Vec<String>| clusters.contains(&request.upstream);
    let options = &state.options;
    if options.caller.is_none() && !options.clusters.as_ref().is_none_or(known) {
        state.call_log.push(record(&request, true));
        return Ok(Err(refusal));
    }
    let answer = state.take_scripted(&request.upstream);
    let caller = state.options.caller.as_ref();
    if answer.is_none() {
        match caller {
            Some(caller) if !caller.knows(&request.upstream, request.grpc) => {
                state.call_log.push(record(&request, true));
                return Ok(Err(refusal));
            }
            Some(_) => {}
            None => {
                let CallRequest {
                    upstream,
                    method,
                    path,
                    ..
                } = &request;
                return Err(fault(
                    call,
                    format!(
                        "no response scripted for the call to upstream `{upstream}` ({method} \
                         {path}); script one (scenario `http_calls`, or `wasmctl run \
                         --call-response`)"
                    ),
                ));
            }
        }
    }
    let token = state.callout_ids.next(request.grpc);
    state.call_log.push(record(&request, false));
    state.pending_calls.push_back(PendingCall {
        token,
        request,
        callback: state.callback,
        answer,
        logged: state.call_log.len() - 1,
    });
    Ok(Ok(token))
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

/// The call as the log keeps it: a grpc_call's metadata after the method and path its request
/// carries, as an http_call's headers have them.
fn record(request: &CallRequest, refused: bool) -> CallRecord {
    let mut headers = request.headers.clone();
    if request.grpc {
        let mut pseudo = HeaderMap::new();
        pseudo.add(":method", &request.method);
        pseudo.add(":path", &request.path);
        headers = pseudo.iter().chain(headers.iter()).collect();
    }
    CallRecord {
        upstream: request.upstream.clone(),
        headers,
        body: request.body.clone(),
        grpc: request.grpc,
        refused,
    }
}
