//! `wasmctl verify`: flags in, `oci::pull::inspect` out.

use std::path::PathBuf;

use clap::Args;
use wasmctl::oci::pull::{self, Inspection};
use wasmctl::oci::{Location, OciError, auth};
use wasmctl::output::Printer;
use wasmctl::project::{Project, ProjectSelector};

use super::JsonArg;
use super::push::RegistryArgs;

/// Check that an image holds a proxy-wasm module in a layout Istio loads
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// HOST[:PORT]/REPO[:TAG|@DIGEST] or oci-layout:DIR[:TAG] [default: this project's last push]
    #[arg(value_name = "REF")]
    reference: Option<String>,
    /// Path to the project's Cargo.toml (for the default REF)
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    pub output: JsonArg,
}

/// The REF given, or the project's last push pinned by digest.
pub fn location_or_last_push(
    reference: Option<&str>,
    manifest_path: Option<PathBuf>,
) -> anyhow::Result<Location> {
    if let Some(text) = reference {
        return Ok(Location::parse(text)?);
    }
    let project = Project::discover(&ProjectSelector {
        manifest_path,
        package: None,
    })?;
    let record = project.last_push().ok_or(OciError::NoReference)?;
    Ok(Location::parse(&format!(
        "{}@{}",
        record.reference, record.digest
    ))?)
}

/// Fetches and inspects, with the credentials stored for the registry.
pub fn inspect(
    location: &Location,
    registry: &RegistryArgs,
    printer: &Printer,
) -> anyhow::Result<Inspection> {
    let credential = match location {
        Location::Registry(image) => auth::lookup(&image.registry).map(|(credential, source)| {
            printer.verbose(format!(
                "using credentials for {} from {source}",
                image.registry
            ));
            credential
        }),
        Location::Layout { .. } => None,
    };
    Ok(pull::inspect(location, &registry.transport(), credential)?)
}

pub fn run(args: VerifyArgs, printer: &Printer) -> anyhow::Result<()> {
    let location = location_or_last_push(args.reference.as_deref(), args.manifest_path)?;
    let found = inspect(&location, &args.registry, printer)?;
    if printer.json() {
        printer.result_json(&found)?;
    }
    match (found.accepted, found.layout) {
        (true, Some(layout)) => {
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
                printer.result(pinned(&found));
            }
            Ok(())
        }
        _ => Err(OciError::Rejected {
            reference: pinned(&found),
            reasons: found.reasons,
        }
        .into()),
    }
}

/// `REF@sha256:...`, without repeating a digest the reference already has.
pub fn pinned(found: &Inspection) -> String {
    if found.reference.contains('@') {
        found.reference.clone()
    } else {
        format!("{}@{}", found.reference, found.digest)
    }
}
