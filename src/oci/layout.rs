//! OCI image layouts on disk (`oci-layout:DIR[:TAG]`): `oci-layout`, `index.json` and
//! `blobs/sha256/*`, as `skopeo copy oci:DIR:TAG` and other tools read them.

use std::path::{Path, PathBuf};

use super::image::{Image, MANIFEST_MEDIA_TYPE};
use crate::digest::Digest;
use crate::error::Hint;
use crate::fs::FileError;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("failed to write the image layout in `{}`", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: FileError,
    },
    #[error("failed to read the image layout in `{}`", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not an OCI image layout: {message}", .path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("the image layout `{}` has no tag `{tag}`", .path.display())]
    NoTag { path: PathBuf, tag: String },
    #[error("the image layout `{}` has no image {digest}", .path.display())]
    NoDigest { path: PathBuf, digest: Digest },
    #[error("`{}` is not empty and is not an OCI image layout", .0.display())]
    NotALayout(PathBuf),
    #[error("`{}` is a file, not an image layout directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("blob {digest} in `{}` does not match its digest", .path.display())]
    Corrupt { path: PathBuf, digest: String },
}

impl Hint for LayoutError {
    fn hints(&self) -> Vec<String> {
        match self {
            LayoutError::NoTag { .. } => vec!["name the tag: `oci-layout:DIR:TAG`".into()],
            LayoutError::NotALayout(_) | LayoutError::NotADirectory(_) => vec![
                "push to a new or empty directory, or to one that holds an image layout (an `oci-layout` file)"
                    .into(),
            ],
            LayoutError::NoDigest { .. } => vec![
                "the image was removed or never written there; push it again, or name a tag: `oci-layout:DIR:TAG`"
                    .into(),
            ],
            LayoutError::Write { .. }
            | LayoutError::Read { .. }
            | LayoutError::Invalid { .. }
            | LayoutError::Corrupt { .. } => Vec::new(),
        }
    }
}

/// Writes the image into the layout at `dir` under `tag`, keeping other tags; blobs already
/// present and intact are left alone. Returns how many blobs (config and layers) and bytes were written.
pub fn write(dir: &Path, tag: &str, image: &Image) -> Result<(usize, u64), LayoutError> {
    // Each write creates the directories it needs.
    let write = |path: &Path, bytes: &[u8]| {
        crate::fs::write_atomic(path, bytes).map_err(|source| LayoutError::Write {
            path: dir.to_path_buf(),
            source,
        })
    };
    // Pushes to one layout at once each keep their tag: one of them at a time writes, from the
    // check of the directory to the index.
    if std::fs::metadata(dir).is_ok_and(|meta| !meta.is_dir()) {
        return Err(LayoutError::NotADirectory(dir.to_path_buf()));
    }
    let _lock = crate::fs::lock_dir(dir).map_err(|source| LayoutError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    check_destination(dir)?;
    let layout_file = dir.join("oci-layout");
    if !layout_file.exists() {
        write(&layout_file, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    }
    let (mut written, mut bytes) = (0, 0);
    for blob in image.blobs() {
        let path = blob_path(dir, &blob.digest.oci());
        // A blob already there is kept only if it still holds what its name says.
        let intact = std::fs::read(&path).is_ok_and(|held| Digest::of(&held) == blob.digest);
        if !intact {
            write(&path, &blob.data)?;
            written += 1;
            bytes += blob.data.len() as u64;
        }
    }
    let path = blob_path(dir, &image.digest.oci());
    write(&path, &image.manifest)?;
    // The index is written last: until then, no tag points at the new image.
    let index_path = dir.join("index.json");
    let mut index = match std::fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| {
            LayoutError::Invalid {
                path: dir.to_path_buf(),
                message: format!("index.json: {e}"),
            }
        })?,
        Err(_) => serde_json::json!({"schemaVersion": 2, "manifests": []}),
    };
    let manifests = index
        .get_mut("manifests")
        .and_then(|m| m.as_array_mut())
        .ok_or_else(|| LayoutError::Invalid {
            path: dir.to_path_buf(),
            message: "index.json has no manifests list".into(),
        })?;
    manifests.retain(|m| m["annotations"][REF_NAME].as_str() != Some(tag));
    manifests.push(serde_json::json!({
        "mediaType": MANIFEST_MEDIA_TYPE,
        "digest": image.digest,
        "size": image.manifest.len(),
        "annotations": {REF_NAME: tag},
    }));
    let text = serde_json::to_vec(&index).expect("json serializes");
    write(&index_path, &text)?;
    Ok((written, bytes))
}

