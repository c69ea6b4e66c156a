//! `wasmctl run`: one request, or one connection, given on the command line, through the plugin
//! in the built-in host or in Envoy.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::builtin::{BuiltinHost, PluginCache};
use super::config::config_to_json;
use super::driver::{ScenarioHost, Started};
use super::error::ScenarioError;
use super::in_envoy::EnvoyHost;
use super::load::{PluginSetup, clusters_named, upstreams_named};
use super::metrics::UnreadMetric;
use super::project::{optional_project, project_config, project_plugin};
use super::report::CaseOutcome;
use crate::envoy::{EnvoyError, find_binary};
use crate::host::{
    CallAnswer, CallRecord, LogRecord, Metric, NetworkEvent, Request, Response, VmOptions,
};
use crate::module::AbiVersion;
use crate::project::StaleBuild;
use crate::project::{PluginType, ProjectSelector};

/// What `wasmctl run` runs: the plugin, its configuration, and the traffic.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The module; the project's last build when absent.
    pub wasm: Option<PathBuf>,
    /// pluginConfig, YAML or JSON; the project's config file when absent.
    pub config: Option<PathBuf>,
    /// Send the pluginConfig bytes as they are, not as JSON: for plugins written for plain
    /// Envoy, whose configuration is any string.
    pub config_raw: bool,
    /// vm_config configuration, sent as is.
    pub vm_config: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub properties: Vec<(String, String)>,
    /// Answers to the plugin's http_calls, in order.
    pub call_responses: Vec<CallAnswer>,
    /// The project's when absent, else HTTP.
    pub plugin_type: Option<PluginType>,
    pub traffic: Traffic,
    /// In a real Envoy instead of the built-in host.
    pub envoy: bool,
    pub project: ProjectSelector,
}

/// The traffic for either kind of plugin; the plugin type picks one.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    pub request: Request,
    /// What the upstream answers.
    pub response: Response,
    /// What happens on the connection, for a network plugin.
    pub connection: Vec<NetworkEvent>,
}

/// What the run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub wasm: PathBuf,
    /// The project's last build ran, and a source file changed after it.
    pub stale_build: Option<StaleBuild>,
    pub ran_in: RanIn,
    /// From loading the plugin to the end of the traffic.
    pub elapsed: Duration,
    pub start_logs: Vec<LogRecord>,
    pub outcome: CaseOutcome,
    pub http_calls: Vec<CallRecord>,
    pub metrics: Vec<Metric>,
    /// Metrics the plugin defined whose values the host cannot read (histograms in Envoy).
    pub unread_metrics: Vec<UnreadMetric>,
    /// Call answers given that the plugin never asked for.
    pub unused_call_responses: usize,
}

/// Where the plugin ran.
#[derive(Debug, Clone)]
pub enum RanIn {
    BuiltIn { abi: AbiVersion, compiled: Duration },
    Envoy { binary: PathBuf },
}

/// The module and options a run resolves to, with the project's defaults filled in.
pub(crate) fn resolve(options: &RunOptions) -> Result<PluginSetup, ScenarioError> {
    // The project supplies defaults; with an explicit module, config and type it is not needed.
    let wanted =
        options.wasm.is_none() || options.config.is_none() || options.plugin_type.is_none();
    let project = optional_project(&options.project, wanted, options.wasm.is_none())?;
    let (wasm, stale_build) = match (&options.wasm, &project) {
        (Some(path), _) => (path.clone(), None),
        (None, Some(project)) => project_plugin(project)?,
        (None, None) => return Err(ScenarioError::NoModule),
    };
    let config = options
        .config
        .clone()
        .or_else(|| project.as_ref().and_then(project_config));
    let plugin_type = options
        .plugin_type
        .or_else(|| project.as_ref().and_then(|p| p.settings.plugin_type));
    let mut vm = VmOptions {
        plugin_name: match &project {
            Some(project) => project.name.clone(),
            None => stem(&wasm),
        },
        env: options.env.clone(),
        properties: options.properties.clone(),
        call_answers: options.call_responses.clone(),
        clusters: clusters_named(options.call_responses.iter().map(|a| &a.upstream)),
        ..VmOptions::default()
    };
    if let Some(path) = &config {
        let bytes = crate::fs::read(path)?;
        vm.plugin_config = if options.config_raw {
            bytes
        } else {
            config_to_json(&bytes, path).map_err(|message| ScenarioError::BadConfig {
                path: path.clone(),
                message,
            })?
        };
    }
    if let Some(path) = &options.vm_config {
        vm.vm_config = crate::fs::read(path)?;
    }
    Ok(PluginSetup {
        wasm,
        options: vm,
        network: plugin_type == Some(PluginType::Network),
        call_upstreams: upstreams_named(options.call_responses.iter().map(|a| &a.upstream)),
        stale_build,
    })
}

/// Runs the request (or connection) of `options` through the plugin.
pub fn run_once(options: &RunOptions) -> crate::Result<RunReport> {
    let setup = resolve(options)?;
    let started = Instant::now();
    if options.envoy {
        let binary = find_binary().ok_or(EnvoyError::NotFound)?;
        let mut host = EnvoyHost::new(binary.clone());
        let ran_in = RanIn::Envoy { binary };
        return Ok(drive(&mut host, &setup, &options.traffic, ran_in, started)?);
    }
    let mut plugins = PluginCache::default();
    let abi = plugins.load(&setup.wasm)?.abi();
    let ran_in = RanIn::BuiltIn {
        abi,
        compiled: started.elapsed(),
    };
    Ok(drive(
        &mut BuiltinHost::new(&mut plugins),
        &setup,
        &options.traffic,
        ran_in,
        started,
    )?)
}

fn drive(
    host: &mut dyn ScenarioHost,
    setup: &PluginSetup,
    traffic: &Traffic,
    ran_in: RanIn,
    started: Instant,
) -> Result<RunReport, ScenarioError> {
    let start_logs = match host.start(setup)? {
        Started::Accepted(logs) => logs,
        Started::Rejected { error, .. } => return Err(error.into()),
    };
    let outcome = if setup.network {
        CaseOutcome::Connection(host.connection(&traffic.connection)?)
    } else {
        CaseOutcome::Http(Box::new(host.http(&traffic.request, &traffic.response)?))
    };
    let calls = host.calls_made();
    let metrics = host.metrics();
    Ok(RunReport {
        wasm: setup.wasm.clone(),
        stale_build: setup.stale_build.clone(),
        ran_in,
        elapsed: started.elapsed(),
        start_logs,
        outcome,
        // Each call answered takes an answer, and a call with none left fails the run.
        unused_call_responses: setup
            .options
            .call_answers
            .len()
            .saturating_sub(calls.iter().filter(|c| !c.refused).count()),
        http_calls: calls,
        metrics: metrics.read,
        unread_metrics: metrics.unread,
    })
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plugin".into())
}
