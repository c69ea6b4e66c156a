//! A proxy-wasm host of wasmctl's own, on wasmtime: it loads a plugin the way Envoy does (ABI 0.2.1,
//! 0.2.0 and 0.1.0), drives HTTP and TCP streams through it, and records what it did.
//!
//! The module is compiled once ([`Plugin`]); each [`Vm`] is one instance with its root context
//! configured, and serves any number of HTTP exchanges or connections, as one Envoy worker would.
//!
//! Limits keep a broken plugin from hanging or exhausting the machine: every callback runs under a
//! wall-clock deadline (epoch interruption) and the instance's memory is capped. Whatever the guest
//! does, the host answers with a [`HostError`] naming the callback, never a panic.

mod abi;
pub use crate::envoy;
mod exports;
mod headers;
mod http;
mod network;
mod properties;
mod state;
#[cfg(test)]
mod tests;
mod wasi;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Serialize;
use wasmtime::{Config, Engine, Linker, Module, Store, StoreLimitsBuilder};

use crate::diagnostic::Hint;

pub use headers::HeaderMap;
pub use http::{FinalResponse, ForwardedRequest, HttpOutcome, LocalReply, Request, Response};
pub use network::{NetworkEvent, NetworkOutcome};
pub use state::{CallRecord, CallResponse, HttpCall, LogLevel, LogRecord, Metric, MetricKind};

use exports::Exports;
use state::HostState;

/// The proxy-wasm ABI a module was built against, read from its `proxy_abi_version_*` export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Abi {
    #[serde(rename = "0.1.0")]
    V0_1_0,
    #[serde(rename = "0.2.0")]
    V0_2_0,
    #[serde(rename = "0.2.1")]
    V0_2_1,
}

impl Abi {
    pub fn as_str(self) -> &'static str {
        match self {
            Abi::V0_1_0 => "0.1.0",
            Abi::V0_2_0 => "0.2.0",
            Abi::V0_2_1 => "0.2.1",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("failed to read `{}`", .path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not a loadable wasm module: {0}")]
    Compile(String),
    #[error("the module exports no proxy_abi_version_* function, so it is not a proxy-wasm plugin")]
    NotProxyWasm,
    #[error("the module cannot be linked: {0}")]
    Link(String),
    #[error("export `{name}` has the wrong signature for ABI {abi}: {found}")]
    ExportSignature {
        name: &'static str,
        abi: &'static str,
        found: String,
    },
    #[error("the module exports no memory")]
    NoMemory,
    #[error("the module exports neither proxy_on_memory_allocate nor malloc")]
    NoAllocator,
    #[error("the plugin failed in {callback}: {message}")]
    Trap {
        callback: &'static str,
        message: String,
        /// What the plugin logged before it failed (its panic message, usually).
        logs: Vec<LogRecord>,
    },
    #[error("the plugin rejected its vmConfig (proxy_on_vm_start returned false)")]
    VmStartRejected { logs: Vec<LogRecord> },
    #[error("the plugin rejected its pluginConfig (proxy_on_configure returned false)")]
    ConfigureRejected { logs: Vec<LogRecord> },
}

impl HostError {
    /// What the plugin logged up to the failure.
    pub fn logs(&self) -> &[LogRecord] {
        match self {
            HostError::Trap { logs, .. }
            | HostError::VmStartRejected { logs }
            | HostError::ConfigureRejected { logs } => logs,
            _ => &[],
        }
    }
}

impl Hint for HostError {
    fn hints(&self) -> Vec<String> {
        let last_error = self
            .logs()
            .iter()
            .rev()
            .find(|l| l.level >= LogLevel::Error)
            .map(|l| format!("the plugin logged: {}", l.message));
        match self {
            HostError::NotProxyWasm => {
                vec!["build it with the proxy-wasm SDK (`wasmctl build` checks this)".into()]
            }
            HostError::Trap { .. } => last_error.into_iter().collect(),
            HostError::ConfigureRejected { .. } | HostError::VmStartRejected { .. } => {
                let mut hints: Vec<String> = last_error.into_iter().collect();
                hints.push("check the configuration given with --config".into());
                hints
            }
            _ => Vec::new(),
        }
    }
}

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
    pub http_calls: Vec<HttpCall>,
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
            http_calls: Vec::new(),
            limits: Limits::default(),
        }
    }
}

