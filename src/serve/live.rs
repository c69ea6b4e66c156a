//! One HTTP exchange between a real client and the upstream, as the host's [`HttpPeers`]: the
//! client's body is read frame by frame as the plugin asks for it, the request leaves for the
//! upstream (a real one through reqwest, or the echo) the moment the plugin lets it on, and the
//! response streams back to the client as the plugin lets each part through.
//!
//! The worker runs the plugin between blocking calls on its own runtime; the upstream request is a
//! task on that runtime, so it moves on whenever the worker waits for either side.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::channel::{Channel, Sender};
use hyper::body::{Frame, Incoming};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use super::echo::echo;
use super::upstream::{self, Upstream, is_hop_by_hop, response_head, unreachable_upstream};
use crate::host::{
    BodyPart, ForwardedRequest, HeaderMap, HttpPeers, Request, Response, ResponseHead, Side, Status,
};

type BodySender = Sender<Bytes, std::io::Error>;

/// How many chunks a streamed body holds before its writer waits for its reader.
const CHANNEL_CHUNKS: usize = 4;

/// A body channel: the writer's end and the reader's.
pub(crate) fn body_channel() -> (BodySender, StreamedBody) {
    let (sender, channel) = Channel::new(CHANNEL_CHUNKS);
    let body = StreamedBody {
        channel,
        error: None,
    };
    (sender, body)
}

/// A body streamed to its reader (hyper's connection) through a small channel. When the writer
/// breaks the body off, the error waits one poll after the data before it: hyper's connection
/// then writes that data out before it breaks the connection, as Envoy, which passes each part on
/// as it comes, has sent it.
pub(crate) struct StreamedBody {
    channel: Channel<Bytes, std::io::Error>,
    error: Option<std::io::Error>,
}

impl hyper::body::Body for StreamedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(error) = self.error.take() {
            return Poll::Ready(Some(Err(error)));
        }
        match Pin::new(&mut self.channel).poll_frame(cx) {
            Poll::Ready(Some(Err(error))) => {
                self.error = Some(error);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            polled => polled,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.error.is_none() && self.channel.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.channel.size_hint()
    }
}

/// The status and headers the client gets, handed to its connection when the plugin lets them go.
pub(crate) struct ResponseStart {
    pub status: u16,
    pub headers: hyper::HeaderMap,
}

/// The client's side of one exchange, as its connection hands it to a worker.
pub(crate) struct Client {
    pub body: Incoming,
    pub start: oneshot::Sender<ResponseStart>,
    pub response: BodySender,
}

/// One exchange in progress.
pub(crate) struct Live<'a> {
    runtime: &'a Runtime,
    upstream: &'a Upstream,
    /// The request's method: the response to a HEAD has no body.
    method: String,
    incoming: Incoming,
    /// What the client has sent so far, kept (with fail-open) to pass it on unfiltered.
    kept: Option<Vec<u8>>,
    start: Option<oneshot::Sender<ResponseStart>>,
    response: Option<BodySender>,
    /// The status the client got, once its headers went.
    pub status: Option<u16>,
    /// The response's content-length, and the body bytes that went to the client.
    declared: Option<u64>,
    sent: u64,
    ended: bool,
    outgoing: Option<Outgoing>,
    arriving: Arriving,
}

/// The request on its way upstream.
enum Outgoing {
    Echo(ForwardedRequest),
    Http {
        body: BodySender,
        sent: tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
    },
}

/// The upstream's response body, as it arrives.
enum Arriving {
    Nothing,
    /// The echo's answer: it comes as an upstream's does over HTTP/1, its data, then its end.
    Echoed(Vec<u8>),
    /// The proxy's own answer, as Envoy's local reply: the whole body in one chunk that ends it.
    Own(Vec<u8>),
    Http(reqwest::Response),
}

