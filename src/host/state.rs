//! What the host keeps per instance: the stream being processed, logs, metrics, timers, shared data
//! and the http_call answers still to deliver.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use wasmtime::StoreLimits;

use super::VmOptions;
use super::exports::Guest;
use super::grpc_streams::GrpcStream;
use super::headers::HeaderMap;
use super::http::HttpStream;
use super::network::NetStream;

/// proxy-wasm log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

impl LogLevel {
    pub fn from_abi(level: i32) -> Option<LogLevel> {
        Some(match level {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            5 => LogLevel::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
        }
    }
}

/// One line the plugin logged, with the callback it logged it from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogRecord {
    pub level: LogLevel,
    pub message: String,
    pub callback: &'static str,
}

/// `LEVEL [CALLBACK] MESSAGE`, as the CLI shows a log line.
impl std::fmt::Display for LogRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} [{}] {}",
            self.level.as_str(),
            self.callback,
            self.message
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl MetricKind {
    pub fn from_abi(kind: i32) -> Option<MetricKind> {
        Some(match kind {
            0 => MetricKind::Counter,
            1 => MetricKind::Gauge,
            2 => MetricKind::Histogram,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    pub name: String,
    pub kind: MetricKind,
    pub value: i64,
}

/// A scripted answer to an http_call or grpc_call; `upstream` picks the calls it answers (any
/// when absent).
#[derive(Debug, Clone, Default)]
pub struct CallAnswer {
    pub upstream: Option<String>,
    pub response: CallResponse,
}

#[derive(Debug, Clone, Default)]
pub struct CallResponse {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub trailers: HeaderMap,
    /// gRPC status for grpc_call answers.
    pub grpc_status: u32,
    pub grpc_message: String,
    /// A gRPC stream's messages, in order (a grpc_call's one message is `body`).
    pub messages: Vec<Vec<u8>>,
}

/// An answer on its way to the plugin: the response, and whether it answers a grpc_call (whose
/// metadata the plugin reads as header maps 4 and 5) or an http_call (6 and 7).
pub struct Delivery {
    pub response: CallResponse,
    pub grpc: bool,
    /// A gRPC stream's metadata in its own callback: map 4 (initial) or 5 (trailing), and its
    /// fields.
    pub metadata: Option<(i32, HeaderMap)>,
}

/// An http_call, grpc_call or gRPC stream the plugin made; a stream's `body` is the messages it
/// sent, one after another.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub upstream: String,
    pub headers: HeaderMap,
    #[serde(serialize_with = "super::http::lossy")]
    pub body: Vec<u8>,
    pub grpc: bool,
    /// Refused at once, as Envoy refuses a call to a cluster it lacks: it got no answer.
    pub refused: bool,
}

impl CallRecord {
    /// A call refused at once: the plugin's own headers, a gRPC call's after its method and path.
    pub(crate) fn refused(request: &CallRequest) -> CallRecord {
        let mut headers = HeaderMap::new();
        if request.grpc {
            headers.add(":method", &request.method);
            headers.add(":path", &request.path);
        }
        CallRecord {
            upstream: request.upstream.clone(),
            headers: headers.iter().chain(request.headers.iter()).collect(),
            body: request.body.clone(),
            grpc: request.grpc,
            refused: true,
        }
    }

    /// The call as it reaches its cluster: with the headers Envoy sends it with (see
    /// [`CallRequest::reaching_headers`]), a stream's messages one after another.
    pub(crate) fn reached(request: &CallRequest) -> CallRecord {
        let headers = request.reaching_headers();
        CallRecord {
            upstream: request.upstream.clone(),
            headers,
            body: match request.stream {
                true => crate::grpc::unframe(&request.body),
                false => request.body.clone(),
            },
            grpc: request.grpc,
            refused: false,
        }
    }
}

/// Callout ids as Envoy gives them out, per VM: the low two bits say the kind (0 http_call,
/// 1 grpc_call, 2 gRPC stream), and each kind counts up in fours, the first http_call being 4,
/// the first grpc_call 5 and the first stream 6.
#[derive(Debug, Clone, Copy)]
pub struct CalloutIds {
    http: u32,
    grpc: u32,
    stream: u32,
}

impl Default for CalloutIds {
    fn default() -> Self {
        CalloutIds {
            http: 0,
            grpc: 1,
            stream: 2,
        }
    }
}

impl CalloutIds {
    /// The next id for an http_call (`grpc` false) or a grpc_call.
    pub fn next(&mut self, grpc: bool) -> u32 {
        let last = if grpc { &mut self.grpc } else { &mut self.http };
        *last = last.wrapping_add(4);
        *last
    }

    /// The next id for a gRPC stream.
    pub fn next_stream(&mut self) -> u32 {
        self.stream = self.stream.wrapping_add(4);
        self.stream
    }

    /// Whether `id` is a grpc_call's or a gRPC stream's, which Envoy looks up.
    pub(crate) fn is_grpc(id: u32) -> bool {
        matches!(id & 3, 1 | 2)
    }

    /// Whether `id` is a gRPC stream's.
    pub(crate) fn is_stream(id: u32) -> bool {
        id & 3 == 2
    }
}

/// A call waiting for its answer to be delivered.
pub(crate) struct PendingCall {
    pub token: u32,
    pub request: CallRequest,
    pub callback: &'static str,
    /// The scripted answer; `None` when a [`Caller`] makes the call once the callback returns.
    pub answer: Option<CallAnswer>,
    /// Where the call stands in the call log.
    pub logged: usize,
    /// A gRPC stream the plugin ended its side of, whose answer comes in several callbacks.
    pub stream: bool,
}

/// An http_call, grpc_call or gRPC stream as the plugin asked for it.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// The cluster it goes to.
    pub upstream: String,
    /// With `:method`, `:path` and `:authority`.
    pub headers: HeaderMap,
    /// The body; a grpc_call's message, a gRPC stream's messages framed.
    pub body: Vec<u8>,
    pub method: String,
    pub path: String,
    pub grpc: bool,
    /// A gRPC stream's, whose answer may hold several messages.
    pub stream: bool,
    pub timeout: std::time::Duration,
}

impl CallRequest {
    /// The headers the call reaches its cluster with through Envoy 1.40 over HTTP/1 (measured, as
    /// `--envoy`'s clusters record it): an http_call's headers, then its `content-length` (with
    /// a body), `x-envoy-internal` and the `x-envoy-expected-rq-timeout-ms` of its timeout (when
    /// it has one); a gRPC call's `:authority` (the cluster), `te`, `grpc-timeout` (a unary
    /// call's), `content-type`, its metadata, then `x-envoy-internal`, the expected timeout and
    /// the chunked framing.
    pub(crate) fn reaching_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let timeout = self.timeout.as_millis();
        if self.grpc {
            headers.add(":method", &self.method);
            headers.add(":path", &self.path);
            headers.add(":authority", &self.upstream);
            headers.add("te", "trailers");
            if !self.stream {
                headers.add("grpc-timeout", &format!("{timeout}m"));
            }
            headers.add("content-type", "application/grpc");
        }
        let mut headers: HeaderMap = headers.iter().chain(self.headers.iter()).collect();
        if !self.grpc && !self.body.is_empty() {
            headers.add("content-length", &self.body.len().to_string());
        }
        headers.add("x-envoy-internal", "true");
        if timeout > 0 {
            headers.add("x-envoy-expected-rq-timeout-ms", &timeout.to_string());
        }
        if self.grpc {
            headers.add("transfer-encoding", "chunked");
        }
        headers
    }

    /// Why a call with no answer scripted for it fails.
    pub(crate) fn unscripted(&self) -> String {
        let CallRequest {
            upstream,
            method,
            path,
            ..
        } = self;
        format!(
            "no response scripted for the call to upstream `{upstream}` ({method} {path}); \
             script one (scenario `http_calls`, or `wasmctl run --call-response`)"
        )
    }
}