/// A compiled plugin, ready to be instantiated any number of times.
pub struct Plugin {
    engine: Engine,
    module: Module,
    linker: Linker<HostState>,
    abi: Abi,
}

/// The process-wide engine, with a thread that advances its epoch so callbacks can be timed out.
fn engine() -> Result<Engine, HostError> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = Config::new();
            config.epoch_interruption(true);
            config.max_wasm_stack(1 << 20);
            let engine = Engine::new(&config).map_err(|e| e.to_string())?;
            let ticker = engine.weak();
            std::thread::Builder::new()
                .name("wasmctl-epoch".into())
                .spawn(move || {
                    while let Some(engine) = ticker.upgrade() {
                        engine.increment_epoch();
                        drop(engine);
                        std::thread::sleep(EPOCH_TICK);
                    }
                })
                .map_err(|e| e.to_string())?;
            Ok(engine)
        })
        .clone()
        .map_err(HostError::Compile)
}

/// How often the epoch advances; the granularity of the callback deadline.
const EPOCH_TICK: Duration = Duration::from_millis(10);

impl Plugin {
    pub fn from_file(path: &Path) -> Result<Plugin, HostError> {
        let bytes = std::fs::read(path).map_err(|source| HostError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Plugin::load(&bytes)
    }

    /// Compiles the module and links the host functions its imports name.
    pub fn load(bytes: &[u8]) -> Result<Plugin, HostError> {
        let engine = engine()?;
        let module =
            Module::new(&engine, bytes).map_err(|e| HostError::Compile(format!("{e:#}")))?;
        let abi = detect_abi(&module).ok_or(HostError::NotProxyWasm)?;
        let linker = abi::linker(&engine, &module)?;
        Ok(Plugin {
            engine,
            module,
            linker,
            abi,
        })
    }

    pub fn abi(&self) -> Abi {
        self.abi
    }
}

fn detect_abi(module: &Module) -> Option<Abi> {
    let mut found = None;
    for export in module.exports() {
        let abi = match export.name() {
            "proxy_abi_version_0_2_1" => Abi::V0_2_1,
            "proxy_abi_version_0_2_0" => Abi::V0_2_0,
            "proxy_abi_version_0_1_0" => Abi::V0_1_0,
            _ => continue,
        };
        // A module advertising several versions gets the newest.
        found = Some(match found {
            Some(prev) if prev as u8 > abi as u8 => prev,
            _ => abi,
        });
    }
    found
}

/// One running plugin instance with its root context configured.
pub struct Vm {
    store: Store<HostState>,
    exports: Exports,
    abi: Abi,
    limits: Limits,
    next_context: u32,
}

/// The root context's id; stream contexts count up from it.
const ROOT_CONTEXT: u32 = 1;

impl Vm {
    /// Instantiates the plugin and takes it through start-up: `_initialize` (or `_start`), the
    /// root context, `proxy_on_vm_start` and `proxy_on_configure`.
    pub fn start(plugin: &Plugin, options: VmOptions) -> Result<Vm, HostError> {
        let limits = options.limits;
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(&plugin.engine, HostState::new(options, store_limits));
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(deadline_ticks(limits));
        let instance = plugin
            .linker
            .instantiate(&mut store, &plugin.module)
            .map_err(|e| link_or_trap(e, &mut store))?;
        let exports = Exports::resolve(&mut store, &instance, plugin.abi)?;
        store.data_mut().memory = Some(exports.memory);
        store.data_mut().allocator = Some(exports.allocator.clone());
        let mut vm = Vm {
            store,
            exports,
            abi: plugin.abi,
            limits,
            next_context: ROOT_CONTEXT + 1,
        };
        vm.initialize()?;
        Ok(vm)
    }

    pub fn abi(&self) -> Abi {
        self.abi
    }

