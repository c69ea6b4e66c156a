//! The built-in echo upstream: it answers with the request it received, as JSON. `serve` calls it
//! in place of an upstream; `serve --envoy` serves it over real HTTP on 127.0.0.1 for Envoy to
//! route to.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::Serialize;

use super::upstream::is_hop_by_hop;
use crate::host::{ForwardedRequest, HeaderMap, Response, Status};

/// The echo on a port of its own, served on a thread of its own until dropped.
pub(crate) struct EchoServer {
    addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl EchoServer {
    /// Binds 127.0.0.1 on a port the system picks and serves there.
    pub fn start() -> std::io::Result<EchoServer> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = super::runtime()?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("wasmctl-echo".into())
            .spawn(move || runtime.block_on(serve(listener, stopped)))?;
        Ok(EchoServer { addr, _stop: stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn serve(listener: std::net::TcpListener, mut stopped: tokio::sync::oneshot::Receiver<()>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let service = hyper::service::service_fn(answer);
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                tokio::spawn(connection);
            }
            _ = &mut stopped => break,
        }
    }
}

/// Echoes one request received over HTTP.
async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let mut headers = HeaderMap::new();
    headers.add(":method", parts.method.as_str());
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    headers.add(":path", path);
    let host = parts.headers.get(hyper::header::HOST);
    headers.add(
        ":authority",
        host.and_then(|h| h.to_str().ok()).unwrap_or(""),
    );
    for (name, value) in &parts.headers {
        if !is_hop_by_hop(name.as_str()) {
            headers.add(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
        }
    }
    let body = body.collect().await.map(|b| b.to_bytes().to_vec());
    let echoed = echo(&ForwardedRequest {
        headers,
        body: body.unwrap_or_default(),
        trailers: HeaderMap::new(),
    });
    let mut response = hyper::Response::new(Full::new(Bytes::from(echoed.body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(echoed.status.get()).unwrap_or(hyper::StatusCode::OK);
    for (name, value) in echoed.headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::try_from(name),
            hyper::header::HeaderValue::try_from(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    Ok(response)
}

/// What the echo upstream answers: the request it received, as JSON.
#[derive(Serialize)]
struct Echoed {
    method: String,
    path: String,
    authority: String,
    /// In the order received; a repeated header's values joined with `,`.
    headers: serde_json::Map<String, serde_json::Value>,
    body: String,
}

pub(crate) fn echo(request: &ForwardedRequest) -> Response {
    let headers = &request.headers;
    let mut fields = serde_json::Map::new();
    for (name, _) in headers.iter().filter(|(n, _)| !n.starts_with(':')) {
        if !fields.contains_key(name) {
            let value = headers.get(name).unwrap_or_default();
            fields.insert(name.to_string(), value.into());
        }
    }
    let echoed = Echoed {
        method: headers.get(":method").unwrap_or_default(),
        path: headers.get(":path").unwrap_or_default(),
        authority: headers.get(":authority").unwrap_or_default(),
        headers: fields,
        body: String::from_utf8_lossy(&request.body).into_owned(),
    };
    let mut body = serde_json::to_vec_pretty(&echoed).unwrap_or_default();
    body.push(b'\n');
    Response {
        status: Status::OK,
        headers: vec![("content-type".into(), "application/json".into())],
        body,
        trailers: Vec::new(),
    }
}
