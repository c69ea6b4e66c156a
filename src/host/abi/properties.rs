//! Properties (`proxy_get_property`, `proxy_set_property`): the request, connection and plugin
//! attributes Envoy exposes, with the same encodings (strings as bytes, integers as 8-byte
//! little-endian), plus overrides given with `--property` or set by the plugin.

use super::super::headers::HeaderMap;
use super::super::http::{
    HTTP_CLUSTER, HeaderAccess, HttpStream, TCP_CLUSTER, VIRTUAL_HOST, grpc_status_of,
};
use super::super::network::NetStream;
use super::super::state::{HostState, Stream};
use super::{NOT_FOUND, OK, SERIALIZATION_FAILURE, hostcalls, memory_and_state, return_bytes};

hostcalls! { "env":
    fn proxy_get_property(c, path_ptr, path_len, ret_ptr, ret_size) {
        let call = "proxy_get_property";
        let (memory, state) = memory_and_state(&mut c, call)?;
        let path = path_from_abi(memory.bytes(path_ptr, path_len)?);
        let Some(value) = get(state, &path) else {
            return Ok(match is_map(state, &path) {
                true => SERIALIZATION_FAILURE,
                false => NOT_FOUND,
            });
        };
        return_bytes(&mut c, call, &value, ret_ptr, ret_size)?;
        Ok(OK)
    }

    /// As in Envoy, a property set goes into the stream's filter state, where reading it finds it
    /// unless a property of that name is built in; there is none outside a stream.
    fn proxy_set_property(c, path_ptr, path_len, value_ptr, value_len) {
        let (memory, state) = memory_and_state(&mut c, "proxy_set_property")?;
        let path = path_from_abi(memory.bytes(path_ptr, path_len)?);
        let value = memory.bytes(value_ptr, value_len)?.to_vec();
        if state.http().is_none() && state.network().is_none() {
            return Ok(NOT_FOUND);
        }
        state.filter_state.retain(|(key, _)| *key != path);
        state.filter_state.push((path, value));
        Ok(OK)
    }
}

/// Whether `path` names a whole map of properties (`request`, `xds`, ...), which Envoy 1.40 finds
/// but cannot give as bytes (measured): the root context has only `xds` of them.
fn is_map(state: &HostState, path: &str) -> bool {
    let in_stream =
        state.active_context == state.stream_context && !matches!(state.stream, Stream::None);
    match path {
        "" | "xds" => true,
        "request" | "response" | "source" | "destination" | "connection" | "upstream"
        | "filter_state" => in_stream,
        _ => false,
    }
}

fn text(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

fn int(n: i64) -> Option<Vec<u8>> {
    Some(n.to_le_bytes().to_vec())
}

/// The property at `path` (segments joined with `.`), or `None` when there is none: one given
/// with `--property`, else a built-in one, else one the plugin set on the stream.
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
    let set = || {
        let found = state.filter_state.iter().find(|(k, _)| k == path);
        found.map(|(_, value)| value.clone())
    };
    built_in(state, path).or_else(set)
}

/// The built-in property at `path`. As in Envoy, a root context (on_vm_start, on_configure,
/// on_tick, a call's answer to it) has only the plugin's; the others are a stream's.
fn built_in(state: &HostState, path: &str) -> Option<Vec<u8>> {
    match path {
        "plugin_name" => return text(&state.options.plugin_name),
        "plugin_root_id" => return text(&state.options.root_id),
        "plugin_vm_id" => return text(&state.options.vm_id),
        _ => {}
    }
    if state.active_context != state.stream_context {
        return None;
    }
    let stream = match &state.stream {
        Stream::Http(s) => http_property(s, path),
        Stream::Network(s) => network_property(s, path),
        Stream::None => return None,
    };
    stream.or_else(|| connection_property(state.stream_context, path))
}

