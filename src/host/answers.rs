//! Delivering what the plugin waits for between callbacks: the answers to its http_call and
//! grpc_call requests (scripted, or made for real by a [`super::Caller`]), and the items put on
//! its shared queues.

use super::error::HostError;
use super::headers::HeaderMap;
use super::http::grpc_status_of;
use super::state::{CallRequest, CallResponse, Delivery, PendingCall};
use super::vm::{ROOT_CONTEXT, Vm};

/// A plugin that calls out from every answer would loop forever; Envoy would too, but slowly.
const MAX_DELIVERIES: usize = 1000;

impl Vm {
    /// Answers the http_call and grpc_call requests made so far, each from its script, calling the
    /// plugin's response callbacks, and tells it of queues that received items. Answers can
    /// trigger further calls; they are answered too. `context` is active again afterwards.
    pub(super) fn deliver_calls(&mut self, context: u32) -> Result<(), HostError> {
        for _ in 0..MAX_DELIVERIES {
            match self.store.data_mut().pending_calls.pop_front() {
                Some(call) => self.answer(call)?,
                None => {
                    let ready = std::mem::take(&mut self.store.data_mut().ready_queues);
                    if ready.is_empty() {
                        return Ok(());
                    }
                    self.queues_ready(&ready)?;
                }
            }
            self.store.data_mut().active_context = context;
        }
        Ok(())
    }

    fn queues_ready(&mut self, ready: &[u32]) -> Result<(), HostError> {
        let Some(f) = self.exports.on_queue_ready.clone() else {
            return Ok(());
        };
        for &queue in ready {
            self.store.data_mut().active_context = ROOT_CONTEXT;
            self.call("proxy_on_queue_ready", |store| {
                f.call(store, (ROOT_CONTEXT as i32, queue as i32))
            })?;
        }
        Ok(())
    }

    /// Hands `call` its answer through the plugin's response callbacks, in the root context.
    fn answer(&mut self, call: PendingCall) -> Result<(), HostError> {
        let caller = self.store.data().options.caller.clone();
        let made = || caller.map(|caller| caller.call(&call.request));
        let scripted = call.answer.is_some();
        let Some(mut response) = call.answer.map(|a| a.response).or_else(made) else {
            let CallRequest {
                upstream,
                method,
                path,
                ..
            } = &call.request;
            let message = format!(
                "no response scripted for the call to upstream `{upstream}` ({method} {path})"
            );
            let logs = self.store.data().logs.clone();
            return Err(HostError::Trap {
                callback: call.callback,
                message,
                logs,
                refused: None,
            });
        };
        if call.stream {
            return self.answer_stream(call.token, StreamAnswer::of(response, scripted));
        }
        if call.request.grpc {
            as_grpc_client_reads_it(&mut response);
        } else {
            as_envoy_gives_it(&mut response, scripted);
        }
        // Envoy calls the root context (the calls are the plugin's): a plugin acting on the
        // stream that made the call sets it as the effective context first.
        let (context, token) = (ROOT_CONTEXT as i32, call.token as i32);
        let num_headers = response.headers.len() as i32;
        let body_size = response.body.len() as i32;
        let num_trailers = response.trailers.len() as i32;
        let grpc_status = response.grpc_status as i32;
        let state = self.store.data_mut();
        state.active_context = context as u32;
        state.call_response = Some(Delivery {
            response,
            grpc: call.request.grpc,
            metadata: None,
        });
        // A grpc_call ends in one callback: its message, or its close with a status.
        if call.request.grpc && grpc_status == 0 {
            if let Some(f) = self.exports.on_grpc_receive.clone() {
                self.call("proxy_on_grpc_receive", |store| {
                    f.call(store, (context, token, body_size))
                })?;
            }
        } else if call.request.grpc {
            if let Some(f) = self.exports.on_grpc_close.clone() {
                self.call("proxy_on_grpc_close", |store| {
                    f.call(store, (context, token, grpc_status))
                })?;
            }
        } else if let Some(f) = self.exports.on_http_call_response.clone() {
            let args = (context, token, num_headers, body_size, num_trailers);
            self.call("proxy_on_http_call_response", |store| f.call(store, args))?;
        }
        self.store.data_mut().call_response = None;
        Ok(())
    }

