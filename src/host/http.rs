//! One HTTP exchange through the plugin, in Envoy's order: request headers, body, trailers; the
//! upstream response (or the plugin's local reply, which runs back through the same plugin's response
//! callbacks); then on_done, on_log, on_delete.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize, Serializer};

use super::chunks::{BUFFER_LIMIT, BodyEnd, Side};
use super::field::{header_pairs, text_bytes};
use super::headers::HeaderMap;
use super::peers::{HttpPeers, ResponseHead, Scripted, declared_length, short_body};
use super::state::{LogRecord, Stream};
use super::{HostError, Status, Vm};
use crate::http_date;

/// The request a client sends. A scenario's `request` reads into it; a field the scenario leaves
/// out keeps its default.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The `:authority`; a `host` header, when given, takes its place (see [`Request::host`]).
    pub authority: String,
    #[serde(skip)]
    pub scheme: String,
    /// Headers as the client sends them; the proxy's usual ones are added unless given.
    #[serde(deserialize_with = "header_pairs")]
    pub headers: Vec<(String, String)>,
    #[serde(deserialize_with = "text_bytes")]
    pub body: Vec<u8>,
    #[serde(deserialize_with = "header_pairs")]
    pub trailers: Vec<(String, String)>,
}

impl Default for Request {
    fn default() -> Self {
        Request {
            method: "GET".into(),
            path: "/".into(),
            authority: "example.com".into(),
            scheme: "http".into(),
            headers: Vec::new(),
            body: Vec::new(),
            trailers: Vec::new(),
        }
    }
}

/// Envoy's default cap on a request's headers (`max_request_headers_kb`); above it, it answers 431.
const MAX_REQUEST_HEADERS: usize = 60 * 1024;

/// The most header fields Envoy takes in a request or a response (`max_headers_count`).
const MAX_HEADER_FIELDS: usize = 100;

impl Request {
    /// Why Envoy would answer this request itself, before any plugin sees it, if it would: a
    /// missing method or a malformed path gets a 400, headers over 60 KiB a 431. (Envoy answers
    /// 400 to a lower-case method too; `run` and scenarios upper-case it first.)
    pub fn problem(&self) -> Option<String> {
        let path = &self.path;
        if self.method.is_empty() {
            return Some("the method is empty: Envoy answers 400".into());
        }
        if !path.starts_with('/') && self.absolute_target().is_none() {
            return Some(format!(
                "path `{path}` does not start with `/`: Envoy answers 400"
            ));
        }
        if let Some(c) = path
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || *c == '#')
        {
            return Some(format!("path `{path}` has {c:?}: Envoy answers 400"));
        }
        if let Some(problem) = length_problem(&self.headers, &self.body, &self.trailers) {
            return Some(problem);
        }
        let size: usize = self.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
        if size > MAX_REQUEST_HEADERS {
            return Some(format!(
                "the headers are {} KiB: Envoy answers 431 above 60 KiB",
                size.div_ceil(1024)
            ));
        }
        // What the client sends: `host` and the others.
        let fields = 1 + self.client_headers().len();
        if fields > MAX_HEADER_FIELDS {
            return Some(format!(
                "the request has {fields} header fields: Envoy answers 431 above {MAX_HEADER_FIELDS}"
            ));
        }
        None
    }

    /// The scheme, authority and path of an absolute-form `path` (`http://host/path`, as a client
    /// talking to a proxy sends it), which Envoy takes in place of the others.
    fn absolute_target(&self) -> Option<(String, String, String)> {
        let uri: http::Uri = self.path.parse().ok()?;
        let scheme = uri.scheme_str().filter(|s| *s == "http" || *s == "https")?;
        let authority = uri.authority()?.as_str();
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        Some((scheme.into(), authority.into(), path.into()))
    }

    /// The authority the proxy sees: HTTP/1.1 carries it as the `host` header, so a `host` header
    /// given (the last, if several) is it, as in Envoy; else `authority`.
    pub fn host(&self) -> &str {
        self.headers
            .iter()
            .rev()
            .find(|(name, _)| name.eq_ignore_ascii_case("host"))
            .map_or(&self.authority, |(_, value)| value)
    }

    /// What the client sends after the request line and `host`: its headers, then those a client
    /// adds unless given (content-length for a body, user-agent, accept). The built-in host shows
    /// them to the plugin, and the same ones go on the wire to Envoy.
    pub fn client_headers(&self) -> HeaderMap {
        let mut map: HeaderMap = self
            .headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
            .map(|(name, value)| (name, value))
            .collect();
        // A body with trailers comes chunked; Envoy's HTTP/1 codec takes the framing away.
        let chunked = !self.trailers.is_empty();
        if !self.body.is_empty() && !chunked && !map.contains("content-length") {
            map.add("content-length", &self.body.len().to_string());
        }
        if !map.contains("user-agent") {
            map.add("user-agent", concat!("wasmctl/", env!("CARGO_PKG_VERSION")));
        }
        if !map.contains("accept") {
            map.add("accept", "*/*");
        }
        map
    }

    /// The header map the plugin sees: pseudo-headers first, then the client's headers as Envoy
    /// keeps them (see [`end_to_end`]), then what Envoy adds on the way in (x-forwarded-proto,
    /// x-request-id). As in Envoy, a valid `x-forwarded-proto` from the client sets `:scheme`, and
    /// an absolute-form path sets the scheme, the authority and the path.
    pub fn header_map(&self, request_id: &str) -> HeaderMap {
        let client = end_to_end(&self.client_headers());
        let forwarded = client
            .get("x-forwarded-proto")
            .map(|proto| proto.to_ascii_lowercase())
            .filter(|proto| proto == "http" || proto == "https");
        let (scheme, authority, path) = match self.absolute_target() {
            Some(target) => target,
            None => (
                forwarded.unwrap_or_else(|| self.scheme.clone()),
                self.host().to_string(),
                self.path.clone(),
            ),
        };
        let mut map = HeaderMap::new();
        map.add(":authority", &authority);
        map.add(":path", &path);
        map.add(":method", &self.method);
        map.add(":scheme", &scheme);
        for (name, value) in client.iter() {
            if !taken_by_envoy(name, value) {
                map.add(name, value);
            }
        }
        if !map.contains("x-forwarded-proto") {
            map.add("x-forwarded-proto", &scheme);
        }
        if !map.contains("x-request-id") {
            map.add("x-request-id", request_id);
        }
        map
    }
}