/// A property of the client's connection and the listener, for a stream of either kind.
fn connection_property(connection: u32, path: &str) -> Option<Vec<u8>> {
    match path {
        "source.address" => text("127.0.0.1:50000"),
        "source.port" => int(50000),
        "destination.address" => text("127.0.0.1:8080"),
        "destination.port" => int(8080),
        "connection.id" | "connection_id" => int(i64::from(connection)),
        "connection.mtls" => Some(vec![0]),
        "connection.requested_server_name" => text(""),
        "response.flags" => int(0),
        "xds.listener_direction" => int(0),
        "xds.filter_chain_name" => text(""),
        // The stream's dynamic metadata, empty: an empty Struct is no bytes.
        "metadata" => Some(Vec::new()),
        _ => None,
    }
}

/// A property of the connection in progress, as Envoy's `tcp_proxy` gives it: the sizes count the
/// bytes from and to the client so far; the upstream's once it has connected.
fn network_property(s: &NetStream, path: &str) -> Option<Vec<u8>> {
    let p = &s.progress;
    match path {
        "request.time" => int(p.started_ns as i64),
        "request.size" | "request.total_size" => int(p.received as i64),
        "response.size" | "response.total_size" => int(p.sent as i64),
        "request.headers_bytes" | "response.headers_bytes" => int(0),
        "upstream.transport_failure_reason" => text(""),
        "request.headers" | "response.headers" | "response.trailers" => whole_map(None),
        _ if !p.connected => None,
        "xds.cluster_name" => text(TCP_CLUSTER),
        _ => upstream_property(path),
    }
}

/// The upstream's `upstream.*` property at `path`, once connected.
fn upstream_property(path: &str) -> Option<Vec<u8>> {
    match path {
        "upstream.address" => text(&format!("{}:{}", UPSTREAM.0, UPSTREAM.1)),
        "upstream.port" => int(UPSTREAM.1),
        "upstream.local_address" => text(UPSTREAM_LOCAL_ADDRESS),
        _ => None,
    }
}

/// Where the built-in host's upstream is, and the end of its connection on the proxy's side.
const UPSTREAM: (&str, i64) = ("127.0.0.1", 8081);
const UPSTREAM_LOCAL_ADDRESS: &str = "127.0.0.1:50001";

/// A property of the HTTP exchange in progress, as Envoy's stream info gives it. Those read from
/// a header map are there only while the plugin may read that map (see [`HeaderAccess`]).
fn http_property(s: &HttpStream, path: &str) -> Option<Vec<u8>> {
    let p = &s.progress;
    let request = (s.request.access != HeaderAccess::Closed).then_some(&s.request.headers);
    let response = (s.response.access != HeaderAccess::Closed).then_some(&s.response.headers);
    // The response's trailers while the plugin may read them (in on_log too).
    let trailers =
        (s.response.trailers_access != HeaderAccess::Closed).then_some(&s.response.trailers);
    let bytes = |map: Option<&HeaderMap>| map.map_or(0, HeaderMap::byte_size) as i64;
    let ns = |n: u64| int(n as i64);
    match path {
        "request.time" => ns(p.started_ns),
        "request.protocol" => text("HTTP/1.1"),
        "request.duration" => ns(p.duration_ns?),
        "request.size" => int(request_size(request, s.request_received)?),
        "request.total_size" => int(s.request_received as i64 + bytes(request)),
        "request.headers_bytes" => int(bytes(request)),
        "response.code" => int(response_code(s)?),
        "response.code_details" => text(&code_details(s)?),
        "response.grpc_status" => int(grpc_status(response_code(s)?, response, trailers)),
        "response.size" => int(p.response_sent as i64),
        "response.total_size" => int(p.response_sent as i64 + bytes(response) + bytes(trailers)),
        "response.headers_bytes" => int(bytes(response)),
        "response.backend_latency" => ns(p.upstream_done_ns? - p.forwarded_ns?),
        "upstream.transport_failure_reason" => p.forwarded_ns.and(text("")),
        "upstream.local_address" => p.answered_ns.and(upstream_property(path)),
        "upstream.address" | "upstream.port" => p.forwarded_ns.and(upstream_property(path)),
        // As `run --envoy` and `test --envoy` configure Envoy.
        "xds.cluster_name" => text(HTTP_CLUSTER),
        "xds.virtual_host_name" => text(VIRTUAL_HOST),
        "xds.route_name" => text(""),
        "request.headers" => whole_map(request),
        "response.headers" => whole_map(response),
        "response.trailers" => whole_map(trailers),
        _ => {
            if let Some(name) = path.strip_prefix("response.headers.") {
                return text(&response?.get(name)?);
            }
            if let Some(name) = path.strip_prefix("response.trailers.") {
                return text(&trailers?.get(name)?);
            }
            request_property(request?, s, path)
        }
    }
}

