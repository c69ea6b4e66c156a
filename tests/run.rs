//! `wasmctl run`: a real plugin, built from the default template, through the built-in host.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use support::{new_project, run_err, run_ok, tempdir, wasmctl, wat_plugin};

/// One `demo` project from the default template, built once for every test in this file.
fn demo() -> &'static Path {
    static DEMO: OnceLock<PathBuf> = OnceLock::new();
    DEMO.get_or_init(|| {
        let dir = tempdir().keep();
        let project = new_project(&dir, "demo", &[]);
        run_ok(wasmctl(&project).arg("build"));
        project
    })
}

fn wasm() -> PathBuf {
    let r = run_ok(wasmctl(demo()).args(["build", "-q"]));
    PathBuf::from(r.stdout.trim())
}

#[test]
fn run_shows_the_configured_response_header() {
    let r = run_ok(wasmctl(demo()).args(["run", "--config", "config.yaml"]));
    assert!(
        r.stdout.contains("request (as forwarded upstream):"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("response: 200"), "{}", r.stdout);
    assert!(r.stdout.contains("  x-greeting: hello"), "{}", r.stdout);
    assert!(
        r.stdout.contains("adding 1 header(s) to every response"),
        "{}",
        r.stdout
    );
    // Status goes to stderr, the result alone to stdout.
    assert!(r.stderr.contains("Ran"), "{}", r.stderr);
    assert!(!r.stdout.contains("Ran"));
}

#[test]
fn run_uses_the_project_config_by_default() {
    let r = run_ok(wasmctl(demo()).arg("run"));
    assert!(r.stdout.contains("  x-greeting: hello"), "{}", r.stdout);
}

#[test]
fn run_json_has_request_response_and_logs() {
    let r = run_ok(wasmctl(demo()).args([
        "run",
        "--json",
        "--env",
        "TRUST_DOMAIN=cluster.local",
        "--request",
        "POST /orders?id=1",
        "-H",
        "Content-Type: application/json",
        "-H",
        "host: shop.example",
        "--body",
        "{}",
        "--response-status",
        "201",
        "--response-header",
        "location: /orders/1",
        "--response-body",
        "created",
    ]));
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("stdout is JSON");
    let has = |headers: &serde_json::Value, name: &str, value: &str| {
        headers
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h[0] == name && h[1] == value)
    };
    let upstream = &v["upstream"]["headers"];
    assert!(has(upstream, ":method", "POST"), "{upstream}");
    assert!(has(upstream, ":path", "/orders?id=1"), "{upstream}");
    assert!(has(upstream, ":authority", "shop.example"), "{upstream}");
    assert!(
        has(upstream, "content-type", "application/json"),
        "{upstream}"
    );
    assert_eq!(v["upstream"]["body"], "{}");
    let response = &v["response"];
    assert_eq!(response["status"], 201);
    assert!(has(&response["headers"], "x-greeting", "hello"));
    assert!(has(&response["headers"], "x-trust-domain", "cluster.local"));
    assert!(has(&response["headers"], "location", "/orders/1"));
    assert_eq!(response["body"], "created");
    assert_eq!(v["local_reply"], serde_json::Value::Null);
    assert_eq!(v["start_logs"][0]["level"], "info");
    assert_eq!(v["start_logs"][0]["callback"], "proxy_on_configure");
}

#[test]
fn run_a_module_by_path_outside_the_project() {
    let wasm = wasm();
    let elsewhere = tempdir();
    std::fs::write(
        elsewhere.path().join("plugin.json"),
        r#"{"headers": {"x-from-json": "yes"}}"#,
    )
    .unwrap();
    let r = run_ok(
        wasmctl(elsewhere.path())
            .arg("run")
            .arg(&wasm)
            .args(["--config", "plugin.json"]),
    );
    assert!(r.stdout.contains("  x-from-json: yes"), "{}", r.stdout);
}

