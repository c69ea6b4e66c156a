//! The clusters a plugin's http_calls reach under `wasmctl serve`: each `--cluster NAME=URL`
//! names one, as Envoy's bootstrap names a cluster, and a call is made for real once the callback
//! that asked for it has returned, as Envoy makes it. A call to a cluster no flag names is refused
//! at once, as Envoy refuses one to an unknown cluster.

use super::error::ServeError;
use super::upstream::is_hop_by_hop;
use crate::host::{CallRequest, CallResponse, Caller, HeaderMap};
use crate::key_value::KeyValue;

/// The named clusters and one HTTP client for them all.
#[derive(Debug)]
pub(crate) struct Clusters {
    clusters: Vec<(String, reqwest::Url)>,
    client: reqwest::blocking::Client,
}

/// `--cluster NAME=URL` flags, checked: an http URL with a host, each name once.
pub(crate) fn parse(given: &[KeyValue]) -> Result<Vec<(String, reqwest::Url)>, ServeError> {
    let mut clusters: Vec<(String, reqwest::Url)> = Vec::new();
    for KeyValue { key, value } in given {
        let bad = |why: &str| ServeError::Cluster {
            given: format!("{key}={value}"),
            why: why.to_string(),
        };
        let url = reqwest::Url::parse(value).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "http" || url.host().is_none() {
            return Err(bad("the URL must be http:// with a host"));
        }
        if clusters.iter().any(|(name, _)| name == key) {
            return Err(bad("the cluster is named twice"));
        }
        clusters.push((key.clone(), url));
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

    fn url(&self, upstream: &str) -> Option<&reqwest::Url> {
        self.clusters
            .iter()
            .find(|(name, _)| name == upstream)
            .map(|(_, url)| url)
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
        for (name, value) in request.headers.iter() {
            if name == ":authority" {
                builder = builder.header("host", value);
            } else if !name.starts_with(':') && !is_hop_by_hop(name) {
                builder = builder.header(name, value);
            }
        }
        let response = builder.send()?;
        let mut headers = HeaderMap::new();
        headers.add(":status", &response.status().as_u16().to_string());
        for (name, value) in response.headers() {
            headers.add(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
        }
        let body = response.bytes()?.to_vec();
        Ok(CallResponse {
            headers,
            body,
            ..CallResponse::default()
        })
    }
}

impl Caller for Clusters {
    /// gRPC calls need HTTP/2 to a gRPC server; they are refused like an unknown cluster.
    fn knows(&self, upstream: &str, grpc: bool) -> bool {
        !grpc && self.url(upstream).is_some()
    }

    fn call(&self, request: &CallRequest) -> CallResponse {
        let Some(base) = self.url(&request.upstream) else {
            return CallResponse::default();
        };
        // The blocking client must not run inside an async context (a network plugin's calls
        // come from one): the call gets a thread of its own.
        std::thread::scope(|scope| {
            scope
                .spawn(|| self.send(base, request).unwrap_or_default())
                .join()
                .unwrap_or_default()
        })
    }
}
