//! Running a scenario file in the built-in host.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::host::{
    CallAnswer, CallResponse, HeaderMap, HostError, NetworkEvent, Plugin, Request, Response, Vm,
    VmOptions,
};

use super::check::{self, CaseReport, ScenarioReport};
use super::{
    CallSpec, Configure, EventSpec, RequestSpec, ResponseSpec, Scenario, ScenarioError, Side,
};

/// Compiled plugins by path, so scenarios sharing a module compile it once.
#[derive(Default)]
pub struct PluginCache {
    plugins: HashMap<PathBuf, Plugin>,
}

impl PluginCache {
    pub fn get(&mut self, path: &Path) -> Result<&Plugin, ScenarioError> {
        if !self.plugins.contains_key(path) {
            let plugin = Plugin::from_file(path).map_err(|source| ScenarioError::Plugin {
                path: path.to_path_buf(),
                source,
            })?;
            self.plugins.insert(path.to_path_buf(), plugin);
        }
        Ok(&self.plugins[path])
    }
}

/// Runs every exchange and connection of the scenario at `path` and checks its expectations.
/// `default_plugin` is used when the scenario names none.
pub fn run_file(
    path: &Path,
    default_plugin: Option<&Path>,
    cache: &mut PluginCache,
) -> Result<ScenarioReport, ScenarioError> {
    let scenario = Scenario::load(path)?;
    let plugin_path = match &scenario.plugin {
        Some(p) => super::relative_to(path, p),
        None => default_plugin
            .map(Path::to_path_buf)
            .ok_or_else(|| ScenarioError::NoPlugin(path.to_path_buf()))?,
    };
    let options = vm_options(&scenario, path)?;
    let plugin = cache.get(&plugin_path)?;
    let name = scenario.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let mut report = ScenarioReport {
        path: path.to_path_buf(),
        name,
        plugin: plugin_path,
        cases: Vec::new(),
    };

    let mut vm = match (Vm::start(plugin, options), scenario.configure) {
        (Ok(vm), Configure::Accepted) => {
            let mut case = CaseReport::new("start");
            check::logs(&mut case, vm.logs(), &scenario.start_logs, &[]);
            if !scenario.start_logs.is_empty() || !case.passed() {
                report.cases.push(case);
            }
            vm
        }
        (Ok(vm), Configure::Rejected) => {
            let mut case = CaseReport::new("start");
            case.fail("expected the plugin to reject its configuration, but it accepted it".into());
            check::logs(&mut case, vm.logs(), &scenario.start_logs, &[]);
            report.cases.push(case);
            return Ok(report);
        }
        (Err(err @ HostError::ConfigureRejected { .. }), Configure::Rejected) => {
            let mut case = CaseReport::new("start");
            check::logs(&mut case, err.logs(), &scenario.start_logs, &[]);
            report.cases.push(case);
            return Ok(report);
        }
        (Err(err), _) => {
            let mut case = CaseReport::new("start");
            case.fail(failure_text(&err));
            report.cases.push(case);
            return Ok(report);
        }
    };

    let mut dead = false;
    for (i, exchange) in scenario.exchanges.iter().enumerate() {
        let name = exchange.display_name(i);
        let mut case = CaseReport::new(&name);
        if dead {
            case.fail("not run: the plugin failed in an earlier exchange".into());
            report.cases.push(case);
            continue;
        }
        vm.script_answers(exchange.http_calls.iter().map(http_call));
        let result = advance(&mut vm, exchange.advance_ms)
            .and_then(|()| vm.http(&request(&exchange.request), &response(&exchange.response)));
        match result {
            Ok(outcome) => {
                check::exchange(&mut case, &outcome, &vm.metrics(), &exchange.expect);
                case.outcome = serde_json::to_value(&outcome).ok();
            }
            Err(err) => {
                dead = true;
                check::failure(&mut case, &err, exchange.expect.failure.as_ref());
            }
        }
        report.cases.push(case);
    }
    for (i, connection) in scenario.connections.iter().enumerate() {
        let name = connection
            .name
            .clone()
            .unwrap_or_else(|| format!("connection {}", i + 1));
        let mut case = CaseReport::new(&name);
        if dead {
            case.fail("not run: the plugin failed earlier".into());
            report.cases.push(case);
            continue;
        }
        let events: Vec<NetworkEvent> = connection.events.iter().map(event).collect();
        match vm.connection(&events) {
            Ok(outcome) => {
                check::connection(&mut case, &outcome, &vm.metrics(), &connection.expect);
                case.outcome = serde_json::to_value(&outcome).ok();
            }
            Err(err) => {
                dead = true;
                check::failure(&mut case, &err, connection.expect.failure.as_ref());
            }
        }
        report.cases.push(case);
    }
    Ok(report)
}

fn advance(vm: &mut Vm, ms: u64) -> Result<(), HostError> {
    if ms > 0 {
        vm.advance(Duration::from_millis(ms))?;
    }
    Ok(())
}

/// The error text with the plugin's last error log, as the report shows it.
pub(crate) fn failure_text(err: &HostError) -> String {
    use crate::diagnostic::Hint;
    let mut text = err.to_string();
    for hint in err.hints() {
        text.push_str("\n  ");
        text.push_str(&hint);
    }
    text
}

/// The VM options a scenario describes.
pub fn vm_options(scenario: &Scenario, path: &Path) -> Result<VmOptions, ScenarioError> {
    Ok(VmOptions {
        plugin_config: scenario.plugin_config(path)?,
        vm_config: scenario.vm_config.clone().unwrap_or_default().into_bytes(),
        env: scenario
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        properties: scenario
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        call_answers: scenario.http_calls.iter().map(http_call).collect(),
        ..VmOptions::default()
    })
}

pub fn request(spec: &RequestSpec) -> Request {
    Request {
        method: spec.method.clone(),
        path: spec.path.clone(),
        authority: spec.authority.clone(),
        scheme: "http".into(),
        headers: pairs(&spec.headers),
        body: spec.body.clone().into_bytes(),
        trailers: pairs(&spec.trailers),
    }
}

pub fn response(spec: &ResponseSpec) -> Response {
    Response {
        status: spec.status,
        headers: pairs(&spec.headers),
        body: spec.body.clone().into_bytes(),
        trailers: pairs(&spec.trailers),
    }
}

fn pairs(headers: &super::Headers) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The host's form of a scripted answer.
pub fn http_call(spec: &CallSpec) -> CallAnswer {
    let mut headers = HeaderMap::new();
    headers.add(":status", &spec.status.to_string());
    for (k, v) in &spec.headers {
        headers.add(k, v);
    }
    CallAnswer {
        upstream: spec.upstream.clone(),
        response: CallResponse {
            headers,
            body: spec.body.clone().into_bytes(),
            trailers: HeaderMap::new(),
            grpc_status: spec.grpc_status,
            grpc_message: String::new(),
        },
    }
}

pub(crate) fn event(spec: &EventSpec) -> NetworkEvent {
    if let Some(data) = &spec.downstream {
        NetworkEvent::Downstream(data.clone().into_bytes())
    } else if let Some(data) = &spec.upstream {
        NetworkEvent::Upstream(data.clone().into_bytes())
    } else if spec.close == Some(Side::Upstream) {
        NetworkEvent::CloseUpstream
    } else {
        NetworkEvent::CloseDownstream
    }
}
