//! Where a request goes after the plugin: a real HTTP upstream, or the built-in echo that answers
//! with the request it received.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::echo::echo;
use super::error::ServeError;
use crate::host::{ForwardedRequest, Response};

/// How long the upstream may take to answer before the request gets a 504.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers that belong to one hop, never forwarded (RFC 9110 section 7.6.1), and the ones the
/// HTTP client sets itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "content-length",
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

/// One worker's way to the upstream; blocking, since the worker runs one exchange at a time.
pub(crate) enum Upstream {
    Echo,
    Tcp {
        addr: SocketAddr,
        runtime: tokio::runtime::Runtime,
    },
    Http {
        base: reqwest::Url,
        client: reqwest::Client,
        runtime: tokio::runtime::Runtime,
    },
}

impl Upstream {
    pub fn new(target: &UpstreamTarget) -> std::io::Result<Upstream> {
        Ok(match target {
            UpstreamTarget::Echo => Upstream::Echo,
            UpstreamTarget::Tcp(addr) => Upstream::Tcp {
                addr: *addr,
                runtime: worker_runtime()?,
            },
            UpstreamTarget::Http(base) => Upstream::Http {
                base: base.clone(),
                client: reqwest::Client::builder()
                    .timeout(UPSTREAM_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(std::io::Error::other)?,
                runtime: worker_runtime()?,
            },
        })
    }

    /// The upstream's answer to `request`, with the sizes of the chunks its body came in; when
    /// it cannot be reached, Envoy's 503.
    pub fn exchange(&self, request: &ForwardedRequest) -> (Response, Vec<usize>) {
        match self {
            Upstream::Echo | Upstream::Tcp { .. } => {
                let response = echo(request);
                let chunks = vec![response.body.len()];
                (response, chunks)
            }
            Upstream::Http {
                base,
                client,
                runtime,
            } => runtime
                .block_on(forward(client, base, request))
                .unwrap_or_else(|err| {
                    let response = unreachable_upstream(&err);
                    let chunks = vec![response.body.len()];
                    (response, chunks)
                }),
        }
    }
}

fn worker_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

async fn forward(
    client: &reqwest::Client,
    base: &reqwest::Url,
    request: &ForwardedRequest,
) -> reqwest::Result<(Response, Vec<usize>)> {
    let headers = &request.headers;
    let method = headers.get(":method").unwrap_or_else(|| "GET".into());
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let path = headers.get(":path").unwrap_or_else(|| "/".into());
    let url = base.join(&path).unwrap_or_else(|_| base.clone());
    let mut builder = client.request(method, url);
    for (name, value) in headers.iter() {
        if !name.starts_with(':') && !is_hop_by_hop(name) {
            builder = builder.header(name, value);
        }
    }
    let mut answer = builder.body(request.body.clone()).send().await?;
    let status = answer.status().as_u16();
    let headers = answer
        .headers()
        .iter()
        .filter(|(name, _)| !is_hop_by_hop(name.as_str()))
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), value)
        })
        .collect();
    let (mut body, mut chunks) = (Vec::new(), Vec::new());
    while let Some(chunk) = answer.chunk().await? {
        body.extend_from_slice(&chunk);
        chunks.push(chunk.len());
    }
    let response = Response {
        status,
        headers,
        body,
        trailers: Vec::new(),
    };
    Ok((response, chunks))
}

/// Envoy's answers when the upstream is down (503) or too slow (504).
fn unreachable_upstream(err: &reqwest::Error) -> Response {
    let (status, body) = if err.is_timeout() {
        (504, "upstream request timeout")
    } else {
        (
            503,
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
