//! `push`: package a module in an image format and publish it to a registry or an image layout,
//! then record the push in the project for `manifest` and `verify`.
//!
//! Blobs the registry already holds are skipped (one HEAD each), so pushing the same module again
//! sends only the manifest. Blobs go up before the manifest, and registries refuse a manifest whose
//! blobs are missing, so an interrupted push never leaves a half image behind a tag.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::auth::{self, Credential};
use super::image::{self, Format, Image};
use super::reference::{ImageRef, Location};
use super::registry::Registry;
use super::transport::Transport;
use super::{OciError, annotations, block_on};
use crate::digest::Digest;
use crate::key_value::KeyValue;
use crate::module::{self, ModuleInfo};
use crate::progress::Reporter;
use crate::project::{BuildProfile, BuildRecord, Lookup, Project, ProjectSelector, PushRecord};

/// What to push and where, as the user asked.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Where to; None: the project's `repository`, tagged with its crate version.
    pub destination: Option<Location>,
    /// The module; None: the project's last `wasmctl build`.
    pub module: Option<PathBuf>,
    pub format: Format,
    /// The user's own manifest annotations, over the standard `org.opencontainers.image.*` ones.
    pub annotations: Vec<KeyValue>,
    pub project: ProjectSelector,
    pub transport: Transport,
}

