//! Reading HTTP/1.1 messages off a socket: requests at the upstream, responses at the client and
//! from the admin API.

use std::io::BufRead;

use crate::host::HeaderMap;

/// One HTTP/1.1 message as read: the start line, the headers (names as sent) and the body.
pub(super) struct Message {
    pub start_line: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Message {
    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        self.start_line.split_whitespace().nth(1)?.parse().ok()
    }
}

/// One message on the wire: the start line, the headers as given, and the body as is.
pub(super) fn message_bytes<'a>(
    start_line: &str,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("{start_line}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Reads one message: start line, headers and a `content-length` or chunked body. `None` at the
/// end of the stream or on anything malformed.
pub(super) fn read_message(reader: &mut impl BufRead) -> Option<Message> {
    let head = read_head(reader)?;
    let body = read_body(reader, &head.headers)?;
    Some(Message { body, ..head })
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
        let body = read_body(reader, &head.headers)?;
        return Some(Message { body, ..head });
    }
}

/// The start line and the headers, with no body yet.
fn read_head(reader: &mut impl BufRead) -> Option<Message> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let start_line = line.trim_end().to_string();
    let mut headers = HeaderMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.add(name.trim(), value.trim());
    }
    Some(Message {
        start_line,
        headers,
        body: Vec::new(),
    })
}

fn read_body(reader: &mut impl BufRead, headers: &HeaderMap) -> Option<Vec<u8>> {
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
            // Each chunk ends with CRLF, the last (empty) one too.
            let mut chunk = vec![0; size.checked_add(2)?];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Some(body)
}
