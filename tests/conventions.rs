//! What users of kubectl, cargo and docker expect of any command line: completions, man pages,
//! `--version`, colors that follow `--color`/NO_COLOR/the terminal, enum values in any case, the
//! exit codes, registry output that says where and what, and bad input refused at the door.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::registry::{FlakyProxy, Registry, free_port};
use support::{entries, run, run_err, run_ok, tempdir, wasmctl};

fn first_error_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default()
}

/// `wasmctl` without the test environment's NO_COLOR, for the color tests.
fn wasmctl_colorable(dir: &Path) -> Command {
    let mut cmd = wasmctl(dir);
    cmd.env_remove("NO_COLOR");
    cmd
}

/// Runs the binary with `args` under a pseudo-terminal (util-linux `script`), so stdout and
/// stderr are terminals; returns everything it wrote.
fn on_a_terminal(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let bin = assert_cmd::cargo::cargo_bin("wasmctl");
    let line = std::iter::once(bin.to_str().unwrap())
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .env("TERM", "xterm");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd).stdout
}

#[test]
fn completions_for_every_shell() {
    let dir = tempdir();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = run_ok(wasmctl(dir.path()).args(["completions", shell]));
        assert!(r.stdout.contains("wasmctl"), "{shell}: {}", r.stdout);
        for sub in ["push", "manifest", "completions"] {
            assert!(r.stdout.contains(sub), "{shell} lacks {sub}");
        }
        assert!(r.stderr.is_empty(), "{shell}: {}", r.stderr);
    }
    // bash loads the script and registers the completion.
    let r = run_ok(wasmctl(dir.path()).args(["completions", "BASH"]));
    std::fs::write(dir.path().join("wasmctl.bash"), &r.stdout).unwrap();
    let out = run_ok(
        Command::new("bash")
            .args(["-c", "source ./wasmctl.bash && complete -p wasmctl"])
            .current_dir(dir.path()),
    );
    assert!(out.stdout.contains("wasmctl"), "{}", out.stdout);
}

#[test]
fn man_pages_print_or_go_into_a_directory() {
    let dir = tempdir();
    let r = run_ok(wasmctl(dir.path()).arg("man"));
    assert!(r.stdout.contains(".TH wasmctl 1"), "{}", r.stdout);
    assert!(r.stdout.contains("completions"), "{}", r.stdout);
    assert!(entries(dir.path()).is_empty());

    let man = dir.path().join("man1");
    let r = run_ok(wasmctl(dir.path()).arg("man").arg(&man));
    assert_eq!(r.stdout.trim(), man.display().to_string());
    let pages = entries(&man);
    for page in [
        "wasmctl.1",
        "wasmctl-run.1",
        "wasmctl-push.1",
        "wasmctl-test.1",
    ] {
        assert!(pages.contains(&page.to_string()), "{pages:?}");
    }
    let run_page = std::fs::read_to_string(man.join("wasmctl-run.1")).unwrap();
    assert!(run_page.contains(".TH wasmctl-run 1"), "{run_page}");
    assert!(run_page.contains("config\\-raw"), "{run_page}");
}

