//! Running the `cargo` on PATH, so that RUSTUP_TOOLCHAIN and rust-toolchain.toml are honoured, and
//! finding what it built from its own JSON messages rather than by guessing paths.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cargo_metadata::Message;

use super::{BuildError, BuildOptions};
use crate::diagnostic::ChildFailed;
use crate::output::{Printer, Verbosity};
use crate::project::Project;

/// Whether the toolchain that builds in `dir` has the standard library for `target`.
///
/// Asks `rustc` from `dir`, so a rust-toolchain.toml there picks the same toolchain cargo will use.
/// When rustc cannot be asked, says yes and lets cargo report the problem itself.
pub fn target_installed(dir: &Path, target: &str) -> bool {
    let output = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", target])
        .current_dir(dir)
        .stderr(Stdio::null())
        .output();
    let Ok(output) = output else {
        return true;
    };
    if !output.status.success() {
        return false;
    }
    let libdir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    std::fs::read_dir(libdir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libcore-") && name.ends_with(".rlib")
        })
    })
}

/// The wasm32 targets the toolchain that builds in `dir` has a standard library for.
pub fn installed_targets(dir: &Path) -> Vec<&'static str> {
    ["wasm32-wasip1", "wasm32-unknown-unknown"]
        .into_iter()
        .filter(|t| target_installed(dir, t))
        .collect()
}

/// Runs `cargo build` for the project's lib and returns the path of the .wasm cargo wrote.
pub fn build(
    project: &Project,
    options: &BuildOptions,
    printer: &Printer,
) -> Result<PathBuf, anyhow::Error> {
    let mut cmd = Command::new("cargo");
    cmd.arg("build")
        .arg("--lib")
        .arg("--manifest-path")
        .arg(&project.manifest_path)
        .arg("--package")
        .arg(&project.name)
        .arg("--target")
        .arg(&options.target)
        .arg("--message-format=json-render-diagnostics")
        .arg("--color")
        .arg(if printer.color() { "always" } else { "never" });
    if options.release {
        cmd.arg("--release");
    }
    if printer.verbosity() == Verbosity::Quiet {
        cmd.arg("--quiet");
    }
    cmd.args(&options.cargo_args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    tracing::debug!(?cmd, "running cargo");

    let mut child = cmd.spawn().map_err(BuildError::CargoSpawn)?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut artifact = None;
    for message in Message::parse_stream(BufReader::new(stdout)) {
        let Ok(message) = message else { continue };
        if let Message::CompilerArtifact(a) = message {
            let ours = a.manifest_path.as_std_path() == project.manifest_path
                || a.target.name.replace('-', "_") == project.lib_name.clone().unwrap_or_default();
            if ours && a.target.is_cdylib() {
                artifact = a
                    .filenames
                    .into_iter()
                    .find(|f| f.extension() == Some("wasm"))
                    .map(|f| f.into_std_path_buf());
            }
        }
    }
    let status = child.wait().map_err(BuildError::CargoSpawn)?;
    if !status.success() {
        return Err(ChildFailed {
            program: "cargo build".into(),
            code: status.code().unwrap_or(1),
        }
        .into());
    }
    artifact.ok_or_else(|| BuildError::NoArtifact(project.name.clone()).into())
}
