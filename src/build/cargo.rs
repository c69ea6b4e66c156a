//! Running the `cargo` on PATH, so that RUSTUP_TOOLCHAIN and rust-toolchain.toml are honoured, and
//! finding what it built from its own JSON messages rather than by guessing paths.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cargo_metadata::Message;

use super::{BuildError, BuildOptions};
use crate::error::ChildFailed;
use crate::project::Project;

/// Whether the toolchain that builds in `dir` has the standard library for `target`.
///
/// Asks `rustc` from `dir`, so a rust-toolchain.toml there picks the same toolchain cargo will use.
/// When rustc cannot be asked, says yes and lets cargo report the problem itself.
pub fn target_installed(dir: &Path, target: &str) -> bool {
    let mut rustc = Command::new("rustc");
    rustc.current_dir(dir);
    has_std(rustc, target)
}

/// Other rustup toolchains that do have the standard library for `target`, for the hint.
pub fn toolchains_with_target(target: &str) -> Vec<String> {
    let Ok(list) = Command::new("rustup")
        .args(["toolchain", "list"])
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|toolchain| {
            let mut rustc = Command::new("rustc");
            rustc.arg(format!("+{toolchain}"));
            has_std(rustc, target)
        })
        .map(str::to_string)
        .collect()
}

fn has_std(mut rustc: Command, target: &str) -> bool {
    let output = rustc
        .args(["--print", "target-libdir", "--target", target])
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

/// Runs `cargo build` for the project's lib and returns the path of the .wasm cargo wrote.
pub fn build(project: &Project, options: &BuildOptions) -> Result<PathBuf, BuildError> {
    let mut cmd = Command::new("cargo");
    cmd.arg("build")
        .arg("--lib")
        .arg("--manifest-path")
        .arg(&project.cargo_manifest)
        .arg("--package")
        .arg(&project.name)
        .arg("--target")
        .arg(&options.target)
        .arg("--message-format=json-render-diagnostics")
        .arg("--color")
        .arg(if options.color { "always" } else { "never" });
    if options.release {
        cmd.arg("--release");
    }
    if options.quiet {
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
            let ours = a.manifest_path.as_std_path() == project.cargo_manifest
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
        return Err(BuildError::CargoFailed(ChildFailed {
            program: "cargo build".into(),
            code: status.code().unwrap_or(1),
        }));
    }
    artifact.ok_or_else(|| BuildError::NoArtifact(project.name.clone()))
}