/// A `content-length` among `headers` that is not `body`'s length: the other side would wait for
/// bytes that never come, or take the rest as the next message.
fn length_problem(
    headers: &[(String, String)],
    body: &[u8],
    trailers: &[(String, String)],
) -> Option<String> {
    let (_, length) = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))?;
    if !trailers.is_empty() {
        return Some(
            "trailers follow only a chunked body over HTTP/1: leave out the content-length".into(),
        );
    }
    (length.trim().parse::<usize>() != Ok(body.len())).then(|| {
        let plural = if body.len() == 1 { "" } else { "s" };
        format!(
            "content-length says `{length}` but the body is {} byte{plural}",
            body.len()
        )
    })
}

/// Whether the response to a `method` request with `status` has no body (RFC 9110 section 6.4.1):
/// a HEAD request's, a 1xx, 204 or 304.
pub(crate) fn bodiless(method: &str, status: u16) -> bool {
    method.eq_ignore_ascii_case("HEAD") || matches!(status, ..200 | 204 | 304)
}

/// The `x-envoy-*` request headers that steer Envoy's router (retries, timeouts, tracing, stats):
/// Envoy's connection manager takes them out of a request from outside before the filter chain,
/// and the harness's clients are outside.
const ROUTER_CONTROLS: [&str; 15] = [
    "x-envoy-expected-rq-timeout-ms",
    "x-envoy-force-trace",
    "x-envoy-hedge-on-per-try-timeout",
    "x-envoy-internal",
    "x-envoy-ip-tags",
    "x-envoy-max-retries",
    "x-envoy-retriable-header-names",
    "x-envoy-retriable-status-codes",
    "x-envoy-retry-grpc-on",
    "x-envoy-retry-on",
    "x-envoy-upstream-alt-stat-name",
    "x-envoy-upstream-rq-per-try-timeout-ms",
    "x-envoy-upstream-rq-timeout-alt-response",
    "x-envoy-upstream-rq-timeout-ms",
    "x-envoy-upstream-stream-duration-ms",
];

/// Whether Envoy's connection manager takes `name: value` out of a request from outside before
/// the filter chain: a router control, or an `expect: 100-continue`, which it answers itself.
fn taken_by_envoy(name: &str, value: &str) -> bool {
    ROUTER_CONTROLS.contains(&name)
        || (name == "expect" && value.eq_ignore_ascii_case("100-continue"))
}

/// Headers that concern only the client's connection to the proxy; Envoy's HTTP/1 codec drops
/// them before the filter chain, with those `connection` names.
const CONNECTION_SPECIFIC: [&str; 4] = ["connection", "keep-alive", "proxy-connection", "upgrade"];

/// The client's headers as Envoy lets them into the filter chain: without the connection-specific
/// ones, and with `te` kept only as `te: trailers`, when the client offered trailers.
fn end_to_end(client: &HeaderMap) -> HeaderMap {
    let tokens = |name: &str| -> Vec<String> {
        client
            .iter()
            .filter(|(n, _)| *n == name)
            .flat_map(|(_, value)| value.split(','))
            .map(|token| token.trim().to_ascii_lowercase())
            .collect()
    };
    let named = tokens("connection");
    let mut te = tokens("te").iter().any(|t| t == "trailers");
    let mut map = HeaderMap::new();
    for (name, value) in client.iter() {
        if name == "te" {
            // In place of the first `te`, once.
            if std::mem::take(&mut te) {
                map.add("te", "trailers");
            }
        } else if !CONNECTION_SPECIFIC.contains(&name) && !named.iter().any(|n| n == name) {
            map.add(name, value);
        }
    }
    map
}

/// The response the upstream sends back: 200 with nothing else unless given. A scenario's
/// `response` reads into it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Response {
    pub status: Status,
    #[serde(deserialize_with = "header_pairs")]
    pub headers: Vec<(String, String)>,
    #[serde(deserialize_with = "text_bytes")]
    pub body: Vec<u8>,
    #[serde(deserialize_with = "header_pairs")]
    pub trailers: Vec<(String, String)>,
}

