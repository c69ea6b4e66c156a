//! One HTTP exchange through the plugin, in Envoy's order: request headers, body, trailers; the
//! upstream response (or the plugin's local reply, which runs back through the same plugin's response
//! callbacks); then on_done, on_log, on_delete.
//!
//! `message` has what the client and the upstream send and what the exchange comes to; `stream`
//! the exchange's state that the host calls act on; this file the lifecycle that runs it.

use std::time::{Duration, SystemTime};

use super::chunks::{BodyEnd, Side};
use super::headers::HeaderMap;
use super::peers::{HttpPeers, Scripted, declared_length, short_body};
use super::state::{LogRecord, Stream};
use super::{HostError, Vm};
use crate::http_date;

mod message;
mod stream;

pub use message::{FinalResponse, ForwardedRequest, HttpOutcome, LocalReply, Request, Response};
pub(crate) use message::{bodiless, is_grpc, lossy};
pub(crate) use stream::{Half, HeaderAccess, HttpStream, Progress, Reset, grpc_status_of};

/// The names the proxy's configuration gives the clusters requests and connections go to and the
/// virtual host that routes requests, as properties give them (`xds.cluster_name`,
/// `xds.virtual_host_name`); `run --envoy` and `test --envoy` configure Envoy with the same.
pub(crate) const HTTP_CLUSTER: &str = "http_upstream";
pub(crate) const TCP_CLUSTER: &str = "tcp_upstream";
pub(crate) const VIRTUAL_HOST: &str = "all";

/// The `server` Envoy's connection manager puts on every response: its default name.
const SERVER_NAME: &str = "envoy";

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
        if let Some((action, callback)) = self.headers(context, Side::Request, !has_body)? {
            let more = has_body && peers.arrived(Side::Request);
            flow = self.after_request_callback(context, action, callback, more)?;
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
        if let Some((action, callback)) = self.headers(context, Side::Response, !has_body)? {
            let more =
                has_body && (self.stream().local_reply.is_some() || peers.arrived(Side::Response));
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

    /// The side's headers callback, when the plugin has one: what Envoy makes of its status, and
    /// the callback's name. The map is the plugin's from the call until it lets the headers go
    /// on; headers it holds keep the body that arrives meanwhile back.
    fn headers(
        &mut self,
        context: u32,
        side: Side,
        end_of_stream: bool,
    ) -> Result<Option<(i32, &'static str)>, HostError> {
        let (f, callback) = match side {
            Side::Request => (&self.exports.on_request_headers, "proxy_on_request_headers"),
            Side::Response => (
                &self.exports.on_response_headers,
                "proxy_on_response_headers",
            ),
        };
        let Some(f) = f.clone() else {
            return Ok(None);
        };
        let half = self.stream().side(side);
        half.access = HeaderAccess::Open;
        let count = half.headers.len();
        let status = self.call(callback, |store| {
            f.call(store, context, count, end_of_stream)
        })?;
        let action = headers_action(status);
        let half = self.stream().side(side);
        match action {
            CONTINUE => half.access = HeaderAccess::Closed,
            _ => half.held_back = true,
        }
        Ok(Some((action, callback)))
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
        if let Some(why) = s.reset_reason(callback) {
            return Ok(Flow::Stop(why));
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
        if let Some(why) = s.reset_reason(callback) {
            return Ok(Some(why));
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
