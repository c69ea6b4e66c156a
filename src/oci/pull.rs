//! `pull`: fetch an image from a registry or an image layout, read it the way Istio does
//! (`istio`), and write its module to a file. `verify` fetches the same way.

use std::path::PathBuf;

use serde::Serialize;

use super::auth::{self, Credential};
use super::istio::{IstioLayout, MAX_LAYER_SIZE, ModuleSearch, index_image};
use super::layout::LayoutImage;
use super::reference::Location;
use super::registry::Registry;
use super::transport::Transport;
use super::{OciError, block_on};
use crate::digest::Digest;
use crate::progress::Reporter;
use crate::project::{Project, ProjectSelector};

/// Which image to fetch, as the user asked.
#[derive(Debug, Clone, Default)]
pub struct ImageSource {
    /// The image; None: the project's last push, pinned by digest.
    pub location: Option<Location>,
    /// The project whose last push is the default.
    pub project: ProjectSelector,
    pub transport: Transport,
}

/// An image as fetched, read the way Istio reads it.
#[derive(Debug, Clone, Serialize)]
pub struct FetchedImage {
    pub reference: String,
    /// The image manifest digest.
    pub digest: String,
    /// The layout Istio would load it as, if any.
    pub layout: Option<IstioLayout>,
    /// Whether Istio would load it: a known layout and a proxy-wasm module within the size cap.
    pub accepted: bool,
    /// Why Istio would reject it (empty when accepted).
    pub reasons: Vec<String>,
    /// The proxy-wasm ABI the module declares.
    pub abi: Option<String>,
    pub module_size: Option<u64>,
    /// The module's sha256, written as bare hex.
    #[serde(with = "crate::digest::optional_bare_hex")]
    pub module_sha256: Option<Digest>,
    #[serde(skip)]
    pub module: Option<Vec<u8>>,
    /// Whether the image has a layout Istio reads, whatever else is wrong with it.
    #[serde(skip)]
    pub format_known: bool,
}

impl FetchedImage {
    /// `REF@sha256:...`, without repeating a digest the reference already has.
    pub fn pinned(&self) -> String {
        if self.reference.contains('@') {
            self.reference.clone()
        } else {
            format!("{}@{}", self.reference, self.digest)
        }
    }

    /// The error that says Istio would not load this image, and why.
    pub fn rejection(&self) -> OciError {
        OciError::Rejected {
            reference: self.pinned(),
            reasons: self.reasons.clone(),
            format_known: self.format_known,
        }
    }
}

/// Where a pull writes the module.
#[derive(Debug, Clone)]
pub struct PullOptions {
    pub source: ImageSource,
    /// The file to write; None: write nothing and hand the module back (`-o -`, stdout).
    pub output_file: Option<PathBuf>,
}

/// What `pull` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct PullOutcome {
    /// The image, pinned by digest.
    #[serde(skip)]
    pub pinned: String,
    pub reference: String,
    pub digest: String,
    /// The file written, if any.
    pub path: Option<PathBuf>,
    pub size: u64,
    /// The module's sha256, written as bare hex.
    #[serde(with = "crate::digest::bare_hex")]
    pub sha256: Digest,
    pub accepted: bool,
    /// The module, when no file was asked for.
    #[serde(skip)]
    pub module: Option<Vec<u8>>,
}

/// `wasmctl pull`: fetches the image and writes its module to `output_file`, warning of what
/// Istio would reject. An image with no module to extract is an [`OciError::Rejected`].
pub fn pull(options: &PullOptions, reporter: &dyn Reporter) -> crate::Result<PullOutcome> {
    let found = fetch(&options.source, reporter)?;
    let (Some(module), Some(sha256)) = (&found.module, found.module_sha256) else {
        return Err(found.rejection().into());
    };
    for reason in &found.reasons {
        reporter.warning(&format!("Istio would reject this image: {reason}"));
    }
    if let Some(path) = &options.output_file {
        crate::fs::write_atomic(path, module)?;
    }
    Ok(PullOutcome {
        pinned: found.pinned(),
        reference: found.reference.clone(),
        digest: found.digest.clone(),
        path: options.output_file.clone(),
        size: module.len() as u64,
        sha256,
        accepted: found.accepted,
        module: options.output_file.is_none().then(|| module.clone()),
    })
}

/// Fetches the image `source` names, with the credentials stored for its registry.
pub fn fetch(source: &ImageSource, reporter: &dyn Reporter) -> Result<FetchedImage, OciError> {
    let location = match &source.location {
        Some(location) => location.clone(),
        None => last_push(&source.project)?,
    };
    let credential = auth::for_location(&location, reporter)?;
    fetch_image(&location, &source.transport, credential, reporter)
}

/// The project's last push, pinned by digest.
fn last_push(selector: &ProjectSelector) -> Result<Location, OciError> {
    let project = Project::discover(selector)?;
    let record = project.last_push().ok_or(OciError::NotPushed)?;
    Ok(Location::parse(&format!(
        "{}@{}",
        record.reference, record.digest
    ))?)
}

/// Fetches the image at `location` and reads it the way Istio would.
fn fetch_image(
    location: &Location,
    transport: &Transport,
    credential: Option<Credential>,
    reporter: &dyn Reporter,
) -> Result<FetchedImage, OciError> {
    match location {
        Location::Registry(image) => {
            let mut registry = Registry::new(image, transport, credential, false, reporter)?;
            block_on(async {
                let (mut manifest, mut digest) = registry.pull_manifest(None).await?;
                match index_image(&manifest) {
                    Some(Ok(child)) => {
                        (manifest, digest) = registry.pull_manifest(Some(&child)).await?;
                    }
                    Some(Err(reason)) => {
                        let search = ModuleSearch::refused(reason);
                        return Ok(search.conclude(image.to_string(), digest, Vec::new()));
                    }
                    None => {}
                }
                let search = ModuleSearch::in_manifest(&manifest);
                let mut blobs = Vec::new();
                for layer in search.layer_digests() {
                    blobs.push(registry.pull_blob(layer, MAX_LAYER_SIZE).await?);
                }
                Ok(search.conclude(image.to_string(), digest, blobs))
            })
        }
        Location::Layout { dir, tag, digest } => {
            let layout = LayoutImage::open(dir, tag.as_deref(), digest.as_ref())?;
            let (manifest, digest) = match index_image(&layout.manifest) {
                Some(Ok(child)) => (layout.blob(&child)?, child),
                Some(Err(reason)) => {
                    let search = ModuleSearch::refused(reason);
                    return Ok(search.conclude(location.to_string(), layout.digest, Vec::new()));
                }
                None => (layout.manifest.clone(), layout.digest.clone()),
            };
            let search = ModuleSearch::in_manifest(&manifest);
            let blobs = search
                .layer_digests()
                .into_iter()
                .map(|d| layout.blob(d))
                .collect::<Result<_, _>>()?;
            Ok(search.conclude(location.to_string(), digest, blobs))
        }
    }
}
