//! The one driver of a plugin through a scenario. The built-in host and a real Envoy both
//! implement [`ScenarioHost`]; [`run_scenario`] walks a scenario file through either and checks
//! every case the same way.

use std::time::Duration;

use super::check::{self, failure_text};
use super::error::ScenarioError;
use super::expect::Expect;
use super::load::{PluginSetup, ScenarioFile};
use super::metrics::MetricsNow;
use super::report::{CaseOutcome, CaseReport, ScenarioReport};
use super::spec::{Configure, Connection, Exchange, call_answers};
use crate::host::{
    CallAnswer, CallRecord, HostError, HttpOutcome, LogRecord, NetworkEvent, NetworkOutcome,
    Request, Response,
};

/// A proxy a plugin runs in: loaded once, then any number of exchanges or connections.
pub trait ScenarioHost {
    /// Loads the plugin and hands it its configuration.
    fn start(&mut self, setup: &PluginSetup) -> Result<Started, DriveError>;

    /// Why this host cannot run `exchange` as written, when it cannot.
    fn unsupported_exchange(&self, _exchange: &Exchange) -> Option<String> {
        None
    }

    /// Why this host cannot run `connection` as written, when it cannot.
    fn unsupported_connection(&self, _connection: &Connection) -> Option<String> {
        None
    }

    /// Before an exchange: answers for the plugin's next http_calls, and simulated time to pass.
    fn prepare(&mut self, calls: Vec<CallAnswer>, advance: Duration) -> Result<(), DriveError>;

    /// One request through the plugin; `response` is what the upstream answers.
    fn http(&mut self, request: &Request, response: &Response) -> Result<HttpOutcome, DriveError>;

    /// One connection through the (network) plugin.
    fn connection(&mut self, events: &[NetworkEvent]) -> Result<NetworkOutcome, DriveError>;

    /// The plugin's metrics now, as far as this host can read them.
    fn metrics(&self) -> MetricsNow;

    /// The http_calls and grpc_calls the plugin made so far, where the host sees them.
    fn calls_made(&self) -> Vec<CallRecord> {
        Vec::new()
    }
}

/// How the plugin took its configuration.
pub enum Started {
    /// It accepted it; what it logged meanwhile.
    Accepted(Vec<LogRecord>),
    /// It rejected it: what it logged, and the error for whoever expected it to accept.
    Rejected {
        logs: Vec<LogRecord>,
        error: DriveError,
    },
}

/// Why a step has no outcome.
#[derive(Debug)]
pub enum DriveError {
    /// The plugin failed: a result to check, after which this instance runs nothing more.
    Plugin(HostError),
    /// The proxy could not be driven: no result at all.
    Proxy(ScenarioError),
}

impl From<DriveError> for crate::Error {
    fn from(err: DriveError) -> Self {
        ScenarioError::from(err).into()
    }
}

impl From<DriveError> for ScenarioError {
    fn from(err: DriveError) -> Self {
        match err {
            DriveError::Plugin(err) => ScenarioError::PluginFailed(err),
            DriveError::Proxy(err) => err,
        }
    }
}

/// Runs every exchange and connection of `file` through `host` and checks what it expects. A
/// failed plugin fails the cases after it unrun; a proxy that cannot be driven is an error.
pub fn run_scenario(
    host: &mut dyn ScenarioHost,
    file: &ScenarioFile,
) -> Result<ScenarioReport, ScenarioError> {
    let mut report = ScenarioReport::new(file);
    if !start_case(host, file, &mut report)? {
        return Ok(report);
    }
    let mut plugin_failed = false;
    for (index, exchange) in file.scenario.exchanges.iter().enumerate() {
        let case = run_case(host, exchange, index, &mut plugin_failed)?;
        report.cases.push(case);
    }
    for (index, connection) in file.scenario.connections.iter().enumerate() {
        let case = run_case(host, connection, index, &mut plugin_failed)?;
        report.cases.push(case);
    }
    Ok(report)
}

