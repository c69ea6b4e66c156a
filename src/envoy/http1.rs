//! Reading HTTP/1.1 messages off a socket: requests at the upstream, responses at the client and
//! from the admin API.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use crate::host::HeaderMap;

/// One HTTP/1.1 message as read: the start line, the headers (names as sent), the body and the
/// trailers of a chunked body.
pub(super) struct Message {
    pub start_line: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub trailers: HeaderMap,
}

impl Message {
    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        self.start_line.split_whitespace().nth(1)?.parse().ok()
    }
}

/// One message on the wire: the start line, the headers as given, and the body as is; with
/// trailers, the body goes chunked (one chunk) and the trailers follow it, and the headers say so
/// in place of a `content-length`.
pub(super) fn message_bytes<'a>(
    start_line: &str,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    body: &[u8],
    trailers: &HeaderMap,
) -> Vec<u8> {
    let chunked = !trailers.is_empty();
    let mut head = format!("{start_line}\r\n");
    let mut framed = false;
    for (name, value) in headers {
        framed |= name.eq_ignore_ascii_case("transfer-encoding");
        if !(chunked && name.eq_ignore_ascii_case("content-length")) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if !chunked {
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        return bytes;
    }
    if !framed {
        head.push_str("transfer-encoding: chunked\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if !body.is_empty() {
        bytes.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        bytes.extend_from_slice(body);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n");
    for (name, value) in trailers.iter() {
        bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    bytes
}

/// Serves one connection until it closes (or `answer` gives nothing): each request read is
/// answered with the bytes `answer` makes of it.
pub(super) fn serve(stream: TcpStream, mut answer: impl FnMut(Message) -> Option<Vec<u8>>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(message) = read_message(&mut reader) {
        let Some(bytes) = answer(message) else {
            return;
        };
        if writer.write_all(&bytes).is_err() {
            return;
        }
    }
}

/// Reads one message: start line, headers and a `content-length` or chunked body. `None` at the
/// end of the stream or on anything malformed.
pub(super) fn read_message(reader: &mut impl BufRead) -> Option<Message> {
    let head = read_head(reader)?;
    let (body, trailers) = read_body(reader, &head.headers)?;
    Some(Message {
        body,
        trailers,
        ..head
    })
}

/// Reads the final response to a `method` request. Interim ones (1xx but 101) are passed over; a
/// response to HEAD, and a 1xx, 204 or 304, has no body whatever its headers say (RFC 9112
/// section 6.3).
pub(super) fn read_response(reader: &mut impl BufRead, method: &str) -> Option<Message> {
    loop {
        let head = read_head(reader)?;
        // A bad status line is returned for the caller to name.
        let status = head.status().unwrap_or_default();
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        if method.eq_ignore_ascii_case("HEAD") || matches!(status, 101 | 204 | 304) {
            return Some(head);
        }
        let (body, trailers) = read_body(reader, &head.headers)?;
        return Some(Message {
            body,
            trailers,
            ..head
        });
    }
}

/// The start line and the headers, with no body yet.
fn read_head(reader: &mut impl BufRead) -> Option<Message> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    Some(Message {
        start_line: line.trim_end().to_string(),
        headers: read_fields(reader)?,
        body: Vec::new(),
        trailers: HeaderMap::new(),
    })
}

/// Header (or trailer) fields up to the empty line that ends them.
fn read_fields(reader: &mut impl BufRead) -> Option<HeaderMap> {
    let mut fields = HeaderMap::new();
    loop {
        let mut field = String::new();
        reader.read_line(&mut field).ok()?;
        let field = field.trim_end();
        if field.is_empty() {
            return Some(fields);
        }
        let (name, value) = field.split_once(':')?;
        fields.add(name.trim(), value.trim());
    }
}

/// The body, and the trailers when it came chunked.
fn read_body(reader: &mut impl BufRead, headers: &HeaderMap) -> Option<(Vec<u8>, HeaderMap)> {
    let mut body = Vec::new();
    if let Some(len) = headers.get("content-length") {
        body.resize(len.parse().ok()?, 0);
        reader.read_exact(&mut body).ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                return Some((body, read_fields(reader)?));
            }
            // Each chunk ends with CRLF.
            let mut chunk = vec![0; size.checked_add(2)?];
            reader.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Some((body, HeaderMap::new()))
}