/// One layer as the manifest lists it.
#[derive(Debug, Clone, Serialize)]
pub struct LayerSummary {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// What was pushed.
#[derive(Debug, Clone, Serialize)]
pub struct PushOutcome {
    /// The destination as given, with its tag (`host/repo:tag` or `oci-layout:DIR:TAG`).
    pub reference: String,
    /// The image manifest digest.
    pub digest: Digest,
    /// Bytes of the manifest and its distinct blobs.
    pub size: u64,
    pub format: Format,
    pub layers: Vec<LayerSummary>,
    /// Whether the image went to an image layout on disk rather than a registry.
    #[serde(skip)]
    pub to_layout: bool,
    /// Blobs actually sent; 0 when the registry had them all.
    #[serde(skip)]
    pub uploaded_blobs: usize,
    #[serde(skip)]
    pub uploaded_bytes: u64,
    /// Distinct blobs the image has (config included).
    #[serde(skip)]
    pub total_blobs: usize,
    /// The digest of the module itself.
    #[serde(skip)]
    pub module_sha256: Digest,
}

/// `wasmctl push`: finds the module and the destination (from the options, else the project),
/// pushes, and records the push in the project.
pub fn publish(options: &PushOptions, reporter: &dyn Reporter) -> crate::Result<PushOutcome> {
    // A named module pushed to a named place needs no project; anything else defaults from one.
    let needed = options.module.is_none() || options.destination.is_none();
    let project = Project::discover_when(&options.project, needed, Lookup::CargoMetadata)?;
    let location = destination(options, project.as_ref())?;
    check_destination(&location)?;
    if matches!(location, Location::Registry(_)) {
        // A bad --ca-file is said before anything is pushed, not after the push began.
        options.transport.read_ca_files()?;
    }
    let location = absolute(location);
    // The project's last build, when that is what goes out.
    let last_build = match (&options.module, &project) {
        (None, Some(project)) => Some(project.last_build().ok_or(OciError::NoBuild)?),
        _ => None,
    };
    let (module_path, module, info) = read_module(options, last_build.as_ref())?;
    if let (Some(build), Some(project)) = (&last_build, &project) {
        last_build_warnings(build, project, reporter);
    }
    let annotations = annotations::for_image(project.as_ref(), &module_path, &options.annotations);
    if module.len() as u64 > super::istio::MAX_MODULE_SIZE {
        reporter.warning(&format!(
            "the module is {} bytes; Istio refuses modules over {} MiB",
            module.len(),
            super::istio::MAX_MODULE_SIZE >> 20
        ));
    }
    if options.format == Format::Cncf {
        reporter.warning(
            "the cncf format is the CNCF wasm artifact; Istio rejects it (use compat or oci for Istio)",
        );
    }
    let credential = auth::for_location(&location, reporter)?;
    let what = format!(
        "{} as {} ({} bytes) to {location}",
        module_path.display(),
        options.format.as_str(),
        module.len()
    );
    reporter.status("Pushing", &what);
    let target = Target {
        location: &location,
        format: options.format,
        annotations: &annotations,
        transport: &options.transport,
    };
    let outcome = push(&module, &info, &target, credential, reporter)?;
    if let Some(project) = &project {
        project.save_push(&PushRecord {
            reference: outcome.reference.clone(),
            digest: outcome.digest,
            format: options.format.as_str().to_string(),
            module_sha256: Some(outcome.module_sha256),
        })?;
    }
    Ok(outcome)
}

/// The destination given, else the project's repository tagged with its version.
fn destination(options: &PushOptions, project: Option<&Project>) -> Result<Location, OciError> {
    if let Some(location) = &options.destination {
        return Ok(location.clone());
    }
    let project = project.ok_or(OciError::NoReference)?;
    let repository = project
        .settings
        .repository
        .as_ref()
        .ok_or(OciError::NoReference)?;
    // The same rule `wasmctl new` wrote the setting by.
    let mut image = ImageRef::parse_repository(repository).map_err(|source| {
        OciError::BadRepositorySetting {
            manifest_path: project.cargo_manifest.clone(),
            source,
        }
    })?;
    image.tag = Some(project.version.clone());
    Ok(Location::Registry(image))
}

/// A layout is recorded by its absolute path, so `verify` and `pull` find it from anywhere.
fn absolute(location: Location) -> Location {
    match location {
        Location::Layout { dir, tag, digest } => Location::Layout {
            dir: std::path::absolute(&dir).unwrap_or(dir),
            tag,
            digest,
        },
        registry => registry,
    }
}

/// Warns when the project's last build, about to go out, is not what `wasmctl build` would make
/// now: a source changed after it, or it is a debug or dev build.
fn last_build_warnings(build: &BuildRecord, project: &Project, reporter: &dyn Reporter) {
    let mut warnings: Vec<String> = project
        .stale_build(&build.path)
        .map(|stale| stale.message())
        .into_iter()
        .collect();
    let unshrunk = match build.profile {
        BuildProfile::Debug => Some("a debug build (`build --debug`)"),
        BuildProfile::Quick => Some("a quick build of `wasmctl dev`"),
        BuildProfile::Release => None,
    };
    warnings.extend(unshrunk.map(|what| {
        format!("the last build is {what}: larger and slower than what `wasmctl build` makes")
    }));
    for warning in &warnings {
        reporter.warning(warning);
    }
    if !warnings.is_empty() {
        reporter.hint("run `wasmctl build` first, or push with `wasmctl push --build`");
    }
}

/// The module named, else the project's last build, checked to be proxy-wasm: nothing is
/// packaged, asked or sent for a module that fails the checks.
fn read_module(
    options: &PushOptions,
    last_build: Option<&BuildRecord>,
) -> Result<(PathBuf, Vec<u8>, ModuleInfo), OciError> {
    let path = match (&options.module, last_build) {
        (Some(path), _) => path.clone(),
        (None, Some(build)) => build.path.clone(),
        (None, None) => return Err(OciError::NoBuild),
    };
    let module = crate::fs::read(&path)?;
    let info = module::inspect(&module).map_err(|e| OciError::Module(e.in_file(&path)))?;
    Ok((path, module, info))
}

/// Refuses a destination that cannot take the image before anything is asked or sent: a digest
/// (an image is pushed to a tag) or a directory that holds something other than an image layout.
fn check_destination(location: &Location) -> Result<(), OciError> {
    match location {
        Location::Registry(ImageRef {
            digest: Some(_), ..
        })
        | Location::Layout {
            digest: Some(_), ..
        } => Err(OciError::PushToDigest(location.to_string())),
        Location::Layout { dir, .. } => Ok(super::layout::check_destination(dir)?),
        Location::Registry(_) => Ok(()),
    }
}

/// Where an image goes and how it is packaged.
#[derive(Debug, Clone, Copy)]
struct Target<'a> {
    location: &'a Location,
    format: Format,
    /// Manifest annotations (org.opencontainers.image.* and the user's own).
    annotations: &'a BTreeMap<String, String>,
    transport: &'a Transport,
}

