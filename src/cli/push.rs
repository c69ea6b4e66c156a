//! `wasmctl push`: flags in, `oci::push::publish` out.

use std::path::PathBuf;

use crate::cli::output::Printer;
use clap::Args;
use wasmctl::build::{self, BuildOptions};
use wasmctl::key_value::KeyValue;
use wasmctl::oci::push::{self, PushOptions};
use wasmctl::oci::reference::parse_host;
use wasmctl::oci::{Format, Location, Transport};

use super::checked::Checked;
use super::key_value::KeyValueParser;
use super::reporter::PrinterReporter;
use super::{JsonArg, ProjectArgs};

/// How to reach registries; shared by push, pull, verify and login.
#[derive(Debug, Args, Clone, Default)]
pub struct RegistryArgs {
    /// Allow plain HTTP to HOST[:PORT] (always allowed for loopback hosts); repeatable
    #[arg(long, value_name = "HOST", value_parser = Checked::new(insecure_host))]
    pub insecure: Vec<String>,
    /// Trust this PEM CA certificate for TLS registries; repeatable
    #[arg(long, value_name = "PATH")]
    pub ca_file: Vec<PathBuf>,
}

/// An `--insecure` host: any host name or IP, with an optional port.
fn insecure_host(text: &str) -> Result<String, String> {
    parse_host(text).map_err(|e| format!("invalid --insecure: {e}"))
}

impl RegistryArgs {
    pub fn transport(&self) -> Transport {
        Transport {
            insecure: self.insecure.clone(),
            ca_files: self.ca_file.clone(),
        }
    }
}

/// Publish the plugin to an OCI registry (or an image layout on disk) in a format Istio loads
#[derive(Debug, Args)]
pub struct PushArgs {
    /// HOST[:PORT]/REPO[:TAG] or oci-layout:DIR[:TAG] [default: the project's repository, tagged
    /// with its crate version]
    #[arg(value_name = "REF")]
    reference: Option<String>,
    /// The module to push [default: the project's last `wasmctl build`]
    #[arg(long, value_name = "FILE")]
    wasm: Option<PathBuf>,
    /// Build the project first
    #[arg(long, conflicts_with = "wasm")]
    build: bool,
    /// Image format: compat (Istio, Envoy Gateway, Higress), oci (module.wasm variant), cncf
    #[arg(long, default_value = "compat", value_parser = Format::NAMES, value_name = "FORMAT")]
    format: String,
    /// Extra manifest annotation; repeatable
    #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = KeyValueParser::new("annotation"))]
    annotations: Vec<KeyValue>,
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    pub output: JsonArg,
}

pub fn run(args: PushArgs, printer: &Printer) -> anyhow::Result<()> {
    let destination = args
        .reference
        .as_deref()
        .map(Location::parse)
        .transpose()
        .map_err(wasmctl::Error::from)?;
    let format: Format = args.format.parse().map_err(anyhow::Error::msg)?;
    let module = if args.build {
        let options = BuildOptions {
            project: args.project.selector(),
            output: super::build::cargo_output(printer),
            ..BuildOptions::default()
        };
        Some(
            build::build(&options, &PrinterReporter::new(printer))?
                .record
                .path,
        )
    } else {
        args.wasm
    };
    let options = PushOptions {
        destination,
        module,
        format,
        annotations: args.annotations,
        project: args.project.selector(),
        transport: args.registry.transport(),
    };
    let outcome = push::publish(&options, &PrinterReporter::new(printer))?;
    let sent = if outcome.to_layout {
        "written"
    } else {
        "uploaded"
    };
    printer.status(
        "Pushed",
        format!(
            "{} ({} of {} blobs {sent}, {} bytes)",
            outcome.reference, outcome.uploaded_blobs, outcome.total_blobs, outcome.uploaded_bytes
        ),
    );
    if printer.json() {
        printer.result_json(&outcome)
    } else {
        printer.result(format!("{}@{}", outcome.reference, outcome.digest));
        Ok(())
    }
}
