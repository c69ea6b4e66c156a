//! The state of one exchange that the plugin's host calls act on: each side's headers, body and
//! trailers and how far the plugin may use them, the exchange's progress, and a local reply.

use super::message::LocalReply;
use crate::host::chunks::{BUFFER_LIMIT, Side};
use crate::host::headers::HeaderMap;

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

/// Why a stream was reset, by the plugin or by Envoy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reset {
    /// The plugin closed it with proxy_close_stream.
    ByPlugin,
    /// The plugin sent a local reply once the response had begun, too late to replace it.
    LateLocalReply,
    /// The plugin held more of the response body than the buffer limit once the response had
    /// begun.
    Overflow,
    /// The peer on this side broke off before its body ended.
    BrokenOff(Side),
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
    /// Why the stream was reset, once it was.
    pub reset: Option<Reset>,
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
    /// Why the stream was reset, if it was, the last callback before it being `callback`.
    pub fn reset_reason(&self, callback: &str) -> Option<String> {
        Some(match self.reset? {
            Reset::ByPlugin => format!("the plugin reset the stream in {callback}"),
            Reset::LateLocalReply => format!(
                "Envoy reset the stream: in {callback} the plugin sent a local reply after the \
                 response had begun"
            ),
            Reset::Overflow => format!(
                "Envoy reset the stream: in {callback} the plugin held more of the response body \
                 than the {BUFFER_LIMIT}-byte buffer limit"
            ),
            Reset::BrokenOff(Side::Request) => {
                "Envoy reset the stream: the client broke off before the request body ended".into()
            }
            Reset::BrokenOff(Side::Response) => {
                "Envoy reset the stream: the upstream broke off before the response body ended"
                    .into()
            }
        })
    }

    /// The request or the response.
    pub fn side(&mut self, side: Side) -> &mut Half {
        match side {
            Side::Request => &mut self.request,
            Side::Response => &mut self.response,
        }
    }
}

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

impl HttpStream {
    /// A local reply sent while processing the response replaces it (and needs no resume).
    pub(super) fn local_reply_replaced_response(&self) -> bool {
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

/// `text` as a grpc-message carries it: bytes outside printable ASCII, and `%`, percent-encoded.
fn percent_encoded(text: &[u8]) -> String {
    text.iter()
        .map(|&b| match b {
            b' '..=b'~' if b != b'%' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
