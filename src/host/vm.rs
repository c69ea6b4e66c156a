//! One running plugin instance: start-up through on_configure, callbacks under the deadline, the
//! simulated clock and its ticks, and what the plugin recorded.

use std::time::Duration;

use wasmtime::{Store, StoreLimitsBuilder};

use super::error::{HostError, describe_trap, link_or_trap};
use super::exports::Exports;
use super::options::VmOptions;
use super::plugin::{Plugin, deadline_ticks};
use super::state::{self, CallAnswer, CallRecord, HostState, LogRecord, Metric};
use crate::module::AbiVersion;

/// One running plugin instance with its root context configured.
pub struct Vm {
    pub(super) store: Store<HostState>,
    pub(super) exports: Exports,
    abi: AbiVersion,
    next_context: u32,
}

/// The root context's id; stream contexts count up from it.
pub(crate) const ROOT_CONTEXT: u32 = 1;

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
        let (guest, exports) = Exports::resolve(&mut store, &instance, &plugin.info)?;
        store.data_mut().guest = Some(guest);
        let mut vm = Vm {
            store,
            exports,
            abi: plugin.abi(),
            next_context: ROOT_CONTEXT + 1,
        };
        vm.initialize()?;
        Ok(vm)
    }

    pub fn abi(&self) -> AbiVersion {
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
        if let Some(on_vm_start) = self.exports.on_vm_start.clone() {
            let size = self.store.data().options.vm_config.len() as i32;
            let ok = self.configure(state::ConfigBuffer::Vm, "proxy_on_vm_start", |store| {
                on_vm_start.call(store, (ROOT_CONTEXT as i32, size))
            })?;
            if !ok {
                let logs = self.store.data().logs.clone();
                return Err(HostError::VmStartRejected { logs });
            }
        }
        if let Some(on_configure) = self.exports.on_configure.clone() {
            let size = self.store.data().options.plugin_config.len() as i32;
            let ok =
                self.configure(state::ConfigBuffer::Plugin, "proxy_on_configure", |store| {
                    on_configure.call(store, (ROOT_CONTEXT as i32, size))
                })?;
            if !ok {
                let logs = self.store.data().logs.clone();
                return Err(HostError::ConfigureRejected { logs });
            }
        }
        self.deliver_calls(ROOT_CONTEXT)
    }

    /// Runs on_vm_start or on_configure with `buffer` as the configuration the plugin reads;
    /// whether the plugin accepted it.
    fn configure(
        &mut self,
        buffer: state::ConfigBuffer,
        callback: &'static str,
        f: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<i32>,
    ) -> Result<bool, HostError> {
        self.store.data_mut().configuration = Some(buffer);
        let accepted = self.call(callback, f);
        self.store.data_mut().configuration = None;
        Ok(accepted? != 0)
    }

    /// Runs one callback under the deadline, turning a trap or host fault into a [`HostError`].
    pub(super) fn call<R>(
        &mut self,
        callback: &'static str,
        f: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, HostError> {
        let limits = self.store.data().options.limits;
        self.store.set_epoch_deadline(deadline_ticks(limits));
        self.store.data_mut().callback = callback;
        self.store.data_mut().refused = None;
        self.store.data_mut().replied = false;
        f(&mut self.store).map_err(|err| HostError::Trap {
            callback,
            message: describe_trap(&err, self.store.data()),
            logs: self.store.data().logs.clone(),
            refused: self.store.data_mut().refused.take(),
        })
    }

    pub(super) fn new_context_id(&mut self) -> u32 {
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
    pub fn calls_made(&self) -> &[CallRecord] {
        &self.store.data().call_log
    }

    /// Adds answers for later http_call or grpc_call.
    pub fn script_answers(&mut self, answers: impl IntoIterator<Item = CallAnswer>) {
        self.store.data_mut().scripted.extend(answers);
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
}
