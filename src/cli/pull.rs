//! `wasmctl pull`: fetch an image and write its module to a file.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;
use wasmctl::oci::OciError;
use wasmctl::output::Printer;

use super::JsonArg;
use super::push::RegistryArgs;
use super::verify::{inspect, location_or_last_push, pinned};

/// Download the module of an image to a file
#[derive(Debug, Args)]
pub struct PullArgs {
    /// HOST[:PORT]/REPO[:TAG|@DIGEST] or oci-layout:DIR[:TAG] [default: this project's last push]
    #[arg(value_name = "REF")]
    reference: Option<String>,
    /// Where to write the module
    #[arg(short, long, value_name = "FILE")]
    output_file: PathBuf,
    /// Path to the project's Cargo.toml (for the default REF)
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    pub output: JsonArg,
}

#[derive(Serialize)]
struct Pulled<'a> {
    reference: &'a str,
    digest: &'a str,
    path: &'a std::path::Path,
    size: u64,
    sha256: &'a str,
    accepted: bool,
}

pub fn run(args: PullArgs, printer: &Printer) -> anyhow::Result<()> {
    let location = location_or_last_push(args.reference.as_deref(), args.manifest_path)?;
    let found = inspect(&location, &args.registry, printer)?;
    let Some(module) = &found.module else {
        return Err(OciError::Rejected {
            reference: pinned(&found),
            reasons: found.reasons,
        })
        .context("the image holds no module wasmctl can extract");
    };
    for reason in &found.reasons {
        printer.warn(format!("Istio would reject this image: {reason}"));
    }
    wasmctl::fs::write_atomic(&args.output_file, module)
        .with_context(|| format!("failed to write `{}`", args.output_file.display()))?;
    printer.status(
        "Pulled",
        format!("{} ({} bytes)", pinned(&found), module.len()),
    );
    if printer.json() {
        printer.result_json(&Pulled {
            reference: &found.reference,
            digest: &found.digest,
            path: &args.output_file,
            size: module.len() as u64,
            sha256: found.module_sha256.as_deref().unwrap_or_default(),
            accepted: found.accepted,
        })
    } else {
        printer.result(args.output_file.display());
        Ok(())
    }
}
