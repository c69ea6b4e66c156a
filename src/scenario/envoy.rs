//! Running a scenario file through a real Envoy (`wasmctl test --envoy`), with the same checks.

use std::path::Path;

use crate::host::envoy::{Envoy, EnvoyError, EnvoyListener};

use super::check::{self, CaseReport, ScenarioReport};
use super::run::{request, response, vm_options};
use super::{Configure, Scenario, ScenarioError};

/// Runs the scenario at `path` through Envoy (`binary`). What Envoy cannot be made to do here —
/// answer http_call from a script, advance time, HTTP/1.1 trailers, report metrics — is skipped
/// (and said so), not passed off as checked.
pub fn run_file_in_envoy(
    path: &Path,
    default_plugin: Option<&Path>,
    binary: &Path,
) -> Result<ScenarioReport, ScenarioError> {
    let scenario = Scenario::load(path)?;
    let plugin_path = match &scenario.plugin {
        Some(p) => super::relative_to(path, p),
        None => default_plugin
            .map(Path::to_path_buf)
            .ok_or_else(|| ScenarioError::NoPlugin(path.to_path_buf()))?,
    };
    // Envoy resolves the module relative to its own working directory.
    let wasm = std::fs::canonicalize(&plugin_path).map_err(|source| ScenarioError::Read {
        path: plugin_path.clone(),
        source,
    })?;
    let options = vm_options(&scenario, path)?;
    let mut report = ScenarioReport {
        path: path.to_path_buf(),
        name: scenario.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
        plugin: plugin_path,
        cases: Vec::new(),
    };
    let listener = EnvoyListener {
        wasm,
        plugin_config: options.plugin_config,
        vm_config: options.vm_config,
        env: options.env,
        network: !scenario.connections.is_empty(),
    };
    let mut envoy = match (Envoy::start(binary, &[listener]), scenario.configure) {
        (Ok(envoy), Configure::Accepted) => envoy,
        (Ok(_), Configure::Rejected) => {
            let mut case = CaseReport::new("start");
            case.fail("expected the plugin to reject its configuration, but Envoy started".into());
            report.cases.push(case);
            return Ok(report);
        }
        // Envoy refuses to start with a plugin that rejects its configuration; the plugin's own
        // log says it was the plugin.
        (Err(EnvoyError::Exited { logs, .. }), Configure::Rejected) => {
            let mut case = CaseReport::new("start");
            check::logs(&mut case, &logs, &scenario.start_logs, &[]);
            report.cases.push(case);
            return Ok(report);
        }
        (Err(err), _) => return Err(err.into()),
    };
    if !scenario.start_logs.is_empty() {
        let mut case = CaseReport::new("start");
        check::logs(&mut case, envoy.start_logs(), &scenario.start_logs, &[]);
        report.cases.push(case);
    }
    for (i, exchange) in scenario.exchanges.iter().enumerate() {
        let name = exchange.display_name(i);
        let mut case = CaseReport::new(&name);
        let skip = if !exchange.http_calls.is_empty() {
            Some("scripted http_calls")
        } else if exchange.advance_ms > 0 {
            Some("simulated time")
        } else if !exchange.request.trailers.is_empty() {
            Some("request trailers")
        } else if exchange.expect.failure.is_some() {
            Some("an expected plugin failure")
        } else {
            None
        };
        if let Some(what) = skip {
            case.skipped = Some(format!("Envoy cannot be given {what} here"));
            report.cases.push(case);
            continue;
        }
        let outcome = envoy.http(
            0,
            &request(&exchange.request),
            &response(&exchange.response),
        )?;
        let mut expect = exchange.expect.clone();
        expect.metrics.clear();
        check::exchange(&mut case, &outcome, &[], &expect);
        case.outcome = serde_json::to_value(&outcome).ok();
        report.cases.push(case);
    }
    for (i, connection) in scenario.connections.iter().enumerate() {
        let name = connection
            .name
            .clone()
            .unwrap_or_else(|| format!("connection {}", i + 1));
        let mut case = CaseReport::new(&name);
        if connection.expect.failure.is_some() {
            case.skipped = Some("Envoy cannot be given an expected plugin failure here".into());
            report.cases.push(case);
            continue;
        }
        let events: Vec<_> = connection.events.iter().map(super::run::event).collect();
        let outcome = envoy.connection(0, &events)?;
        let mut expect = connection.expect.clone();
        expect.metrics.clear();
        check::connection(&mut case, &outcome, &[], &expect);
        case.outcome = serde_json::to_value(&outcome).ok();
        report.cases.push(case);
    }
    Ok(report)
}