impl Response {
    /// Why this cannot be an upstream's answer to a `method` request, if it cannot: Envoy takes a
    /// 1xx as an interim response and waits for the final one, a 204 has no body, and a body
    /// that is sent must be as long as its `content-length` says.
    pub fn problem(&self, method: &str) -> Option<String> {
        match self.status.get() {
            status @ ..200 => Some(format!(
                "status {status} is not a final response: Envoy waits past a 1xx for the final one"
            )),
            204 if !self.body.is_empty() => Some("a 204 response has no body".into()),
            // What the upstream sends: every field but the status line.
            _ if self.header_map().len() - 1 > MAX_HEADER_FIELDS => Some(format!(
                "the response has {} header fields: Envoy answers 502 above {MAX_HEADER_FIELDS}",
                self.header_map().len() - 1
            )),
            status if bodiless(method, status) => None,
            _ => length_problem(&self.headers, &self.body, &self.trailers),
        }
    }

    /// The head the plugin sees when this answers a `method` request: no body or trailers follow
    /// when the request or the status allows none, whatever the response holds, as in Envoy.
    pub(crate) fn head(&self, method: &str) -> ResponseHead {
        ResponseHead {
            headers: self.header_map(),
            has_body: !bodiless(method, self.status.get())
                && (!self.body.is_empty() || !self.trailers.is_empty()),
        }
    }

    /// The response head as the plugin sees it. Envoy's HTTP/1 codec drops the upstream's
    /// `keep-alive` (the other connection-specific headers reach the plugin).
    pub(crate) fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.add(":status", &self.status.to_string());
        for (name, value) in &self.headers {
            if !name.eq_ignore_ascii_case("keep-alive") {
                map.add(name, value);
            }
        }
        // A 204 (or 1xx) carries no length: there is no body to measure. A body with trailers
        // comes chunked, and Envoy's HTTP/1 codec shows the plugin that it did.
        let measured = !matches!(self.status.get(), ..200 | 204);
        let chunked = !self.trailers.is_empty();
        if measured && !chunked && !map.contains("content-length") {
            map.add("content-length", &self.body.len().to_string());
        }
        if !self.body.is_empty() && !map.contains("content-type") {
            map.add("content-type", "text/plain");
        }
        if measured && chunked && !map.contains("transfer-encoding") {
            map.add("transfer-encoding", "chunked");
        }
        map
    }
}

pub(crate) fn lossy<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(bytes))
}

/// The request as the proxy forwards it upstream, after the plugin.
#[derive(Debug, Clone, Serialize)]
pub struct ForwardedRequest {
    pub headers: HeaderMap,
    #[serde(serialize_with = "lossy")]
    pub body: Vec<u8>,
    pub trailers: HeaderMap,
}

/// A response the plugin sent itself with proxy_send_local_response.
#[derive(Debug, Clone, Serialize)]
pub struct LocalReply {
    pub status: u16,
    pub details: String,
    pub headers: HeaderMap,
    #[serde(serialize_with = "lossy")]
    pub body: Vec<u8>,
    /// The callback that sent it.
    pub callback: &'static str,
}

/// The response the client receives, after the plugin.
#[derive(Debug, Clone, Serialize)]
pub struct FinalResponse {
    pub status: u16,
    pub headers: HeaderMap,
    #[serde(serialize_with = "lossy")]
    pub body: Vec<u8>,
    pub trailers: HeaderMap,
}

/// What happened to one exchange.
#[derive(Debug, Clone, Serialize)]
pub struct HttpOutcome {
    /// The request as forwarded upstream; absent when the plugin answered it itself or held it.
    pub upstream: Option<ForwardedRequest>,
    pub local_reply: Option<LocalReply>,
    /// What the client gets; absent when the plugin paused the stream and never resumed it.
    pub response: Option<FinalResponse>,
    /// Why the exchange stopped short, when it did.
    pub stalled: Option<String>,
    /// What the plugin logged during this exchange.
    pub logs: Vec<LogRecord>,
}

/// How far the plugin may use the request's or the response's header map now, as Envoy 1.40 lets
/// it: a map is the plugin's from its headers callback until the plugin lets those headers go on
/// (the callback returns Continue, or the plugin resumes the stream); proxy_on_log may read both.
/// At any other time Envoy refuses the call with BadArgument, and lists the map as empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum HeaderAccess {
    #[default]
    Closed,
    Open,
    ReadOnly,
}

/// The state of the exchange the plugin's host calls act on.
#[derive(Debug, Default)]
pub(crate) struct HttpStream {
    pub request: Half,
    pub response: Half,
    pub local_reply: Option<LocalReply>,
    /// A local reply's body, once the response path takes it up as the body to run through.
    pub local_body: Option<Vec<u8>>,
    /// The side whose last body callback (end_of_stream, no trailers) is running.
    pub last_body_call: Option<Side>,
    /// The plugin reset the stream with proxy_close_stream.
    pub closed: bool,
    /// Envoy reset the stream: the plugin held more of the response body than the buffer limit
    /// once the response had begun.
    pub overflowed: bool,
    /// Response headers have gone downstream; a local reply is no longer possible.
    pub response_started: bool,
    /// Whether a body or trailers follow the response headers.
    pub response_has_body: bool,
    /// Request body bytes received so far.
    pub request_received: usize,
    pub progress: Progress,
    pub request_path: String,
    pub request_method: String,
    pub request_id: String,
    /// The client's request is gRPC (by its content-type, as it came): a local reply goes back
    /// to it as a gRPC status.
    pub grpc: bool,
}