impl<'a> Live<'a> {
    pub fn new(
        runtime: &'a Runtime,
        upstream: &'a Upstream,
        method: &str,
        client: Client,
        keep: bool,
    ) -> Live<'a> {
        Live {
            runtime,
            upstream,
            method: method.to_string(),
            incoming: client.body,
            kept: keep.then(Vec::new),
            start: Some(client.start),
            response: Some(client.response),
            status: None,
            declared: None,
            sent: 0,
            ended: false,
            outgoing: None,
            arriving: Arriving::Nothing,
        }
    }

    /// Whether the client's request has a body (or trailers) to come.
    pub fn has_body(&self) -> bool {
        !hyper::body::Body::is_end_stream(&self.incoming)
    }

    /// Answers the client with `status` and a plain-text `text`, if nothing went to it yet.
    pub fn reply(&mut self, status: Status, text: &str) {
        let response = Response {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: text.as_bytes().to_vec(),
            trailers: Vec::new(),
        };
        self.respond_whole(&response.header_map(), &response.body);
    }

    /// Passes the request on as if there were no plugin, the upstream's response back likewise:
    /// fail-open after the plugin failed, before anything went to the client.
    pub fn pass_unfiltered(&mut self, head: &Request) {
        self.abandon_upstream();
        self.forward_headers(&head.header_map("fail-open"));
        if let Some(kept) = self.kept.take() {
            self.forward_body(&kept);
        }
        // A side that breaks off leaves the other broken off too (when this is dropped).
        let trailers = match self.has_body() {
            true => self.read_to_end(|peers, data| peers.forward_body(data), Self::request_body),
            false => Some(Vec::new()),
        };
        let Some(trailers) = trailers else {
            return;
        };
        let head = self.end_request(&trailers.iter().map(|(n, v)| (n, v)).collect());
        self.respond_headers(&head.headers);
        let trailers = match head.has_body {
            true => self.read_to_end(|peers, data| peers.respond_body(data), Self::response_body),
            false => Some(Vec::new()),
        };
        if let Some(trailers) = trailers {
            self.respond_end(&trailers.iter().map(|(n, v)| (n, v)).collect());
        }
    }

    /// The request is complete, with its trailers: the upstream's response head.
    fn end_request(&mut self, trailers: &HeaderMap) -> ResponseHead {
        match self.outgoing.take() {
            Some(Outgoing::Echo(mut request)) => {
                request.trailers = trailers.clone();
                self.held(echo(&request), Arriving::Echoed)
            }
            Some(Outgoing::Http { mut body, sent }) => {
                if !trailers.is_empty() {
                    let _ = self
                        .runtime
                        .block_on(body.send_trailers(header_map(trailers.iter())));
                }
                drop(body);
                match self.runtime.block_on(sent) {
                    Ok(Ok(response)) => {
                        let head = response_head(&response, &self.method);
                        self.arriving = Arriving::Http(response);
                        head
                    }
                    Ok(Err(err)) => self.held(unreachable_upstream(&err), Arriving::Own),
                    Err(_) => self.held(unavailable(), Arriving::Own),
                }
            }
            None => self.held(unavailable(), Arriving::Own),
        }
    }

    /// Reads a body with `next` to its end, handing each chunk to `pass`; returns its trailers,
    /// or `None` when its sender broke off before the end.
    fn read_to_end(
        &mut self,
        pass: fn(&mut Self, &[u8]),
        next: fn(&mut Self) -> BodyPart,
    ) -> Option<Vec<(String, String)>> {
        loop {
            match next(self) {
                BodyPart::Data {
                    data,
                    end_of_stream,
                } => {
                    pass(self, &data);
                    if end_of_stream {
                        return Some(Vec::new());
                    }
                }
                BodyPart::End { trailers } => return Some(trailers),
                BodyPart::Reset => return None,
            }
        }
    }

    /// What was wrong with a response that ended: a content-length its body did not match, which
    /// breaks the response in Envoy as here (a plugin that changes a body must fix the length, or
    /// remove it in on_response_headers).
    pub fn framing_problem(&self) -> Option<String> {
        let bodiless =
            self.method.eq_ignore_ascii_case("HEAD") || matches!(self.status, Some(204 | 304));
        let declared = self.declared.filter(|_| self.ended && !bodiless)?;
        (declared != self.sent).then(|| {
            format!(
                "content-length says {declared} bytes but the plugin let {} through",
                self.sent
            )
        })
    }

    fn respond_whole(&mut self, headers: &HeaderMap, body: &[u8]) {
        self.respond_headers(headers);
        self.respond_body(body);
        self.respond_end(&HeaderMap::new());
    }

    /// A response held in memory (the echo's, or the proxy's own) becomes the upstream's; `body`
    /// says how its body arrives.
    fn held(&mut self, response: Response, body: fn(Vec<u8>) -> Arriving) -> ResponseHead {
        let head = response.head(&self.method);
        self.arriving = body(response.body);
        head
    }

    /// Stops a request the plugin will not finish: the upstream sees it broken off, never
    /// complete.
    fn abandon_upstream(&mut self) {
        if let Some(Outgoing::Http { body, sent }) = self.outgoing.take() {
            body.abort(std::io::Error::other("the request was not finished"));
            sent.abort();
        }
        self.arriving = Arriving::Nothing;
    }
}