#[test]
fn version_names_the_abis_istio_and_wasmtime() {
    let dir = tempdir();
    let r = run_ok(wasmctl(dir.path()).arg("--version"));
    let lock = include_str!("../Cargo.lock");
    let wasmtime = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"wasmtime\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .unwrap()
        .trim_end_matches('"');
    assert!(
        r.stdout
            .starts_with(concat!("wasmctl ", env!("CARGO_PKG_VERSION"), "\n")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("proxy-wasm ABI: 0.2.1, 0.2.0, 0.1.0"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("Istio rules: 1.30 to 1.32"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("wasmtime: {wasmtime}")),
        "{}",
        r.stdout
    );
    let short = run_ok(wasmctl(dir.path()).arg("-V"));
    assert_eq!(
        short.stdout.trim(),
        concat!("wasmctl ", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn no_ansi_escapes_when_stderr_is_not_a_terminal_debug_logs_included() {
    let dir = support::with_callout_module();
    let port = free_port();
    let reference = format!("127.0.0.1:{port}/team/gone:v1");
    // -vv turns on debug logs (the credential lookup logs at debug); stderr is a pipe here.
    let r = run_err(wasmctl_colorable(dir.path()).args(["-vv", "verify", &reference]));
    assert!(r.stderr.contains("DEBUG"), "{}", r.stderr);
    assert!(!r.stderr.contains('\u{1b}'), "{:?}", r.stderr);
    // `--color always` is the one way to get them on a pipe: the check above can fail.
    let r = run_err(
        wasmctl_colorable(dir.path()).args(["-vv", "--color", "always", "verify", &reference]),
    );
    assert!(r.stderr.contains('\u{1b}'), "{:?}", r.stderr);
}

#[test]
fn on_a_terminal_color_follows_the_flag_and_no_color() {
    let dir = tempdir();
    let missing = ["test", "missing.yaml"];
    let colored = on_a_terminal(dir.path(), &[], &missing);
    assert!(colored.contains("error"), "{colored:?}");
    assert!(colored.contains('\u{1b}'), "{colored:?}");
    let never = on_a_terminal(
        dir.path(),
        &[],
        &["--color", "never", "test", "missing.yaml"],
    );
    assert!(never.contains("error: failed to read"), "{never:?}");
    assert!(!never.contains('\u{1b}'), "{never:?}");
    let no_color = on_a_terminal(dir.path(), &[("NO_COLOR", "1")], &missing);
    assert!(!no_color.contains('\u{1b}'), "{no_color:?}");
    // clap's own usage errors follow --color as well.
    let usage = on_a_terminal(dir.path(), &[], &["completions", "tcsh"]);
    assert!(usage.contains('\u{1b}'), "{usage:?}");
    let usage = on_a_terminal(dir.path(), &[], &["--color=never", "completions", "tcsh"]);
    assert!(usage.contains("error: invalid value 'tcsh'"), "{usage:?}");
    assert!(!usage.contains('\u{1b}'), "{usage:?}");
}

#[test]
fn enum_values_are_taken_in_any_case() {
    let dir = support::with_callout_module();
    let r = run_ok(wasmctl(dir.path()).args([
        "--color",
        "NEVER",
        "run",
        "callout.wasm",
        "--type",
        "HTTP",
        "--config",
        "/dev/null",
        "--call-response",
        "200",
    ]));
    assert!(r.stdout.contains("http_call to `authz`"), "{}", r.stdout);
    let layout = dir.path().join("layout");
    let destination = format!("oci-layout:{}:v1", layout.display());
    let r = run_ok(wasmctl(dir.path()).args([
        "push",
        &destination,
        "--wasm",
        "callout.wasm",
        "--format",
        "OCI",
    ]));
    assert!(r.stdout.starts_with(&destination), "{}", r.stdout);
    let r = run_ok(wasmctl(dir.path()).args(["verify", &destination, "--json"]));
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["accepted"], true, "{v}");
}

#[test]
fn test_and_verify_exit_0_1_2() {
    let dir = support::with_callout_module();
    let scenario = |name: &str, status: u16| {
        let text = format!(
            "plugin: callout.wasm\nexchanges:\n  - http_calls: [{{status: {status}}}]\n    expect: {{response: {{status: 200}}}}\n"
        );
        std::fs::write(dir.path().join(name), text).unwrap();
    };
    scenario("passes.yaml", 200);
    scenario("fails.yaml", 503);
    let code = |args: &[&str]| run(wasmctl(dir.path()).args(args)).code;
    assert_eq!(code(&["test", "passes.yaml"]), Some(0));
    assert_eq!(code(&["test", "passes.yaml", "fails.yaml"]), Some(1));
    assert_eq!(code(&["test", "missing.yaml"]), Some(2));
    std::fs::write(dir.path().join("bad.yaml"), "exchanges: [{reqest: {}}]\n").unwrap();
    assert_eq!(code(&["test", "bad.yaml"]), Some(2));

    // Istio rejects the CNCF artifact: verify finds that (1); no image at all is an error (2).
    for (format, expected) in [("compat", 0), ("cncf", 1)] {
        let destination = format!("oci-layout:{}:v1", dir.path().join(format).display());
        run_ok(wasmctl(dir.path()).args([
            "push",
            &destination,
            "--wasm",
            "callout.wasm",
            "--format",
            format,
        ]));
        assert_eq!(code(&["verify", &destination]), Some(expected), "{format}");
    }
    let nowhere = format!("oci-layout:{}:v1", dir.path().join("nowhere").display());
    assert_eq!(code(&["verify", &nowhere]), Some(2));
}

#[test]
fn test_runs_the_scenarios_in_a_directory() {
    let dir = support::with_callout_module();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).unwrap();
    for (name, status) in [("a.yaml", 200), ("b.yml", 503)] {
        let text = format!(
            "plugin: ../callout.wasm\nexchanges:\n  - http_calls: [{{status: {status}}}]\n    expect: {{local_reply: {}}}\n",
            status != 200
        );
        std::fs::write(scenarios.join(name), text).unwrap();
    }
    std::fs::write(scenarios.join("notes.txt"), "not a scenario").unwrap();
    let r = run_ok(wasmctl(dir.path()).args(["test", "scenarios"]));
    assert!(
        r.stdout.contains("a (") && r.stdout.contains("b ("),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("Passed 2 scenario file(s), 2 case(s)"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_scenario_format_is_in_test_help_and_help_scenarios_and_the_templates_point_there() {
    let dir = tempdir();
    let r = run_ok(wasmctl(dir.path()).args(["test", "--help"]));
    for key in [
        "config_file:",
        "exchanges:",
        "http_calls:",
        "advance_ms:",
        "connections:",
        "no_logs:",
        "100-599",
    ] {
        assert!(r.stdout.contains(key), "{key} missing:\n{}", r.stdout);
    }
    let short = run_ok(wasmctl(dir.path()).args(["test", "-h"]));
    assert!(!short.stdout.contains("advance_ms"), "{}", short.stdout);
    // A help topic of its own, offline, with the same format text.
    let topic = run_ok(wasmctl(dir.path()).args(["help", "scenarios"]));
    let format = r
        .stdout
        .find("Scenario format")
        .expect("the format in test --help");
    assert!(
        topic
            .stdout
            .starts_with("The format of the scenario files `wasmctl test` runs\n\n"),
        "{}",
        topic.stdout
    );
    assert!(
        topic.stdout.ends_with(&r.stdout[format..]),
        "{}",
        topic.stdout
    );
    assert_eq!(
        run_ok(wasmctl(dir.path()).arg("scenarios")).stdout,
        topic.stdout
    );
    assert!(r.stdout.contains("wasmctl help scenarios"), "{}", r.stdout);
    // Every scenario file a template generates says where the format is described.
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut checked = 0;
    for template in entries(&templates) {
        let scenarios = templates.join(&template).join("files/scenarios");
        for file in entries(&scenarios) {
            let text = std::fs::read_to_string(scenarios.join(&file)).unwrap();
            assert!(
                text.lines()
                    .take_while(|l| l.starts_with('#'))
                    .any(|l| l.contains("wasmctl test --help")),
                "{template}/{file} does not point to `wasmctl test --help`"
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "{checked}");
}

#[test]
fn push_names_its_destination_and_shows_retries_at_v() {
    let dir = support::with_callout_module();
    let registry = Registry::start();
    // The first blob check is answered 500, then the registry answers.
    let proxy = FlakyProxy::start(&registry.addr, "HEAD", 1);
    let reference = format!("{}/team/flaky:v1", proxy.addr);
    let docker = tempdir();
    let r = run_ok(
        wasmctl(dir.path())
            .env("DOCKER_CONFIG", docker.path())
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .args(["push", &reference, "--wasm", "callout.wasm", "-v"]),
    );
    let pushing = r
        .stderr
        .lines()
        .find(|l| l.trim_start().starts_with("Pushing"))
        .unwrap_or_default();
    assert!(
        pushing.ends_with(&format!(" to {reference}")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("note: retrying to check a blob in 0.")
            && r.stderr.contains("(attempt 2 of 5): ")
            && r.stderr.contains("HTTP 500"),
        "{}",
        r.stderr
    );
    // -v says where credentials came from, or that there were none.
    assert!(
        r.stderr.contains(&format!(
            "note: no credentials for {} in WASMCTL_REGISTRY_USERNAME/WASMCTL_REGISTRY_PASSWORD or {}",
            proxy.addr,
            docker.path().join("config.json").display()
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("; anonymous access"), "{}", r.stderr);
    // Without -v, neither.
    let r = run_ok(
        wasmctl(dir.path())
            .env("DOCKER_CONFIG", docker.path())
            .args(["push", &reference, "--wasm", "callout.wasm"]),
    );
    assert!(!r.stderr.contains("note:"), "{}", r.stderr);
}

#[test]
fn push_v_says_where_credentials_came_from() {
    let dir = support::with_callout_module();
    let registry = Registry::start();
    let docker = tempdir();
    let r = run_ok(
        wasmctl(dir.path())
            .env("WASMCTL_REGISTRY_USERNAME", "ci")
            .env("WASMCTL_REGISTRY_PASSWORD", "not-shown")
            .args(["push", &format!("{}/team/env:v1", registry.addr)])
            .args(["--wasm", "callout.wasm", "-v"]),
    );
    assert!(
        r.stderr.contains(&format!(
            "note: using credentials for {} from WASMCTL_REGISTRY_USERNAME/WASMCTL_REGISTRY_PASSWORD",
            registry.addr
        )),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("not-shown"));

    // A docker config: the file and the key it was found under.
    let auth = "Y2k6bm90LXNob3du"; // ci:not-shown
    let config = format!(
        r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
        registry.addr
    );
    std::fs::write(docker.path().join("config.json"), config).unwrap();
    let r = run_ok(
        wasmctl(dir.path())
            .env("DOCKER_CONFIG", docker.path())
            .env_remove("REGISTRY_AUTH_FILE")
            .args(["push", &format!("{}/team/docker:v1", registry.addr)])
            .args(["--wasm", "callout.wasm", "-v"]),
    );
    assert!(
        r.stderr.contains(&format!(
            "note: using credentials for {addr} from the docker config {} (key `{addr}`)",
            docker.path().join("config.json").display(),
            addr = registry.addr
        )),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("not-shown") && !r.stderr.contains(auth));
}

#[test]
fn a_loopback_registry_that_is_down_is_one_short_error_without_insecure() {
    let dir = support::with_callout_module();
    let addr = format!("127.0.0.1:{}", free_port());
    let r = run_err(wasmctl(dir.path()).args([
        "push",
        &format!("{addr}/team/down:v1"),
        "--wasm",
        "callout.wasm",
    ]));
    assert_eq!(r.code, Some(2));
    let error = first_error_line(&r.stderr);
    assert!(
        error.starts_with(&format!("error: could not connect to {addr}: ")),
        "{}",
        r.stderr
    );
    // The reason, not reqwest's and hyper's wrappers around it.
    assert!(error.contains("Connection refused"), "{error}");
    assert!(!error.contains("error sending request"), "{error}");
    assert!(!error.contains("client error"), "{error}");
    assert!(r.stderr.contains("hint: check the registry is running"));
    assert!(!r.stderr.contains("--insecure"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[test]
fn a_registry_host_that_does_not_resolve_is_refused_at_once() {
    let dir = support::with_callout_module();
    // `.invalid` never resolves (RFC 2606).
    let r = run_err(wasmctl(dir.path()).args([
        "push",
        "no-such-host.invalid/x:v1",
        "--wasm",
        "callout.wasm",
        "-v",
    ]));
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    let error = first_error_line(&r.stderr);
    assert!(
        error.starts_with("error: could not find the registry no-such-host.invalid: "),
        "{}",
        r.stderr
    );
    assert!(!error.contains("error sending request"), "{error}");
    // Asking the resolver again finds nothing more: no retries, even where -v would show them.
    assert!(!r.stderr.contains("retrying"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("hint: check the host name in `no-such-host.invalid`"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("--insecure"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

/// One bad input: the arguments, what must be in the directory first, the exit code, and the
/// first `error:` line (`[DIR]` stands for the directory).
struct Row {
    args: &'static [&'static str],
    files: &'static [(&'static str, &'static str)],
    code: i32,
    error: &'static str,
}

const fn row(args: &'static [&'static str], code: i32, error: &'static str) -> Row {
    Row {
        args,
        files: &[],
        code,
        error,
    }
}

const BAD_HEADERS: &str =
    "plugin: callout.wasm\nexchanges:\n  - request: {headers: {\"x a\": b}}\n";
const BAD_PSEUDO: &str =
    "plugin: callout.wasm\nexchanges:\n  - request: {headers: {\":path\": /x}}\n";
const BAD_STATUS: &str = "plugin: callout.wasm\nexchanges:\n  - response: {status: 700}\n";
const BAD_CALL_STATUS: &str = "plugin: callout.wasm\nexchanges:\n  - http_calls: [{status: 42}]\n";
const BAD_VALUE: &str =
    "plugin: callout.wasm\nexchanges:\n  - response: {headers: {x-a: \"b\\r\\nx-b: c\"}}\n";

const MATRIX: &[Row] = &[
    row(
        &["run", "callout.wasm", "-H", "x a: b"],
        2,
        "error: invalid -H `x a: b`: header name `x a` has a space in it",
    ),
    row(
        &["run", "callout.wasm", "-H", "x-a : b"],
        2,
        "error: invalid -H `x-a : b`: header name `x-a ` has a space in it",
    ),
    row(
        &["run", "callout.wasm", "-H", ":path: /admin"],
        2,
        "error: invalid -H `:path: /admin`: `:path` is a pseudo-header; set the request line with --request 'METHOD PATH'",
    ),
    row(
        &["run", "callout.wasm", "-H", ":authority: x"],
        2,
        "error: invalid -H `:authority: x`: `:authority` is a pseudo-header; set the request line with --request 'METHOD PATH'",
    ),
    row(
        &["run", "callout.wasm", "-H", "x-a: b\r\nx-b: c"],
        2,
        "error: invalid -H `x-a: b\\r\\nx-b: c`: the value of header `x-a` has a line break (CR or LF)",
    ),
    row(
        &["run", "callout.wasm", "-H", "x-a: b\nc"],
        2,
        "error: invalid -H `x-a: b\\nc`: the value of header `x-a` has a line break (CR or LF)",
    ),
    row(
        &["run", "callout.wasm", "-H", "x-a: b\u{7}"],
        2,
        "error: invalid -H `x-a: b\\u{7}`: the value of header `x-a` has a control character",
    ),
    row(
        &["run", "callout.wasm", "-H", "novalue"],
        2,
        "error: invalid -H `novalue`: expected `NAME: VALUE`",
    ),
    row(
        &["run", "callout.wasm", "-H", "x(a): b"],
        2,
        "error: invalid -H `x(a): b`: header name `x(a)` has `(`, which no header name may hold",
    ),
    row(
        &["run", "callout.wasm", "--response-header", ":status: 500"],
        2,
        "error: invalid --response-header `:status: 500`: `:status` is a pseudo-header; set the status with --response-status",
    ),
    row(
        &["run", "callout.wasm", "--response-header", "set cookie: a"],
        2,
        "error: invalid --response-header `set cookie: a`: header name `set cookie` has a space in it",
    ),
    row(
        &["run", "callout.wasm", "--response-status", "42"],
        2,
        "error: invalid --response-status `42`: status 42 is outside 100-599",
    ),
    row(
        &["run", "callout.wasm", "--response-status", "600"],
        2,
        "error: invalid --response-status `600`: status 600 is outside 100-599",
    ),
    row(
        &["run", "callout.wasm", "--response-status", "abc"],
        2,
        "error: invalid --response-status `abc`: `abc` is not a status code (100-599)",
    ),
    row(
        &["run", "callout.wasm", "--call-response", "700:x"],
        2,
        "error: invalid --call-response `700:x`: status 700 is outside 100-599",
    ),
    row(
        &["run", "callout.wasm", "--call-response", "ok"],
        2,
        "error: --call-response takes `STATUS` or `STATUS:BODY`, not `ok`",
    ),
    row(
        &["run", "callout.wasm", "--env", "NOVALUE"],
        2,
        "error: --env takes `NAME=VALUE`, not `NOVALUE` (no `=`)",
    ),
    row(
        &["run", "callout.wasm", "--property", "=x"],
        2,
        "error: --property takes `PATH=VALUE`, not `=x` (nothing before the `=`)",
    ),
    row(
        &[
            "run",
            "callout.wasm",
            "--config",
            "a.yaml",
            "--config-raw",
            "b.txt",
        ],
        2,
        "error: the argument '--config <FILE>' cannot be used with '--config-raw <FILE>'",
    ),
    row(
        &["run", "callout.wasm", "--config-raw", "missing.txt"],
        2,
        "error: failed to read `missing.txt`",
    ),
    row(
        &["run", "callout.wasm", "--type", "tcp"],
        2,
        "error: invalid value 'tcp' for '--type <TYPE>'",
    ),
    row(
        &["--color", "sometimes", "run", "callout.wasm"],
        2,
        "error: invalid value 'sometimes' for '--color <WHEN>'",
    ),
    row(
        &["completions", "tcsh"],
        2,
        "error: invalid value 'tcsh' for '<SHELL>'",
    ),
    row(
        &["completions"],
        2,
        "error: the following required arguments were not provided:",
    ),
    Row {
        args: &["man", "taken"],
        files: &[("taken", "a file")],
        code: 2,
        error: "error: failed to create `taken`",
    },
    Row {
        args: &["test", "bad.yaml"],
        files: &[("bad.yaml", BAD_HEADERS)],
        code: 2,
        error: "error: invalid scenario `bad.yaml`: exchanges[0].request: header name `x a` has a space in it at line 3 column 14",
    },
    Row {
        args: &["test", "bad.yaml"],
        files: &[("bad.yaml", BAD_PSEUDO)],
        code: 2,
        error: "error: invalid scenario `bad.yaml`: exchanges[0].request: `:path` is a pseudo-header: set it with the request's `method`, `path` and `authority`, or the response's `status` at line 3 column 14",
    },
    Row {
        args: &["test", "bad.yaml"],
        files: &[("bad.yaml", BAD_VALUE)],
        code: 2,
        error: "error: invalid scenario `bad.yaml`: exchanges[0].response: the value of header `x-a` has a line break (CR or LF) at line 3 column 15",
    },
    Row {
        args: &["test", "bad.yaml"],
        files: &[("bad.yaml", BAD_STATUS)],
        code: 2,
        error: "error: invalid scenario `bad.yaml`: exchanges[0].response: status 700 is outside 100-599 at line 3 column 15",
    },
    Row {
        args: &["test", "bad.yaml"],
        files: &[("bad.yaml", BAD_CALL_STATUS)],
        code: 2,
        error: "error: invalid scenario `bad.yaml`: exchanges[0].http_calls[0]: status 42 is outside 100-599 at line 3 column 18",
    },
    Row {
        args: &["test", "empty"],
        files: &[("empty/notes.txt", "no scenarios here")],
        code: 2,
        error: "error: no scenarios in `empty`",
    },
];

#[test]
fn bad_input_matrix() {
    let mut failures = Vec::new();
    for row in MATRIX {
        let dir = support::with_callout_module();
        for (path, text) in row.files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let before = tree(dir.path());
        let r = run(wasmctl(dir.path()).args(row.args));
        let error = first_error_line(&r.stderr).replace(&dir.path().display().to_string(), "[DIR]");
        let written = tree(dir.path()) != before;
        if r.code != Some(row.code)
            || !error.starts_with(row.error)
            || written
            || !r.stdout.is_empty()
        {
            failures.push(format!(
                "{:?}: exit {:?} (want {}), written: {written}, stdout {:?}\n  got:  {error}\n  want: {}",
                row.args, r.code, row.code, r.stdout, row.error
            ));
        }
    }
    assert!(MATRIX.len() >= 15);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every path under `dir` with its size, to tell that nothing was written.
fn tree(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            found.push((path, size));
        }
    }
    found.sort();
    found
}