/// The request or the response of an exchange, as the plugin's host calls see it.
#[derive(Debug, Default)]
pub(crate) struct Half {
    pub headers: HeaderMap,
    /// The part of the body the plugin holds: the chunk it is shown, with what it paused on.
    pub body: Vec<u8>,
    pub trailers: HeaderMap,
    /// Whether the plugin may use the header map now.
    pub access: HeaderAccess,
    /// Whether the plugin has the trailers now: Envoy gives them in their own callback, until
    /// the plugin lets them go on. In the last body callback of a body that has none, changing
    /// them adds them, and those stay the plugin's.
    pub trailers_access: HeaderAccess,
    /// The plugin resumed it with proxy_continue_stream.
    pub resumed: bool,
    /// The plugin paused the headers, so the body that arrives meanwhile waits, to reach it as
    /// one part when it resumes.
    pub held_back: bool,
    /// The plugin paused on a chunk of the body and holds it: it may change that body outside
    /// its body callback (from an http_call answer, say).
    pub body_held: bool,
}

impl HttpStream {
    /// The request or the response.
    pub fn side(&mut self, side: Side) -> &mut Half {
        match side {
            Side::Request => &mut self.request,
            Side::Response => &mut self.response,
        }
    }
}

/// The names the proxy's configuration gives the clusters requests and connections go to and the
/// virtual host that routes requests, as properties give them (`xds.cluster_name`,
/// `xds.virtual_host_name`); `run --envoy` and `test --envoy` configure Envoy with the same.
pub(crate) const HTTP_CLUSTER: &str = "http_upstream";
pub(crate) const TCP_CLUSTER: &str = "tcp_upstream";
pub(crate) const VIRTUAL_HOST: &str = "all";

/// The `server` Envoy's connection manager puts on every response: its default name.
const SERVER_NAME: &str = "envoy";

/// How far the exchange has come, on the host's clock: what Envoy's stream info keeps for the
/// `request.time`, `request.duration`, `response.size`, `response.backend_latency` and
/// `upstream.*` properties.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub started_ns: u64,
    /// The request's headers went upstream: Envoy has picked the upstream host.
    pub forwarded_ns: Option<u64>,
    /// The upstream's response head came back: its connection is up.
    pub answered_ns: Option<u64>,
    /// The upstream's response ended.
    pub upstream_done_ns: Option<u64>,
    /// How long the exchange took, once it is over.
    pub duration_ns: Option<u64>,
    /// Response body bytes sent to the client.
    pub response_sent: usize,
}

const CONTINUE: i32 = 0;

/// What Envoy makes of a headers callback's status: ContinueAndEndStream (2) is taken as
/// Continue; any other status but Continue stops.
fn headers_action(status: i32) -> i32 {
    match status {
        2 => CONTINUE,
        _ => status,
    }
}

/// Where the exchange is, for the lifecycle below.
enum Flow {
    Go,
    LocalReply,
    Stop(String),
}

/// How an exchange between two [`HttpPeers`] ended.
pub(crate) struct Exchanged {
    /// Why the exchange stopped short, when it did.
    pub stalled: Option<String>,
    pub local_reply: Option<LocalReply>,
    /// The response headers as they stand at the end, and what was still buffered of its body.
    pub response_headers: HeaderMap,
    pub response_rest: Vec<u8>,
    pub response_trailers: HeaderMap,
    /// What the plugin logged during this exchange.
    pub logs: Vec<LogRecord>,
}

impl Vm {
    /// Sends one request through the plugin; `upstream` is what the upstream answers if the request
    /// gets there.
    pub fn http(
        &mut self,
        request: &Request,
        upstream: &Response,
    ) -> Result<HttpOutcome, HostError> {
        let whole = [request.body.len()];
        self.http_through(request, &whole, &mut |_| {
            (upstream.clone(), vec![upstream.body.len()])
        })
    }

    /// Sends one request through the plugin, its body arriving in chunks of `request_chunks`
    /// bytes; `upstream` is called with the request as the plugin forwards it, if it gets there,
    /// and gives the upstream's response and the sizes of the chunks its body came in.
    pub fn http_through(
        &mut self,
        request: &Request,
        request_chunks: &[usize],
        upstream: &mut dyn FnMut(&ForwardedRequest) -> (Response, Vec<usize>),
    ) -> Result<HttpOutcome, HostError> {
        let mut peers = Scripted::new(request, request_chunks, upstream);
        let has_body = !request.body.is_empty() || !request.trailers.is_empty();
        let mut ended = self.http_exchange(request, has_body, &mut peers)?;
        let response = match (&ended.stalled, &ended.local_reply) {
            (Some(_), None) => None,
            _ => {
                let mut body = peers.responded_body;
                body.extend_from_slice(&ended.response_rest);
                let status = status_of(&ended.response_headers);
                // The client reads the body as long as its `content-length` says.
                let declared = declared_length(&ended.response_headers)
                    .filter(|_| !bodiless(&request.method, status));
                match declared {
                    Some(length) if body.len() < length => {
                        ended.stalled = Some(short_body("the client", length, body.len()));
                        None
                    }
                    _ => {
                        body.truncate(declared.unwrap_or(body.len()));
                        Some(FinalResponse {
                            status,
                            headers: ended.response_headers,
                            body,
                            trailers: ended.response_trailers,
                        })
                    }
                }
            }
        };
        Ok(HttpOutcome {
            upstream: peers.forwarded.filter(|_| peers.forward_ended),
            local_reply: ended.local_reply,
            response,
            stalled: ended.stalled,
            logs: ended.logs,
        })
    }