    fn initialize(&mut self) -> Result<(), HostError> {
        if let Some(init) = self.exports.initialize.clone() {
            self.call("_initialize", |store| init.call(store, ()))?;
            if let Some(main) = self.exports.main.clone() {
                self.call("main", |store| main.call(store, (0, 0)))?;
            }
        } else if let Some(start) = self.exports.start.clone() {
            self.call("_start", |store| start.call(store, ()))?;
        }
        if let Some(create) = self.exports.on_context_create.clone() {
            self.call("proxy_on_context_create", |store| {
                create.call(store, (ROOT_CONTEXT as i32, 0))
            })?;
        }
        let vm_config_size = self.store.data().options.vm_config.len() as i32;
        if let Some(on_vm_start) = self.exports.on_vm_start.clone() {
            self.store.data_mut().configuration = Some(state::ConfigBuffer::Vm);
            let ok = self.call("proxy_on_vm_start", |store| {
                on_vm_start.call(store, (ROOT_CONTEXT as i32, vm_config_size))
            })?;
            self.store.data_mut().configuration = None;
            if ok == 0 {
                return Err(HostError::VmStartRejected {
                    logs: self.store.data().logs.clone(),
                });
            }
        }
        let plugin_config_size = self.store.data().options.plugin_config.len() as i32;
        if let Some(on_configure) = self.exports.on_configure.clone() {
            self.store.data_mut().configuration = Some(state::ConfigBuffer::Plugin);
            let ok = self.call("proxy_on_configure", |store| {
                on_configure.call(store, (ROOT_CONTEXT as i32, plugin_config_size))
            })?;
            self.store.data_mut().configuration = None;
            if ok == 0 {
                return Err(HostError::ConfigureRejected {
                    logs: self.store.data().logs.clone(),
                });
            }
        }
        self.deliver_calls(ROOT_CONTEXT)?;
        Ok(())
    }

