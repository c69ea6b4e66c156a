//! Where the proxy fetches the module from, and the checksum it verifies: explicit flags, else the
//! project's last push pinned by digest, else the hash of the local build.

use std::path::{Path, PathBuf};

use super::types::Module;
use super::{ManifestError, ModuleOptions, Problem};
use crate::digest::Digest;
use crate::oci::ImageRef;
use crate::project::Project;

/// The url and its checksum: explicit flags, else the project's last push pinned by digest.
pub(super) fn module_location(
    options: &ModuleOptions,
    project: Option<&Project>,
) -> Result<(String, Option<String>), ManifestError> {
    let Some(url) = &options.url else {
        let (url, digest) = last_push(project)?;
        return Ok((url, options.sha256.clone().or(Some(digest.hex()))));
    };
    if let Some(sha) = &options.sha256 {
        return Ok((url.clone(), Some(sha.clone())));
    }
    let scheme = crate::go_url::scheme_of(url).map(str::to_ascii_lowercase);
    let sha256 = match scheme.as_deref() {
        Some("http" | "https") => {
            let artifact =
                project
                    .map(Project::artifact_path)
                    .ok_or_else(|| ManifestError::NoArtifact {
                        url: url.clone(),
                        artifact: PathBuf::from("target/wasmctl/NAME.wasm"),
                    })?;
            Some(hash_artifact(url, &artifact)?)
        }
        // For an image the checksum is its manifest digest, known only when the url pins it.
        Some("oci") | None => pinned_hex(url).map(str::to_string),
        _ => None,
    };
    Ok((url.clone(), sha256))
}

/// The project's last push as an `oci://` url pinned by its digest.
fn last_push(project: Option<&Project>) -> Result<(String, Digest), ManifestError> {
    let record = project
        .and_then(Project::last_push)
        .ok_or(ManifestError::NoUrl)?;
    let repository = match record.layout_reference() {
        // An image layout on disk is not a url a proxy can fetch: the image goes to the
        // project's repository, by copying the layout with its digest unchanged.
        Some(_) => project
            .and_then(|p| p.settings.repository.clone())
            .ok_or(ManifestError::NoUrl)?,
        None => record.reference.clone(),
    };
    let url = match ImageRef::parse_lenient(&repository) {
        Some(image) => format!("{}@{}", image.repository_url(), record.digest),
        None => return Err(ManifestError::NoUrl),
    };
    Ok((url, record.digest))
}

/// The hex digits after a url's `@sha256:`, as written (the validation judges them).
fn pinned_hex(url: &str) -> Option<&str> {
    url.rsplit_once("@sha256:").map(|(_, hex)| hex)
}

/// A url pinned with `@sha256:` and a `sha256` field must agree, or the proxy refuses the image.
pub(super) fn digest_mismatch(module: &Module) -> Option<Problem> {
    let pinned = pinned_hex(&module.url)?;
    let sha = module.sha256.as_deref().filter(|s| !s.is_empty())?;
    (pinned != sha).then(|| Problem {
        field: "sha256".into(),
        message: format!("`{sha}` differs from the digest the url pins (`{pinned}`)"),
        hint: Some("drop --sha256: a pinned url already carries its checksum".into()),
    })
}

fn hash_artifact(url: &str, artifact: &Path) -> Result<String, ManifestError> {
    match std::fs::read(artifact) {
        Ok(bytes) => Ok(Digest::of(&bytes).hex()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ManifestError::NoArtifact {
            url: url.to_string(),
            artifact: artifact.to_path_buf(),
        }),
        Err(source) => Err(ManifestError::ReadArtifact {
            path: artifact.to_path_buf(),
            source,
        }),
    }
}