    /// Sends one request through the plugin between the client and the upstream `peers`, passing
    /// on each part of either body as the plugin lets it through. `request` gives the head (its
    /// body and trailers come from `peers`); `has_body` says whether a body or trailers follow.
    pub(crate) fn http_exchange(
        &mut self,
        request: &Request,
        has_body: bool,
        peers: &mut dyn HttpPeers,
    ) -> Result<Exchanged, HostError> {
        let context = self.new_context_id();
        let logs_before = self.store.data().logs.len();
        let request_id = request_id(context, self.store.data().clock_ns);
        let request_headers = request.header_map(&request_id);
        let stream = HttpStream {
            request_path: request_headers.get(":path").unwrap_or_default(),
            grpc: is_grpc(&request_headers),
            request: Half {
                headers: request_headers,
                access: HeaderAccess::Open,
                ..Half::default()
            },
            request_method: request.method.clone(),
            request_id,
            progress: Progress {
                started_ns: self.store.data().clock_ns,
                ..Progress::default()
            },
            ..HttpStream::default()
        };
        self.store
            .data_mut()
            .begin_stream(context, Stream::Http(Box::new(stream)));
        let result = self.http_lifecycle(context, has_body, peers);
        // The context ends whatever happened, so the next exchange starts clean.
        let finish = if result.is_ok() {
            self.finish_context(context)
        } else {
            Ok(())
        };
        let stream = match std::mem::replace(&mut self.store.data_mut().stream, Stream::None) {
            Stream::Http(s) => *s,
            _ => HttpStream::default(),
        };
        let stalled = result?;
        finish?;
        Ok(Exchanged {
            stalled,
            local_reply: stream.local_reply,
            response_headers: stream.response.headers,
            response_rest: stream.response.body,
            response_trailers: stream.response.trailers,
            logs: self.store.data().logs[logs_before..].to_vec(),
        })
    }

    fn http_lifecycle(
        &mut self,
        context: u32,
        has_body: bool,
        peers: &mut dyn HttpPeers,
    ) -> Result<Option<String>, HostError> {
        if let Some(create) = self.exports.on_context_create.clone() {
            self.call("proxy_on_context_create", |store| {
                create.call(store, (context as i32, super::vm::ROOT_CONTEXT as i32))
            })?;
        }
        let mut flow = Flow::Go;
        if let Some(f) = self.exports.on_request_headers.clone() {
            let count = self.stream().request.headers.len();
            let action = headers_action(self.call("proxy_on_request_headers", |store| {
                f.call(store, context, count, !has_body)
            })?);
            let s = self.stream();
            match action {
                CONTINUE => s.request.access = HeaderAccess::Closed,
                _ => s.request.held_back = true,
            }
            let more = has_body && peers.arrived(Side::Request);
            flow =
                self.after_request_callback(context, action, "proxy_on_request_headers", more)?;
        }
        // Let go, the headers reach the router at once, which picks the upstream host.
        if matches!(flow, Flow::Go) {
            self.forward_headers(peers);
        }
        if matches!(flow, Flow::Go) && has_body {
            flow = self.request_body_path(context, peers)?;
        }
        match flow {
            Flow::Stop(why) => return Ok(Some(why)),
            Flow::LocalReply => {}
            Flow::Go => {
                self.pass(Side::Request, peers);
                let trailers = self.stream().request.trailers.clone();
                let head = match peers.forward_end(&trailers) {
                    Ok(head) => head,
                    Err(waiting) => return Ok(Some(waiting)),
                };
                let now = self.store.data().clock_ns;
                let s = self.stream();
                s.response.headers = head.headers;
                // As Envoy's router adds it, in whole milliseconds.
                let waited = now - s.progress.forwarded_ns.unwrap_or(now);
                let waited = (waited / 1_000_000).to_string();
                s.response
                    .headers
                    .replace("x-envoy-upstream-service-time", &waited);
                s.response_has_body = head.has_body;
                s.progress.answered_ns = Some(now);
                if !head.has_body {
                    s.progress.upstream_done_ns = Some(now);
                }
            }
        }
        // Response path: the upstream's response, or the local reply, through the plugin.
        self.response_path(context, peers)
    }

    /// The request body and trailers, through the plugin's callbacks as they arrive.
    fn request_body_path(
        &mut self,
        context: u32,
        peers: &mut dyn HttpPeers,
    ) -> Result<Flow, HostError> {
        let callback = "proxy_on_request_body";
        let f = self.exports.on_request_body.clone();
        let BodyEnd { action, trailers } =
            self.stream_body(context, f, callback, Side::Request, peers)?;
        let Some(trailers) = trailers else {
            return self.after_request_callback(context, action, callback, false);
        };
        // The trailers decide whether the request goes on, even after a pause in the body.
        match self.after_request_callback(context, CONTINUE, callback, true)? {
            Flow::Go => {}
            flow => return Ok(flow),
        }
        let (action, callback) = self
            .trailers(context, Side::Request, &trailers)?
            .unwrap_or((CONTINUE, callback));
        self.after_request_callback(context, action, callback, false)
    }

