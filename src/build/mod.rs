//! `wasmctl build`: compile the plugin with cargo, check it is proxy-wasm, shrink it, and put it at a
//! stable path.

mod cargo;
mod shrink;

pub(crate) use shrink::SHRUNK;

use std::path::PathBuf;

use crate::digest::Digest;
use crate::error::{ChildFailed, Hint};
use crate::module::{self, ModuleError};
use crate::progress::Reporter;
use crate::project::{BuildProfile, BuildRecord, Project, ProjectError, ProjectSelector};

use shrink::{ShrinkError, WasmOpt};

/// The target `wasmctl build` compiles for unless told otherwise.
pub const DEFAULT_TARGET: &str = "wasm32-wasip1";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the Rust target {target} is not installed")]
    TargetMissing {
        target: String,
        /// rustup toolchains that have it, if any.
        elsewhere: Vec<String>,
    },
    #[error("`{0}` is not a wasm target")]
    NotWasmTarget(String),
    #[error("failed to run `cargo`")]
    CargoSpawn(#[source] std::io::Error),
    /// cargo printed its own diagnostics; only its exit code is left to report.
    #[error("cargo build failed")]
    CargoFailed(#[source] ChildFailed),
    /// The link failure of proxy-wasm before 0.2.5 under Rust 1.96 and later: its host imports
    /// are undefined symbols to the newer linker. cargo printed the linker's errors.
    #[error(
        "cargo build failed: the proxy-wasm host functions are undefined symbols to the linker"
    )]
    ProxyWasmLink(#[source] ChildFailed),
    #[error("cargo built no cdylib for package `{0}`")]
    NoArtifact(String),
    #[error("`{}` is not a proxy-wasm plugin", .path.display())]
    NotPlugin {
        path: PathBuf,
        #[source]
        source: ModuleError,
    },
    /// A child was stopped by a signal (Ctrl-C, a cancel): nothing was written.
    #[error("{program} was stopped by signal {signal}; nothing was written")]
    Stopped { program: &'static str, signal: i32 },
    /// Arguments for cargo that wasmctl sets itself.
    #[error("`{0}` after `--` would change what wasmctl builds")]
    CargoArgument(String),
    #[error(transparent)]
    Project(#[from] ProjectError),
}

impl Hint for BuildError {
    fn hints(&self) -> Vec<String> {
        match self {
            // Rust 1.84 removed the target's old name.
            BuildError::TargetMissing { target, .. } if target == "wasm32-wasi" => vec![
                "wasm32-wasi is now called wasm32-wasip1: --target wasm32-wasip1 (the default)"
                    .into(),
            ],
            BuildError::TargetMissing { target, elsewhere } => {
                let mut hints = vec![format!("rustup target add {target}")];
                if let Some(toolchain) = elsewhere.first() {
                    hints.push(format!(
                        "the rustup toolchain `{toolchain}` has it: RUSTUP_TOOLCHAIN={toolchain} wasmctl build"
                    ));
                }
                hints
            }
            BuildError::NotWasmTarget(_) => {
                vec!["use --target wasm32-wasip1 or --target wasm32-unknown-unknown".into()]
            }
            BuildError::NoArtifact(_) => {
                vec!["set `crate-type = [\"cdylib\"]` in the [lib] section of Cargo.toml".into()]
            }
            BuildError::ProxyWasmLink(_) => vec![
                "proxy-wasm before 0.2.5 does not link with Rust 1.96 and later; update it: `cargo update -p proxy-wasm` (to 0.2.5 or later; raise the version in Cargo.toml if it pins an older one)"
                    .into(),
                "or keep this proxy-wasm and let its imports link: RUSTFLAGS=\"-C link-arg=--allow-undefined\" wasmctl build (or that rustflag in .cargo/config.toml)"
                    .into(),
            ],
            BuildError::NotPlugin { source, .. } => source.hints(),
            BuildError::Project(source) => source.hints(),
            BuildError::CargoArgument(_) => vec![
                "give the target as `wasmctl build --target TRIPLE`, so that wasmctl picks its module and records it"
                    .into(),
            ],
            BuildError::CargoSpawn(_) | BuildError::CargoFailed(_) | BuildError::Stopped { .. } => {
                Vec::new()
            }
        }
    }
}

/// What to build and how.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub project: ProjectSelector,
    pub target: String,
    pub release: bool,
    /// Run `wasm-opt -Oz --converge` when it is on PATH.
    pub optimize: bool,
    /// A quick build, for the dev loop: the project's release profile without LTO, with 256
    /// codegen units and incremental compilation. The plugin behaves the same (the same
    /// opt-level, panic strategy and overflow checks); the module is larger and a change rebuilds
    /// several times faster.
    pub quick: bool,
    /// Extra arguments passed to cargo after ours (`--features`, `--locked`...).
    pub cargo_args: Vec<String>,
    pub output: CargoOutput,
}

/// How cargo's own output looks as it is relayed: it follows wasmctl's.
#[derive(Debug, Clone, Copy, Default)]
pub struct CargoOutput {
    /// Let cargo color its diagnostics (`--color always`, else `never`).
    pub color: bool,
    /// Pass `--quiet` to cargo.
    pub quiet: bool,
    /// Let cargo draw its progress bar this wide (its stderr is relayed, so it cannot tell a
    /// terminal); None: no bar.
    pub progress_width: Option<u16>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            project: ProjectSelector::default(),
            target: DEFAULT_TARGET.to_string(),
            release: true,
            optimize: true,
            quick: false,
            cargo_args: Vec::new(),
            output: CargoOutput::default(),
        }
    }
}

