//! The built-in host as a [`ScenarioHost`]: one VM per scenario, compiled modules shared.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::driver::{DriveError, ScenarioHost, Started};
use super::error::ScenarioError;
use super::load::PluginSetup;
use super::metrics::MetricsNow;
use crate::host::{
    CallAnswer, CallRecord, HostError, HttpOutcome, NetworkEvent, NetworkOutcome, Plugin, Request,
    Response, Vm,
};

/// Compiled plugins by path, so scenarios sharing a module compile it once.
#[derive(Default)]
pub struct PluginCache {
    plugins: HashMap<PathBuf, Plugin>,
}

impl PluginCache {
    /// The module at `path`, compiled on first use.
    pub fn load(&mut self, path: &Path) -> Result<&Plugin, HostError> {
        if !self.plugins.contains_key(path) {
            let plugin = Plugin::from_file(path)?;
            self.plugins.insert(path.to_path_buf(), plugin);
        }
        Ok(&self.plugins[path])
    }
}

/// The built-in host, running one VM at a time.
pub struct BuiltinHost<'c> {
    plugins: &'c mut PluginCache,
    vm: Option<Vm>,
}

impl<'c> BuiltinHost<'c> {
    pub fn new(plugins: &'c mut PluginCache) -> Self {
        BuiltinHost { plugins, vm: None }
    }

    /// Forgets the logs recorded so far, so a long benchmark keeps its memory flat.
    pub fn clear_logs(&mut self) {
        if let Some(vm) = &mut self.vm {
            vm.clear_logs();
        }
    }

    fn vm(&mut self) -> Result<&mut Vm, DriveError> {
        self.vm
            .as_mut()
            .ok_or_else(|| DriveError::Proxy(ScenarioError::NotStarted("the built-in host".into())))
    }
}

impl ScenarioHost for BuiltinHost<'_> {
    fn start(&mut self, setup: &PluginSetup) -> Result<Started, DriveError> {
        let plugin = self
            .plugins
            .load(&setup.wasm)
            .map_err(|source| DriveError::Proxy(ScenarioError::loading(&setup.wasm, source)))?;
        match Vm::start(plugin, setup.options.clone()) {
            Ok(vm) => {
                let logs = vm.logs().to_vec();
                self.vm = Some(vm);
                Ok(Started::Accepted(logs))
            }
            Err(err @ HostError::ConfigureRejected { .. }) => Ok(Started::Rejected {
                logs: err.logs().to_vec(),
                error: DriveError::Plugin(err),
            }),
            Err(err) => Err(DriveError::Plugin(err)),
        }
    }

    fn prepare(&mut self, calls: Vec<CallAnswer>, advance: Duration) -> Result<(), DriveError> {
        let vm = self.vm()?;
        vm.script_answers(calls);
        if !advance.is_zero() {
            vm.advance(advance).map_err(DriveError::Plugin)?;
        }
        Ok(())
    }

    fn http(&mut self, request: &Request, response: &Response) -> Result<HttpOutcome, DriveError> {
        self.vm()?
            .http(request, response)
            .map_err(DriveError::Plugin)
    }

    fn connection(&mut self, events: &[NetworkEvent]) -> Result<NetworkOutcome, DriveError> {
        self.vm()?.connection(events).map_err(DriveError::Plugin)
    }

    fn metrics(&self) -> MetricsNow {
        MetricsNow::all(self.vm.as_ref().map(Vm::metrics).unwrap_or_default())
    }

    fn calls_made(&self) -> Vec<CallRecord> {
        self.vm
            .as_ref()
            .map(|vm| vm.calls_made().to_vec())
            .unwrap_or_default()
    }
}
