//! The two sides one HTTP exchange passes between, the client and the upstream, as the host meets
//! them: the request body and the upstream's response arrive part by part, and what the plugin lets
//! through is handed on the moment it does, as Envoy's filter chain hands it on. `Vm::http` plays
//! both sides from memory and records what reached them ([`Scripted`]); `wasmctl serve` plays them
//! with real sockets.

use std::collections::VecDeque;

use super::chunks::{Side, chunk_sizes};
use super::headers::HeaderMap;
use super::http::{ForwardedRequest, Request, Response};

/// One part of a body as it arrives.
///
/// A body that comes over HTTP/1 (a client's, an upstream's) is its chunks, none of them the last,
/// then its end: Envoy's HTTP/1 codec hands the plugin each chunk with end_of_stream false, then
/// one empty chunk with end_of_stream true (or the trailers). Only a reply the proxy makes itself
/// comes whole, in one chunk with end_of_stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyPart {
    /// A chunk; `end_of_stream` when nothing follows it, no more data and no trailers.
    Data { data: Vec<u8>, end_of_stream: bool },
    /// The body ended after a chunk that did not say so: trailers follow, or, when there are
    /// none, the plugin gets one last empty chunk with end_of_stream, as Envoy gives it.
    End { trailers: Vec<(String, String)> },
    /// The peer broke off before the body ended (a client that went away, an upstream that
    /// closed mid-body): Envoy resets the stream, and the plugin never sees the body end.
    Reset,
}

/// The upstream's response headers (`:status` first), and whether a body or trailers follow.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    pub headers: HeaderMap,
    pub has_body: bool,
}

/// The client and the upstream of one exchange. The host calls these in Envoy's order: the
/// request's headers leave when the plugin first lets the request go on, its body as the plugin
/// lets each part through, then `forward_end`; the response likewise goes back to the client.
/// The upstream side is not called when the plugin answers the request itself.
pub trait HttpPeers {
    /// The next part of the client's request body; asked only when the request has one.
    fn request_body(&mut self) -> BodyPart;
    /// Whether the next part of `side`'s body is here already. Envoy reads what has arrived in
    /// one pass, so the plugin gets those parts before any answer to its calls, and a pause in
    /// the headers holds them back until the plugin resumes, then hands them over as one.
    fn arrived(&self, side: Side) -> bool;
    /// The request leaves for the upstream with these headers.
    fn forward_headers(&mut self, headers: &HeaderMap);
    /// Request body bytes the plugin let through.
    fn forward_body(&mut self, data: &[u8]);
    /// The request is complete, with its trailers; the upstream's response head comes back, or
    /// why it never will.
    fn forward_end(&mut self, trailers: &HeaderMap) -> Result<ResponseHead, String>;
    /// The next part of the upstream's response body; asked only when it has one.
    fn response_body(&mut self) -> BodyPart;
    /// The response goes back to the client with these headers.
    fn respond_headers(&mut self, headers: &HeaderMap);
    /// Response body bytes the plugin let through.
    fn respond_body(&mut self, data: &[u8]);
    /// The response is complete, with its trailers.
    fn respond_end(&mut self, trailers: &HeaderMap);
}

/// A body held in memory, handed out in chunks of the given sizes as if it came over HTTP/1: the
/// chunks, then its end.
struct Held {
    chunks: VecDeque<Vec<u8>>,
    trailers: Vec<(String, String)>,
}

impl Held {
    /// An empty body has no chunk: only its trailers, if any, arrive.
    fn new(body: &[u8], sizes: &[usize], trailers: &[(String, String)]) -> Held {
        let sizes = match body.is_empty() {
            true => Vec::new(),
            false => chunk_sizes(body.len(), sizes),
        };
        let mut at = 0;
        let chunks = sizes
            .into_iter()
            .map(|len| {
                at += len;
                body[at - len..at].to_vec()
            })
            .collect();
        Held {
            chunks,
            trailers: trailers.to_vec(),
        }
    }

    fn next(&mut self) -> BodyPart {
        match self.chunks.pop_front() {
            Some(data) => BodyPart::Data {
                data,
                end_of_stream: false,
            },
            None => BodyPart::End {
                trailers: std::mem::take(&mut self.trailers),
            },
        }
    }
}

/// Both sides played from memory: the request as given, the upstream as `upstream` answers it
/// (with the sizes of the chunks its body comes in), and a record of what reached each side.
pub(crate) struct Scripted<'a> {
    request: Held,
    /// The request has neither a body nor trailers.
    bodiless: bool,
    upstream: &'a mut dyn FnMut(&ForwardedRequest) -> (Response, Vec<usize>),
    response: Option<Held>,
    /// The request as it reached the upstream; complete once `forward_end` was called.
    pub forwarded: Option<ForwardedRequest>,
    pub forward_ended: bool,
    /// The response body as it reached the client.
    pub responded_body: Vec<u8>,
}

