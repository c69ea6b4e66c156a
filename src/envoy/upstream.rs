//! The HTTP upstream behind every HTTP listener: answers with the response the exchange scripts and
//! records each request as it arrived.

use std::collections::VecDeque;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use super::http1::{self, Message, message_bytes};
use super::{EnvoyError, io};
use crate::host::{ForwardedRequest, HeaderMap, Response};

/// An HTTP/1.1 upstream answering every request with the response set last.
pub(super) struct HttpUpstream {
    pub port: u16,
    response: Arc<Mutex<Response>>,
    received: Arc<Mutex<VecDeque<ForwardedRequest>>>,
}

impl HttpUpstream {
    pub fn start() -> Result<HttpUpstream, EnvoyError> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(io("upstream"))?;
        let port = listener.local_addr().map_err(io("upstream"))?.port();
        let response = Arc::new(Mutex::new(Response::default()));
        let received = Arc::new(Mutex::new(VecDeque::new()));
        let (answer, record) = (response.clone(), received.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (answer, record) = (answer.clone(), record.clone());
                std::thread::spawn(move || serve(stream, &answer, &record));
            }
        });
        Ok(HttpUpstream {
            port,
            response,
            received,
        })
    }

    /// What to answer from now on; forgets the requests recorded so far.
    pub fn set_response(&self, response: Response) {
        if let Ok(mut r) = self.response.lock() {
            *r = response;
        }
        if let Ok(mut r) = self.received.lock() {
            r.clear();
        }
    }

    /// The first request recorded since the response was set, if one arrived.
    pub fn take_received(&self) -> Option<ForwardedRequest> {
        self.received.lock().ok()?.pop_front()
    }
}

/// Serves one connection from Envoy until it closes.
fn serve(
    stream: TcpStream,
    response: &Mutex<Response>,
    received: &Mutex<VecDeque<ForwardedRequest>>,
) {
    http1::serve(stream, |message| {
        let head_only = message.start_line.starts_with("HEAD ");
        if let Ok(mut r) = received.lock() {
            r.push_back(forwarded(message));
        }
        let answer = response.lock().ok()?.clone();
        Some(response_bytes(&answer, head_only))
    });
}

/// A request as the built-in host shows one forwarded upstream: pseudo-headers first.
pub(super) fn forwarded(message: Message) -> ForwardedRequest {
    let mut request_line = message.start_line.split_whitespace();
    let mut headers = HeaderMap::new();
    headers.add(":method", request_line.next().unwrap_or_default());
    headers.add(":path", request_line.next().unwrap_or_default());
    for (name, value) in message.headers.iter() {
        headers.add(if name == "host" { ":authority" } else { name }, value);
    }
    ForwardedRequest {
        headers,
        body: message.body,
        trailers: message.trailers,
    }
}

/// The response on the wire, with the headers the built-in host gives a scripted upstream's; an
/// answer to HEAD has them but not the body.
fn response_bytes(answer: &Response, head_only: bool) -> Vec<u8> {
    let headers = answer.header_map();
    let fields = headers.iter().filter(|(name, _)| *name != ":status");
    let body = if head_only { &[][..] } else { &answer.body };
    let trailers = answer.trailers.iter().map(|(n, v)| (n, v)).collect();
    message_bytes(
        &format!("HTTP/1.1 {} X", answer.status),
        fields,
        body,
        &trailers,
    )
}
