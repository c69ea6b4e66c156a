//! `push`: package a module in an image format and publish it to a registry or an image layout.
//!
//! Blobs the registry already holds are skipped (one HEAD each), so pushing the same module again
//! sends only the manifest. Blobs go up before the manifest, and registries refuse a manifest whose
//! blobs are missing, so an interrupted push never leaves a half image behind a tag.

use std::collections::BTreeMap;

use serde::Serialize;

use super::auth::Credential;
use super::image::{self, Format, Image};
use super::layout;
use super::reference::Location;
use super::registry::{Registry, Transport};
use super::{OciError, runtime};
use crate::module::{self, ModuleInfo};
use crate::output::Printer;

/// Everything `push` needs, already validated.
#[derive(Debug, Clone)]
pub struct PushOptions {
    pub location: Location,
    pub format: Format,
    /// Manifest annotations (org.opencontainers.image.* and the user's own).
    pub annotations: BTreeMap<String, String>,
    pub transport: Transport,
}

/// One layer as the manifest lists it.
#[derive(Debug, Clone, Serialize)]
pub struct LayerSummary {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// What was pushed.
#[derive(Debug, Clone, Serialize)]
pub struct PushOutcome {
    /// The destination as given, with its tag (`host/repo:tag` or `oci-layout:DIR:TAG`).
    pub reference: String,
    /// The image manifest digest.
    pub digest: String,
    /// Bytes of the manifest and its distinct blobs.
    pub size: u64,
    pub format: Format,
    pub layers: Vec<LayerSummary>,
    /// Blobs actually sent; 0 when the registry had them all.
    #[serde(skip)]
    pub uploaded_blobs: usize,
    #[serde(skip)]
    pub uploaded_bytes: u64,
    /// Distinct blobs the image has (config included).
    #[serde(skip)]
    pub total_blobs: usize,
    /// The module's own sha256 (hex).
    #[serde(skip)]
    pub module_sha256: String,
}

/// Checks the module is proxy-wasm, packages it, and publishes it. Nothing is sent for a module
/// that fails the checks.
pub fn push(
    module_bytes: &[u8],
    options: &PushOptions,
    credential: Option<Credential>,
    printer: &Printer,
) -> Result<PushOutcome, OciError> {
    let info: ModuleInfo = module::inspect(module_bytes).map_err(OciError::Module)?;
    let (image, module_sha256) = std::thread::scope(|scope| {
        let hashing =
            scope.spawn(|| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(module_bytes)));
        let image = image::build(
            module_bytes,
            options.format,
            info.abi.as_str(),
            &options.annotations,
            &image::created_time(),
        );
        (image, hashing.join().expect("hashing does not panic"))
    });
    let (reference, uploaded_blobs, uploaded_bytes) = match &options.location {
        Location::Registry(target) => {
            if target.digest.is_some() {
                return Err(OciError::PushToDigest(target.to_string()));
            }
            let mut target = target.clone();
            target.tag = Some(target.tag_or_latest().to_string());
            let mut registry = Registry::new(&target, &options.transport, credential, true)?;
            let (blobs, bytes) =
                runtime().block_on(push_to_registry(&mut registry, &image, printer))?;
            (target.to_string(), blobs, bytes)
        }
        Location::Layout { dir, tag } => {
            let (blobs, bytes) = layout::write(dir, tag, &image)?;
            (options.location.to_string(), blobs, bytes)
        }
    };
    Ok(PushOutcome {
        reference,
        digest: image.digest.clone(),
        size: image.size(),
        format: options.format,
        layers: image
            .layers
            .iter()
            .map(|l| LayerSummary {
                media_type: l.media_type.to_string(),
                digest: l.digest.clone(),
                size: l.data.len() as u64,
            })
            .collect(),
        uploaded_blobs,
        uploaded_bytes,
        total_blobs: image.blobs().len(),
        module_sha256,
    })
}

async fn push_to_registry(
    registry: &mut Registry,
    image: &Image,
    printer: &Printer,
) -> Result<(usize, u64), OciError> {
    let blobs = image.blobs();
    let mut missing = Vec::new();
    for blob in &blobs {
        if registry.blob_exists(&blob.digest).await? {
            printer.verbose(format!(
                "{} already in {}",
                short(&blob.digest),
                registry.image.registry
            ));
        } else {
            missing.push(*blob);
        }
    }
    let total: u64 = missing.iter().map(|b| b.data.len() as u64).sum();
    let bar = printer.progress_bytes(total, "Pushing");
    for blob in &missing {
        printer.verbose(format!(
            "uploading {} ({} bytes)",
            short(&blob.digest),
            blob.data.len()
        ));
        registry
            .push_blob(
                bytes::Bytes::copy_from_slice(&blob.data),
                &blob.digest,
                &bar,
            )
            .await?;
    }
    bar.finish_and_clear();
    registry
        .push_manifest(&image.manifest, image::MANIFEST_MEDIA_TYPE, &image.digest)
        .await?;
    Ok((missing.len(), total))
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

/// Parses `KEY=VALUE` annotations from the command line.
pub fn parse_annotation(text: &str) -> Result<(String, String), OciError> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(OciError::BadAnnotation(text.to_string())),
    }
}