    /// Hands gRPC stream `token` its answer as Envoy's gRPC client does (measured with Envoy
    /// 1.40): the initial metadata, each message, the trailing metadata, then the close with the
    /// status, each in its own callback (one the plugin does not export is skipped). An HTTP
    /// status other than 200 gives both metadata empty and no message, and closes with the gRPC
    /// status Envoy infers. A stream the plugin cancels meanwhile gets nothing more.
    fn answer_stream(&mut self, token: u32, answer: StreamAnswer) -> Result<(), HostError> {
        let StreamAnswer {
            initial,
            messages,
            trailing,
            status,
            message,
        } = answer;
        self.store.data_mut().call_response = Some(Delivery {
            response: CallResponse {
                grpc_status: status,
                grpc_message: message,
                ..CallResponse::default()
            },
            grpc: true,
            metadata: None,
        });
        let exports = &self.exports;
        let mut events = vec![StreamEvent {
            callback: "proxy_on_grpc_receive_initial_metadata",
            f: exports.on_grpc_receive_initial_metadata.clone(),
            arg: initial.len() as i32,
            metadata: Some((4, initial)),
            message: Vec::new(),
        }];
        events.extend(messages.into_iter().map(|message| StreamEvent {
            callback: "proxy_on_grpc_receive",
            f: exports.on_grpc_receive.clone(),
            arg: message.len() as i32,
            metadata: None,
            message,
        }));
        events.push(StreamEvent {
            callback: "proxy_on_grpc_receive_trailing_metadata",
            f: exports.on_grpc_receive_trailing_metadata.clone(),
            arg: trailing.len() as i32,
            metadata: Some((5, trailing)),
            message: Vec::new(),
        });
        let close = StreamEvent {
            callback: "proxy_on_grpc_close",
            f: exports.on_grpc_close.clone(),
            arg: status as i32,
            metadata: None,
            message: Vec::new(),
        };
        for event in events {
            self.stream_event(token, event)?;
        }
        self.store.data_mut().grpc_stream_remote_closed(token);
        self.stream_event(token, close)?;
        let state = self.store.data_mut();
        state.grpc_stream_over(token);
        state.call_response = None;
        Ok(())
    }

    /// One callback of stream `token`'s answer, in the root context, with the event's metadata
    /// as its map and its message as the gRPC receive buffer; none once the plugin has cancelled
    /// the stream.
    fn stream_event(&mut self, token: u32, event: StreamEvent) -> Result<(), HostError> {
        let state = self.store.data_mut();
        if state.grpc_stream_phase(token).is_none() {
            return Ok(());
        }
        // Each callback starts in the root context, whichever the last one made effective.
        state.active_context = ROOT_CONTEXT;
        if let Some(delivery) = state.call_response.as_mut() {
            (delivery.metadata, delivery.response.body) = (event.metadata, event.message);
        }
        let Some(f) = event.f else {
            return Ok(());
        };
        let args = (ROOT_CONTEXT as i32, token as i32, event.arg);
        self.call(event.callback, |store| f.call(store, args))
    }
}

/// A grpc_call's answer as Envoy's gRPC client reads it (measured with Envoy 1.40): an HTTP
/// status other than 200 closes the call with the gRPC status Envoy infers from it; a gRPC status
/// other than 0 closes it with that status, and no message; either way proxy_get_status gives
/// the `grpc-message` as sent, with `{via_upstream}` after it (or alone). A call that got no
/// answer (no `:status`) closes as its maker says.
fn as_grpc_client_reads_it(response: &mut CallResponse) {
    let Some(http_status) = response.headers.get(":status") else {
        return;
    };
    let http_status = http_status.parse().unwrap_or(200);
    if http_status != 200 {
        response.grpc_status = grpc_status_of(http_status) as u32;
        response.grpc_message.clear();
    }
    if response.grpc_status != 0 {
        response.body.clear();
        response.grpc_message = via_upstream(&response.grpc_message);
    }
}

/// The message proxy_get_status gives for a gRPC answer: the `grpc-message` as sent, with
/// `{via_upstream}` after it, or `via_upstream` alone, as Envoy 1.40 gives it.
fn via_upstream(message: &str) -> String {
    match message {
        "" => "via_upstream".into(),
        message => format!("{message}{{via_upstream}}"),
    }
}

