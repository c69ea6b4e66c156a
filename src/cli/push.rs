//! `wasmctl push`: flags in, `oci::push::push` out.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use wasmctl::build::{self, BuildOptions};
use wasmctl::oci::push::{self, PushOptions};
use wasmctl::oci::registry::Transport;
use wasmctl::oci::{Format, Location, OciError, auth};
use wasmctl::output::Printer;
use wasmctl::project::{Project, ProjectError, PushRecord};

use super::{JsonArg, ProjectArgs};

/// How to reach registries; shared by push, pull, verify and login.
#[derive(Debug, Args, Clone, Default)]
pub struct RegistryArgs {
    /// Allow plain HTTP to HOST[:PORT] (always allowed for loopback hosts); repeatable
    #[arg(long, value_name = "HOST")]
    pub insecure: Vec<String>,
    /// Trust this PEM CA certificate for TLS registries; repeatable
    #[arg(long, value_name = "PATH")]
    pub ca_file: Vec<PathBuf>,
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
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    pub output: JsonArg,
}

pub fn run(args: PushArgs, printer: &Printer) -> anyhow::Result<()> {
    let selector = args.project.selector();
    // A named module pushed to a named place needs no project; anything else defaults from one.
    let project = if args.wasm.is_some() && args.reference.is_some() && !args.build {
        match Project::discover(&selector) {
            Ok(project) => Some(project),
            Err(ProjectError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        }
    } else {
        Some(Project::discover(&selector)?)
    };
    let format: Format = args.format.parse().map_err(anyhow::Error::msg)?;
    let mut annotations = BTreeMap::new();
    for text in &args.annotations {
        let (k, v) = push::parse_annotation(text)?;
        annotations.insert(k, v);
    }
    let location = match (&args.reference, &project) {
        (Some(text), _) => Location::parse(text)?,
        (None, Some(project)) => match &project.settings.repository {
            Some(repository) => Location::parse(&format!("{repository}:{}", project.version))
                .with_context(|| {
                    format!(
                        "`repository` in {} is not valid",
                        project.cargo_manifest.display()
                    )
                })?,
            None => return Err(OciError::NoReference.into()),
        },
        (None, None) => return Err(OciError::NoReference.into()),
    };

    let module_path = if let Some(path) = &args.wasm {
        path.clone()
    } else {
        let project = project.as_ref().expect("a project without --wasm");
        if args.build {
            let options = BuildOptions {
                project: selector.clone(),
                ..super::build::cargo_output(printer)
            };
            build::build(&options, &super::build::PrinterReporter(printer))?.path
        } else {
            project.last_build().ok_or(OciError::NoBuild)?.path
        }
    };
    let module = std::fs::read(&module_path)
        .with_context(|| format!("failed to read `{}`", module_path.display()))?;

    let mut defaults = standard_annotations(project.as_ref(), &module_path);
    defaults.extend(annotations);
    if format == Format::Cncf {
        printer.warn(
            "the cncf format is the CNCF wasm artifact; Istio rejects it (use compat or oci for Istio)",
        );
    }
    let credential = match &location {
        Location::Registry(image) => auth::lookup(&image.registry).map(|(credential, source)| {
            printer.verbose(format!(
                "using credentials for {} from {source}",
                image.registry
            ));
            credential
        }),
        Location::Layout { .. } => None,
    };
    printer.status(
        "Pushing",
        format!(
            "{} as {} ({} bytes)",
            module_path.display(),
            format.as_str(),
            module.len()
        ),
    );
    let options = PushOptions {
        location: location.clone(),
        format,
        annotations: defaults,
        transport: args.registry.transport(),
    };
    let outcome = push::push(&module, &options, credential, printer)?;
    printer.status(
        "Pushed",
        format!(
            "{} ({} of {} blobs {}, {} bytes)",
            outcome.reference,
            outcome.uploaded_blobs,
            outcome.total_blobs,
            if matches!(location, Location::Layout { .. }) {
                "written"
            } else {
                "uploaded"
            },
            outcome.uploaded_bytes
        ),
    );
    if let Some(project) = &project {
        project.save_push(&PushRecord {
            reference: outcome.reference.clone(),
            digest: outcome.digest.parse()?,
            format: format.as_str().to_string(),
            module_sha256: Some(wasmctl::digest::Digest::from_hex(&outcome.module_sha256)?),
        })?;
    }
    if printer.json() {
        printer.result_json(&outcome)
    } else {
        printer.result(format!("{}@{}", outcome.reference, outcome.digest));
        Ok(())
    }
}

/// org.opencontainers.image.* annotations from what is known about the project.
fn standard_annotations(
    project: Option<&Project>,
    module_path: &std::path::Path,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let key = |k: &str| format!("org.opencontainers.image.{k}");
    let title = project.map(|p| p.name.clone()).or_else(|| {
        module_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
    });
    if let Some(title) = title {
        out.insert(key("title"), title);
    }
    if let Some(project) = project {
        out.insert(key("version"), project.version.clone());
        if let Some(source) = &project.repository_url {
            out.insert(key("source"), source.clone());
        }
        if let Some(revision) = git_revision(&project.root) {
            out.insert(key("revision"), revision);
        }
    }
    out
}

/// The commit the project is at, when it is a git checkout.
fn git_revision(dir: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && text.len() == 40).then(|| text.to_string())
}