/// A layout is written into a new or empty directory, or one that already holds a layout; any other
/// directory is someone else's, and a file is not a directory.
pub(crate) fn check_destination(dir: &Path) -> Result<(), LayoutError> {
    let Ok(meta) = std::fs::metadata(dir) else {
        return Ok(());
    };
    if !meta.is_dir() {
        return Err(LayoutError::NotADirectory(dir.to_path_buf()));
    }
    // A file wasmctl is writing there (or left from a write cut short) is not someone else's.
    let empty = std::fs::read_dir(dir).is_ok_and(|mut entries| {
        entries.all(|entry| {
            entry.is_ok_and(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(crate::fs::TEMP_PREFIX)
            })
        })
    });
    if empty || dir.join("oci-layout").is_file() {
        Ok(())
    } else {
        Err(LayoutError::NotALayout(dir.to_path_buf()))
    }
}

/// `blobs/ALGORITHM/HEX`; the digest is text here, as a foreign index or manifest names it.
fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    dir.join("blobs").join(algorithm).join(hex)
}

/// An image layout opened for reading one image.
pub struct LayoutImage {
    dir: PathBuf,
    pub manifest: Vec<u8>,
    pub digest: String,
}

impl LayoutImage {
    /// The image `digest` names, else the one `tag` (default `latest`) names in the index.
    pub fn open(
        dir: &Path,
        tag: Option<&str>,
        digest: Option<&Digest>,
    ) -> Result<LayoutImage, LayoutError> {
        let Some(digest) = digest else {
            return LayoutImage::open_tag(dir, tag.unwrap_or("latest"));
        };
        let layout = LayoutImage {
            dir: dir.to_path_buf(),
            manifest: Vec::new(),
            digest: digest.oci(),
        };
        if !blob_path(dir, &layout.digest).is_file() {
            // Read the index first, so a directory that is no layout says so.
            std::fs::read(dir.join("index.json")).map_err(|source| LayoutError::Read {
                path: dir.join("index.json"),
                source,
            })?;
            return Err(LayoutError::NoDigest {
                path: dir.to_path_buf(),
                digest: *digest,
            });
        }
        let manifest = layout.blob(&layout.digest)?;
        Ok(LayoutImage { manifest, ..layout })
    }

    fn open_tag(dir: &Path, tag: &str) -> Result<LayoutImage, LayoutError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| LayoutError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let index: serde_json::Value = serde_json::from_slice(&read(&dir.join("index.json"))?)
            .map_err(|e| LayoutError::Invalid {
                path: dir.to_path_buf(),
                message: format!("index.json: {e}"),
            })?;
        let entry = index["manifests"]
            .as_array()
            .and_then(|m| {
                m.iter()
                    .find(|m| m["annotations"][REF_NAME].as_str() == Some(tag))
            })
            .ok_or_else(|| LayoutError::NoTag {
                path: dir.to_path_buf(),
                tag: tag.to_string(),
            })?;
        let digest = entry["digest"].as_str().unwrap_or_default().to_string();
        let layout = LayoutImage {
            dir: dir.to_path_buf(),
            manifest: Vec::new(),
            digest: digest.clone(),
        };
        let manifest = layout.blob(&digest)?;
        Ok(LayoutImage { manifest, ..layout })
    }

    /// A blob's bytes, checked against its digest.
    pub fn blob(&self, digest: &str) -> Result<Vec<u8>, LayoutError> {
        let path = blob_path(&self.dir, digest);
        let data = std::fs::read(&path).map_err(|source| LayoutError::Read { path, source })?;
        // Compared as text: a digest of another algorithm cannot match, and is reported as such.
        if Digest::of(&data).oci() != digest {
            return Err(LayoutError::Corrupt {
                path: self.dir.clone(),
                digest: digest.to_string(),
            });
        }
        Ok(data)
    }
}
