//! The clusters a plugin's calls reach under `wasmctl serve`: each `--cluster NAME=URL` names one,
//! as Envoy's bootstrap names a cluster, over HTTP/1 (`http://`) or HTTP/2 without TLS (`h2c://`,
//! as a gRPC service speaks), and a call is made for real once the callback that asked for it has
//! returned, as Envoy makes it. A call to a cluster no flag names is refused at once, as Envoy
//! refuses one to an unknown cluster.

use std::time::Instant;

use super::error::ServeError;
use super::h2c;
use super::upstream::is_hop_by_hop;
use crate::host::{CallRequest, CallResponse, Caller, HeaderMap};
use crate::key_value::KeyValue;

/// The named clusters and one HTTP/1 client for them all.
#[derive(Debug)]
pub(crate) struct Clusters {
    clusters: Vec<Cluster>,
    client: reqwest::blocking::Client,
}

/// One `--cluster NAME=URL`.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub name: String,
    /// Where it is, as an `http://` URL whatever the protocol.
    pub url: reqwest::Url,
    pub protocol: Protocol,
}

/// How a cluster is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// `http://`: HTTP/1.1.
    Http1,
    /// `h2c://`: HTTP/2 without TLS, known beforehand, as a gRPC service speaks it.
    H2c,
}

/// `--cluster NAME=URL` flags, checked: an http:// or h2c:// URL with a host, each name once.
pub(crate) fn parse(given: &[KeyValue]) -> Result<Vec<Cluster>, ServeError> {
    let mut clusters: Vec<Cluster> = Vec::new();
    for KeyValue { key, value } in given {
        let bad = |why: &str| ServeError::Cluster {
            given: format!("{key}={value}"),
            why: why.to_string(),
        };
        let (protocol, rest) = match value.split_once("://") {
            Some(("http", rest)) => (Protocol::Http1, rest),
            Some(("h2c", rest)) => (Protocol::H2c, rest),
            _ => return Err(bad("the URL must be http:// or h2c:// with a host")),
        };
        let url =
            reqwest::Url::parse(&format!("http://{rest}")).map_err(|e| bad(&e.to_string()))?;
        if url.host().is_none() {
            return Err(bad("the URL must be http:// or h2c:// with a host"));
        }
        if clusters.iter().any(|c| &c.name == key) {
            return Err(bad("the cluster is named twice"));
        }
        clusters.push(Cluster {
            name: key.clone(),
            url,
            protocol,
        });
    }
    Ok(clusters)
}

impl Clusters {
    pub fn new(given: &[KeyValue]) -> Result<Clusters, ServeError> {
        let clusters = parse(given)?;
        let client = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ServeError::Runtime(std::io::Error::other(e)))?;
        Ok(Clusters { clusters, client })
    }

    fn cluster(&self, upstream: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name == upstream)
    }

    /// The call as HTTP: `:method` and `:path` against the cluster's URL, `:authority` as the
    /// Host header (the cluster's address is only where it goes), the plugin's timeout.
    fn send(&self, base: &reqwest::Url, request: &CallRequest) -> reqwest::Result<CallResponse> {
        let method =
            reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let url = base.join(&request.path).unwrap_or_else(|_| base.clone());
        let mut builder = self.client.request(method, url).body(request.body.clone());
        if !request.timeout.is_zero() {
            builder = builder.timeout(request.timeout);
        }
        if let Some(authority) = request.headers.get(":authority") {
            builder = builder.header("host", authority);
        }
        for (name, value) in sent_fields(request).iter() {
            builder = builder.header(name, value);
        }
        let response = builder.send()?;
        let headers = fields(Some(response.status()), response.headers());
        let body = response.bytes()?.to_vec();
        Ok(CallResponse {
            headers,
            body,
            ..CallResponse::default()
        })
    }
}

/// The headers that go on the wire, as Envoy sends a call to its cluster (the plugin's, then
/// Envoy's own: see [`CallRequest::reaching_headers`]): not the pseudo-headers (the request line,
/// or the URI, carries those), nor the framing and hop-by-hop ones, which the client writes.
pub(super) fn sent_fields(request: &CallRequest) -> HeaderMap {
    let reached = request.reaching_headers();
    let sent =
        |name: &str| !name.starts_with(':') && !is_hop_by_hop(name) && name != "content-length";
    reached.iter().filter(|(name, _)| sent(name)).collect()
}

/// An answer's header (or trailer) fields as the host keeps them, after its `:status` if given.
pub(super) fn fields(status: Option<http::StatusCode>, map: &http::HeaderMap) -> HeaderMap {
    let mut fields = HeaderMap::new();
    if let Some(status) = status {
        fields.add(":status", status.as_str());
    }
    for (name, value) in map {
        fields.add(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
    }
    fields
}

impl Caller for Clusters {
    /// A gRPC call needs a gRPC service, which speaks HTTP/2: to an `http://` cluster it is
    /// refused like a call to an unknown cluster.
    fn knows(&self, upstream: &str, grpc: bool) -> bool {
        self.cluster(upstream)
            .is_some_and(|c| !grpc || c.protocol == Protocol::H2c)
    }

    fn call(&self, request: &CallRequest) -> CallResponse {
        let Some(cluster) = self.cluster(&request.upstream) else {
            return CallResponse::default();
        };
        // The blocking client must not run inside an async context (a network plugin's calls
        // come from one), nor a runtime of its own: the call gets a thread of its own.
        let started = Instant::now();
        let answer = std::thread::scope(|scope| {
            scope
                .spawn(|| match cluster.protocol {
                    Protocol::Http1 => {
                        (self.send(&cluster.url, request)).map_err(|e| e.is_timeout())
                    }
                    Protocol::H2c => h2c::call(&cluster.url, request),
                })
                .join()
                .unwrap_or(Err(false))
        });
        match answer {
            Ok(answer) if request.grpc => answer,
            Ok(mut answer) => {
                // As Envoy's router adds it to what an upstream answers.
                let took = started.elapsed().as_millis().to_string();
                answer.headers.add("x-envoy-upstream-service-time", &took);
                answer
            }
            Err(timed_out) => no_answer(request.grpc, timed_out),
        }
    }
}

/// What Envoy hands the plugin for a call no answer came to (measured with Envoy 1.40): an
/// http_call gets the router's local reply, 503 (504 once the call's timeout passed); a grpc_call
/// closes UNAVAILABLE (14) with the reason.
fn no_answer(grpc: bool, timed_out: bool) -> CallResponse {
    let (status, reason, details) = match timed_out {
        true => (504, "upstream request timeout", "{response_timeout}"),
        false => (
            503,
            "upstream connect error or disconnect/reset before headers. reset reason: remote \
             connection failure",
            "{upstream_reset_before_response_started{remote_connection_failure}}",
        ),
    };
    if grpc {
        return CallResponse {
            grpc_status: 14,
            grpc_message: format!("{reason}{details}"),
            ..CallResponse::default()
        };
    }
    let mut headers = HeaderMap::new();
    headers.add(":status", &status.to_string());
    headers.add("content-length", &reason.len().to_string());
    headers.add("content-type", "text/plain");
    CallResponse {
        headers,
        body: reason.as_bytes().to_vec(),
        ..CallResponse::default()
    }
}