    fn response_path(
        &mut self,
        context: u32,
        peers: &mut dyn HttpPeers,
    ) -> Result<Option<String>, HostError> {
        let has_body = match &self.stream().local_reply {
            Some(_) => !self.stream().response.body.is_empty(),
            None => self.stream().response_has_body,
        };
        if let Some(f) = self.exports.on_response_headers.clone() {
            let count = self.stream().response.headers.len();
            self.stream().response.access = HeaderAccess::Open;
            let action = headers_action(self.call("proxy_on_response_headers", |store| {
                f.call(store, context, count, !has_body)
            })?);
            let s = self.stream();
            match action {
                CONTINUE => s.response.access = HeaderAccess::Closed,
                _ => s.response.held_back = true,
            }
            let more =
                has_body && (self.stream().local_reply.is_some() || peers.arrived(Side::Response));
            let callback = "proxy_on_response_headers";
            if let Some(why) = self.after_response_callback(context, action, callback, more)? {
                return Ok(Some(why));
            }
        }
        if self.stream().local_reply_replaced_response() {
            // Envoy sends a reply made while encoding straight to the client: none of the
            // plugin's callbacks runs for it.
            self.pass(Side::Response, peers);
            peers.respond_end(&HeaderMap::new());
            return Ok(None);
        }
        self.respond_headers(peers);
        if has_body && let Some(why) = self.response_body_path(context, peers)? {
            return Ok(Some(why));
        }
        let trailers = self.stream().response.trailers.clone();
        peers.respond_end(&trailers);
        Ok(None)
    }

    /// The response body and trailers, through the plugin's callbacks as they arrive; a local
    /// reply's body is one chunk.
    fn response_body_path(
        &mut self,
        context: u32,
        peers: &mut dyn HttpPeers,
    ) -> Result<Option<String>, HostError> {
        let s = self.stream();
        if s.local_reply.is_some() {
            s.local_body = Some(std::mem::take(&mut s.response.body));
        }
        let callback = "proxy_on_response_body";
        let f = self.exports.on_response_body.clone();
        let BodyEnd { action, trailers } =
            self.stream_body(context, f, callback, Side::Response, peers)?;
        let Some(trailers) = trailers else {
            let stopped = self.after_response_callback(context, action, callback, false)?;
            if stopped.is_none() {
                self.pass(Side::Response, peers);
            }
            return Ok(stopped);
        };
        // The trailers decide whether the response goes on, even after a pause in the body; what
        // the plugin held of the body goes on before them.
        if let Some(why) = self.after_response_callback(context, CONTINUE, callback, true)? {
            return Ok(Some(why));
        }
        if action == CONTINUE {
            self.pass(Side::Response, peers);
        }
        let (action, callback) = self
            .trailers(context, Side::Response, &trailers)?
            .unwrap_or((CONTINUE, callback));
        let stopped = self.after_response_callback(context, action, callback, false)?;
        if stopped.is_none() {
            self.pass(Side::Response, peers);
        }
        Ok(stopped)
    }

    /// `side`'s trailers arrive: they are set, and the plugin's trailers callback for that side,
    /// if it has one, runs. Its action and name.
    fn trailers(
        &mut self,
        context: u32,
        side: Side,
        trailers: &[(String, String)],
    ) -> Result<Option<(i32, &'static str)>, HostError> {
        self.stream().side(side).trailers = trailers.iter().map(|(n, v)| (n, v)).collect();
        let (f, callback) = match side {
            Side::Request => (
                &self.exports.on_request_trailers,
                "proxy_on_request_trailers",
            ),
            Side::Response => (
                &self.exports.on_response_trailers,
                "proxy_on_response_trailers",
            ),
        };
        let Some(f) = f.clone() else {
            return Ok(None);
        };
        let count = trailers.len() as i32;
        self.stream().side(side).trailers_access = HeaderAccess::Open;
        let action = self.call(callback, |store| f.call(store, (context as i32, count)))?;
        if action == CONTINUE {
            self.stream().side(side).trailers_access = HeaderAccess::Closed;
        }
        Ok(Some((action, callback)))
    }

    /// The request's headers go upstream, once: the first time the plugin lets the request on.
    /// They are no longer the plugin's, and Envoy's router adds how long it will wait, if the
    /// route has a timeout.
    pub(super) fn forward_headers(&mut self, peers: &mut dyn HttpPeers) {
        let now = self.store.data().clock_ns;
        let timeout = self.store.data().options.route_timeout;
        let s = self.stream();
        s.request.access = HeaderAccess::Closed;
        if s.progress.forwarded_ns.is_none() {
            s.progress.forwarded_ns = Some(now);
            if let Some(timeout) = timeout {
                let millis = timeout.as_millis().to_string();
                s.request
                    .headers
                    .replace("x-envoy-expected-rq-timeout-ms", &millis);
            }
            peers.forward_headers(&s.request.headers);
        }
    }

