//! Shared helpers for the integration tests: the real `wasmctl` binary, wired to the toolchain that
//! can build wasm here, and temporary workspaces.
#![allow(dead_code)]

pub mod crd;
pub mod interop;
pub mod manifest;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{LazyLock, Mutex, OnceLock};

use assert_cmd::cargo::CommandCargoExt;

/// The rustup toolchain that builds wasm on this machine (see scripts/test.sh), if not the default.
pub fn wasm_toolchain() -> Option<String> {
    std::env::var("WASMCTL_TEST_TOOLCHAIN")
        .ok()
        .filter(|t| !t.is_empty())
}

/// A cargo target directory shared by every plugin the tests build, so the SDK compiles once.
pub fn plugin_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugins")
}

/// Applies the environment every child of a test gets: the wasm toolchain, the shared target dir,
/// no colors.
pub fn test_env(cmd: &mut Command) -> &mut Command {
    if let Some(toolchain) = wasm_toolchain() {
        cmd.env("RUSTUP_TOOLCHAIN", toolchain);
    }
    cmd.env("CARGO_TARGET_DIR", plugin_target_dir())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("WASMCTL_LOG")
        .env_remove("CARGO_BUILD_TARGET")
}

/// The `wasmctl` binary under test, run in `dir`.
pub fn wasmctl(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("wasmctl").expect("wasmctl binary is built");
    test_env(&mut cmd).current_dir(dir);
    cmd
}

/// `cargo` as a user would run it in a generated project.
pub fn cargo(dir: &Path) -> Command {
    let mut cmd = Command::new("cargo");
    test_env(&mut cmd).current_dir(dir);
    cmd
}

/// Writes the plugin in WAT `text` to `dir` as the module `name`.
pub fn wat_plugin(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), wat::parse_str(text).unwrap()).unwrap();
}

/// A fresh temporary directory that is removed at the end of the test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("wasmctl-test-")
        .tempdir()
        .expect("create temp dir")
}

/// A fresh temporary directory holding `callout.wasm`, the small proxy-wasm plugin of
/// tests/support (no cargo build).
pub fn with_callout_module() -> tempfile::TempDir {
    let dir = tempdir();
    let wasm = wat::parse_str(include_str!("callout.wat")).expect("callout.wat parses");
    std::fs::write(dir.path().join("callout.wasm"), wasm).expect("write callout.wasm");
    dir
}

/// Names of the entries in `dir`, sorted; for checking nothing was written.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Output of a finished command, with stdout and stderr as text.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

pub fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("spawn command");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs a command that must succeed, and returns its output.
#[track_caller]
pub fn run_ok(cmd: &mut Command) -> Run {
    let r = run(cmd);
    assert!(
        r.success(),
        "command failed ({:?}): {cmd:?}\n--- stdout\n{}\n--- stderr\n{}",
        r.code,
        r.stdout,
        r.stderr
    );
    r
}

/// Runs a command that must fail with one `error:` line first, and returns its output.
#[track_caller]
pub fn run_err(cmd: &mut Command) -> Run {
    let r = run(cmd);
    assert!(
        !r.success(),
        "command unexpectedly succeeded: {cmd:?}\n--- stdout\n{}\n--- stderr\n{}",
        r.stdout,
        r.stderr
    );
    r
}

/// Exported function and memory names of a wasm module, read with wasmparser.
pub fn exports(module: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let Ok(wasmparser::Payload::ExportSection(reader)) = payload {
            for export in reader.into_iter().flatten() {
                names.push(export.name.to_string());
            }
        }
    }
    names
}

/// Creates a project with `wasmctl new NAME --yes [args]` inside `dir` and returns its path.
#[track_caller]
pub fn new_project(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let r = run_ok(wasmctl(dir).args(["new", name, "--yes"]).args(args));
    PathBuf::from(r.stdout.trim())
}
pub mod registry;

/// A generated project and the module `wasmctl build` made of it.
pub struct BuiltProject {
    _dir: tempfile::TempDir,
    pub project: PathBuf,
    pub module: PathBuf,
}

/// `wasmctl new NAME --yes` then `wasmctl build`, in a fresh temporary directory. Test files that
/// share one build keep it in a `OnceLock`.
#[track_caller]
pub fn build_project(name: &str) -> BuiltProject {
    let dir = tempdir();
    let project = new_project(dir.path(), name, &[]);
    let r = run_ok(wasmctl(&project).arg("build"));
    BuiltProject {
        _dir: dir,
        module: PathBuf::from(r.stdout.trim()),
        project,
    }
}

/// The project of one template, `tpl-<ID>`, and the module `wasmctl build` made of it.
pub struct BuiltTemplate {
    _dir: tempfile::TempDir,
    pub project: PathBuf,
    pub module: PathBuf,
}

/// `wasmctl new tpl-ID --template ID --yes` then `wasmctl build`, done once per test binary for each
/// template; every later call hands out the same project. Tests must not change it.
#[track_caller]
pub fn built_template(template: &str) -> &'static BuiltTemplate {
    static BUILT: LazyLock<Mutex<HashMap<String, &'static OnceLock<BuiltTemplate>>>> =
        LazyLock::new(Mutex::default);
    let cell: &'static OnceLock<BuiltTemplate> = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(template.to_string())
        .or_insert_with(|| Box::leak(Box::new(OnceLock::new())));
    // Built outside the map's lock, so different templates build side by side.
    cell.get_or_init(|| {
        let dir = tempdir();
        let name = format!("tpl-{template}");
        let project = new_project(dir.path(), &name, &["--template", template]);
        let r = run_ok(wasmctl(&project).args(["build", "--json"]));
        let out: serde_json::Value = serde_json::from_str(&r.stdout).expect("build --json");
        BuiltTemplate {
            _dir: dir,
            module: PathBuf::from(out["path"].as_str().expect("a path")),
            project,
        }
    })
}

/// Runs skopeo, the independent OCI client the tests check wasmctl against; it must succeed.
/// Returns its stdout.
#[track_caller]
pub fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `sha256:HEX` of `data`, as registries name blobs and manifests.
pub fn sha256_digest(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}