/// A whole header map as Envoy gives it: one field a name, in the proxy-wasm map encoding; empty
/// (but found) while the plugin may not read the map, and on a connection.
fn whole_map(map: Option<&HeaderMap>) -> Option<Vec<u8>> {
    Some(
        map.map_or_else(HeaderMap::new, HeaderMap::joined)
            .serialize(),
    )
}

/// A `request.*` property read from the request's headers.
fn request_property(headers: &HeaderMap, s: &HttpStream, path: &str) -> Option<Vec<u8>> {
    let request_path = || {
        headers
            .get(":path")
            .unwrap_or_else(|| s.request_path.clone())
    };
    match path {
        "request.path" => text(&request_path()),
        "request.url_path" => text(request_path().split('?').next().unwrap_or_default()),
        // Empty when the path has none, as in Envoy.
        "request.query" => text(
            request_path()
                .split_once('?')
                .map_or("", |(_, query)| query),
        ),
        "request.host" => text(&headers.get(":authority")?),
        "request.scheme" => text(&headers.get(":scheme")?),
        "request.method" => text(
            &headers
                .get(":method")
                .unwrap_or_else(|| s.request_method.clone()),
        ),
        "request.id" => text(&s.request_id),
        "request.useragent" => text(&headers.get("user-agent")?),
        "request.referer" => text(&headers.get("referer")?),
        _ => text(&headers.get(path.strip_prefix("request.headers.")?)?),
    }
}

/// The request body's size as Envoy gives it: its content-length while the plugin may read the
/// headers (none when that is not a number), else the bytes received.
fn request_size(headers: Option<&HeaderMap>, received: usize) -> Option<i64> {
    match headers.and_then(|headers| headers.get("content-length")) {
        Some(length) => length.parse().ok(),
        None => Some(received as i64),
    }
}

fn response_code(s: &HttpStream) -> Option<i64> {
    s.response.headers.get(":status")?.parse().ok()
}

/// Why the response is what it is: the plugin's details for its local reply (blanks made `_`,
/// as Envoy keeps them), else `via_upstream`.
fn code_details(s: &HttpStream) -> Option<String> {
    response_code(s)?;
    Some(match &s.local_reply {
        Some(reply) => reply.details.replace(char::is_whitespace, "_"),
        None => "via_upstream".into(),
    })
}

/// The gRPC status: the response's `grpc-status` (trailers first) while the plugin may read
/// them, else the one Envoy infers from the HTTP status.
fn grpc_status(code: i64, headers: Option<&HeaderMap>, trailers: Option<&HeaderMap>) -> i64 {
    let given = [trailers, headers]
        .into_iter()
        .flatten()
        .find_map(|map| map.get("grpc-status"));
    match given {
        Some(status) => status
            .parse()
            .ok()
            .filter(|s| (0..=16).contains(s))
            .unwrap_or(-1),
        None => grpc_status_of(code),
    }
}

/// Turns the proxy-wasm path encoding (segments separated by NUL) into a dotted path.
fn path_from_abi(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.trim_end_matches('\0').replace('\0', ".")
}
