//! `wasmctl pull`: flags in, `oci::pull::pull` out.

use std::path::PathBuf;

use crate::cli::output::Printer;
use anyhow::Context as _;
use clap::Args;
use wasmctl::oci::OciError;
use wasmctl::oci::pull::{self, PullOptions};

use super::JsonArg;
use super::reporter::PrinterReporter;
use super::verify::ImageArgs;

/// Download the module of an image to a file
#[derive(Debug, Args)]
pub struct PullArgs {
    #[command(flatten)]
    image: ImageArgs,
    /// Where to write the module; `-` writes it to stdout
    #[arg(short, long, value_name = "FILE")]
    output_file: PathBuf,
    #[command(flatten)]
    pub output: JsonArg,
}

pub fn run(args: PullArgs, printer: &Printer) -> anyhow::Result<()> {
    let to_stdout = args.output_file.as_os_str() == "-";
    if to_stdout && printer.json() {
        anyhow::bail!("--json and `-o -` would both write to stdout; write the module to a file");
    }
    let options = PullOptions {
        source: args.image.source()?,
        output_file: (!to_stdout).then_some(args.output_file),
    };
    let pulled = match pull::pull(&options, &PrinterReporter::new(printer)) {
        Ok(pulled) => pulled,
        Err(rejected @ wasmctl::Error::Oci(OciError::Rejected { .. })) => {
            return Err(rejected).context("the image holds no module wasmctl can extract");
        }
        Err(e) => return Err(e.into()),
    };
    printer.status(
        "Pulled",
        format!("{} ({} bytes)", pulled.pinned, pulled.size),
    );
    match (&pulled.path, &pulled.module) {
        _ if printer.json() => printer.result_json(&pulled),
        (Some(path), _) => {
            printer.result(path.display());
            Ok(())
        }
        (None, module) => {
            printer.result_bytes(module.as_deref().unwrap_or_default());
            Ok(())
        }
    }
}
