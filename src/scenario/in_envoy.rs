//! A real Envoy as a [`ScenarioHost`]. The plugin's http_calls and grpc_calls go to clusters that
//! answer from the scenario's script, and its metrics are read from Envoy's admin API. What Envoy
//! cannot be made to do here — answer a call whose cluster the script does not name, advance
//! time, give a histogram's value — is skipped or left unchecked (and said so), not passed off as
//! checked. A plugin that fails in Envoy fails the case as in the built-in host, with Envoy's
//! message and what the plugin logged.

use std::path::PathBuf;
use std::time::Duration;

use super::driver::{DriveError, ScenarioHost, Started};
use super::error::ScenarioError;
use super::load::PluginSetup;
use super::metrics::MetricsNow;
use super::spec::{CallSpec, Connection, Exchange};
use crate::envoy::{Envoy, EnvoyError, EnvoyListener, PluginMetrics};
use crate::host::{
    CallAnswer, CallRecord, HttpOutcome, NetworkEvent, NetworkOutcome, Request, Response,
};

/// One plugin in Envoy: an Envoy of its own, started with the plugin, or one listener of an Envoy
/// already serving several plugins.
pub struct EnvoyHost<'e> {
    instance: Instance<'e>,
    listener: usize,
    /// The plugin's metrics once Envoy started, or why they could not be read.
    metrics_at_start: Result<PluginMetrics, String>,
}

enum Instance<'e> {
    NotStarted(PathBuf),
    Own(Envoy),
    Shared(&'e mut Envoy),
}

impl EnvoyHost<'static> {
    /// Starts its own Envoy (`binary`) when the plugin starts.
    pub fn new(binary: PathBuf) -> Self {
        EnvoyHost {
            instance: Instance::NotStarted(binary),
            listener: 0,
            metrics_at_start: Ok(PluginMetrics::default()),
        }
    }
}

impl<'e> EnvoyHost<'e> {
    /// The plugin on `listener` of a running Envoy, which was started with its configuration.
    pub fn on_listener(envoy: &'e mut Envoy, listener: usize) -> Self {
        EnvoyHost {
            instance: Instance::Shared(envoy),
            listener,
            metrics_at_start: Err(
                "the plugins on this Envoy's listeners share their metrics".into()
            ),
        }
    }

    fn running(&mut self) -> Result<&mut Envoy, DriveError> {
        match &mut self.instance {
            Instance::NotStarted(_) => {
                Err(DriveError::Proxy(ScenarioError::NotStarted("Envoy".into())))
            }
            Instance::Own(envoy) => Ok(envoy),
            Instance::Shared(envoy) => Ok(envoy),
        }
    }
}

/// A plugin that failed in Envoy is a result to check, as in the built-in host; anything else
/// means Envoy could not be driven.
fn proxy_error(err: EnvoyError) -> DriveError {
    match err {
        EnvoyError::Plugin(err) => DriveError::Plugin(err),
        err => DriveError::Proxy(err.into()),
    }
}

impl ScenarioHost for EnvoyHost<'_> {
    fn start(&mut self, setup: &PluginSetup) -> Result<Started, DriveError> {
        let binary = match &self.instance {
            Instance::NotStarted(binary) => binary,
            Instance::Own(envoy) => return Ok(Started::Accepted(envoy.start_logs(0).to_vec())),
            Instance::Shared(envoy) => {
                return Ok(Started::Accepted(envoy.start_logs(self.listener).to_vec()));
            }
        };
        let listener =
            EnvoyListener::new(&setup.wasm, &setup.options, setup.network).map_err(proxy_error)?;
        let answers = setup.options.call_answers.clone();
        match Envoy::start(binary, &[listener], &setup.call_upstreams, answers) {
            Ok(envoy) => {
                let logs = envoy.start_logs(0).to_vec();
                self.metrics_at_start = envoy.plugin_metrics().map_err(|e| e.to_string());
                self.instance = Instance::Own(envoy);
                Ok(Started::Accepted(logs))
            }
            // Envoy refuses to start with a plugin that rejects its configuration; the plugin's
            // own log says it was the plugin.
            Err(EnvoyError::Exited { reason, logs }) => Ok(Started::Rejected {
                logs: logs.clone(),
                error: proxy_error(EnvoyError::Exited { reason, logs }),
            }),
            Err(err) => Err(proxy_error(err)),
        }
    }

    fn unsupported_exchange(&self, exchange: &Exchange) -> Option<String> {
        let what = if unnamed(&exchange.http_calls) {
            UNNAMED
        } else if exchange.advance_ms > 0 {
            "simulated time"
        } else {
            return None;
        };
        Some(format!("Envoy cannot be given {what} here"))
    }

    fn unsupported_connection(&self, connection: &Connection) -> Option<String> {
        unnamed(&connection.http_calls).then(|| format!("Envoy cannot be given {UNNAMED} here"))
    }

    /// Scripts the answers to the plugin's http_calls; exchanges that need time to pass are
    /// unsupported here.
    fn prepare(&mut self, calls: Vec<CallAnswer>, _advance: Duration) -> Result<(), DriveError> {
        self.running()?.script_calls(calls);
        Ok(())
    }

    fn http(&mut self, request: &Request, response: &Response) -> Result<HttpOutcome, DriveError> {
        let listener = self.listener;
        self.running()?
            .http(listener, request, response)
            .map_err(proxy_error)
    }

    fn connection(&mut self, events: &[NetworkEvent]) -> Result<NetworkOutcome, DriveError> {
        let listener = self.listener;
        self.running()?
            .connection(listener, events)
            .map_err(proxy_error)
    }

    fn metrics(&self) -> MetricsNow {
        let now = match &self.instance {
            Instance::NotStarted(_) => return MetricsNow::default(),
            Instance::Own(envoy) => envoy.plugin_metrics(),
            Instance::Shared(envoy) => envoy.plugin_metrics(),
        };
        match (&self.metrics_at_start, now) {
            (Ok(at_start), Ok(now)) => MetricsNow::from_envoy(at_start, &now),
            (Err(why), _) => MetricsNow::unreadable(why.clone()),
            (_, Err(err)) => MetricsNow::unreadable(err.to_string()),
        }
    }

    fn calls_made(&self) -> Vec<CallRecord> {
        match &self.instance {
            Instance::NotStarted(_) => Vec::new(),
            Instance::Own(envoy) => envoy.calls_made(),
            Instance::Shared(envoy) => envoy.calls_made(),
        }
    }
}

/// Answers Envoy cannot make a cluster for.
const UNNAMED: &str = "scripted http_calls without their `upstream` (its cluster)";

/// Whether an answer names no upstream, so no cluster can give it.
fn unnamed(answers: &[CallSpec]) -> bool {
    answers.iter().any(|c| c.upstream.is_none())
}