impl<'a> Scripted<'a> {
    pub fn new(
        request: &Request,
        request_chunks: &[usize],
        upstream: &'a mut dyn FnMut(&ForwardedRequest) -> (Response, Vec<usize>),
    ) -> Scripted<'a> {
        Scripted {
            request: Held::new(&request.body, request_chunks, &request.trailers),
            bodiless: request.body.is_empty() && request.trailers.is_empty(),
            upstream,
            response: None,
            forwarded: None,
            forward_ended: false,
            responded_body: Vec::new(),
        }
    }

    fn forwarded(&mut self) -> &mut ForwardedRequest {
        self.forwarded.get_or_insert_with(|| ForwardedRequest {
            headers: HeaderMap::new(),
            body: Vec::new(),
            trailers: HeaderMap::new(),
        })
    }
}

impl HttpPeers for Scripted<'_> {
    fn request_body(&mut self) -> BodyPart {
        self.request.next()
    }

    /// Both bodies come whole, as `run --envoy` and `test --envoy` send them in one write.
    fn arrived(&self, _side: Side) -> bool {
        true
    }

    /// As Envoy's HTTP/1 codec sends them: a request without a body gets `content-length: 0`
    /// unless its method has no use for one (GET, HEAD, DELETE, TRACE, CONNECT).
    fn forward_headers(&mut self, headers: &HeaderMap) {
        let mut headers = headers.clone();
        let method = headers.get(":method").unwrap_or_default();
        let framed = headers.contains("content-length") || headers.contains("transfer-encoding");
        let needless = ["GET", "HEAD", "DELETE", "TRACE", "CONNECT"].contains(&method.as_str());
        if self.bodiless && !framed && !needless {
            headers.add("content-length", "0");
        }
        self.forwarded().headers = headers;
    }

    fn forward_body(&mut self, data: &[u8]) {
        self.forwarded().body.extend_from_slice(data);
    }

    /// An upstream reads a body as long as its `content-length` says, as over HTTP/1: it keeps
    /// waiting for one the plugin cut short (Envoy's router answers 504 once the route's timeout
    /// passes), and reads no further than that length.
    fn forward_end(&mut self, trailers: &HeaderMap) -> Result<ResponseHead, String> {
        self.forwarded().trailers = trailers.clone();
        self.forward_ended = true;
        let forwarded = self.forwarded();
        if let Some(length) = declared_length(&forwarded.headers) {
            if forwarded.body.len() < length {
                return Err(short_body("the upstream", length, forwarded.body.len()));
            }
            forwarded.body.truncate(length);
        }
        let forwarded = forwarded.clone();
        let (response, chunks) = (self.upstream)(&forwarded);
        let method = forwarded.headers.get(":method").unwrap_or_default();
        let head = response.head(&method);
        if head.has_body {
            self.response = Some(Held::new(&response.body, &chunks, &response.trailers));
        }
        Ok(head)
    }

    fn response_body(&mut self) -> BodyPart {
        match &mut self.response {
            Some(held) => held.next(),
            None => BodyPart::End {
                trailers: Vec::new(),
            },
        }
    }

    fn respond_headers(&mut self, _headers: &HeaderMap) {}

    fn respond_body(&mut self, data: &[u8]) {
        self.responded_body.extend_from_slice(data);
    }

    fn respond_end(&mut self, _trailers: &HeaderMap) {}
}

/// The body length a message's headers declare, when it is framed by `content-length`.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<usize> {
    if headers.contains("transfer-encoding") {
        return None;
    }
    headers.get("content-length")?.trim().parse().ok()
}

/// Why the exchange stops when `who` waits for the rest of a body the plugin cut short.
pub(crate) fn short_body(who: &str, declared: usize, sent: usize) -> String {
    format!(
        "{who} is still waiting for the body: its `content-length` says {declared} bytes, and the \
         plugin let {sent} through (a plugin that changes a body must fix or remove the length)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_body_ends_after_its_last_chunk_with_or_without_trailers() {
        let mut plain = Held::new(b"abcde", &[2, 3], &[]);
        assert_eq!(
            plain.next(),
            BodyPart::Data {
                data: b"ab".to_vec(),
                end_of_stream: false
            }
        );
        assert_eq!(
            plain.next(),
            BodyPart::Data {
                data: b"cde".to_vec(),
                end_of_stream: false
            }
        );
        assert_eq!(plain.next(), BodyPart::End { trailers: vec![] });
        let trailers = vec![("grpc-status".to_string(), "0".to_string())];
        let mut with_trailers = Held::new(b"ab", &[2], &trailers);
        assert!(matches!(
            with_trailers.next(),
            BodyPart::Data {
                end_of_stream: false,
                ..
            }
        ));
        assert_eq!(with_trailers.next(), BodyPart::End { trailers });
    }
}
