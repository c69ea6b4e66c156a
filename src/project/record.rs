//! The records `build` and `push` leave in `target/wasmctl`, for the commands that follow them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ProjectError;
use crate::digest::{Digest, bare_hex, optional_bare_hex};

/// What `wasmctl build` produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    pub path: PathBuf,
    pub size: u64,
    /// sha256 of the module, written as bare hex.
    #[serde(with = "bare_hex")]
    pub sha256: Digest,
    pub abi: String,
    pub target: String,
    /// How it was built; a record written before this field existed was a release build.
    #[serde(default)]
    pub profile: BuildProfile,
}

/// How a module was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildProfile {
    /// `wasmctl build`: the project's release profile, shrunk.
    #[default]
    Release,
    /// `wasmctl dev`: the release profile without LTO, built for speed, not size.
    Quick,
    /// `wasmctl build --debug`: cargo's dev profile.
    Debug,
}

/// What `wasmctl push` published, so `wasmctl manifest` can pin it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRecord {
    /// The reference as pushed, e.g. `localhost:5000/team/demo:v1`.
    pub reference: String,
    /// The image manifest digest, written as `sha256:...`.
    pub digest: Digest,
    /// The image format (`compat`, `oci`, `cncf`).
    pub format: String,
    /// sha256 of the module itself, written as bare hex.
    #[serde(default, with = "optional_bare_hex")]
    pub module_sha256: Option<Digest>,
}

impl PushRecord {
    /// The `oci-layout:DIR[:TAG]` the image was written to, when it went to disk, not a registry.
    pub fn layout_reference(&self) -> Option<&str> {
        self.reference
            .starts_with("oci-layout:")
            .then_some(self.reference.as_str())
    }
}

pub(super) fn read_record<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

pub(super) fn write_record<T: Serialize>(path: &Path, record: &T) -> Result<(), ProjectError> {
    let text = serde_json::to_vec_pretty(record).expect("records serialize");
    Ok(crate::fs::write_atomic(path, &text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_their_on_disk_form() {
        let module = Digest::of(b"module");
        let image = Digest::of(b"image");
        let push = PushRecord {
            reference: "localhost:5000/demo:0.1.0".into(),
            digest: image,
            format: "compat".into(),
            module_sha256: Some(module),
        };
        let json = serde_json::to_value(&push).unwrap();
        assert_eq!(json["digest"], image.oci());
        assert_eq!(json["module_sha256"], module.hex());
        assert_eq!(serde_json::from_value::<PushRecord>(json).unwrap(), push);
        let old = serde_json::json!({
            "reference": "r", "digest": image.oci(), "format": "oci", "module_sha256": null,
        });
        let read: PushRecord = serde_json::from_value(old).unwrap();
        assert_eq!(read.module_sha256, None);
        let build = BuildRecord {
            path: "x.wasm".into(),
            size: 1,
            sha256: module,
            abi: "0.2.1".into(),
            target: "wasm32-wasip1".into(),
            profile: BuildProfile::Quick,
        };
        let json = serde_json::to_value(&build).unwrap();
        assert_eq!(json["sha256"], module.hex());
        assert_eq!(json["profile"], "quick");
        assert_eq!(serde_json::from_value::<BuildRecord>(json).unwrap(), build);
        // A record from before the profile was kept: a release build.
        let old = serde_json::json!({
            "path": "x.wasm", "size": 1, "sha256": module.hex(), "abi": "0.2.1",
            "target": "wasm32-wasip1",
        });
        let read: BuildRecord = serde_json::from_value(old).unwrap();
        assert_eq!(read.profile, BuildProfile::Release);
    }
}
