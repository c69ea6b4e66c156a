//! Helpers for the `wasmctl manifest` tests: a project that counts as pushed, and golden files.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{new_project, plugin_target_dir};

/// The image digest the tests' push records claim.
pub const DIGEST: &str = "3f0a9e5c1b7d2468ace013579bdf2468ace013579bdf2468ace013579bdf2468";

fn push_record_path(name: &str) -> PathBuf {
    plugin_target_dir()
        .join("wasmctl")
        .join(format!("{name}.push.json"))
}

/// Writes the record `wasmctl push` leaves, so the project counts as pushed.
pub fn record_push(name: &str, reference: &str) {
    let path = push_record_path(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let record = json!({
        "reference": reference,
        "digest": format!("sha256:{DIGEST}"),
        "format": "compat",
        "module_sha256": null,
    });
    std::fs::write(path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
}

/// Removes the push record, so the project counts as never pushed.
pub fn forget_push(name: &str) {
    let _ = std::fs::remove_file(push_record_path(name));
}

/// A generated project (default template) that has been pushed to `localhost:5000/NAME:0.1.0`.
pub fn pushed_project(dir: &Path, name: &str) -> PathBuf {
    let project = new_project(dir, name, &[]);
    record_push(name, &format!("localhost:5000/{name}:0.1.0"));
    project
}

/// Compares `actual` with tests/golden/manifest/NAME; `WASMCTL_BLESS=1` rewrites the file.
#[track_caller]
pub fn assert_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/manifest")
        .join(name);
    if std::env::var_os("WASMCTL_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {} (WASMCTL_BLESS=1 creates it): {e}", path.display()));
    assert_eq!(actual, expected, "output differs from {}", path.display());
}
