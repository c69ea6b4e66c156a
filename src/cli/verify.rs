//! `wasmctl verify`: flags in, `oci::verify::verify` out.

use crate::cli::output::Printer;
use clap::Args;
use wasmctl::oci::pull::ImageSource;
use wasmctl::oci::{Location, verify};

use super::exit::{self, ExitStatus};
use super::push::RegistryArgs;
use super::reporter::PrinterReporter;
use super::{JsonArg, ProjectArgs};

/// Which image verify and pull fetch; shared by both.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// HOST[:PORT]/REPO[:TAG|@DIGEST] or oci-layout:DIR[:TAG] [default: this project's last push]
    #[arg(value_name = "REF")]
    reference: Option<String>,
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl ImageArgs {
    pub fn source(&self) -> anyhow::Result<ImageSource> {
        Ok(ImageSource {
            location: self
                .reference
                .as_deref()
                .map(Location::parse)
                .transpose()
                .map_err(wasmctl::Error::from)?,
            project: self.project.selector(),
            transport: self.registry.transport(),
        })
    }
}

/// Check that an image holds a proxy-wasm module in a layout Istio loads
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    image: ImageArgs,
    #[command(flatten)]
    pub output: JsonArg,
}

pub fn run(args: VerifyArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let found = verify::verify(&args.image.source()?, &PrinterReporter::new(printer))?;
    if printer.json() {
        printer.result_json(&found)?;
    }
    let Some(layout) = found.layout.filter(|_| found.accepted) else {
        let rejection = anyhow::Error::from(wasmctl::error::Error::from(found.rejection()));
        exit::report(printer, &rejection);
        return Ok(ExitStatus::Findings);
    };
    printer.status(
        "Verified",
        format!(
            "{}: {}, proxy-wasm ABI {}, {} bytes",
            found.reference,
            layout.describe(),
            found.abi.as_deref().unwrap_or("?"),
            found.module_size.unwrap_or(0)
        ),
    );
    if !printer.json() {
        printer.result(found.pinned());
    }
    Ok(ExitStatus::Success)
}
