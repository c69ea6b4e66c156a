//! Whether a host allowed plain HTTP actually speaks it, asked before the first real request so
//! that a plain-HTTP registry is not first sent a TLS handshake it cannot answer.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(2);

/// Whether `registry` answers a plain `GET /v2/` as an HTTP server (any status but the 400 a TLS
/// server gives to plain HTTP).
///
/// This opens a TCP connection and sends one unauthenticated request: cheaper on loopback than a
/// failed TLS handshake. It is asked only of hosts allowed plain HTTP, and never carries
/// credentials.
pub(super) fn answers_plain_http(registry: &str) -> bool {
    let with_port = if registry.ends_with(']') || !registry.contains(':') {
        format!("{registry}:80")
    } else {
        registry.to_string()
    };
    // `localhost` may resolve to ::1 and 127.0.0.1; the registry may listen on either.
    let Some(mut stream) = with_port.to_socket_addrs().ok().and_then(|mut addrs| {
        addrs.find_map(|addr| TcpStream::connect_timeout(&addr, TIMEOUT).ok())
    }) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    let request = format!("GET /v2/ HTTP/1.0\r\nHost: {registry}\r\nUser-Agent: wasmctl\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.take(1024).read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.starts_with("HTTP/") && !answer.contains("HTTPS")
}
