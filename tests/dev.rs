//! `wasmctl dev --serve` on a real project: a change to the source that breaks a scenario is
//! reported, the fix passes, a broken build shows cargo's error while the old module still serves.

#[path = "support/background.rs"]
mod background;
mod support;

use std::path::Path;
use std::time::Duration;

use background::Background;
use support::{new_project, tempdir, wasmctl};

/// The greeting header the served plugin adds, as a real HTTP client sees it.
fn greeting(addr: std::net::SocketAddr) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let resp = reqwest::get(format!("http://{addr}/"))
            .await
            .expect("a response");
        assert_eq!(resp.status(), 200);
        resp.headers()["x-greeting"].to_str().unwrap().to_string()
    })
}

fn edit(source: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(source).unwrap();
    assert!(text.contains(from), "`{from}` is in {}", source.display());
    std::fs::write(source, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn dev_rebuilds_retests_and_swaps_on_save() {
    let dir = tempdir();
    let project = new_project(dir.path(), "devloop", &["--template", "http-headers"]);
    let mut cmd = wasmctl(&project);
    cmd.args(["dev", "--serve", "--listen", "127.0.0.1:0"]);
    let dev = Background::spawn(cmd);
    let minutes = Duration::from_secs(300);
    let addr = dev.listen_addr();
    dev.wait_for("Passed", 1, minutes);
    dev.wait_for("Done", 1, minutes);
    assert_eq!(greeting(addr), "hello");
    // Reading the project (cargo, the scenario loader) is no change: no cycle starts by itself.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!dev.stderr().contains("Changed"), "{}", dev.stderr());

    // A change that breaks the scenarios: reported with the first difference, and served.
    let source = project.join("src/lib.rs");
    let good = "self.add_http_response_header(name, value);";
    let changed = "self.add_http_response_header(name, \"changed\");";
    edit(&source, good, changed);
    dev.wait_for("Failed", 1, minutes);
    let stderr = dev.stderr();
    assert_eq!(
        stderr.matches("Changed").count(),
        1,
        "one save, one cycle: {stderr}"
    );
    assert!(stderr.contains("FAILED"), "{stderr}");
    assert!(
        stderr.contains("x-greeting"),
        "the first difference: {stderr}"
    );
    dev.wait_for("Done", 2, minutes);
    assert_eq!(greeting(addr), "changed", "the new module is served");

    // The fix passes again.
    edit(&source, changed, good);
    dev.wait_for("Passed", 2, minutes);
    dev.wait_for("Done", 3, minutes);
    assert_eq!(greeting(addr), "hello");

    // A change to the pluginConfig alone is served with the module: the two swap together.
    let config = project.join("config.yaml");
    edit(&config, "x-greeting: hello", "x-greeting: goodbye");
    dev.wait_for("Done", 4, minutes);
    assert_eq!(greeting(addr), "goodbye", "the new pluginConfig is served");
    // One the plugin rejects is not swapped in: the plugin's own words say why.
    edit(&config, "x-greeting: goodbye", "\"bad name\": goodbye");
    dev.wait_for("Done", 5, minutes);
    let stderr = dev.stderr();
    assert!(
        stderr.contains("warning: the server keeps the plugin it had"),
        "{stderr}"
    );
    assert!(stderr.contains("invalid pluginConfig"), "{stderr}");
    assert_eq!(
        greeting(addr),
        "goodbye",
        "the last good plugin still serves"
    );
    edit(&config, "\"bad name\": goodbye", "x-greeting: hello");
    dev.wait_for("Done", 6, minutes);
    assert_eq!(greeting(addr), "hello");

    // A broken build: cargo's error, and the last good module keeps serving.
    edit(
        &source,
        good,
        "self.add_http_response_header(name, value) this is not rust;",
    );
    dev.wait_for("build failed", 1, minutes);
    let stderr = dev.stderr();
    assert!(
        stderr.contains("error: expected"),
        "cargo's own error: {stderr}"
    );
    assert_eq!(greeting(addr), "hello", "the last good module still serves");
    assert_eq!(stderr.matches("Swapped").count(), 4, "{stderr}");
    dev.stop();
}

#[test]
fn dev_builds_quickly_and_dev_opt_builds_as_build_does() {
    let dir = tempdir();
    let project = new_project(dir.path(), "dev-quick", &["--template", "http-headers"]);
    let built = support::run_ok(wasmctl(&project).args(["build", "--json"]));
    let record: serde_json::Value = serde_json::from_str(&built.stdout).unwrap();
    let module = Path::new(record["path"].as_str().unwrap()).to_path_buf();
    let full = std::fs::read(&module).unwrap();
    let minutes = Duration::from_secs(300);
    let cycle = |args: &[&str]| {
        let mut cmd = wasmctl(&project);
        cmd.arg("dev").args(args);
        let dev = Background::spawn(cmd);
        dev.wait_for("Done", 1, minutes);
        let stderr = dev.stop();
        assert!(stderr.contains("Passed 4 case(s)"), "{stderr}");
        std::fs::read(&module).unwrap()
    };

    // The quick build: the same scenarios pass on a module built without LTO, incrementally.
    let quick = cycle(&[]);
    assert_ne!(quick, full, "not the full release build");
    let incremental = support::plugin_target_dir().join("wasm32-wasip1/release/incremental");
    let sessions: Vec<String> = support::entries(&incremental);
    assert!(
        sessions.iter().any(|name| name.starts_with("dev_quick-")),
        "an incremental release build: {sessions:?}"
    );

    // --opt builds exactly what `wasmctl build` does.
    assert_eq!(cycle(&["--opt"]), full);
    // And going back and forth leaves `wasmctl build` as it was.
    support::run_ok(wasmctl(&project).arg("build"));
    assert_eq!(std::fs::read(&module).unwrap(), full);
}

#[test]
fn dev_sees_a_path_dependency_and_a_config_file_in_its_own_directory() {
    let dir = tempdir();
    let project = new_project(dir.path(), "dev-shared", &["--template", "http-headers"]);
    // A crate the plugin shares code through, beside it.
    let common = dir.path().join("common");
    std::fs::create_dir_all(common.join("src")).unwrap();
    std::fs::write(
        common.join("Cargo.toml"),
        "[package]\nname = \"common\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(common.join("src/lib.rs"), "pub const NAME: &str = \"a\";\n").unwrap();
    let manifest = project.join("Cargo.toml");
    edit(
        &manifest,
        "[dependencies]\n",
        "[dependencies]\ncommon = { path = \"../common\" }\n",
    );
    // The pluginConfig file in a directory of its own.
    std::fs::create_dir(project.join("conf")).unwrap();
    std::fs::rename(
        project.join("config.yaml"),
        project.join("conf/config.yaml"),
    )
    .unwrap();
    edit(
        &manifest,
        "config = \"config.yaml\"",
        "config = \"conf/config.yaml\"",
    );
    let scenario = project.join("scenarios/headers.yaml");
    edit(&scenario, "../config.yaml", "../conf/config.yaml");

    let dev = Background::spawn({
        let mut cmd = wasmctl(&project);
        cmd.arg("dev");
        cmd
    });
    let minutes = Duration::from_secs(300);
    dev.wait_for("Done", 1, minutes);
    assert!(dev.stderr().contains("Passed"), "{}", dev.stderr());

    // A save in the path dependency is a change: one cycle.
    edit(&common.join("src/lib.rs"), "\"a\"", "\"b\"");
    dev.wait_for("Done", 2, minutes);
    let stderr = dev.stderr();
    let changed = |file: &str| {
        stderr
            .lines()
            .any(|l| l.contains("Changed") && l.contains(file))
    };
    assert!(changed("common/src/lib.rs"), "{stderr}");

    // A config that no longer gives the greeting the scenarios expect fails them.
    let config = project.join("conf/config.yaml");
    edit(&config, "x-greeting: hello", "x-greeting: goodbye");
    dev.wait_for("Done", 3, minutes);
    let stderr = dev.stderr();
    let saw_config = stderr
        .lines()
        .any(|l| l.contains("Changed") && l.contains("conf/config.yaml"));
    assert!(saw_config, "{stderr}");
    assert!(stderr.contains("FAILED"), "{stderr}");
    dev.stop();
}

#[test]
fn dev_serve_with_flags_no_server_can_take_stops_at_start() {
    let dir = tempdir();
    let project = new_project(dir.path(), "dev-bad-serve", &[]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().to_string();
    for (args, error) in [
        (
            ["--listen", busy.as_str()],
            format!("error: cannot listen on {busy}"),
        ),
        (
            ["--upstream", "foo"],
            "error: invalid --upstream `foo`".to_string(),
        ),
    ] {
        let r = support::run_err(wasmctl(&project).args(["dev", "--serve"]).args(args));
        assert_eq!(r.code, Some(2), "{}", r.stderr);
        assert!(r.stderr.starts_with(&error), "{}", r.stderr);
    }
}
