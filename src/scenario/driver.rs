//! The one driver of a plugin through a scenario. The built-in host and a real Envoy both
//! implement [`ScenarioHost`]; [`run_scenario`] walks a scenario file through either and checks
//! every case the same way.

use std::time::Duration;

use super::check::{self, failure_text};
use super::error::ScenarioError;
use super::expect::Matcher;
use super::load::{PluginSetup, ScenarioFile};
use super::report::{CaseOutcome, CaseReport, ScenarioReport};
use super::spec::{Configure, Connection, Exchange};
use crate::host::{
    CallAnswer, CallRecord, HostError, HttpOutcome, LogRecord, Metric, NetworkEvent,
    NetworkOutcome, Request, Response,
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

    /// The plugin's metrics now; `None` where the host cannot read them.
    fn metrics(&self) -> Option<Vec<Metric>>;

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
        let case = exchange_case(host, exchange, index, &mut plugin_failed)?;
        report.cases.push(case);
    }
    for (index, connection) in file.scenario.connections.iter().enumerate() {
        let case = connection_case(host, connection, index, &mut plugin_failed)?;
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

fn exchange_case(
    host: &mut dyn ScenarioHost,
    exchange: &Exchange,
    index: usize,
    plugin_failed: &mut bool,
) -> Result<CaseReport, ScenarioError> {
    let mut case = CaseReport::new(&exchange.display_name(index));
    let unsupported = host.unsupported_exchange(exchange);
    let earlier = "not run: the plugin failed in an earlier exchange";
    if !runnable(&mut case, unsupported, *plugin_failed, earlier) {
        return Ok(case);
    }
    let calls = exchange
        .http_calls
        .iter()
        .map(|c| c.to_call_answer())
        .collect();
    let advance = Duration::from_millis(exchange.advance_ms);
    let result = host.prepare(calls, advance).and_then(|()| {
        host.http(
            &exchange.request.to_request(),
            &exchange.response.to_response(),
        )
    });
    let metrics = host.metrics();
    check_step(
        &mut case,
        result,
        exchange.expect.failure.as_ref(),
        plugin_failed,
        |case, outcome| {
            check::exchange(case, &outcome, metrics.as_deref(), &exchange.expect);
            case.outcome = Some(CaseOutcome::Http(Box::new(outcome)));
        },
    )?;
    Ok(case)
}

fn connection_case(
    host: &mut dyn ScenarioHost,
    connection: &Connection,
    index: usize,
    plugin_failed: &mut bool,
) -> Result<CaseReport, ScenarioError> {
    let mut case = CaseReport::new(&connection.display_name(index));
    let unsupported = host.unsupported_connection(connection);
    let earlier = "not run: the plugin failed earlier";
    if !runnable(&mut case, unsupported, *plugin_failed, earlier) {
        return Ok(case);
    }
    let events: Vec<NetworkEvent> = connection.events.iter().map(|e| e.to_event()).collect();
    let result = host.connection(&events);
    let metrics = host.metrics();
    let expected_failure = connection.expect.failure.as_ref();
    check_step(
        &mut case,
        result,
        expected_failure,
        plugin_failed,
        |case, outcome| {
            check::connection(case, &outcome, metrics.as_deref(), &connection.expect);
            case.outcome = Some(CaseOutcome::Connection(outcome));
        },
    )?;
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

/// Checks what a step gave: its outcome with `check_outcome`, or the plugin's failure against the
/// one expected. A proxy error ends the scenario.
fn check_step<T>(
    case: &mut CaseReport,
    result: Result<T, DriveError>,
    expected_failure: Option<&Matcher>,
    plugin_failed: &mut bool,
    check_outcome: impl FnOnce(&mut CaseReport, T),
) -> Result<(), ScenarioError> {
    match result {
        Ok(outcome) => check_outcome(case, outcome),
        Err(DriveError::Plugin(err)) => {
            *plugin_failed = true;
            check::failure(case, &err, expected_failure);
        }
        Err(DriveError::Proxy(err)) => return Err(err),
    }
    Ok(())
}