/// The result of a build: the record it leaves for the commands that follow (the module's final
/// path and what it is; also what `build --json` prints), and what shrinking did.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    pub record: BuildRecord,
    /// The size cargo produced, before shrinking.
    pub original_size: u64,
    /// What wasm-opt did.
    pub wasm_opt: WasmOptRun,
}

/// Builds the project's plugin and writes the final module to `target/wasmctl/<name>.wasm`.
pub fn build(options: &BuildOptions, reporter: &dyn Reporter) -> crate::Result<BuildOutput> {
    if !options.target.starts_with("wasm") {
        return Err(BuildError::NotWasmTarget(options.target.clone()).into());
    }
    // cargo would build a second target beside wasmctl's, and either module could be taken.
    if let Some(arg) =
        (options.cargo_args.iter()).find(|arg| *arg == "--target" || arg.starts_with("--target="))
    {
        return Err(BuildError::CargoArgument(arg.clone()).into());
    }
    let project = Project::discover(&options.project)?;
    if !cargo::target_installed(&project.root, &options.target) {
        return Err(BuildError::TargetMissing {
            target: options.target.clone(),
            elsewhere: cargo::toolchains_with_target(&options.target),
        }
        .into());
    }

    let built = cargo::build(&project, options, reporter)?;
    let original = crate::fs::read(&built)?;
    let not_plugin = |source| BuildError::NotPlugin {
        path: built.clone(),
        source,
    };
    // Refuse anything that is not proxy-wasm before spending time on shrinking it.
    module::inspect(&original).map_err(not_plugin)?;
    let stripped = module::strip_custom_sections(&original).map_err(not_plugin)?;
    let (shrunk, wasm_opt) = if options.optimize {
        optimize(stripped, reporter)?
    } else {
        (stripped, WasmOptRun::Skipped)
    };
    // Shrinking must never change what the module is.
    let info = module::inspect(&shrunk).map_err(not_plugin)?;

    let record = BuildRecord {
        path: project.artifact_path(),
        size: shrunk.len() as u64,
        sha256: Digest::of(&shrunk),
        abi: info.abi.to_string(),
        target: options.target.clone(),
        profile: match (options.release, options.quick) {
            (false, _) => BuildProfile::Debug,
            (true, true) => BuildProfile::Quick,
            (true, false) => BuildProfile::Release,
        },
    };
    crate::fs::write_atomic(&record.path, &shrunk)?;
    project.save_build(&record)?;
    Ok(BuildOutput {
        record,
        original_size: original.len() as u64,
        wasm_opt,
    })
}

/// What wasm-opt did in a build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmOptRun {
    /// It did not run: `--no-opt`, not installed, or it failed.
    Skipped,
    /// It shrank the module.
    Ran,
    /// It had shrunk this very module before; the cache gave its output.
    Reused,
}

/// Runs wasm-opt when it is on PATH; a failure keeps the module as it was, and a wasm-opt
/// stopped by a signal stops the build. Says what it did.
fn optimize(module: Vec<u8>, reporter: &dyn Reporter) -> Result<(Vec<u8>, WasmOptRun), BuildError> {
    let Some(wasm_opt) = WasmOpt::find() else {
        reporter.hint(&shrink::missing_hint(module.len()));
        return Ok((module, WasmOptRun::Skipped));
    };
    Ok(match wasm_opt.optimize_cached(&module) {
        Ok(shrunk) if shrunk.reused => (shrunk.module, WasmOptRun::Reused),
        Ok(shrunk) => (shrunk.module, WasmOptRun::Ran),
        Err(ShrinkError::Stopped(signal)) => {
            return Err(BuildError::Stopped {
                program: "wasm-opt",
                signal,
            });
        }
        Err(err) => {
            reporter.warning(&format!(
                "wasm-opt failed, keeping the unoptimized module: {err}"
            ));
            (module, WasmOptRun::Skipped)
        }
    })
}
