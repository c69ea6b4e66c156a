//! The request and the response of an exchange as the client and the upstream send them, what
//! Envoy does to them before the plugin sees them, and what the exchange comes to.

use serde::{Deserialize, Serialize, Serializer};

use crate::host::Status;
use crate::host::field::{header_pairs, text_bytes};
use crate::host::headers::HeaderMap;
use crate::host::peers::ResponseHead;
use crate::host::state::LogRecord;

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
    /// Whether the headers a client adds unless given (user-agent, accept) are added: for a
    /// scripted request, not for one a real client sent (`serve`), which has what it has.
    #[serde(skip)]
    pub client_defaults: bool,
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
            client_defaults: true,
        }
    }
}

/// Envoy's default cap on a request's headers (`max_request_headers_kb`); above it, it answers 431.
const MAX_REQUEST_HEADERS: usize = 60 * 1024;

/// The most header fields Envoy takes in a request or a response (`max_headers_count`).
const MAX_HEADER_FIELDS: usize = 100;

impl Request {
    /// Why Envoy would answer this request itself, before any plugin sees it, if it would: a
    /// missing or malformed method, a malformed authority or path gets a 400, headers over 60 KiB
    /// a 431. (Envoy answers
    /// 400 to a lower-case method too; `run` and scenarios upper-case it first.)
    pub fn problem(&self) -> Option<String> {
        let path = &self.path;
        if self.method.is_empty() {
            return Some("the method is empty: Envoy answers 400".into());
        }
        if http::Method::from_bytes(self.method.as_bytes()).is_err() {
            let method = &self.method;
            return Some(format!(
                "method {method:?} is not an HTTP token: Envoy answers 400"
            ));
        }
        let host = self.host();
        // Envoy checks an authority's characters only (nghttp2's rule): RFC 3986's unreserved and
        // sub-delims, and `:`, `@`, `[`, `]` and `%`.
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~%!$&'()*+,;=:@[]".contains(c);
        if !host.chars().all(allowed) {
            return Some(format!(
                "authority {host:?} is not a host[:port]: Envoy answers 400"
            ));
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
        if self.client_defaults && !map.contains("user-agent") {
            map.add("user-agent", concat!("wasmctl/", env!("CARGO_PKG_VERSION")));
        }
        if self.client_defaults && !map.contains("accept") {
            map.add("accept", "*/*");
        }
        map
    }

    /// The header map the plugin sees: pseudo-headers first, then the client's headers as Envoy
    /// keeps them (see `end_to_end`), then what Envoy adds on the way in (x-forwarded-proto,
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

/// Whether a request's content-type makes it gRPC, as Envoy tells.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers.get("content-type").is_some_and(|t| {
        t == "application/grpc"
            || t.starts_with("application/grpc+")
            || t.starts_with("application/grpc;")
    })
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
