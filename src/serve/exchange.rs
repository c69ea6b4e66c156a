//! One HTTP request from a real client: hyper's request head goes to a worker with its body still
//! to come, and the response starts as soon as the plugin lets its headers go, its body streaming
//! behind them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::live::{Client, ResponseStart, StreamedBody, body_channel, fields};
use super::pool::Pool;
use super::upstream::is_hop_by_hop;
use super::worker::{HttpJob, Job};
use super::{AccessRecord, ServeObserver};
use crate::host::Request;

type HyperResponse = hyper::Response<UnsyncBoxBody<Bytes, std::io::Error>>;

/// Serves one request; every failure becomes a response, never a dropped connection.
pub(crate) async fn handle(
    req: hyper::Request<Incoming>,
    pool: Arc<Pool>,
    observer: Arc<dyn ServeObserver>,
) -> Result<HyperResponse, Infallible> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let head = request_head(&parts);
    let (method, path) = (head.method.clone(), head.path.clone());
    let (start, started_response) = tokio::sync::oneshot::channel();
    let (response, streamed) = body_channel();
    let job = HttpJob {
        head,
        client: Client {
            body,
            start,
            response,
        },
        started,
        observer: observer.clone(),
    };
    if pool.send(Job::Http(Box::new(job)))
        && let Ok(start) = started_response.await
    {
        return Ok(hyper_response(start, streamed));
    }
    observer.request(&AccessRecord {
        method,
        path,
        status: 503,
        elapsed: started.elapsed(),
        stalled: None,
    });
    let body = Full::new(Bytes::from_static(b"the server is shutting down\n"))
        .map_err(|never: Infallible| match never {})
        .boxed_unsync();
    let mut response = hyper::Response::new(body);
    *response.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
    Ok(response)
}

/// The client's request head as the host takes it. Its content-length stays: the plugin reads it,
/// and it goes upstream as the plugin leaves it, as Envoy forwards it.
fn request_head(parts: &hyper::http::request::Parts) -> Request {
    let authority = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let headers = fields(&parts.headers)
        .into_iter()
        .filter(|(name, _)| !is_hop_by_hop(name))
        .collect();
    Request {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.to_string()),
        authority,
        scheme: "http".into(),
        headers,
        body: Vec::new(),
        trailers: Vec::new(),
        client_defaults: false,
    }
}

fn hyper_response(start: ResponseStart, body: StreamedBody) -> HyperResponse {
    let mut response = hyper::Response::new(body.boxed_unsync());
    *response.status_mut() = hyper::StatusCode::from_u16(start.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    *response.headers_mut() = start.headers;
    response
}
