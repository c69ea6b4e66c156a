//! What can go wrong running a plugin, and how a trap becomes a message that names its cause.

use wasmtime::Store;

use super::state::{HostState, LogLevel, LogRecord};
use crate::error::Hint;
use crate::module::ModuleError;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The file is not a proxy-wasm module the host can load.
    #[error(transparent)]
    Module(#[from] ModuleError),
    #[error("the wasm engine could not start: {0}")]
    Engine(String),
    #[error("the module cannot be linked: {0}")]
    Link(String),
    #[error("the plugin failed in {callback}: {message}")]
    Trap {
        callback: &'static str,
        message: String,
        /// What the plugin logged before it failed (its panic message, usually).
        logs: Vec<LogRecord>,
        /// A call the host refused just before, as Envoy would: the likely cause.
        refused: Option<String>,
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
            HostError::Module(_) | HostError::Engine(_) | HostError::Link(_) => &[],
        }
    }
}

impl Hint for HostError {
    fn hints(&self) -> Vec<String> {
        let last_error = self
            .logs()
            .iter()
            .rev()
            .find(|l| l.level >= LogLevel::Error);
        let last_error_hint = last_error.map(|l| format!("the plugin logged: {}", l.message));
        match self {
            HostError::Module(err) => err.hints(),
            // A panic's message is the trap's message already: said once, not again as a hint.
            HostError::Trap {
                message, refused, ..
            } => last_error
                .filter(|l| !message.contains(&l.message))
                .and(last_error_hint)
                .into_iter()
                .chain(refused.clone())
                .collect(),
            HostError::ConfigureRejected { .. } | HostError::VmStartRejected { .. } => {
                let mut hints: Vec<String> = last_error_hint.into_iter().collect();
                hints.push("check the configuration given with --config".into());
                hints
            }
            HostError::Engine(_) | HostError::Link(_) => Vec::new(),
        }
    }
}

/// A host-side fault raised from inside a host function: it ends the callback with this message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct GuestFault(pub String);

/// Why a callback stopped, in the plugin author's terms rather than wasmtime's.
pub(super) fn describe_trap(err: &wasmtime::Error, state: &HostState) -> String {
    if let Some(fault) = err.downcast_ref::<GuestFault>() {
        return fault.0.clone();
    }
    if let Some(trap) = err.downcast_ref::<wasmtime::Trap>() {
        return describe_wasm_trap(trap, state);
    }
    let text = format!("{err:#}");
    if text.contains("forcing trap when growing memory") {
        return format!(
            "exceeded the memory limit of {} MiB",
            state.options.limits.memory_bytes >> 20
        );
    }
    text
}

fn describe_wasm_trap(trap: &wasmtime::Trap, state: &HostState) -> String {
    match trap {
        wasmtime::Trap::Interrupt => format!(
            "still running after {} ms, stopped (an endless loop?)",
            state.options.limits.callback_time.as_millis()
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
    }
}

/// An instantiation failure: a start function that trapped, or imports that cannot be linked.
pub(super) fn link_or_trap(err: wasmtime::Error, store: &mut Store<HostState>) -> HostError {
    if err.downcast_ref::<wasmtime::Trap>().is_some() || err.downcast_ref::<GuestFault>().is_some()
    {
        HostError::Trap {
            callback: "start",
            message: describe_trap(&err, store.data()),
            logs: store.data().logs.clone(),
            refused: None,
        }
    } else {
        HostError::Link(format!("{err:#}"))
    }
}