    /// The response's headers go to the client, once. They are no longer the plugin's. Envoy's
    /// connection manager stamps them, after the plugin, with a `date` unless there is one and
    /// with its `server`; its HTTP/1 codec takes the framing it does itself out of them.
    fn respond_headers(&mut self, peers: &mut dyn HttpPeers) {
        let now = self.store.data().clock_ns;
        let s = self.stream();
        s.response.access = HeaderAccess::Closed;
        if !std::mem::replace(&mut s.response_started, true) {
            let now = SystemTime::UNIX_EPOCH + Duration::from_nanos(now);
            if !s.response.headers.contains("date")
                && let Some(date) = http_date::format(now)
            {
                s.response.headers.add("date", &date);
            }
            s.response.headers.replace("server", SERVER_NAME);
            peers.respond_headers(&s.response.headers);
            s.response.headers.remove("transfer-encoding");
        }
    }

    /// What the plugin holds of `side`'s body goes on, after the headers if they have not gone.
    pub(super) fn pass(&mut self, side: Side, peers: &mut dyn HttpPeers) {
        match side {
            Side::Request => self.forward_headers(peers),
            Side::Response => self.respond_headers(peers),
        }
        let data = std::mem::take(&mut self.stream().side(side).body);
        if data.is_empty() {
            return;
        }
        match side {
            Side::Request => peers.forward_body(&data),
            Side::Response => {
                self.stream().progress.response_sent += data.len();
                peers.respond_body(&data);
            }
        }
    }

    /// After a request callback: answer the calls made so far, then see whether the request goes
    /// on, was answered locally, or stays paused. When the plugin lets this part go on and `more`
    /// of the request has arrived, Envoy hands the plugin that first, and the answers wait.
    fn after_request_callback(
        &mut self,
        context: u32,
        action: i32,
        callback: &'static str,
        more: bool,
    ) -> Result<Flow, HostError> {
        if action != CONTINUE || !more {
            self.deliver_calls(context)?;
        }
        let s = self.stream();
        if s.local_reply.is_some() {
            return Ok(Flow::LocalReply);
        }
        if s.closed {
            return Ok(Flow::Stop(format!(
                "the plugin reset the stream in {callback}"
            )));
        }
        if action == CONTINUE || s.request.resumed {
            s.request.resumed = false;
            return Ok(Flow::Go);
        }
        Ok(Flow::Stop(format!(
            "the request was paused in {callback} and never resumed"
        )))
    }

    fn after_response_callback(
        &mut self,
        context: u32,
        action: i32,
        callback: &'static str,
        more: bool,
    ) -> Result<Option<String>, HostError> {
        if action != CONTINUE || !more {
            self.deliver_calls(context)?;
        }
        let s = self.stream();
        if s.closed {
            return Ok(Some(match s.overflowed {
                true => format!(
                    "Envoy reset the stream: in {callback} the plugin held more of the response \
                     body than the {BUFFER_LIMIT}-byte buffer limit"
                ),
                false => format!("the plugin reset the stream in {callback}"),
            }));
        }
        if action == CONTINUE || s.response.resumed || s.local_reply_replaced_response() {
            s.response.resumed = false;
            return Ok(None);
        }
        Ok(Some(format!(
            "the response was paused in {callback} and never resumed"
        )))
    }

    /// Ends a context as Envoy 1.40 does: an HTTP stream's with on_log (which may read both
    /// header maps and the response's trailers, not change them), then on_done and on_delete; a connection's with on_done,
    /// on_log and on_delete.
    pub(crate) fn finish_context(&mut self, context: u32) -> Result<(), HostError> {
        self.store.data_mut().active_context = context;
        let http = self.store.data_mut().http().is_some();
        if http {
            // Over now: on_log may read both maps, and each is as it was again for on_done.
            let now = self.store.data().clock_ns;
            let s = self.stream();
            s.progress.duration_ns = Some(now - s.progress.started_ns);
            let kept = (
                s.request.access,
                s.response.access,
                s.response.trailers_access,
            );
            (s.request.access, s.response.access) =
                (HeaderAccess::ReadOnly, HeaderAccess::ReadOnly);
            // The response's trailers too, and they stay changeable if they are the plugin's.
            if s.response.trailers_access == HeaderAccess::Closed {
                s.response.trailers_access = HeaderAccess::ReadOnly;
            }
            self.on_log(context)?;
            let s = self.stream();
            (
                s.request.access,
                s.response.access,
                s.response.trailers_access,
            ) = kept;
        }
        if let Some(f) = self.exports.on_done.clone() {
            self.call("proxy_on_done", |store| f.call(store, context as i32))?;
        }
        if !http {
            self.on_log(context)?;
        }
        if let Some(f) = self.exports.on_delete.clone() {
            self.call("proxy_on_delete", |store| f.call(store, context as i32))?;
        }
        self.store.data_mut().active_context = super::vm::ROOT_CONTEXT;
        Ok(())
    }

    fn on_log(&mut self, context: u32) -> Result<(), HostError> {
        match self.exports.on_log.clone() {
            Some(f) => self.call("proxy_on_log", |store| f.call(store, context as i32)),
            None => Ok(()),
        }
    }

    pub(super) fn stream(&mut self) -> &mut HttpStream {
        let install = || Stream::Http(Box::default());
        self.store.data_mut().enter_stream(Stream::as_http, install)
    }
}

impl HttpStream {
    /// A local reply sent while processing the response replaces it (and needs no resume).
    fn local_reply_replaced_response(&self) -> bool {
        self.local_reply
            .as_ref()
            .is_some_and(|r| r.callback.starts_with("proxy_on_response"))
    }

