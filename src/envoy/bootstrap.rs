//! The bootstrap Envoy starts from: one listener per plugin, the two upstreams played here, and an
//! admin API on a port the kernel picks.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::EnvoyError;
use crate::host::VmOptions;

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
        let wasm = std::fs::canonicalize(wasm).map_err(|source| EnvoyError::Read {
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

/// The name of listener `index`; also its plugin's name, VM id and stat prefix.
pub(super) fn listener_name(index: usize) -> String {
    format!("p{index}")
}

/// The bootstrap: every listener on port 0 (Envoy reports the port it got through the admin API).
pub(super) fn bootstrap(listeners: &[EnvoyListener], http_port: u16, tcp_port: u16) -> Value {
    let listeners: Vec<Value> = listeners
        .iter()
        .enumerate()
        .map(|(index, listener)| {
            let name = listener_name(index);
            let plugin = plugin(&name, listener);
            let filters = if listener.network {
                network_filters(plugin)
            } else {
                http_filters(&name, plugin)
            };
            json!({
                "name": name,
                "stat_prefix": name,
                "address": socket_address(0),
                "filter_chains": [{"filters": filters}],
            })
        })
        .collect();
    json!({
        "admin": {"address": socket_address(0)},
        "static_resources": {
            "listeners": listeners,
            "clusters": [cluster("http_upstream", http_port), cluster("tcp_upstream", tcp_port)],
        },
    })
}

fn socket_address(port: u16) -> Value {
    json!({"socket_address": {"address": "127.0.0.1", "port_value": port}})
}

fn cluster(name: &str, port: u16) -> Value {
    json!({
        "name": name, "type": "STATIC", "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": socket_address(port)}}]}]},
    })
}

/// The wasm plugin configuration, as Istio would render it for Envoy.
fn plugin(name: &str, listener: &EnvoyListener) -> Value {
    let env: serde_json::Map<String, Value> = listener
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    json!({
        "name": name,
        "root_id": "",
        "configuration": string_value(&listener.plugin_config),
        "vm_config": {
            "vm_id": name,
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": listener.wasm}},
            "environment_variables": {"key_values": env},
            "configuration": string_value(&listener.vm_config),
        },
    })
}

fn string_value(bytes: &[u8]) -> Value {
    json!({
        "@type": "type.googleapis.com/google.protobuf.StringValue",
        "value": String::from_utf8_lossy(bytes),
    })
}

fn network_filters(plugin: Value) -> Value {
    json!([
        {"name": "envoy.filters.network.wasm", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm",
            "config": plugin}},
        {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": "tcp", "cluster": "tcp_upstream"}},
    ])
}

fn http_filters(name: &str, plugin: Value) -> Value {
    json!([{
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": name,
            "route_config": {"virtual_hosts": [{
                "name": "all", "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "http_upstream"}}],
            }]},
            "http_filters": [
                {"name": "envoy.filters.http.wasm", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                    "config": plugin}},
                {"name": "envoy.filters.http.router", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
            ],
        },
    }])
}