/// A scripted http_call's response as Envoy hands it to the plugin: framed as an HTTP/1
/// upstream sends it (a `content-length`, or `transfer-encoding: chunked` when it has trailers),
/// with the `x-envoy-upstream-service-time` Envoy's router adds (the answer takes no time here).
/// A [`super::Caller`]'s answer comes as it made it.
fn as_envoy_gives_it(response: &mut CallResponse, scripted: bool) {
    if !scripted {
        return;
    }
    let headers = &mut response.headers;
    let framed = headers.contains("content-length") || headers.contains("transfer-encoding");
    if !framed {
        match response.trailers.is_empty() {
            true => headers.add("content-length", &response.body.len().to_string()),
            false => headers.add("transfer-encoding", "chunked"),
        }
    }
    headers.replace("x-envoy-upstream-service-time", "0");
}

/// One callback of a gRPC stream's answer: `(context, token, arg)`.
struct StreamEvent {
    callback: &'static str,
    f: Option<wasmtime::TypedFunc<(i32, i32, i32), ()>>,
    arg: i32,
    metadata: Option<(i32, HeaderMap)>,
    message: Vec<u8>,
}

/// A gRPC stream's answer, as Envoy's gRPC client hands it over from an HTTP/1 cluster that
/// answers as `--envoy`'s do: the initial metadata as the response headers came (`:status`, the
/// content type, the answer's headers, the chunked framing and Envoy's service time), the
/// messages (a stream's `messages`; without them the `body`, as a grpc_call's one message, when
/// the status is 0), the trailing metadata (the answer's trailers with `grpc-status`, and
/// `grpc-message` when there is one), and the status and message `proxy_get_status` gives.
struct StreamAnswer {
    initial: HeaderMap,
    messages: Vec<Vec<u8>>,
    trailing: HeaderMap,
    status: u32,
    message: String,
}

impl StreamAnswer {
    /// The answer as the plugin gets it: a scripted one as the played cluster sends it, one a
    /// [`super::Caller`] made with the fields it came with, and one that never came (no
    /// `:status`) closed with the caller's status and reason.
    fn of(response: CallResponse, scripted: bool) -> StreamAnswer {
        let Some(http_status) = response.headers.get(":status") else {
            return StreamAnswer {
                initial: HeaderMap::new(),
                messages: Vec::new(),
                trailing: HeaderMap::new(),
                status: response.grpc_status,
                message: response.grpc_message,
            };
        };
        if http_status != "200" {
            return StreamAnswer {
                initial: HeaderMap::new(),
                messages: Vec::new(),
                trailing: HeaderMap::new(),
                status: grpc_status_of(http_status.parse().unwrap_or(500)) as u32,
                message: via_upstream(""),
            };
        }
        let initial = match scripted {
            true => played(&response.headers),
            false => response.headers,
        };
        let messages = match (response.messages.is_empty(), response.grpc_status) {
            (false, _) => response.messages,
            (true, 0) => vec![response.body],
            (true, _) => Vec::new(),
        };
        let mut trailing = response.trailers;
        trailing.replace("grpc-status", &response.grpc_status.to_string());
        if !response.grpc_message.is_empty() {
            trailing.replace("grpc-message", &response.grpc_message);
        }
        StreamAnswer {
            initial,
            messages,
            trailing,
            status: response.grpc_status,
            message: via_upstream(&response.grpc_message),
        }
    }
}

/// A scripted answer's headers as the HTTP/1 cluster `--envoy` plays sends them, and Envoy hands
/// them over: `:status`, the content type, the answer's headers, the chunked framing and the
/// service time Envoy's router adds.
fn played(headers: &HeaderMap) -> HeaderMap {
    let mut initial = HeaderMap::new();
    initial.add(":status", "200");
    if !headers.contains("content-type") {
        initial.add("content-type", "application/grpc");
    }
    for (name, value) in headers.iter() {
        if !matches!(name, ":status" | "content-length") {
            initial.add(name, value);
        }
    }
    initial.add("transfer-encoding", "chunked");
    initial.add("x-envoy-upstream-service-time", "0");
    initial
}
