//! `wasmctl build`: compile the plugin with cargo, check it is proxy-wasm, shrink it, and put it at a
//! stable path.

mod cargo;
mod shrink;

use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::diagnostic::Hint;
use crate::module::{self, ModuleError};
use crate::output::Printer;
use crate::project::{BuildRecord, Project, ProjectSelector};

pub use cargo::{installed_targets, target_installed};
pub use shrink::WasmOpt;

/// The target `wasmctl build` compiles for unless told otherwise.
pub const DEFAULT_TARGET: &str = "wasm32-wasip1";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the Rust target {0} is not installed")]
    TargetMissing(String),
    #[error("`{0}` is not a wasm target")]
    NotWasmTarget(String),
    #[error("failed to run `cargo`")]
    CargoSpawn(#[source] std::io::Error),
    #[error("cargo built no cdylib for package `{0}`")]
    NoArtifact(String),
    #[error("`{}` is not a proxy-wasm plugin", .path.display())]
    NotPlugin {
        path: PathBuf,
        #[source]
        source: ModuleError,
    },
    #[error("failed to read `{}`", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write `{}`", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Hint for BuildError {
    fn hints(&self) -> Vec<String> {
        match self {
            BuildError::TargetMissing(target) => vec![format!("rustup target add {target}")],
            BuildError::NotWasmTarget(_) => {
                vec!["use --target wasm32-wasip1 or --target wasm32-unknown-unknown".into()]
            }
            BuildError::NoArtifact(_) => {
                vec!["set `crate-type = [\"cdylib\"]` in the [lib] section of Cargo.toml".into()]
            }
            BuildError::NotPlugin { source, .. } => source.hints(),
            _ => Vec::new(),
        }
    }
}

/// What to build and how.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub project: ProjectSelector,
    pub target: String,
    pub release: bool,
    /// Run `wasm-opt -Oz` when it is on PATH.
    pub optimize: bool,
    /// Extra arguments passed to cargo after ours (`--features`, `--locked`...).
    pub cargo_args: Vec<String>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            project: ProjectSelector::default(),
            target: DEFAULT_TARGET.to_string(),
            release: true,
            optimize: true,
            cargo_args: Vec::new(),
        }
    }
}

/// The result of a build: the module's final path and what it is.
#[derive(Debug, Clone, Serialize)]
pub struct BuildOutput {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub abi: module::AbiVersion,
    pub target: String,
    /// The size cargo produced, before shrinking.
    #[serde(skip)]
    pub original_size: u64,
    /// Whether wasm-opt ran.
    #[serde(skip)]
    pub optimized: bool,
}

/// Builds the project's plugin and writes the final module to `target/wasmctl/<name>.wasm`.
pub fn build(options: &BuildOptions, printer: &Printer) -> anyhow::Result<BuildOutput> {
    if !options.target.starts_with("wasm32-") {
        return Err(BuildError::NotWasmTarget(options.target.clone()).into());
    }
    let project = Project::discover(&options.project)?;
    if !cargo::target_installed(&project.root, &options.target) {
        return Err(BuildError::TargetMissing(options.target.clone()).into());
    }

    let built = cargo::build(&project, options, printer)?;
    let original = std::fs::read(&built).map_err(|source| BuildError::Read {
        path: built.clone(),
        source,
    })?;
    // Refuse anything that is not proxy-wasm before spending time on shrinking it.
    module::inspect(&original).map_err(|source| BuildError::NotPlugin {
        path: built.clone(),
        source,
    })?;

    let stripped =
        module::strip_custom_sections(&original).map_err(|source| BuildError::NotPlugin {
            path: built.clone(),
            source,
        })?;
    let (shrunk, optimized) = if options.optimize {
        match WasmOpt::find() {
            Some(wasm_opt) => match wasm_opt.optimize(&stripped) {
                Ok(bytes) => (bytes, true),
                Err(err) => {
                    printer.warn(format!(
                        "wasm-opt failed, keeping the unoptimized module: {err:#}"
                    ));
                    (stripped, false)
                }
            },
            None => {
                printer.verbose(
                    "wasm-opt is not on PATH; skipping it (install binaryen to shrink further)",
                );
                (stripped, false)
            }
        }
    } else {
        (stripped, false)
    };
    // Shrinking must never change what the module is.
    let info = module::inspect(&shrunk).map_err(|source| BuildError::NotPlugin {
        path: built.clone(),
        source,
    })?;

    let path = project.artifact_path();
    crate::fs::write_atomic(&path, &shrunk).map_err(|source| BuildError::Write {
        path: path.clone(),
        source,
    })?;
    let output = BuildOutput {
        path,
        size: shrunk.len() as u64,
        sha256: hex::encode(Sha256::digest(&shrunk)),
        abi: info.abi,
        target: options.target.clone(),
        original_size: original.len() as u64,
        optimized,
    };
    project.save_build(&BuildRecord {
        path: output.path.clone(),
        size: output.size,
        sha256: output.sha256.clone(),
        abi: output.abi.to_string(),
        target: output.target.clone(),
    })?;
    Ok(output)
}