#[test]
fn a_rejected_config_is_an_error_with_the_plugin_s_reason() {
    let dir = tempdir();
    std::fs::write(dir.path().join("bad.yaml"), "headers:\n  x-a: [1]\n").unwrap();
    let r = run_err(
        wasmctl(demo())
            .arg("run")
            .arg("--config")
            .arg(dir.path().join("bad.yaml")),
    );
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains(
            "error: the plugin rejected its pluginConfig (proxy_on_configure returned false)"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(
            "hint: the plugin logged: invalid pluginConfig: headers.x-a must be a string"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn a_header_map_envoy_no_longer_gives_names_the_rule_when_the_plugin_fails() {
    let dir = tempdir();
    wat_plugin(
        dir.path(),
        "late.wasm",
        include_str!("support/late-header.wat"),
    );
    let r = run_err(wasmctl(dir.path()).args(["run", "late.wasm", "--config", "/dev/null"]));
    assert!(
        r.stderr
            .contains("error: the plugin failed in proxy_on_response_headers"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(
            "hint: Envoy refuses proxy_get_header_map_value on the request headers in \
             proxy_on_response_headers (BadArgument): a plugin has the request headers from \
             proxy_on_request_headers until it lets them go on"
        ),
        "{}",
        r.stderr
    );
    // In Envoy the plugin fails the same way, and run says so rather than showing Envoy's 503.
    let mut cmd = wasmctl(dir.path());
    let r = run_err(cmd.args(["run", "late.wasm", "--config", "/dev/null", "--envoy"]));
    assert!(
        r.stderr.contains(
            "error: the plugin failed in proxy_on_response_headers: Uncaught RuntimeError: unreachable"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_flags_and_files_are_one_line_errors() {
    let r = run_err(wasmctl(demo()).args(["run", "--request", "GET"]));
    assert!(
        r.stderr.contains("error: --request must be `METHOD PATH`"),
        "{}",
        r.stderr
    );
    // What Envoy would answer itself, never showing the plugin, is refused with the reason.
    for (args, message) in [
        (
            &["--request", "GET orders"][..],
            "error: invalid request: path `orders` does not start with `/`: Envoy answers 400",
        ),
        (
            &["--request", "G{T /"][..],
            "error: invalid request: method \"G{T\" is not an HTTP token: Envoy answers 400",
        ),
        (
            &["-H", "host: a b"][..],
            "error: invalid request: authority \"a b\" is not a host[:port]: Envoy answers 400",
        ),
        (
            &["--response-status", "204", "--response-body", "x"][..],
            "error: invalid upstream response: a 204 response has no body",
        ),
        (
            &[
                "--response-header",
                "content-length: 9",
                "--response-body",
                "x",
            ][..],
            "error: invalid upstream response: content-length says `9` but the body is 1 byte",
        ),
    ] {
        let r = run_err(wasmctl(demo()).arg("run").args(args));
        assert_eq!(r.code, Some(2), "{}", r.stderr);
        assert!(r.stderr.contains(message), "{}", r.stderr);
    }
    let r = run_err(wasmctl(demo()).args(["run", "--env", "NOVALUE"]));
    assert!(
        r.stderr.contains("error: --env takes `NAME=VALUE`"),
        "{}",
        r.stderr
    );
    let dir = tempdir();
    std::fs::write(dir.path().join("x.wasm"), b"not wasm").unwrap();
    let r = run_err(wasmctl(dir.path()).args(["run", "x.wasm", "--config", "/dev/null"]));
    assert!(
        r.stderr.contains(
            "error: `x.wasm`: not a wasm module: the file does not start with the wasm magic bytes"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn run_before_build_says_to_build() {
    let dir = tempdir();
    let project = new_project(dir.path(), "fresh", &[]);
    let r = run_err(wasmctl(&project).arg("run"));
    assert!(
        r.stderr
            .contains("error: project `fresh` has not been built yet"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("hint: run `wasmctl build` first"),
        "{}",
        r.stderr
    );
}

#[test]
fn run_a_network_plugin_counts_bytes() {
    let dir = tempdir();
    let project = new_project(dir.path(), "tcp", &["--template", "network"]);
    run_ok(wasmctl(&project).arg("build"));
    let r = run_ok(wasmctl(&project).args(["run", "--body", "ping", "--response-body", "pong!"]));
    assert!(r.stdout.contains(r#"to upstream: "ping""#), "{}", r.stdout);
    assert!(r.stdout.contains(r#"to client: "pong!""#), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("tcp: connection 2: 4 bytes from downstream, 5 bytes from upstream"),
        "{}",
        r.stdout
    );
}

/// `wasmctl run` on the callout plugin (in `dir`), with `extra` arguments.
fn run_callout(dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = wasmctl(dir);
    cmd.args(["run", "callout.wasm", "--config", "/dev/null"])
        .args(extra);
    cmd
}

/// The callout plugin asked `authz`, and the request went on upstream.
fn asked_authz_then_went_on(r: &support::Run) {
    assert!(
        r.stdout.contains("http_call to `authz`: GET /check"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("request (as forwarded upstream):"),
        "{}",
        r.stdout
    );
}

#[test]
fn call_responses_answer_the_plugin_s_http_calls() {
    let dir = support::with_callout_module();
    let run = |extra: &[&str]| run_callout(dir.path(), extra);
    let r = run_ok(&mut run(&["--call-response", "200:ok"]));
    asked_authz_then_went_on(&r);
    let r = run_ok(&mut run(&["--call-response", "503"]));
    assert!(
        r.stdout
            .contains("local reply: 403 from proxy_on_http_call_response"),
        "{}",
        r.stdout
    );
    // With no answer at all, the proxy has no cluster `authz`: the call is refused, as Envoy
    // refuses it, and this plugin then holds the request.
    let r = run_ok(&mut run(&[]));
    assert!(
        r.stdout
            .contains("http_call to `authz`: GET /check (refused: no such cluster)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("stalled: "), "{}", r.stdout);
    assert!(
        r.stderr.contains(
            "warning: the plugin's calls to upstream `authz` were refused, as Envoy refuses a \
             call to a cluster it lacks: no --call-response names it (`authz=STATUS[:BODY]`)"
        ),
        "{}",
        r.stderr
    );
    // An answer for another upstream leaves `authz` as absent.
    let r = run_ok(&mut run(&["--call-response", "other=200"]));
    assert!(
        r.stdout.contains("(refused: no such cluster)"),
        "{}",
        r.stdout
    );
    let r = run_err(&mut run(&["--call-response", "ok"]));
    assert!(
        r.stderr
            .contains("error: --call-response takes `STATUS` or `STATUS:BODY`"),
        "{}",
        r.stderr
    );
    let r = run_err(&mut run(&["--call-response", "=200"]));
    assert!(
        r.stderr
            .contains("error: --call-response `=200` names no upstream before `=`"),
        "{}",
        r.stderr
    );
}

#[test]
fn call_responses_that_name_their_upstream_answer_in_envoy_too() {
    let dir = support::with_callout_module();
    let run = |answer: &str| run_callout(dir.path(), &["--envoy", "--call-response", answer]);
    // Envoy gets a cluster `authz` that answers from the script.
    let r = run_ok(&mut run("authz=200:ok"));
    asked_authz_then_went_on(&r);
    let r = run_ok(&mut run("authz=503"));
    assert!(r.stdout.contains("local reply: 403"), "{}", r.stdout);
    assert!(!r.stderr.contains("not used"), "{}", r.stderr);
}

#[test]
fn a_call_response_body_may_come_from_a_file() {
    // A grpc_call's answer is a message in bytes: `@FILE` gives it, in both hosts.
    let dir = tempdir();
    wat_plugin(
        dir.path(),
        "grpc-call.wasm",
        include_str!("support/grpc-call.wat"),
    );
    std::fs::write(dir.path().join("message.bin"), b"pong").unwrap();
    for envoy in [false, true] {
        let mut cmd = wasmctl(dir.path());
        cmd.args(["run", "grpc-call.wasm", "--config", "/dev/null"])
            .args(envoy.then_some("--envoy"))
            .args(["--call-response", "authz=200:@message.bin"]);
        let r = run_ok(&mut cmd);
        assert!(
            r.stdout.contains("message pong"),
            "envoy: {envoy}\n{}",
            r.stdout
        );
    }
}

#[test]
fn a_body_its_length_no_longer_fits_is_read_as_in_envoy() {
    // An HTTP/1 peer reads what `content-length` says: one cut short leaves it waiting (Envoy
    // answers only after its route timeout), and one grown is read no further than the length.
    let dir = tempdir();
    wat_plugin(
        dir.path(),
        "body-length.wasm",
        include_str!("support/body-length.wat"),
    );
    for envoy in [false, true] {
        let run = |path: &str| {
            let mut cmd = wasmctl(dir.path());
            cmd.args(["run", "body-length.wasm", "--config", "/dev/null"])
                .args(envoy.then_some("--envoy"))
                .args(["--request", &format!("POST {path}"), "--body", "hello"])
                .args(["--response-body", "hello"]);
            run_ok(&mut cmd)
        };
        for shorter in ["/rs", "/ps"] {
            let r = run(shorter);
            let said = |start: &str| r.stdout.lines().any(|line| line.starts_with(start));
            assert!(said("stalled: "), "envoy: {envoy}\n{}", r.stdout);
            assert!(!said("response: "), "envoy: {envoy}\n{}", r.stdout);
        }
        for longer in ["/rl", "/pl"] {
            let r = run(longer);
            let read = "  body: \"hello\"\nresponse: 200\n";
            assert!(r.stdout.contains(read), "envoy: {envoy}\n{}", r.stdout);
            assert!(
                r.stdout.ends_with("  body: \"hello\"\n"),
                "envoy: {envoy}\n{}",
                r.stdout
            );
        }
    }
}

#[test]
fn a_held_body_over_envoy_s_buffer_limit_ends_as_in_envoy() {
    // Envoy holds up to 1 MiB of a body for a plugin: a request over it gets Envoy's 413, and a
    // response over it, once begun, is reset.
    let dir = tempdir();
    wat_plugin(
        dir.path(),
        "body-hold.wasm",
        include_str!("support/body-hold.wat"),
    );
    std::fs::write(dir.path().join("big.txt"), vec![b'a'; 1_100_000]).unwrap();
    std::fs::write(dir.path().join("small.txt"), vec![b'a'; 900_000]).unwrap();
    for envoy in [false, true] {
        let run = |body: &[&str]| {
            let mut cmd = wasmctl(dir.path());
            cmd.args(["run", "body-hold.wasm", "--config", "/dev/null"])
                .args(envoy.then_some("--envoy"))
                .args(body);
            run_ok(&mut cmd)
        };
        let r = run(&["--request", "POST /", "--body", "@big.txt"]);
        assert!(
            r.stdout.contains("response: 413\n") && r.stdout.contains("Payload Too Large"),
            "envoy: {envoy}\n{}",
            r.stdout
        );
        assert!(
            !r.stdout.contains("request (as forwarded"),
            "envoy: {envoy}\n{}",
            r.stdout
        );
        let r = run(&["--response-body", "@big.txt"]);
        let said = |start: &str| r.stdout.lines().any(|line| line.starts_with(start));
        assert!(
            said("stalled: ") && !said("response: "),
            "envoy: {envoy}\n{}",
            r.stdout
        );
        let r = run(&["--request", "POST /", "--body", "@small.txt"]);
        assert!(
            r.stdout.contains("response: 200\n"),
            "envoy: {envoy}\n{}",
            r.stdout
        );
    }
}

#[test]
fn run_in_envoy_shows_the_same_header() {
    let r = run_ok(wasmctl(demo()).args(["run", "--envoy", "--json", "--env", "TRUST_DOMAIN=td"]));
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("stdout is JSON");
    let headers = v["response"]["headers"].as_array().unwrap();
    let value = |name: &str| headers.iter().find(|h| h[0] == name).map(|h| h[1].clone());
    assert_eq!(value("x-greeting"), Some("hello".into()), "{v}");
    assert_eq!(value("x-trust-domain"), Some("td".into()), "{v}");
    // As the client got it, with Envoy's own header.
    assert_eq!(value("server"), Some("envoy".into()), "{v}");
    assert!(
        v["start_logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["message"] == "adding 2 header(s) to every response"),
        "{v}"
    );
}

#[test]
fn config_raw_sends_the_file_s_bytes_as_they_are() {
    let dir = tempdir();
    // JSON is what the plugin parses: as is, it arrives as sent.
    std::fs::write(
        dir.path().join("raw.json"),
        r#"{"headers": {"x-raw": "as sent"}}"#,
    )
    .unwrap();
    let r = run_ok(
        wasmctl(demo())
            .arg("run")
            .arg("--config-raw")
            .arg(dir.path().join("raw.json")),
    );
    assert!(r.stdout.contains("  x-raw: as sent"), "{}", r.stdout);
    // YAML is converted to JSON by --config, but not by --config-raw: the plugin gets YAML text
    // and refuses it.
    std::fs::write(dir.path().join("c.yaml"), "headers:\n  x-yaml: converted\n").unwrap();
    let r = run_ok(
        wasmctl(demo())
            .arg("run")
            .arg("--config")
            .arg(dir.path().join("c.yaml")),
    );
    assert!(r.stdout.contains("  x-yaml: converted"), "{}", r.stdout);
    let r = run_err(
        wasmctl(demo())
            .arg("run")
            .arg("--config-raw")
            .arg(dir.path().join("c.yaml")),
    );
    assert!(
        r.stderr.contains(
            "error: the plugin rejected its pluginConfig (proxy_on_configure returned false)"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn call_responses_the_plugin_never_used_are_warned_about() {
    let dir = support::with_callout_module();
    let r = run_ok(&mut run_callout(
        dir.path(),
        &["--call-response", "200", "--call-response", "503"],
    ));
    assert!(
        r.stderr.contains(
            "warning: 1 of 2 --call-response answer(s) not used: the plugin made 1 call(s)"
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("warning"), "{}", r.stdout);
    // All used: no warning.
    let r = run_ok(&mut run_callout(dir.path(), &["--call-response", "200"]));
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    // A plugin that makes no call uses none.
    let r = run_ok(wasmctl(demo()).args(["run", "--call-response", "200:ok"]));
    assert!(
        r.stderr.contains(
            "warning: 1 of 1 --call-response answer(s) not used: the plugin made 0 call(s)"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn headers_and_statuses_no_proxy_would_send_are_refused_before_the_plugin_runs() {
    let project = demo();
    let before = support::entries(project);
    for (args, error) in [
        (
            &["-H", "x a: b"][..],
            "error: invalid -H `x a: b`: header name `x a` has a space in it",
        ),
        (
            &["-H", ":method: POST"],
            "error: invalid -H `:method: POST`: `:method` is a pseudo-header; set the request line with --request 'METHOD PATH'",
        ),
        (
            &["-H", "x-a: b\r\nx-injected: 1"],
            "the value of header `x-a` has a line break (CR or LF)",
        ),
        (
            &["--response-status", "99"],
            "error: invalid --response-status `99`: status 99 is outside 100-599",
        ),
    ] {
        let r = run_err(wasmctl(project).arg("run").args(args));
        assert_eq!(r.code, Some(2), "{args:?}");
        assert!(r.stderr.contains(error), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
    assert_eq!(support::entries(project), before);
    // What a proxy does send still goes through, trimmed as a proxy trims it.
    let r = run_ok(wasmctl(project).args([
        "run",
        "--json",
        "-H",
        "X-Trace:   abc  ",
        "--response-status",
        "599",
    ]));
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let upstream = v["upstream"]["headers"].as_array().unwrap();
    assert!(
        upstream.iter().any(|h| h[0] == "x-trace" && h[1] == "abc"),
        "{v}"
    );
    assert_eq!(v["response"]["status"], 599);
}
