//! Where a request goes after the plugin: a real HTTP upstream, or the built-in echo that answers
//! with the request it received.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::error::ServeError;
use crate::host::{HeaderMap, Response, ResponseHead, Status, bodiless};

/// How long the upstream may stay silent (connecting, or between two reads) before the request
/// gets a 504; a response that keeps streaming is never cut short.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers that belong to one hop (RFC 9110 section 7.6.1), and `host`, which the HTTP client
/// sets from the upstream's URL: never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "host",
];

pub(crate) fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The upstream as the user named it, checked once.
#[derive(Debug, Clone)]
pub(crate) enum UpstreamTarget {
    Echo,
    Http(reqwest::Url),
    Tcp(SocketAddr),
}

impl UpstreamTarget {
    pub fn parse(given: Option<&str>) -> Result<UpstreamTarget, ServeError> {
        let Some(given) = given else {
            return Ok(UpstreamTarget::Echo);
        };
        let bad = |why: &str| ServeError::Upstream {
            given: given.to_string(),
            why: why.to_string(),
        };
        let url = reqwest::Url::parse(given).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "http" || url.host().is_none() {
            return Err(bad("it must be an http:// URL with a host"));
        }
        Ok(UpstreamTarget::Http(url))
    }

    /// A network plugin's upstream: `HOST:PORT`, resolved once.
    pub fn parse_tcp(given: Option<&str>) -> Result<UpstreamTarget, ServeError> {
        let bad = |given: &str, why: &str| ServeError::Upstream {
            given: given.to_string(),
            why: why.to_string(),
        };
        let Some(given) = given else {
            return Err(bad("", "a network plugin needs --upstream HOST:PORT"));
        };
        let addr = given
            .to_socket_addrs()
            .map_err(|e| bad(given, &e.to_string()))?
            .next()
            .ok_or_else(|| bad(given, "the name has no address"))?;
        Ok(UpstreamTarget::Tcp(addr))
    }
}

/// One worker's way to the upstream.
pub(crate) enum Upstream {
    Echo,
    Tcp(SocketAddr),
    Http {
        base: reqwest::Url,
        client: reqwest::Client,
    },
}

impl Upstream {
    pub fn new(target: &UpstreamTarget) -> std::io::Result<Upstream> {
        Ok(match target {
            UpstreamTarget::Echo => Upstream::Echo,
            UpstreamTarget::Tcp(addr) => Upstream::Tcp(*addr),
            UpstreamTarget::Http(base) => Upstream::Http {
                base: base.clone(),
                client: reqwest::Client::builder()
                    .connect_timeout(UPSTREAM_TIMEOUT)
                    .read_timeout(UPSTREAM_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(std::io::Error::other)?,
            },
        })
    }
}

/// The request to a real upstream, its body still to come: `headers` as the plugin let them go
/// (pseudo-headers give the method and path), the body read from `body` as it is sent.
pub(crate) fn request(
    client: &reqwest::Client,
    base: &reqwest::Url,
    headers: &HeaderMap,
    body: reqwest::Body,
) -> reqwest::Request {
    let method = headers.get(":method").unwrap_or_else(|| "GET".into());
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let path = headers.get(":path").unwrap_or_else(|| "/".into());
    let url = base.join(&path).unwrap_or_else(|_| base.clone());
    let mut builder = client.request(method, url);
    // The authority goes on as the Host, as Envoy forwards it (no host rewrite): the upstream's
    // own address is only where the connection goes.
    if let Some(authority) = headers.get(":authority").filter(|a| !a.is_empty()) {
        builder = builder.header("host", authority);
    }
    for (name, value) in headers.iter() {
        if !name.starts_with(':') && !is_hop_by_hop(name) {
            builder = builder.header(name, value);
        }
    }
    builder
        .body(body)
        .build()
        .unwrap_or_else(|_| reqwest::Request::new(reqwest::Method::GET, base.clone()))
}

/// The response head of a real upstream, as the plugin sees it.
pub(crate) fn response_head(response: &reqwest::Response, method: &str) -> ResponseHead {
    let mut headers = HeaderMap::new();
    headers.add(":status", &response.status().as_u16().to_string());
    for (name, value) in response.headers() {
        if !is_hop_by_hop(name.as_str()) {
            headers.add(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
        }
    }
    let bodiless =
        bodiless(method, response.status().as_u16()) || response.content_length() == Some(0);
    ResponseHead {
        headers,
        has_body: !bodiless,
    }
}

/// Envoy's answers when the upstream is down (503) or too slow (504).
pub(crate) fn unreachable_upstream(err: &reqwest::Error) -> Response {
    let (status, body) = if err.is_timeout() {
        (Status::GATEWAY_TIMEOUT, "upstream request timeout")
    } else {
        (
            Status::SERVICE_UNAVAILABLE,
            "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
        )
    };
    Response {
        status,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: body.as_bytes().to_vec(),
        trailers: Vec::new(),
    }
}
