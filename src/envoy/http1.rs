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

/// Reads one message: start line, headers and a `content-length` or chunked body. `None` at the
/// end of the stream or on anything malformed.
pub(super) fn read_message(reader: &mut impl BufRead) -> Option<Message> {
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
    let body = read_body(reader, &headers)?;
    Some(Message {
        start_line,
        headers,
        body,
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
