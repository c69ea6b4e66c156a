//! A call to an `h2c://` cluster: HTTP/2 without TLS, known beforehand, as a gRPC service is
//! spoken to. A grpc_call's message goes framed, with the headers Envoy's gRPC client sends, and
//! its answer's message, `grpc-status` and `grpc-message` come back from the body and the
//! trailers (or the headers, for a trailers-only answer). An http_call goes as it is.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::cluster::{fields, sent_fields};
use crate::grpc;
use crate::host::{CallRequest, CallResponse, HeaderMap};

/// How long a call the plugin gave no timeout may take.
const NO_TIMEOUT_GIVEN: Duration = Duration::from_secs(30);

/// Makes `request` to the cluster at `base`, on a runtime of its own (the caller's thread has
/// none); `Err` when no answer came, `true` when the call's timeout passed first.
pub(super) fn call(base: &reqwest::Url, request: &CallRequest) -> Result<CallResponse, bool> {
    let timeout = match request.timeout {
        t if t.is_zero() => NO_TIMEOUT_GIVEN,
        t => t,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|_| false)?;
    runtime.block_on(async {
        match tokio::time::timeout(timeout, send(base, request)).await {
            Ok(answer) => answer.map_err(|_| false),
            Err(_) => Err(true),
        }
    })
}

async fn send(base: &reqwest::Url, request: &CallRequest) -> Result<CallResponse, String> {
    let host = base.host_str().unwrap_or_default();
    let port = base.port_or_known_default().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let response = sender
        .send_request(http_request(base, request)?)
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.map_err(|e| e.to_string())?;
    let trailers = (collected.trailers()).map_or_else(HeaderMap::new, |t| fields(None, t));
    let body = collected.to_bytes();
    let headers = fields(Some(parts.status), &parts.headers);
    if !request.grpc {
        return Ok(CallResponse {
            headers,
            body: body.to_vec(),
            trailers,
            ..CallResponse::default()
        });
    }
    let field = |name: &str| trailers.get(name).or_else(|| headers.get(name));
    Ok(CallResponse {
        // A gRPC answer with no status is an unknown error (2).
        grpc_status: field("grpc-status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(2),
        grpc_message: field("grpc-message").unwrap_or_default(),
        body: grpc::unframe(&body),
        messages: match request.stream {
            true => grpc::messages(&body),
            false => Vec::new(),
        },
        headers,
        trailers,
    })
}

/// The request on the wire: the plugin's path on the cluster, its `:authority` (a grpc_call's
/// is the cluster's name, as Envoy sends it) unless that is no valid authority, and its headers;
/// a grpc_call's message framed, with `te: trailers`.
fn http_request(
    base: &reqwest::Url,
    request: &CallRequest,
) -> Result<hyper::Request<Full<Bytes>>, String> {
    let authority = (request.headers.get(":authority")).unwrap_or_else(|| request.upstream.clone());
    let mut url = base.join(&request.path).unwrap_or_else(|_| base.clone());
    let mut named = url.clone();
    if named.set_host(Some(&authority)).is_ok() {
        url = named;
    }
    let mut builder = hyper::Request::builder()
        .method(request.method.as_str())
        .uri(url.as_str());
    for (name, value) in sent_fields(request).iter() {
        builder = builder.header(name, value);
    }
    // A gRPC stream's messages come framed; a grpc_call's one message is framed here.
    let body = if request.grpc {
        builder = builder.header("te", "trailers");
        match request.stream {
            true => request.body.clone(),
            false => grpc::frame(&request.body),
        }
    } else {
        request.body.clone()
    };
    builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())
}
