//! `wasmctl build`: flags in, `build::build` out.

use super::reporter::PrinterReporter;
use crate::cli::output::{Printer, Verbosity};
use clap::Args;
use wasmctl::build::{self, BuildOptions, CargoOutput, WasmOptRun};

use super::{JsonArg, ProjectArgs};

/// Compile the plugin to Wasm, check it is proxy-wasm, and shrink it
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Rust target to build for (wasm32-wasip1 or wasm32-unknown-unknown)
    #[arg(long, default_value = build::DEFAULT_TARGET, value_name = "TRIPLE")]
    target: String,
    /// Build with the dev profile instead of release
    #[arg(long)]
    debug: bool,
    /// Skip `wasm-opt -Oz` (custom sections are still stripped)
    #[arg(long)]
    no_opt: bool,
    #[command(flatten)]
    project: ProjectArgs,
    /// Extra arguments for cargo, after `--` (e.g. `-- --features x`)
    #[arg(last = true, value_name = "CARGO_ARGS")]
    cargo_args: Vec<String>,
    #[command(flatten)]
    pub output: JsonArg,
}

pub fn run(args: BuildArgs, printer: &Printer) -> anyhow::Result<()> {
    let options = BuildOptions {
        project: args.project.selector(),
        target: args.target,
        release: !args.debug,
        optimize: !args.no_opt,
        quick: false,
        cargo_args: args.cargo_args,
        output: cargo_output(printer),
    };
    let out = build::build(&options, &PrinterReporter::new(printer))?;
    let module = &out.record;
    let saved = 100.0 * (1.0 - module.size as f64 / out.original_size.max(1) as f64);
    printer.status(
        "Built",
        format!(
            "{} ({} -> {} bytes, -{saved:.0}%{}), abi {}, sha256 {}",
            module
                .path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy(),
            out.original_size,
            module.size,
            match out.wasm_opt {
                WasmOptRun::Skipped => "",
                WasmOptRun::Ran => ", wasm-opt",
                WasmOptRun::Reused => ", wasm-opt (cached)",
            },
            module.abi,
            module.sha256.hex(),
        ),
    );
    if printer.json() {
        printer.result_json(module)
    } else {
        printer.result(module.path.display());
        Ok(())
    }
}

/// Cargo's own output following ours: colored when we color, quiet under -q.
pub fn cargo_output(printer: &Printer) -> CargoOutput {
    CargoOutput {
        color: printer.color(),
        quiet: printer.verbosity() == Verbosity::Quiet,
        progress_width: printer.progress_width(),
    }
}
