//! The clusters a plugin's http_calls and grpc_calls go to: one for each upstream a scenario
//! scripts answers for, each played here on a port of its own, over HTTP/1 with trailers (which
//! Envoy's gRPC client uses too). A call takes the first scripted answer for its upstream, as in
//! the built-in host; the calls are recorded as they arrived (for one upstream, in the order they
//! were made), a grpc_call's message unframed.

use std::collections::VecDeque;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::bootstrap::played_cluster;
use super::http1::{self, Message, message_bytes};
use super::upstream::forwarded;
use super::{EnvoyError, io};
use crate::grpc;
use crate::host::{CallAnswer, CallRecord, CallResponse, HeaderMap, is_grpc};

/// The call upstreams of one Envoy, and the script they answer from.
pub(super) struct CallUpstreams {
    ports: Vec<(String, u16)>,
    script: Arc<Mutex<Script>>,
}

#[derive(Default)]
struct Script {
    answers: VecDeque<CallAnswer>,
    made: Vec<CallRecord>,
    /// The first call that got no answer from the script.
    unanswered: Option<Unanswered>,
}

/// A call no answer was scripted for, said as the built-in host says it.
pub(super) struct Unanswered {
    /// The plugin's call: `proxy_http_call` or `proxy_grpc_call`.
    pub call: &'static str,
    pub message: String,
}

impl CallUpstreams {
    /// Starts one upstream for each of `names`.
    pub fn start(names: &[String]) -> Result<CallUpstreams, EnvoyError> {
        let script = Arc::new(Mutex::new(Script::default()));
        let mut ports = Vec::new();
        for name in names {
            let listener = TcpListener::bind("127.0.0.1:0").map_err(io("call upstream"))?;
            let port = listener.local_addr().map_err(io("call upstream"))?.port();
            let (upstream, script) = (name.clone(), script.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (upstream, script) = (upstream.clone(), script.clone());
                    std::thread::spawn(move || serve(stream, &upstream, &script));
                }
            });
            ports.push((name.clone(), port));
        }
        Ok(CallUpstreams { ports, script })
    }

    /// Envoy's clusters for them, named as the plugin calls them. Each has one connection, so
    /// that calls made together reach it one after another in the order the plugin made them,
    /// and each takes the answer it takes in the built-in host.
    pub fn clusters(&self) -> Vec<Value> {
        self.ports
            .iter()
            .map(|(name, port)| {
                let mut cluster = played_cluster(name, *port);
                cluster["circuit_breakers"] = json!({"thresholds": [{"max_connections": 1}]});
                cluster
            })
            .collect()
    }

    /// The clusters' names, as the plugin calls them.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.ports.iter().map(|(name, _)| name.as_str())
    }

    /// Adds answers for later calls, after those not taken yet, as the built-in host does.
    pub fn script(&self, answers: Vec<CallAnswer>) {
        if let Ok(mut script) = self.script.lock() {
            script.answers.extend(answers);
        }
    }

    /// Every call made so far.
    pub fn made(&self) -> Vec<CallRecord> {
        self.script
            .lock()
            .map(|script| script.made.clone())
            .unwrap_or_default()
    }

    /// The first call since the last time that got no answer from the script.
    pub fn take_unanswered(&self) -> Option<Unanswered> {
        self.script.lock().ok()?.unanswered.take()
    }
}

/// Serves one connection from Envoy until it closes.
fn serve(stream: TcpStream, upstream: &str, script: &Mutex<Script>) {
    http1::serve(stream, |message| {
        let grpc = is_grpc(&message.headers);
        let answer = script.lock().ok()?.answer(upstream, message, grpc);
        Some(match (answer, grpc) {
            (Some(answer), true) => grpc_answer_bytes(&answer),
            (answer, _) => answer_bytes(answer.as_ref()),
        })
    });
}

impl Script {
    /// Records the call and takes its answer, when one is scripted for `upstream`.
    fn answer(&mut self, upstream: &str, message: Message, grpc: bool) -> Option<CallResponse> {
        let mut call = forwarded(message);
        if grpc {
            call.body = grpc::unframe(&call.body);
        }
        let index = self
            .answers
            .iter()
            .position(|a| a.upstream.as_deref().is_none_or(|u| u == upstream));
        if index.is_none() && self.unanswered.is_none() {
            let (method, path) = (call.headers.get(":method"), call.headers.get(":path"));
            self.unanswered = Some(Unanswered {
                call: if grpc {
                    "proxy_grpc_call"
                } else {
                    "proxy_http_call"
                },
                message: format!(
                    "no response scripted for the call to upstream `{upstream}` ({} {})",
                    method.unwrap_or_default(),
                    path.unwrap_or_default()
                ),
            });
        }
        self.made.push(CallRecord {
            upstream: upstream.to_string(),
            headers: call.headers,
            body: call.body,
            grpc,
            refused: false,
        });
        self.answers.remove(index?).map(|a| a.response)
    }
}

/// A scripted answer to a grpc_call on the wire, as a gRPC server sends it: a 200 carries the
/// message (framed) when `grpc_status` is 0, and the status in the trailers; any other HTTP
/// status goes as it is.
fn grpc_answer_bytes(answer: &CallResponse) -> Vec<u8> {
    let status = answer.headers.get(":status");
    if status.as_deref().is_some_and(|s| s != "200") {
        return answer_bytes(Some(answer));
    }
    let mut headers = HeaderMap::new();
    if !answer.headers.contains("content-type") {
        headers.add("content-type", "application/grpc");
    }
    for (name, value) in answer.headers.iter() {
        if !matches!(name, ":status" | "content-length") {
            headers.add(name, value);
        }
    }
    // A stream's messages go whatever the status; a unary call's one message only with 0.
    let body = match (answer.messages.is_empty(), answer.grpc_status) {
        (false, _) => answer
            .messages
            .iter()
            .flat_map(|m| grpc::frame(m))
            .collect(),
        (true, 0) => grpc::frame(&answer.body),
        (true, _) => Vec::new(),
    };
    let mut trailers = answer.trailers.clone();
    trailers.replace("grpc-status", &answer.grpc_status.to_string());
    if !answer.grpc_message.is_empty() {
        trailers.replace("grpc-message", &answer.grpc_message);
    }
    message_bytes("HTTP/1.1 200 OK", headers.iter(), &body, &trailers)
}

/// The answer on the wire: its `:status` and headers, body and trailers; a 503 when there is none,
/// which the call's report outweighs.
fn answer_bytes(answer: Option<&CallResponse>) -> Vec<u8> {
    let Some(answer) = answer else {
        return message_bytes(
            "HTTP/1.1 503 X",
            [("content-length", "0")].into_iter(),
            &[],
            &Default::default(),
        );
    };
    let status = answer
        .headers
        .get(":status")
        .unwrap_or_else(|| "200".into());
    let length = answer.body.len().to_string();
    let given = answer.headers.iter().filter(|(name, _)| *name != ":status");
    let framing = (!answer.headers.contains("content-length") && answer.trailers.is_empty())
        .then_some(("content-length", length.as_str()));
    message_bytes(
        &format!("HTTP/1.1 {status} X"),
        given.chain(framing),
        &answer.body,
        &answer.trailers,
    )
}