/// Starts the plugin and checks the start; false when the scenario ends there (it expected the
/// configuration rejected, or the start failed).
fn start_case(
    host: &mut dyn ScenarioHost,
    file: &ScenarioFile,
    report: &mut ScenarioReport,
) -> Result<bool, ScenarioError> {
    let scenario = &file.scenario;
    let mut case = CaseReport::new("start");
    let started = match host.start(&file.setup) {
        Ok(Started::Rejected { error, .. }) if scenario.configure == Configure::Accepted => {
            Err(error)
        }
        other => other,
    };
    match (started, scenario.configure) {
        (Err(DriveError::Proxy(err)), _) => return Err(err),
        (Err(DriveError::Plugin(err)), _) => case.fail(failure_text(&err)),
        (Ok(Started::Accepted(logs)), Configure::Accepted) => {
            check::logs(&mut case, &logs, &scenario.start_logs, &[]);
            if !scenario.start_logs.is_empty() || !case.passed() {
                report.cases.push(case);
            }
            return Ok(true);
        }
        (Ok(Started::Accepted(logs)), Configure::Rejected) => {
            case.fail("expected the plugin to reject its configuration, but it accepted it".into());
            check::logs(&mut case, &logs, &scenario.start_logs, &[]);
        }
        (Ok(Started::Rejected { logs, .. }), _) => {
            check::logs(&mut case, &logs, &scenario.start_logs, &[]);
        }
    }
    report.cases.push(case);
    Ok(false)
}

/// An exchange or a connection: what the driver runs through a host and checks.
pub(super) trait Case {
    /// Why a case does not run after the plugin failed.
    const NOT_RUN: &'static str;

    /// The name reports use: the given one, else its position (and an exchange's request line).
    fn name(&self, index: usize) -> String;

    fn expect(&self) -> &Expect;

    /// Why `host` cannot run this case as written, when it cannot.
    fn unsupported(&self, host: &dyn ScenarioHost) -> Option<String>;

    /// Sends the case's traffic through the plugin.
    fn drive(&self, host: &mut dyn ScenarioHost) -> Result<CaseOutcome, DriveError>;
}

impl Case for Exchange {
    const NOT_RUN: &'static str = "not run: the plugin failed in an earlier exchange";

    fn name(&self, index: usize) -> String {
        self.name.clone().unwrap_or_else(|| {
            format!(
                "exchange {}: {} {}",
                index + 1,
                self.request.method,
                self.request.path
            )
        })
    }

    fn expect(&self) -> &Expect {
        &self.expect
    }

    fn unsupported(&self, host: &dyn ScenarioHost) -> Option<String> {
        host.unsupported_exchange(self)
    }

    fn drive(&self, host: &mut dyn ScenarioHost) -> Result<CaseOutcome, DriveError> {
        let advance = Duration::from_millis(self.advance_ms);
        host.prepare(call_answers(&self.http_calls), advance)?;
        let outcome = host.http(&self.request, &self.response)?;
        Ok(CaseOutcome::Http(Box::new(outcome)))
    }
}

impl Case for Connection {
    const NOT_RUN: &'static str = "not run: the plugin failed earlier";

    fn name(&self, index: usize) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("connection {}", index + 1))
    }

    fn expect(&self) -> &Expect {
        &self.expect
    }

    fn unsupported(&self, host: &dyn ScenarioHost) -> Option<String> {
        host.unsupported_connection(self)
    }

    fn drive(&self, host: &mut dyn ScenarioHost) -> Result<CaseOutcome, DriveError> {
        host.prepare(call_answers(&self.http_calls), Duration::ZERO)?;
        Ok(CaseOutcome::Connection(host.connection(&self.events)?))
    }
}

/// Runs one case and checks its outcome, or the plugin's failure against the one expected. A
/// proxy error ends the scenario.
fn run_case<C: Case>(
    host: &mut dyn ScenarioHost,
    spec: &C,
    index: usize,
    plugin_failed: &mut bool,
) -> Result<CaseReport, ScenarioError> {
    let mut case = CaseReport::new(&spec.name(index));
    let unsupported = spec.unsupported(host);
    if !runnable(&mut case, unsupported, *plugin_failed, C::NOT_RUN) {
        return Ok(case);
    }
    let calls_before = host.calls_made().len();
    let result = spec.drive(host);
    let metrics = host.metrics();
    let calls = host.calls_made();
    let calls = calls.get(calls_before..).unwrap_or_default();
    let expect = spec.expect();
    match result {
        Ok(outcome) => {
            check::outcome(&mut case, &outcome, calls, &metrics, expect);
            case.outcome = Some(outcome);
        }
        Err(DriveError::Plugin(err)) => {
            *plugin_failed = true;
            check::failure(&mut case, &err, expect.failure.as_ref());
        }
        Err(DriveError::Proxy(err)) => return Err(err),
    }
    if !case.passed() {
        check::refused_calls(&mut case, calls);
    }
    Ok(case)
}

/// Whether a case runs: not when the host cannot run it (skipped), nor after the plugin failed
/// (failed with `not_run`).
fn runnable(
    case: &mut CaseReport,
    unsupported: Option<String>,
    plugin_failed: bool,
    not_run: &str,
) -> bool {
    if let Some(why) = unsupported {
        case.skipped = Some(why);
        return false;
    }
    if plugin_failed {
        case.fail(not_run.into());
        return false;
    }
    true
}