/// Packages the module `info` describes and publishes it.
fn push(
    module_bytes: &[u8],
    info: &ModuleInfo,
    target: &Target<'_>,
    credential: Option<Credential>,
    reporter: &dyn Reporter,
) -> crate::Result<PushOutcome> {
    let (image, module_sha256) = std::thread::scope(|scope| {
        let hashing = scope.spawn(|| Digest::of(module_bytes));
        let image = image::build(
            module_bytes,
            target.format,
            info.abi.as_str(),
            target.annotations,
            &image::created_time(),
        );
        (image, hashing.join().expect("hashing does not panic"))
    });
    let (reference, uploaded_blobs, uploaded_bytes) = match target.location {
        Location::Registry(destination) => {
            let mut destination = destination.clone();
            destination.tag = Some(destination.tag_or_latest().to_string());
            let mut registry =
                Registry::new(&destination, target.transport, credential, true, reporter)?;
            let (blobs, bytes) = block_on(push_to_registry(&mut registry, &image, reporter))?;
            (destination.to_string(), blobs, bytes)
        }
        Location::Layout { dir, tag, .. } => {
            let tag = tag.as_deref().unwrap_or("latest");
            let (blobs, bytes) = super::layout::write(dir, tag, &image)?;
            let written = Location::Layout {
                dir: dir.clone(),
                tag: Some(tag.to_string()),
                digest: None,
            };
            (written.to_string(), blobs, bytes)
        }
    };
    Ok(PushOutcome {
        reference,
        digest: image.digest,
        size: image.size(),
        format: target.format,
        layers: image
            .layers
            .iter()
            .map(|l| LayerSummary {
                media_type: l.media_type.to_string(),
                digest: l.digest,
                size: l.data.len() as u64,
            })
            .collect(),
        to_layout: matches!(target.location, Location::Layout { .. }),
        uploaded_blobs,
        uploaded_bytes,
        total_blobs: image.blobs().len(),
        module_sha256,
    })
}

/// Uploads the blobs the registry lacks, then the manifest; returns the blobs and bytes sent.
async fn push_to_registry(
    registry: &mut Registry<'_>,
    image: &Image,
    reporter: &dyn Reporter,
) -> Result<(usize, u64), OciError> {
    let mut missing = Vec::new();
    for blob in image.blobs() {
        if registry.blob_exists(&blob.digest).await? {
            let host = &registry.image().registry;
            reporter.note(&format!("{} already in {host}", blob.digest.short()));
        } else {
            missing.push(blob);
        }
    }
    let total: u64 = missing.iter().map(|b| b.data.len() as u64).sum();
    reporter.transfer_started("Pushing", total);
    let mut sent = 0;
    for blob in &missing {
        let size = blob.data.len() as u64;
        reporter.note(&format!("uploading {} ({size} bytes)", blob.digest.short()));
        let data = bytes::Bytes::copy_from_slice(&blob.data);
        let pushed = registry.push_blob(data, &blob.digest, sent, reporter).await;
        if let Err(e) = pushed {
            reporter.transfer_finished();
            return Err(e);
        }
        sent += size;
    }
    reporter.transfer_finished();
    registry
        .push_manifest(&image.manifest, image::MANIFEST_MEDIA_TYPE, &image.digest)
        .await?;
    Ok((missing.len(), total))
}
