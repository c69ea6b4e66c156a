//! Properties (`proxy_get_property`): the request, connection and plugin attributes Envoy exposes,
//! with the same encodings (strings as bytes, integers as 8-byte little-endian), plus overrides given
//! with `--property`.

use super::state::{HostState, Stream};

/// The property at `path` (segments joined with `.`), or `None` when there is none.
pub(crate) fn get(state: &HostState, path: &str) -> Option<Vec<u8>> {
    if let Some((_, value)) = state
        .options
        .properties
        .iter()
        .rev()
        .find(|(k, _)| k == path)
    {
        return Some(value.as_bytes().to_vec());
    }
    let text = |s: &str| Some(s.as_bytes().to_vec());
    let int = |n: i64| Some(n.to_le_bytes().to_vec());
    let http = match &state.stream {
        Stream::Http(s) => Some(s),
        _ => None,
    };
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
        _ => {
            let s = http?;
            match path {
                "request.path" => text(
                    &s.request_headers
                        .get(":path")
                        .unwrap_or_else(|| s.request_path.clone()),
                ),
                "request.url_path" => {
                    let p = s
                        .request_headers
                        .get(":path")
                        .unwrap_or_else(|| s.request_path.clone());
                    text(p.split('?').next().unwrap_or_default())
                }
                "request.host" => text(&s.request_headers.get(":authority")?),
                "request.scheme" => text(&s.request_headers.get(":scheme")?),
                "request.method" => text(
                    &s.request_headers
                        .get(":method")
                        .unwrap_or_else(|| s.request_method.clone()),
                ),
                "request.id" => text(&s.request_id),
                "request.protocol" => text("HTTP/1.1"),
                "request.useragent" => text(&s.request_headers.get("user-agent")?),
                "request.referer" => text(&s.request_headers.get("referer")?),
                "request.size" => int(s.request_body.len() as i64),
                "response.code" => {
                    let code: i64 = s.response_headers.get(":status")?.parse().ok()?;
                    int(code)
                }
                "response.size" => int(s.response_body.len() as i64),
                _ => {
                    // request.headers.NAME and response.headers.NAME, as Envoy resolves them.
                    if let Some(name) = path.strip_prefix("request.headers.") {
                        text(&s.request_headers.get(name)?)
                    } else if let Some(name) = path.strip_prefix("response.headers.") {
                        text(&s.response_headers.get(name)?)
                    } else {
                        None
                    }
                }
            }
        }
    }
}

/// Turns the proxy-wasm path encoding (segments separated by NUL) into a dotted path.
pub(crate) fn path_from_abi(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.trim_end_matches('\0').replace('\0', ".")
}