/// Makes the plugin's calls for real (`wasmctl serve`) rather than answering them from a script:
/// each once the callback that made it has returned, as Envoy does.
pub trait Caller: Send + Sync + std::fmt::Debug {
    /// Whether a call to `upstream` can be made; a call to a cluster it does not know is refused
    /// at once, as Envoy refuses one to an unknown cluster.
    fn knows(&self, upstream: &str, grpc: bool) -> bool;
    /// The answer; a call that fails gets the empty answer Envoy delivers for a failed call.
    fn call(&self, request: &CallRequest) -> CallResponse;
}

/// Which configuration `proxy_get_configuration` (ABI 0.1.0) and the configuration buffers return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConfigBuffer {
    Vm,
    Plugin,
}

pub(crate) enum Stream {
    None,
    Http(Box<HttpStream>),
    Network(Box<NetStream>),
}

impl Stream {
    pub fn as_http(&mut self) -> Option<&mut HttpStream> {
        match self {
            Stream::Http(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_network(&mut self) -> Option<&mut NetStream> {
        match self {
            Stream::Network(s) => Some(s),
            _ => None,
        }
    }
}

pub(crate) struct HostState {
    pub options: VmOptions,
    pub limits: StoreLimits,
    /// Set once the instance is up; a start function runs before.
    pub guest: Option<Guest>,
    /// The callback running now, for log records and error messages.
    pub callback: &'static str,
    pub active_context: u32,
    pub configuration: Option<ConfigBuffer>,
    pub stream: Stream,
    /// The id of the context `stream` belongs to.
    pub stream_context: u32,
    pub logs: Vec<LogRecord>,
    pub metrics: Vec<Metric>,
    pub clock_ns: u64,
    pub since_tick_ns: u64,
    pub start_ns: u64,
    pub tick_period_ms: u32,
    pub shared_data: HashMap<String, (Vec<u8>, u32)>,
    pub queues: Vec<(String, VecDeque<Vec<u8>>)>,
    pub scripted: VecDeque<CallAnswer>,
    pub pending_calls: VecDeque<PendingCall>,
    pub call_log: Vec<super::state::CallRecord>,
    /// The last http_call and grpc_call ids given out.
    pub callout_ids: CalloutIds,
    /// The answer being delivered to the plugin's response callbacks.
    pub call_response: Option<Delivery>,
    /// The gRPC streams the plugin opened that are not over.
    pub grpc_streams: Vec<GrpcStream>,
    /// Queues that received an item, for proxy_on_queue_ready.
    pub ready_queues: Vec<u32>,
    /// Why the host last refused a call in the running callback, when a rule of Envoy's (not a
    /// bad argument) made it: the likely cause should the plugin then fail.
    pub refused: Option<String>,
    /// The running callback sent a local reply: Envoy sends the first one a callback makes.
    pub replied: bool,
    /// What the plugin set with proxy_set_property on the stream in progress, as Envoy keeps it
    /// in the stream's filter state: gone with the stream.
    pub filter_state: Vec<(String, Vec<u8>)>,
}

impl HostState {
    pub fn new(mut options: VmOptions, limits: StoreLimits) -> HostState {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        // The answers are used up as calls take them; the queue is their one copy.
        let scripted = std::mem::take(&mut options.call_answers).into();
        HostState {
            options,
            limits,
            guest: None,
            callback: "start",
            active_context: super::vm::ROOT_CONTEXT,
            configuration: None,
            stream: Stream::None,
            stream_context: 0,
            logs: Vec::new(),
            metrics: Vec::new(),
            clock_ns: now,
            since_tick_ns: 0,
            start_ns: now,
            tick_period_ms: 0,
            shared_data: HashMap::new(),
            queues: Vec::new(),
            scripted,
            pending_calls: VecDeque::new(),
            call_log: Vec::new(),
            callout_ids: CalloutIds::default(),
            call_response: None,
            grpc_streams: Vec::new(),
            ready_queues: Vec::new(),
            refused: None,
            replied: false,
            filter_state: Vec::new(),
        }
    }

    pub fn log(&mut self, level: LogLevel, message: String) {
        self.logs.push(LogRecord {
            level,
            message,
            callback: self.callback,
        });
    }

    /// Starts `stream` as context `context`'s, the context later host calls act on.
    pub fn begin_stream(&mut self, context: u32, stream: Stream) {
        self.stream = stream;
        self.stream_context = context;
        self.active_context = context;
        self.filter_state.clear();
    }

    /// The HTTP stream, when the active context is its context.
    pub fn http(&mut self) -> Option<&mut HttpStream> {
        let own = self.active_context == self.stream_context;
        self.stream.as_http().filter(|_| own)
    }

    /// The connection, when the active context is its context.
    pub fn network(&mut self) -> Option<&mut NetStream> {
        let own = self.active_context == self.stream_context;
        self.stream.as_network().filter(|_| own)
    }

    /// The stream in progress, with its context made the active one. The lifecycle installs the
    /// stream before any callback; should `pick` find none, `install`'s stands in, which keeps
    /// the types honest without a panic path.
    pub fn enter_stream<S>(
        &mut self,
        pick: fn(&mut Stream) -> Option<&mut S>,
        install: fn() -> Stream,
    ) -> &mut S {
        self.active_context = self.stream_context;
        if pick(&mut self.stream).is_none() {
            self.stream = install();
        }
        pick(&mut self.stream).expect("a stream of this kind was installed above")
    }

    /// Takes the first scripted answer for `upstream`.
    pub fn take_scripted(&mut self, upstream: &str) -> Option<CallAnswer> {
        let index = self
            .scripted
            .iter()
            .position(|c| c.upstream.as_deref().is_none_or(|u| u == upstream))?;
        self.scripted.remove(index)
    }

    /// Cancels the grpc_call `token` before it is answered, as Envoy cancels one: it never
    /// leaves the proxy, so it leaves the call log, and its scripted answer is there for the
    /// next call. Whether there was such a call: `None` for an id that is no gRPC one.
    pub fn cancel_grpc_call(&mut self, token: u32) -> Option<bool> {
        let pending = self
            .pending_calls
            .iter()
            .position(|c| c.token == token && c.request.grpc);
        let Some(call) = pending.and_then(|index| self.pending_calls.remove(index)) else {
            return CalloutIds::is_grpc(token).then_some(false);
        };
        self.call_log.remove(call.logged);
        for later in self
            .pending_calls
            .iter_mut()
            .filter(|c| c.logged > call.logged)
        {
            later.logged -= 1;
        }
        if let Some(answer) = call.answer {
            self.scripted.push_front(answer);
        }
        Some(true)
    }
}