    /// Runs one callback under the deadline, turning a trap or host fault into a [`HostError`].
    fn call<R>(
        &mut self,
        callback: &'static str,
        f: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, HostError> {
        self.store.set_epoch_deadline(deadline_ticks(self.limits));
        self.store.data_mut().callback = callback;
        match f(&mut self.store) {
            Ok(r) => Ok(r),
            Err(err) => {
                let message = describe_trap(&err, self.store.data(), self.limits);
                Err(HostError::Trap {
                    callback,
                    message,
                    logs: self.store.data().logs.clone(),
                })
            }
        }
    }

    fn new_context_id(&mut self) -> u32 {
        let id = self.next_context;
        // Wrapping past u32::MAX would collide with the root context; start over above it.
        self.next_context = self.next_context.checked_add(1).unwrap_or(ROOT_CONTEXT + 1);
        id
    }

    /// Everything the plugin logged so far, oldest first.
    pub fn logs(&self) -> &[LogRecord] {
        &self.store.data().logs
    }

    /// Forgets the logs recorded so far (the benchmark does this to keep memory flat).
    pub fn clear_logs(&mut self) {
        self.store.data_mut().logs.clear();
    }

    /// The plugin's metrics with their current values.
    pub fn metrics(&self) -> Vec<Metric> {
        self.store.data().metrics.clone()
    }

    /// Every http_call and grpc_call made so far.
    pub fn http_calls(&self) -> &[state::CallRecord] {
        &self.store.data().call_log
    }

    /// Adds answers for later http_call or grpc_call.
    pub fn script_calls(&mut self, calls: impl IntoIterator<Item = HttpCall>) {
        self.store.data_mut().scripted.extend(calls);
    }

    /// The tick period the plugin asked for, if any.
    pub fn tick_period(&self) -> Option<Duration> {
        match self.store.data().tick_period_ms {
            0 => None,
            ms => Some(Duration::from_millis(u64::from(ms))),
        }
    }

    /// Advances the simulated clock by `by`, calling `proxy_on_tick` once per elapsed tick period.
    /// Returns the number of ticks delivered.
    pub fn advance(&mut self, by: Duration) -> Result<u32, HostError> {
        let mut left = by.as_nanos() as u64;
        let mut ticks = 0;
        loop {
            let period = u64::from(self.store.data().tick_period_ms) * 1_000_000;
            let state = self.store.data_mut();
            if period == 0 {
                state.clock_ns += left;
                return Ok(ticks);
            }
            let to_next = period - state.since_tick_ns.min(period);
            if left < to_next {
                state.clock_ns += left;
                state.since_tick_ns += left;
                return Ok(ticks);
            }
            left -= to_next;
            state.clock_ns += to_next;
            state.since_tick_ns = 0;
            ticks += 1;
            if let Some(on_tick) = self.exports.on_tick.clone() {
                self.store.data_mut().active_context = ROOT_CONTEXT;
                self.call("proxy_on_tick", |store| {
                    on_tick.call(store, ROOT_CONTEXT as i32)
                })?;
                self.deliver_calls(ROOT_CONTEXT)?;
            }
        }
    }

    /// Answers the http_call and grpc_call requests made so far, each from its script, calling the
    /// plugin's response callbacks. Answers can trigger further calls; they are answered too.
    fn deliver_calls(&mut self, context: u32) -> Result<(), HostError> {
        // A plugin that calls out from every answer would loop forever; Envoy would too, but slowly.
        for _ in 0..1000 {
            let Some(call) = self.store.data_mut().pending_calls.pop_front() else {
                let ready = std::mem::take(&mut self.store.data_mut().ready_queues);
                if ready.is_empty() {
                    return Ok(());
                }
                if let Some(f) = self.exports.on_queue_ready.clone() {
                    for queue in ready {
                        self.store.data_mut().active_context = ROOT_CONTEXT;
                        self.call("proxy_on_queue_ready", |store| {
                            f.call(store, (ROOT_CONTEXT as i32, queue as i32))
                        })?;
                    }
                }
                self.store.data_mut().active_context = context;
                continue;
            };
            let response = match call.response {
                Some(response) => response,
                None => {
                    let message = format!(
                        "no response scripted for the call to upstream `{}` ({} {})",
                        call.upstream, call.method, call.path
                    );
                    return Err(HostError::Trap {
                        callback: call.callback,
                        message,
                        logs: self.store.data().logs.clone(),
                    });
                }
            };
            let state = self.store.data_mut();
            state.active_context = context;
            let num_headers = response.headers.len() as i32;
            let body_size = response.body.len() as i32;
            let num_trailers = response.trailers.len() as i32;
            let grpc = call.grpc;
            state.call_response = Some(response);
            if grpc {
                if let Some(f) = self.exports.on_grpc_receive.clone() {
                    self.call("proxy_on_grpc_receive", |store| {
                        f.call(store, (context as i32, call.token as i32, body_size))
                    })?;
                }
                if let Some(f) = self.exports.on_grpc_close.clone() {
                    let status = self
                        .store
                        .data()
                        .call_response
                        .as_ref()
                        .map(|r| r.grpc_status)
                        .unwrap_or(0);
                    self.call("proxy_on_grpc_close", |store| {
                        f.call(store, (context as i32, call.token as i32, status as i32))
                    })?;
                }
            } else if let Some(f) = self.exports.on_http_call_response.clone() {
                self.call("proxy_on_http_call_response", |store| {
                    f.call(
                        store,
                        (
                            context as i32,
                            call.token as i32,
                            num_headers,
                            body_size,
                            num_trailers,
                        ),
                    )
                })?;
            }
            let state = self.store.data_mut();
            state.call_response = None;
            state.active_context = context;
        }
        Ok(())
    }
}

fn deadline_ticks(limits: Limits) -> u64 {
    (limits.callback_time.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1
}

/// A host-side fault raised from inside a host function: it ends the callback with this message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct GuestFault(pub String);

fn describe_trap(err: &wasmtime::Error, state: &HostState, limits: Limits) -> String {
    if let Some(fault) = err.downcast_ref::<GuestFault>() {
        return fault.0.clone();
    }
    if let Some(trap) = err.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::Interrupt => format!(
                "still running after {} ms, stopped (an endless loop?)",
                limits.callback_time.as_millis()
            ),
            wasmtime::Trap::StackOverflow => "stack overflow (unbounded recursion?)".into(),
            wasmtime::Trap::UnreachableCodeReached => {
                // Rust plugins abort this way after a panic; its message was logged just before.
                match state
                    .logs
                    .iter()
                    .rev()
                    .find(|l| l.level == LogLevel::Critical)
                {
                    Some(panic) => format!("panicked: {}", panic.message),
                    None => "wasm `unreachable` executed (a panic or abort in the plugin)".into(),
                }
            }
            wasmtime::Trap::MemoryOutOfBounds => "out-of-bounds memory access".into(),
            other => other.to_string(),
        };
    }
    let text = format!("{err:#}");
    if text.contains("forcing trap when growing memory") {
        return format!(
            "exceeded the memory limit of {} MiB",
            limits.memory_bytes >> 20
        );
    }
    text
}

fn link_or_trap(err: wasmtime::Error, store: &mut Store<HostState>) -> HostError {
    if err.downcast_ref::<wasmtime::Trap>().is_some() || err.downcast_ref::<GuestFault>().is_some()
    {
        // A start function trapped while instantiating.
        HostError::Trap {
            callback: "start",
            message: describe_trap(&err, store.data(), Limits::default()),
            logs: store.data().logs.clone(),
        }
    } else {
        HostError::Link(format!("{err:#}"))
    }
}
