//! The clusters a plugin's http_calls go to: one for each upstream a scenario scripts answers
//! for, each played here on a port of its own. A call takes the first scripted answer for its
//! upstream, as in the built-in host; the calls are recorded as they arrived.

use std::collections::VecDeque;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::bootstrap::cluster;
use super::http1::{self, Message, message_bytes};
use super::upstream::forwarded;
use super::{EnvoyError, io};
use crate::host::{CallAnswer, CallRecord, CallResponse};

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

/// A call the script did not answer.
pub(super) enum Unanswered {
    /// No answer was scripted for it; said as the built-in host says it.
    NotScripted(String),
    /// A grpc_call (`upstream`): Envoy's gRPC client needs an HTTP/2 upstream, which is not
    /// played here.
    Grpc(String),
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

    /// Envoy's clusters for them, named as the plugin calls them.
    pub fn clusters(&self) -> Vec<Value> {
        self.ports
            .iter()
            .map(|(name, port)| cluster(name, "127.0.0.1", *port, None))
            .collect()
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
        let answer = script.lock().ok()?.answer(upstream, message);
        Some(answer_bytes(answer.as_ref()))
    });
}

impl Script {
    /// Records the call and takes its answer; none for a gRPC call, or when none is scripted for
    /// `upstream`.
    fn answer(&mut self, upstream: &str, message: Message) -> Option<CallResponse> {
        let call = forwarded(message);
        let grpc = call
            .headers
            .get("content-type")
            .is_some_and(|t| t.starts_with("application/grpc"));
        let index = self
            .answers
            .iter()
            .position(|a| a.upstream.as_deref().is_none_or(|u| u == upstream))
            .filter(|_| !grpc);
        if index.is_none() && self.unanswered.is_none() {
            let (method, path) = (call.headers.get(":method"), call.headers.get(":path"));
            self.unanswered = Some(if grpc {
                Unanswered::Grpc(format!("a grpc_call (to upstream `{upstream}`)"))
            } else {
                Unanswered::NotScripted(format!(
                    "no response scripted for the call to upstream `{upstream}` ({} {})",
                    method.unwrap_or_default(),
                    path.unwrap_or_default()
                ))
            });
        }
        self.made.push(CallRecord {
            upstream: upstream.to_string(),
            headers: call.headers,
            body: call.body,
            grpc,
        });
        self.answers.remove(index?).map(|a| a.response)
    }
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
