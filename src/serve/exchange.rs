//! One HTTP request from a real client: hyper's request into the host's, through a worker, and the
//! worker's answer back into hyper's response.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::upstream::is_hop_by_hop;
use super::worker::Answer;
use super::{AccessRecord, Pool, ServeObserver};
use crate::host::Request;

type HyperResponse = hyper::Response<Full<Bytes>>;

/// Serves one request; every failure becomes a response, never a dropped connection.
pub(crate) async fn handle(
    req: hyper::Request<Incoming>,
    pool: Arc<Pool>,
    observer: Arc<dyn ServeObserver>,
) -> Result<HyperResponse, Infallible> {
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.to_string());
    let answer = match host_request(req).await {
        Some((request, chunks)) => pool.http(request, chunks).await,
        None => None,
    };
    let answer = answer.unwrap_or_else(|| Answer {
        status: 503,
        headers: Vec::new(),
        body: b"the server is shutting down\n".to_vec(),
        failure: None,
        stalled: None,
    });
    if let Some(err) = &answer.failure {
        observer.plugin_failed(err);
    }
    observer.request(&AccessRecord {
        method,
        path,
        status: answer.status,
        elapsed: started.elapsed(),
        stalled: answer.stalled.clone(),
    });
    Ok(hyper_response(answer))
}

/// The client's request as the host takes it, with the sizes of the chunks its body came in;
/// `None` when its body could not be read.
async fn host_request(req: hyper::Request<Incoming>) -> Option<(Box<Request>, Vec<usize>)> {
    let (parts, mut incoming) = req.into_parts();
    let (mut body, mut chunks, mut trailers) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(frame) = incoming.frame().await {
        let frame = frame.ok()?;
        if let Some(data) = frame.data_ref() {
            body.extend_from_slice(data);
            chunks.push(data.len());
        } else if let Some(fields) = frame.trailers_ref() {
            trailers = pairs(fields.iter());
        }
    }
    let authority = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let headers = pairs(
        parts
            .headers
            .iter()
            .filter(|(name, _)| !is_hop_by_hop(name.as_str())),
    );
    let request = Request {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.to_string()),
        authority,
        scheme: "http".into(),
        headers,
        body,
        trailers,
    };
    Some((Box::new(request), chunks))
}

fn pairs<'a>(
    headers: impl Iterator<
        Item = (
            &'a hyper::header::HeaderName,
            &'a hyper::header::HeaderValue,
        ),
    >,
) -> Vec<(String, String)> {
    headers
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), value)
        })
        .collect()
}

fn hyper_response(answer: Answer) -> HyperResponse {
    let mut response = hyper::Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() = hyper::StatusCode::from_u16(answer.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        // hyper frames the body itself; a length the plugin left stale must not reach the client.
        if is_hop_by_hop(&name) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(&value),
        ) {
            headers.append(name, value);
        }
    }
    response
}
