//! Running the `cargo` on PATH, so that RUSTUP_TOOLCHAIN and rust-toolchain.toml are honoured, and
//! finding what it built from its own JSON messages rather than by guessing paths.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cargo_metadata::Message;

use super::{BuildError, BuildOptions};
use crate::error::ChildFailed;
use crate::progress::Reporter;
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

/// Runs `cargo build` for the project's lib and returns the path of the .wasm cargo wrote. cargo's
/// stderr goes to the reporter as it comes, and is read for failures wasmctl can explain.
pub fn build(
    project: &Project,
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<PathBuf, BuildError> {
    let mut cmd = command(project, options);
    tracing::debug!(?cmd, "running cargo");
    let mut child = cmd.spawn().map_err(BuildError::CargoSpawn)?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (artifact, diagnosis) = std::thread::scope(|scope| {
        let relay = scope.spawn(|| relay(stderr, reporter));
        let artifact = find_artifact(project, stdout);
        (artifact, relay.join().unwrap_or_default())
    });
    let status = child.wait().map_err(BuildError::CargoSpawn)?;
    if !status.success() {
        let failed = ChildFailed {
            program: "cargo build".into(),
            code: status.code().unwrap_or(1),
        };
        return Err(match diagnosis {
            Diagnosis::ProxyWasmLink => BuildError::ProxyWasmLink(failed),
            Diagnosis::Unknown => BuildError::CargoFailed(failed),
        });
    }
    artifact.ok_or_else(|| BuildError::NoArtifact(project.name.clone()))
}

fn command(project: &Project, options: &BuildOptions) -> Command {
    let mut cmd = Command::new("cargo");
    // From the project's directory, as a build there would run: its rust-toolchain.toml and
    // .cargo/config.toml apply wherever wasmctl is run from.
    cmd.current_dir(&project.root);
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
        .arg(if options.output.color {
            "always"
        } else {
            "never"
        });
    if options.release {
        cmd.arg("--release");
        if options.quick {
            // Config (here, environment) profile settings override Cargo.toml's, and being part of
            // the profile they give the artifacts their own hashes: switching between quick and
            // full builds relinks, it does not rebuild the dependencies.
            cmd.env("CARGO_PROFILE_RELEASE_LTO", "off")
                .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "256")
                .env("CARGO_PROFILE_RELEASE_INCREMENTAL", "true");
        }
    }
    if options.output.quiet {
        cmd.arg("--quiet");
    }
    if let Some(width) = options.output.progress_width {
        cmd.env("CARGO_TERM_PROGRESS_WHEN", "always")
            .env("CARGO_TERM_PROGRESS_WIDTH", width.to_string());
    }
    cmd.args(&options.cargo_args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// The .wasm of the project's cdylib, from cargo's JSON messages.
fn find_artifact(project: &Project, stdout: impl Read) -> Option<PathBuf> {
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
    artifact
}

/// What cargo's stderr says went wrong, when wasmctl knows the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Diagnosis {
    #[default]
    Unknown,
    /// rust-lld: `undefined symbol: proxy_...`, as proxy-wasm before 0.2.5 fails with Rust 1.96.
    ProxyWasmLink,
}

/// The linker's words for a proxy-wasm host function it cannot resolve.
const UNDEFINED_PROXY_SYMBOL: &[u8] = b"undefined symbol: proxy_";

/// Passes cargo's stderr to the reporter chunk by chunk (its progress bar included), looking for
/// failures wasmctl can explain.
fn relay(mut stderr: impl Read, reporter: &dyn Reporter) -> Diagnosis {
    let mut diagnosis = Diagnosis::Unknown;
    // The end of the previous chunk, so a pattern cut in two is still seen.
    let mut window: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = match stderr.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        reporter.child_output(&buf[..n]);
        window.extend_from_slice(&buf[..n]);
        if window
            .windows(UNDEFINED_PROXY_SYMBOL.len())
            .any(|w| w == UNDEFINED_PROXY_SYMBOL)
        {
            diagnosis = Diagnosis::ProxyWasmLink;
        }
        let keep = window.len().saturating_sub(UNDEFINED_PROXY_SYMBOL.len());
        window.drain(..keep);
    }
    diagnosis
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};

    use super::*;
    use crate::progress::Recorder;

    #[test]
    fn relays_everything_and_sees_the_link_failure_across_reads() {
        let first = &b"rust-lld: error: lib.o: undefined sym"[..];
        let second = &b"bol: proxy_close_stream\nerror: could not compile\n"[..];
        // Two reads: the words are cut between them.
        let stderr = Cursor::new(first).chain(Cursor::new(second));
        // Keeps what cargo "wrote", as the terminal would show it.
        let screen = Recorder::default();
        assert_eq!(relay(stderr, &screen), Diagnosis::ProxyWasmLink);
        assert_eq!(
            *screen.child_output.lock().unwrap(),
            [first, second].concat()
        );

        let other = Cursor::new(&b"error[E0425]: cannot find value `x`\n"[..]);
        assert_eq!(relay(other, &Recorder::default()), Diagnosis::Unknown);
    }
}
