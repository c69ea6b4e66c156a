//! Properties (`proxy_get_property`, `proxy_set_property`): the request, connection and plugin
//! attributes Envoy exposes, with the same encodings (strings as bytes, integers as 8-byte
//! little-endian), plus overrides given with `--property` or set by the plugin.

use super::super::headers::HeaderMap;
use super::super::http::{HeaderAccess, HttpStream};
use super::super::state::{HostState, Stream};
use super::{NOT_FOUND, OK, hostcalls, memory_and_state, return_bytes};

hostcalls! { "env":
    fn proxy_get_property(c, path_ptr, path_len, ret_ptr, ret_size) {
        let call = "proxy_get_property";
        let (memory, state) = memory_and_state(&mut c, call)?;
        let path = path_from_abi(memory.bytes(path_ptr, path_len)?);
        let Some(value) = get(state, &path) else {
            return Ok(NOT_FOUND);
        };
        return_bytes(&mut c, call, &value, ret_ptr, ret_size)?;
        Ok(OK)
    }

    fn proxy_set_property(c, path_ptr, path_len, value_ptr, value_len) {
        let (memory, state) = memory_and_state(&mut c, "proxy_set_property")?;
        let path = path_from_abi(memory.bytes(path_ptr, path_len)?);
        let value = memory.text(value_ptr, value_len)?;
        state.options.properties.push((path, value));
        Ok(OK)
    }
}

fn text(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

fn int(n: i64) -> Option<Vec<u8>> {
    Some(n.to_le_bytes().to_vec())
}

/// The property at `path` (segments joined with `.`), or `None` when there is none.
fn get(state: &HostState, path: &str) -> Option<Vec<u8>> {
    if let Some((_, value)) = state
        .options
        .properties
        .iter()
        .rev()
        .find(|(k, _)| k == path)
    {
        return Some(value.as_bytes().to_vec());
    }
    match path {
        "plugin_name" => text(&state.options.plugin_name),
        "plugin_root_id" => text(&state.options.root_id),
        "plugin_vm_id" => text(&state.options.vm_id),
        "source.address" => text("127.0.0.1:50000"),
        "source.port" => int(50000),
        "destination.address" => text("127.0.0.1:8080"),
        "destination.port" => int(8080),
        "connection.id" => int(i64::from(state.stream_context)),
        "connection.mtls" => Some(vec![0]),
        "node.id" => text("wasmctl"),
        "node.cluster" => text("wasmctl"),
        "listener_direction" => int(1),
        _ => match &state.stream {
            Stream::Http(s) => http_property(s, path),
            _ => None,
        },
    }
}

/// A `request.*` or `response.*` property of the HTTP exchange in progress. As in Envoy, the
/// `request.*` ones are there only while the plugin may read the request headers, and
/// `response.headers.*` only while it may read the response headers.
fn http_property(s: &HttpStream, path: &str) -> Option<Vec<u8>> {
    if path.starts_with("request.") && s.request_access == HeaderAccess::Closed {
        return None;
    }
    let request = |name: &str| s.request_headers.get(name);
    let request_path = || request(":path").unwrap_or_else(|| s.request_path.clone());
    match path {
        "request.path" => text(&request_path()),
        "request.url_path" => text(request_path().split('?').next().unwrap_or_default()),
        // Empty when the path has none, as in Envoy.
        "request.query" => text(
            request_path()
                .split_once('?')
                .map_or("", |(_, query)| query),
        ),
        "request.host" => text(&request(":authority")?),
        "request.scheme" => text(&request(":scheme")?),
        "request.method" => text(&request(":method").unwrap_or_else(|| s.request_method.clone())),
        "request.id" => text(&s.request_id),
        "request.protocol" => text("HTTP/1.1"),
        "request.useragent" => text(&request("user-agent")?),
        "request.referer" => text(&request("referer")?),
        "request.size" => int(body_size(&s.request_headers, s.request_received)),
        "response.code" => int(s.response_headers.get(":status")?.parse().ok()?),
        "response.size" => int(body_size(&s.response_headers, s.response_received)),
        _ => {
            // request.headers.NAME and response.headers.NAME, as Envoy resolves them.
            if let Some(name) = path.strip_prefix("request.headers.") {
                text(&request(name)?)
            } else if let Some(name) = path.strip_prefix("response.headers.") {
                if s.response_access == HeaderAccess::Closed {
                    return None;
                }
                text(&s.response_headers.get(name)?)
            } else {
                None
            }
        }
    }
}

/// A body's size as Envoy gives it: its content-length when announced, else the bytes received.
fn body_size(headers: &HeaderMap, received: usize) -> i64 {
    headers
        .get("content-length")
        .and_then(|length| length.parse().ok())
        .unwrap_or(received as i64)
}

/// Turns the proxy-wasm path encoding (segments separated by NUL) into a dotted path.
fn path_from_abi(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.trim_end_matches('\0').replace('\0', ".")
}