    /// Applies a local reply: it becomes the response the client gets. Sent during the request it
    /// then runs through the response callbacks; sent during the response it replaces it.
    /// `grpc_status` is the plugin's for a gRPC client (negative: none).
    pub fn send_local_reply(&mut self, reply: LocalReply, grpc_status: i32) -> bool {
        if self.response_started {
            return false;
        }
        let mut headers = HeaderMap::new();
        let mut body = reply.body.clone();
        if self.grpc {
            // As Envoy answers a gRPC client: a trailers-only response, the status in grpc-status
            // (the plugin's, or the one the HTTP status maps to) and the body in grpc-message.
            headers.add(":status", "200");
            for (name, value) in reply.headers.iter() {
                headers.add(name, value);
            }
            headers.replace("content-type", "application/grpc");
            let code = u32::try_from(grpc_status)
                .map_or_else(|_| grpc_status_of(i64::from(reply.status)), i64::from);
            headers.replace("grpc-status", &code.to_string());
            if !body.is_empty() {
                headers.replace("grpc-message", &percent_encoded(&body));
            }
            body.clear();
        } else {
            headers.add(":status", &reply.status.to_string());
            for (name, value) in reply.headers.iter() {
                headers.add(name, value);
            }
            if !body.is_empty() {
                headers.replace("content-length", &body.len().to_string());
                if !headers.contains("content-type") {
                    headers.add("content-type", "text/plain");
                }
            }
        }
        self.response.headers = headers;
        self.response.body = body;
        self.response.trailers = HeaderMap::new();
        self.local_reply = Some(reply);
        true
    }
}

/// The gRPC status Envoy infers from an HTTP status.
pub(crate) fn grpc_status_of(http_status: i64) -> i64 {
    match http_status {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502 | 503 | 504 => 14,
        _ => 2,
    }
}

/// Whether a request's content-type makes it gRPC, as Envoy tells.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers.get("content-type").is_some_and(|t| {
        t == "application/grpc"
            || t.starts_with("application/grpc+")
            || t.starts_with("application/grpc;")
    })
}

/// `text` as a grpc-message carries it: bytes outside printable ASCII, and `%`, percent-encoded.
fn percent_encoded(text: &[u8]) -> String {
    text.iter()
        .map(|&b| match b {
            b' '..=b'~' if b != b'%' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn status_of(headers: &HeaderMap) -> u16 {
    headers
        .get(":status")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A request id shaped like Envoy's (a UUID), unique per exchange.
fn request_id(context: u32, clock: u64) -> String {
    let a = clock ^ (u64::from(context) << 32);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        (a & 0xfff) as u16,
        context & 0xfff,
        u64::from(context).wrapping_mul(0x9e37_79b9_7f4a_7c15) & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    type Fields = &'static [(&'static str, &'static str)];

    fn seen(headers: Fields) -> Vec<(String, String)> {
        let request = Request {
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            ..Request::default()
        };
        let map = request.header_map("id");
        map.iter()
            .filter(|(n, _)| !matches!(*n, "user-agent" | "accept" | "x-request-id"))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_plugin_sees_the_request_headers_envoy_lets_in() {
        let head = [
            (":authority", "example.com"),
            (":path", "/"),
            (":method", "GET"),
        ];
        // The client's headers, those the plugin sees of them, and the scheme.
        let cases: [(Fields, Fields, &str); 6] = [
            (&[("x-a", "1")], &[("x-a", "1")], "http"),
            (
                &[
                    ("connection", "close, te, x-bar"),
                    ("te", "trailers"),
                    ("x-bar", "1"),
                    ("x-a", "2"),
                ],
                &[("te", "trailers"), ("x-a", "2")],
                "http",
            ),
            (
                &[
                    ("Connection", "Keep-Alive"),
                    ("keep-alive", "5"),
                    ("upgrade", "websocket"),
                    ("proxy-connection", "x"),
                ],
                &[],
                "http",
            ),
            (&[("te", "gzip, Trailers")], &[("te", "trailers")], "http"),
            (&[("te", "trailers;q=0.5, deflate")], &[], "http"),
            (
                &[("x-forwarded-proto", "HTTPS")],
                &[("x-forwarded-proto", "HTTPS")],
                "https",
            ),
        ];
        for (given, kept, scheme) in cases {
            let mut expected = pairs(&head);
            expected.push((":scheme".into(), scheme.into()));
            expected.extend(pairs(kept));
            if !kept.iter().any(|(n, _)| *n == "x-forwarded-proto") {
                expected.push(("x-forwarded-proto".into(), scheme.into()));
            }
            assert_eq!(seen(given), expected, "given {given:?}");
        }
        // An absolute-form path names the scheme, the authority and the path.
        let request = Request {
            path: "https://a.example:8443/x?y=1".into(),
            ..Request::default()
        };
        let map = request.header_map("id");
        let head: Vec<_> = map.iter().take(4).collect();
        assert_eq!(
            head,
            [
                (":authority", "a.example:8443"),
                (":path", "/x?y=1"),
                (":method", "GET"),
                (":scheme", "https")
            ]
        );
        // A value that is no scheme leaves it as it was.
        let junk = seen(&[("x-forwarded-proto", "ftp")]);
        assert!(
            junk.contains(&(":scheme".into(), "http".into())),
            "{junk:?}"
        );
    }
}
