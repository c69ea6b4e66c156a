//! What a VM is started with: what Istio's WasmPlugin and Envoy's bootstrap would give it, and the
//! limits that keep a broken plugin from hanging or exhausting the machine.

use std::sync::Arc;
use std::time::Duration;

use super::state::{CallAnswer, Caller};

/// How long one callback may run before it is stopped, and how much memory the instance may use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub callback_time: Duration,
    pub memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            callback_time: Duration::from_secs(1),
            memory_bytes: 256 << 20,
        }
    }
}

/// Everything a VM is started with: what Istio's WasmPlugin and Envoy's bootstrap would give it.
#[derive(Debug, Clone)]
pub struct VmOptions {
    /// pluginConfig, as delivered to on_configure (Istio sends JSON).
    pub plugin_config: Vec<u8>,
    /// vm_config.configuration, delivered to on_vm_start.
    pub vm_config: Vec<u8>,
    /// Environment variables the plugin sees through WASI (vmConfig.env).
    pub env: Vec<(String, String)>,
    /// Extra or overriding properties: dotted path -> value.
    pub properties: Vec<(String, String)>,
    pub plugin_name: String,
    pub root_id: String,
    pub vm_id: String,
    /// Answers to http_call and grpc_call, taken in order.
    pub call_answers: Vec<CallAnswer>,
    /// The clusters calls can reach, as a proxy has them: a call to any other is refused, as
    /// Envoy refuses one to a cluster it lacks. `None`: any (the answers name no upstream). A
    /// [`Caller`] knows its own clusters instead.
    pub clusters: Option<Vec<String>>,
    /// Makes the calls no answer is scripted for (`wasmctl serve`); without one such a call ends
    /// the callback, naming it.
    pub caller: Option<Arc<dyn Caller>>,
    /// The route's timeout, which Envoy's router tells the upstream of
    /// (`x-envoy-expected-rq-timeout-ms`): Envoy's default, 15 s, as `run --envoy` and
    /// `test --envoy` keep it; none for a route without one, as `serve`'s (and Istio's).
    pub route_timeout: Option<Duration>,
    pub limits: Limits,
}

impl Default for VmOptions {
    fn default() -> Self {
        VmOptions {
            plugin_config: Vec::new(),
            vm_config: Vec::new(),
            env: Vec::new(),
            properties: Vec::new(),
            plugin_name: "plugin".into(),
            root_id: String::new(),
            vm_id: String::new(),
            clusters: None,
            call_answers: Vec::new(),
            caller: None,
            route_timeout: Some(Duration::from_secs(15)),
            limits: Limits::default(),
        }
    }
}
