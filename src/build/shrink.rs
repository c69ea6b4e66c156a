//! Shrinking a module with binaryen's `wasm-opt`, when it is installed.

use std::path::PathBuf;
use std::process::Command;
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::cache::{self, Kind, Lookup};

/// Modules wasm-opt shrank, in wasmctl's cache ([`crate::cache`]): an unchanged module is not
/// shrunk again. wasm-opt takes seconds, the lookup a millisecond.
pub(crate) const SHRUNK: Kind = Kind {
    magic: b"wasmctl-shrunk-1\n",
    extension: "wasm",
};

/// Why wasm-opt could not shrink a module; the build then keeps the module unoptimized.
///
/// Each message carries its cause inline: it is only ever shown as one warning line.
#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Failed(String),
    /// wasm-opt was stopped by a signal (Ctrl-C, a CI's cancel): the build is stopped, not
    /// finished with the unoptimized module.
    #[error("wasm-opt was stopped by signal {0}")]
    Stopped(i32),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ShrinkError {
    let what = what.into();
    move |source| ShrinkError::Io { what, source }
}

/// What `wasm-opt -Oz` left of the stripped release modules of wasmctl's four templates, in
/// thousandths: 782, 797, 800 and 761 (http-headers, http-auth, http-body, network; binaryen 132,
/// Rust 1.96). Their mean is the estimate for a module it did not see.
const MEASURED_KEPT_PER_MILLE: u64 = 785;

/// The hint a build without wasm-opt gives: what installing it would save, estimated from the
/// templates' measured shrink, and said to be an estimate.
pub fn missing_hint(size: usize) -> String {
    let size = size as u64;
    let saved = size - size * MEASURED_KEPT_PER_MILLE / 1000;
    format!(
        "wasm-opt is not on PATH; with it this module would be about {saved} bytes smaller (an \
         estimate, not measured on this module: wasm-opt shrinks wasmctl's templates by 20-24%): \
         install binaryen, e.g. `npm install -g binaryen`"
    )
}

/// Features current rustc emits for wasm32 targets; older wasm-opt releases need them spelled out.
const FEATURES: &[&str] = &[
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-nontrapping-float-to-int",
    "--enable-mutable-globals",
    "--enable-multivalue",
    "--enable-reference-types",
];

/// wasm-opt's arguments before its input and output.
fn arguments() -> impl Iterator<Item = &'static str> {
    ["-Oz", "--converge"]
        .into_iter()
        .chain(FEATURES.iter().copied())
        .chain(["--strip-debug", "--strip-producers"])
}

/// What shrinking gave: the module, and whether it came from the cache.
#[derive(Debug)]
pub struct Shrunk {
    pub module: Vec<u8>,
    pub reused: bool,
}

/// A `wasm-opt` found on PATH.
#[derive(Debug, Clone)]
pub struct WasmOpt {
    path: PathBuf,
}

impl WasmOpt {
    pub fn find() -> Option<WasmOpt> {
        let paths = std::env::var_os("PATH")?;
        std::env::split_paths(&paths)
            .map(|dir| dir.join("wasm-opt"))
            .find(|candidate| candidate.is_file())
            .map(|path| WasmOpt { path })
    }

    /// [`WasmOpt::optimize`], or what it gave this module before: the cache keeps its output by
    /// the module's bytes, the arguments, and this wasm-opt's path, size and modification time
    /// (so an upgraded binaryen runs afresh). A module that does not change is shrunk once.
    pub fn optimize_cached(&self, module: &[u8]) -> Result<Shrunk, ShrinkError> {
        let Some(dir) = cache::dir() else {
            tracing::debug!("shrink cache off: running wasm-opt");
            return self.optimize(module).map(Shrunk::ran);
        };
        let Some(identity) = self.identity() else {
            tracing::debug!("shrink cache: cannot tell which wasm-opt this is: running it");
            return self.optimize(module).map(Shrunk::ran);
        };
        let digest = Sha256::digest(module);
        let arguments = arguments().collect::<Vec<_>>().join(" ");
        let key = cache::key([digest.as_slice(), identity.as_bytes(), arguments.as_bytes()]);
        let path = cache::path(&dir, &SHRUNK, &key);
        match cache::read(&SHRUNK, &path) {
            Lookup::Hit(module) => {
                tracing::debug!("shrink cache hit: {}", path.display());
                return Ok(Shrunk {
                    module,
                    reused: true,
                });
            }
            Lookup::Corrupt => {
                tracing::debug!("shrink cache: {} is corrupt, shrinking", path.display())
            }
            Lookup::Miss => {}
        }
        let shrunk = self.optimize(module)?;
        tracing::debug!("module shrunk, caching {}", path.display());
        cache::write(&SHRUNK, &path, &shrunk);
        Ok(Shrunk::ran(shrunk))
    }

    /// Which wasm-opt this is, cheaply: its resolved path, size and modification time. Reading
    /// `--version` would cost a process, a third of a second for binaryen's npm build.
    fn identity(&self) -> Option<String> {
        let path = std::fs::canonicalize(&self.path).ok()?;
        let meta = std::fs::metadata(&path).ok()?;
        let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        Some(format!(
            "{} {} {}",
            path.display(),
            meta.len(),
            modified.as_nanos()
        ))
    }

    /// Runs `wasm-opt -Oz` on `module`, returning the smaller of the input and the output.
    pub fn optimize(&self, module: &[u8]) -> Result<Vec<u8>, ShrinkError> {
        let dir = tempfile::tempdir().map_err(io("failed to create a temporary directory"))?;
        let input = dir.path().join("in.wasm");
        let output = dir.path().join("out.wasm");
        std::fs::write(&input, module).map_err(io("failed to write a temporary file"))?;
        let result = Command::new(&self.path)
            .args(arguments())
            .arg(&input)
            .arg("-o")
            .arg(&output)
            .output()
            .map_err(io(format!("failed to run `{}`", self.path.display())))?;
        if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&result.status)
            // The signals that stop a command: Ctrl-C, a cancel, a terminal closing.
            && matches!(signal, libc::SIGINT | libc::SIGTERM | libc::SIGHUP)
        {
            return Err(ShrinkError::Stopped(signal));
        }
        if !result.status.success() {
            let stderr = String::from_utf8_lossy(&result.stderr);
            let first = stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no output");
            return Err(ShrinkError::Failed(format!(
                "{} ({})",
                first.trim(),
                result.status
            )));
        }
        let optimized = std::fs::read(&output).map_err(io("failed to read wasm-opt's output"))?;
        // What wasm-opt wrote must still be the plugin (and is not cached otherwise).
        if let Err(err) = crate::module::inspect(&optimized) {
            return Err(ShrinkError::Failed(format!(
                "its output is not a proxy-wasm module: {err}"
            )));
        }
        Ok(if optimized.len() < module.len() {
            optimized
        } else {
            module.to_vec()
        })
    }
}

impl Shrunk {
    fn ran(module: Vec<u8>) -> Shrunk {
        Shrunk {
            module,
            reused: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_estimates_from_the_measured_shrink_and_says_so() {
        // The http-headers template: 105,926 bytes stripped, 82,824 after wasm-opt (23,102 saved).
        let hint = missing_hint(105_926);
        assert!(hint.contains("about 22775 bytes smaller"), "{hint}");
        assert!(hint.contains("an estimate"), "{hint}");
    }
}
