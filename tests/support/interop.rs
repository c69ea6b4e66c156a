//! The Go harness in `tests/interop/`: Istio's own Wasm fetcher and cache, Istio's validating
//! webhook, and the API server's CRD checks, run as a command. `scripts/test.sh` builds it once
//! (the Go build cache makes later builds fast); a test binary that finds it missing builds it.
//! Where Go is absent the interop tests say `skipped: … (needs Go)` loudly and pass, unless
//! `WASMCTL_REQUIRE_INTEROP` is set (as `.ci/run` does): then they fail.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

/// An Istio release the harness can be built against: its Go module file in `tests/interop/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Istio {
    /// `go.mod`: Istio's newest code the module proxy serves, with the newest istio.io/api.
    Newest,
    /// `istio-1.30.mod`: the release-1.30 branch with istio.io/api 1.30.
    Release130,
}

impl Istio {
    fn modfile(self) -> &'static str {
        match self {
            Istio::Newest => "go.mod",
            Istio::Release130 => "istio-1.30.mod",
        }
    }

    fn binary_name(self) -> &'static str {
        match self {
            Istio::Newest => "wasmctl-interop",
            Istio::Release130 => "wasmctl-interop-istio-1.30",
        }
    }
}

fn required() -> bool {
    std::env::var_os("WASMCTL_REQUIRE_INTEROP").is_some_and(|v| !v.is_empty())
}

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Where `scripts/test.sh` puts the harness: `target/interop/` of the crate's target dir.
pub fn binary_path(istio: Istio) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("interop").join(istio.binary_name())
}

/// The harness built against `istio`, or `None` (after a loud skip line) where Go is absent.
pub fn harness(istio: Istio) -> Option<Harness> {
    static BUILT: OnceLock<Mutex<HashMap<Istio, Option<PathBuf>>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    let path = built.entry(istio).or_insert_with(|| build(istio)).clone();
    if path.is_none() {
        // Straight to the process's stderr: the test harness does not capture it, so the skip
        // shows in a passing run.
        let _ = writeln!(
            std::io::stderr(),
            "skipped: interop check against Istio's own code (needs Go)"
        );
    }
    path.map(|binary| Harness { binary })
}

/// `go build` of the harness (a no-op relink when scripts/test.sh already built it).
fn build(istio: Istio) -> Option<PathBuf> {
    let out = binary_path(istio);
    let run = Command::new("go")
        .args(["build", &format!("-modfile={}", istio.modfile()), "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(source_dir())
        .output();
    match run {
        Ok(run) => {
            assert!(
                run.status.success(),
                "go build of the interop harness failed:\n{}",
                String::from_utf8_lossy(&run.stderr)
            );
            Some(out)
        }
        Err(e) if required() => panic!("WASMCTL_REQUIRE_INTEROP is set but go cannot run: {e}"),
        Err(_) => None,
    }
}

/// The built harness.
pub struct Harness {
    binary: PathBuf,
}

/// What the harness printed and how it exited.
#[derive(Debug)]
pub struct Answer {
    /// One JSON value per line of stdout.
    pub lines: Vec<Value>,
    pub stderr: String,
    pub code: Option<i32>,
}

impl Harness {
    fn run(&self, args: &[&str]) -> Answer {
        let out = Command::new(&self.binary)
            .args(args)
            .output()
            .expect("run the interop harness");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "wasmctl-interop {args:?} failed ({}):\n{stderr}",
            out.status
        );
        let lines = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        Answer {
            lines,
            stderr,
            code: out.status.code(),
        }
    }

    /// Istio's agent fetching `url` for a WasmPlugin: `{accepted, module_sha256, checksum}` or
    /// `{accepted: false, error}`. `extra` are further flags (`--sha256`, `--pull-secret`, `--ca`,
    /// `--insecure`, `--pull-policy`, `--out`).
    pub fn fetch(&self, url: &str, extra: &[&str]) -> Value {
        let mut args = vec!["fetch", "--url", url];
        args.extend_from_slice(extra);
        let answer = self.run(&args);
        let [verdict] = answer.lines.as_slice() else {
            panic!("fetch printed {:?}\n{}", answer.lines, answer.stderr);
        };
        assert_eq!(
            verdict["accepted"] == true,
            answer.code == Some(0),
            "{verdict}"
        );
        verdict.clone()
    }

    /// One verdict per WasmPlugin or TrafficExtension in `files`, from the API server's checks
    /// against `crds` (default: the CRDs of the istio.io/api the harness was built with) and
    /// Istio's webhook.
    pub fn validate(&self, crds: Option<&Path>, files: &[&Path]) -> Vec<Value> {
        let mut args: Vec<String> = vec!["validate".into()];
        if let Some(crds) = crds {
            args.extend(["--crds".into(), crds.display().to_string()]);
        }
        args.extend(files.iter().map(|f| f.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&args).lines
    }

    /// The versions of istio.io/istio, istio.io/api and the Kubernetes modules it was built with.
    pub fn versions(&self) -> Value {
        self.run(&["versions"]).lines.remove(0)
    }
}