impl HttpPeers for Live<'_> {
    /// What the network brings is taken as it comes; only a body made here is whole at once.
    fn arrived(&self, side: Side) -> bool {
        side == Side::Response && matches!(self.arriving, Arriving::Echoed(_) | Arriving::Own(_))
    }

    fn request_body(&mut self) -> BodyPart {
        loop {
            let frame = match self.runtime.block_on(self.incoming.frame()) {
                Some(Ok(frame)) => frame,
                None => {
                    return BodyPart::End {
                        trailers: Vec::new(),
                    };
                }
                // A client that breaks off mid-body (hyper knows the framing it promised).
                Some(Err(_)) => return BodyPart::Reset,
            };
            match frame.into_data() {
                Ok(data) if data.is_empty() => continue,
                // Over HTTP/1 the end comes after the last chunk, as Envoy sees it.
                Ok(data) => {
                    if let Some(kept) = &mut self.kept {
                        kept.extend_from_slice(&data);
                    }
                    return BodyPart::Data {
                        data: data.to_vec(),
                        end_of_stream: false,
                    };
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        return BodyPart::End {
                            trailers: fields(&trailers),
                        };
                    }
                }
            }
        }
    }

    fn forward_headers(&mut self, headers: &HeaderMap) {
        self.outgoing = Some(match self.upstream {
            Upstream::Http { base, client } => {
                let (body, channel) = body_channel();
                let request =
                    upstream::request(client, base, headers, reqwest::Body::wrap(channel));
                let client = client.clone();
                let sent = self
                    .runtime
                    .spawn(async move { client.execute(request).await });
                Outgoing::Http { body, sent }
            }
            Upstream::Echo | Upstream::Tcp(_) => Outgoing::Echo(ForwardedRequest {
                headers: headers.clone(),
                body: Vec::new(),
                trailers: HeaderMap::new(),
            }),
        });
    }

    fn forward_body(&mut self, data: &[u8]) {
        match &mut self.outgoing {
            Some(Outgoing::Echo(request)) => request.body.extend_from_slice(data),
            Some(Outgoing::Http { body, .. }) => {
                // An upstream that stopped reading answers (or fails) in forward_end.
                let _ = self
                    .runtime
                    .block_on(body.send_data(Bytes::copy_from_slice(data)));
            }
            None => {}
        }
    }

    /// A real upstream answers or fails for itself; the network brings no waiting to report.
    fn forward_end(&mut self, trailers: &HeaderMap) -> Result<ResponseHead, String> {
        Ok(self.end_request(trailers))
    }

    fn response_body(&mut self) -> BodyPart {
        let runtime = self.runtime;
        match &mut self.arriving {
            Arriving::Own(data) => BodyPart::Data {
                data: std::mem::take(data),
                end_of_stream: true,
            },
            Arriving::Echoed(data) => {
                let data = std::mem::take(data);
                self.arriving = Arriving::Nothing;
                BodyPart::Data {
                    data,
                    end_of_stream: false,
                }
            }
            // Over HTTP/1 the end comes after the last chunk, as Envoy sees it.
            Arriving::Http(response) => match runtime.block_on(response.chunk()) {
                Ok(Some(chunk)) => BodyPart::Data {
                    data: chunk.to_vec(),
                    end_of_stream: false,
                },
                Ok(None) => BodyPart::End {
                    trailers: Vec::new(),
                },
                // An upstream that breaks off mid-body, short of the framing it promised.
                Err(_) => BodyPart::Reset,
            },
            Arriving::Nothing => BodyPart::End {
                trailers: Vec::new(),
            },
        }
    }

    fn respond_headers(&mut self, headers: &HeaderMap) {
        let status = headers
            .get(":status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(500);
        self.declared = headers.get("content-length").and_then(|l| l.parse().ok());
        // content-length goes as the plugin left it, as Envoy sends it: a stale one breaks the
        // response here as it would there, and the access log says so.
        let sent = headers
            .iter()
            .filter(|(name, _)| !name.starts_with(':') && !is_hop_by_hop(name));
        let headers = header_map(sent);
        self.status = Some(status);
        if let Some(start) = self.start.take() {
            let _ = start.send(ResponseStart { status, headers });
        }
    }

    fn respond_body(&mut self, data: &[u8]) {
        self.sent += data.len() as u64;
        if let Some(response) = &mut self.response
            && self
                .runtime
                .block_on(response.send_data(Bytes::copy_from_slice(data)))
                .is_err()
        {
            // The client went away; the exchange still runs through the plugin to its end.
            self.response = None;
        }
    }

    fn respond_end(&mut self, trailers: &HeaderMap) {
        self.ended = true;
        if let Some(mut response) = self.response.take()
            && !trailers.is_empty()
        {
            let _ = self
                .runtime
                .block_on(response.send_trailers(header_map(trailers.iter())));
        }
    }
}

impl Drop for Live<'_> {
    /// An exchange the plugin left unfinished is broken off on both sides, so neither the
    /// upstream nor the client takes a cut-short message for a complete one.
    fn drop(&mut self) {
        self.abandon_upstream();
        if self.start.is_none()
            && let Some(response) = self.response.take()
        {
            response.abort(std::io::Error::other(
                "the plugin left the response unfinished",
            ));
        }
    }
}

/// Header fields as the host takes them.
pub(crate) fn fields(headers: &hyper::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), value)
        })
        .collect()
}

/// Header fields of the host's as hyper's, leaving out what HTTP cannot carry.
fn header_map<'h>(headers: impl Iterator<Item = (&'h str, &'h str)>) -> hyper::HeaderMap {
    let mut map = hyper::HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(value),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// What the proxy answers when the upstream gave no response.
fn unavailable() -> Response {
    Response {
        status: Status::SERVICE_UNAVAILABLE,
        ..Response::default()
    }
}
