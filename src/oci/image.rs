//! The three image formats a module can be packaged in, built byte-for-byte reproducibly.
//!
//! - `compat`: an OCI image with one `tar+gzip` layer holding `plugin.wasm`. Istio, Envoy Gateway and
//!   Higress all load it.
//! - `oci`: the module.wasm "variant" (Solo's spec): config `application/vnd.module.wasm.config.v1+json`
//!   and exactly two layers, that config and the raw module. Istio loads it.
//! - `cncf`: the CNCF TAG Runtime wasm artifact (one `application/wasm` layer). Istio rejects it.
//!
//! Nothing here reads the clock: tar entries and gzip headers carry fixed metadata, so the same
//! module and annotations always give the same manifest digest.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use crate::digest::Digest;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_LIST_MEDIA_TYPE: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_LAYER_TAR_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const WASM_VARIANT_CONFIG: &str = "application/vnd.module.wasm.config.v1+json";
pub const WASM_VARIANT_CONTENT: &str = "application/vnd.module.wasm.content.layer.v1+wasm";
pub const CNCF_CONFIG: &str = "application/vnd.wasm.config.v0+json";
pub const CNCF_LAYER: &str = "application/wasm";
/// The file Istio looks for inside a tar layer.
pub const PLUGIN_FILE: &str = "plugin.wasm";
const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// How the module is packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// OCI image, one tar+gzip layer holding plugin.wasm (Istio, Envoy Gateway, Higress)
    #[default]
    Compat,
    /// module.wasm variant: wasm config + raw module layer (Istio)
    Oci,
    /// CNCF wasm artifact (application/wasm); Istio rejects it
    Cncf,
}

impl std::str::FromStr for Format {
    type Err = String;
    /// Case-insensitive, as users type `OCI` as often as `oci`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "compat" => Ok(Format::Compat),
            "oci" => Ok(Format::Oci),
            "cncf" => Ok(Format::Cncf),
            _ => Err(format!("unknown image format `{s}` (compat, oci, cncf)")),
        }
    }
}

impl Format {
    pub const NAMES: [&'static str; 3] = ["compat", "oci", "cncf"];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Compat => "compat",
            Format::Oci => "oci",
            Format::Cncf => "cncf",
        }
    }
}

/// A content-addressed blob with its media type.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: &'static str,
    pub digest: Digest,
    pub data: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

impl Blob {
    fn new(media_type: &'static str, data: Vec<u8>) -> Blob {
        Blob {
            media_type,
            digest: Digest::of(&data),
            data,
            annotations: BTreeMap::new(),
        }
    }

    /// The same blob titled `plugin.wasm`: tools that pull a layer to a file (ORAS and other
    /// artifact clients) name the file after the title.
    fn titled_plugin(mut self) -> Blob {
        self.annotations
            .insert(TITLE_ANNOTATION.into(), PLUGIN_FILE.into());
        self
    }

    fn descriptor(&self) -> serde_json::Value {
        let mut d = serde_json::json!({
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.data.len(),
        });
        if !self.annotations.is_empty() {
            d["annotations"] = serde_json::to_value(&self.annotations).expect("map serializes");
        }
        d
    }
}

/// A complete image: its config, its layers (in manifest order) and the manifest bytes.
#[derive(Debug, Clone)]
pub struct Image {
    pub config: Blob,
    pub layers: Vec<Blob>,
    pub manifest: Vec<u8>,
    pub digest: Digest,
}

impl Image {
    /// Every distinct blob the manifest references, config last (as registries expect it anyway).
    pub fn blobs(&self) -> Vec<&Blob> {
        let mut out: Vec<&Blob> = Vec::new();
        for blob in self.layers.iter().chain(std::iter::once(&self.config)) {
            if !out.iter().any(|b| b.digest == blob.digest) {
                out.push(blob);
            }
        }
        out
    }

    /// Total bytes of the distinct blobs and the manifest.
    pub fn size(&self) -> u64 {
        self.blobs()
            .iter()
            .map(|b| b.data.len() as u64)
            .sum::<u64>()
            + self.manifest.len() as u64
    }
}

/// A format's config and layers, and the manifest annotations it adds.
struct Packaged {
    config: Blob,
    layers: Vec<Blob>,
    annotations: Vec<(&'static str, &'static str)>,
}

/// Packages `module` in `format`, with the manifest `annotations` given.
///
/// `created` is an RFC 3339 time for the configs that carry one; the caller passes a fixed time
/// unless the user asked for another (SOURCE_DATE_EPOCH), so digests stay reproducible.
pub fn build(
    module: &[u8],
    format: Format,
    abi: &str,
    annotations: &BTreeMap<String, String>,
    created: &str,
) -> Image {
    let packaged = match format {
        Format::Compat => compat(module, created),
        Format::Oci => variant(module, abi),
        Format::Cncf => cncf(module, created),
    };
    let mut annotations = annotations.clone();
    for (key, value) in packaged.annotations {
        annotations.insert(key.into(), value.into());
    }
    let mut manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
    });
    if format == Format::Cncf {
        manifest["artifactType"] = CNCF_CONFIG.into();
    }
    manifest["config"] = packaged.config.descriptor();
    manifest["layers"] = packaged.layers.iter().map(Blob::descriptor).collect();
    if !annotations.is_empty() {
        manifest["annotations"] = serde_json::to_value(&annotations).expect("map serializes");
    }
    let manifest = to_json(&manifest);
    Image {
        digest: Digest::of(&manifest),
        config: packaged.config,
        layers: packaged.layers,
        manifest,
    }
}

/// One tar+gzip layer holding plugin.wasm, and an image config listing its diff id.
fn compat(module: &[u8], created: &str) -> Packaged {
    let tar = plugin_tar(module);
    // Hash the tar on another core while this one compresses it.
    let (diff_id, gz) = std::thread::scope(|scope| {
        let hashing = scope.spawn(|| Digest::of(&tar));
        let gz = gzip(&tar);
        (hashing.join().expect("hashing does not panic"), gz)
    });
    let config = serde_json::json!({
        "created": created,
        "architecture": "wasm",
        "os": "wasip1",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    Packaged {
        config: Blob::new(OCI_CONFIG_MEDIA_TYPE, to_json(&config)),
        layers: vec![Blob::new(OCI_LAYER_TAR_GZIP, gz).titled_plugin()],
        annotations: vec![("module.wasm.image/variant", "compat")],
    }
}

/// The module.wasm variant: the wasm config and the raw module.
fn variant(module: &[u8], abi: &str) -> Packaged {
    let config = serde_json::json!({
        "type": "envoy_proxy",
        "abiVersions": [format!("proxy_abi_version_{}", abi.replace('.', "_"))],
    });
    let config = Blob::new(WASM_VARIANT_CONFIG, to_json(&config));
    let content = Blob::new(WASM_VARIANT_CONTENT, module.to_vec()).titled_plugin();
    // Istio's variant reader wants exactly two layers: the config and the module.
    Packaged {
        config: config.clone(),
        layers: vec![config, content],
        annotations: Vec::new(),
    }
}

/// The CNCF wasm artifact: one `application/wasm` layer.
fn cncf(module: &[u8], created: &str) -> Packaged {
    let layer = Blob::new(CNCF_LAYER, module.to_vec()).titled_plugin();
    let config = serde_json::json!({
        "created": created,
        "architecture": "wasm",
        "os": "wasip1",
        "layerDigests": [layer.digest],
    });
    Packaged {
        config: Blob::new(CNCF_CONFIG, to_json(&config)),
        layers: vec![layer],
        annotations: Vec::new(),
    }
}

fn to_json(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("json serializes")
}

/// A tar with one entry, `plugin.wasm`, owned by root, mode 0644, mtime 0.
fn plugin_tar(module: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_path(PLUGIN_FILE).expect("static path fits");
    header.set_size(module.len() as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    builder
        .append(&header, module)
        .expect("writing to memory cannot fail");
    builder.into_inner().expect("writing to memory cannot fail")
}

/// gzip with no name, no mtime and a fixed OS byte, so the bytes depend on the input only. Level 1:
/// wasm compresses about as well as at level 6 (within ~10%) in a fraction of the time.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(data)
        .expect("writing to memory cannot fail");
    encoder.finish().expect("writing to memory cannot fail")
}

/// The RFC 3339 creation time: SOURCE_DATE_EPOCH when set (reproducible-builds convention), else
/// the epoch, never the wall clock.
pub fn created_time() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(0);
    rfc3339(secs)
}

/// Seconds since the epoch in RFC 3339; the epoch itself for a time beyond the calendar.
fn rfc3339(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &[u8] = b"\0asm\x01\0\0\0";

    fn compat(module: &[u8], created: &str) -> Image {
        build(module, Format::Compat, "0.2.1", &BTreeMap::new(), created)
    }

    #[test]
    fn same_module_same_digest() {
        let a = compat(MODULE, &created_time());
        let b = compat(MODULE, &created_time());
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.manifest, b.manifest);
        let c = compat(b"\0asm\x01\0\0\0\0", "x");
        assert_ne!(a.digest, c.digest);
    }

    #[test]
    fn compat_layer_is_a_tar_gz_with_plugin_wasm() {
        let image = build(MODULE, Format::Compat, "0.2.1", &BTreeMap::new(), "t");
        assert_eq!(image.layers.len(), 1);
        let gz = flate2::read::GzDecoder::new(image.layers[0].data.as_slice());
        let mut archive = tar::Archive::new(gz);
        let mut entries = archive.entries().unwrap();
        let mut entry = entries.next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_str(), Some(PLUGIN_FILE));
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut body).unwrap();
        assert_eq!(body, MODULE);
        let manifest: serde_json::Value = serde_json::from_slice(&image.manifest).unwrap();
        assert_eq!(manifest["config"]["mediaType"], OCI_CONFIG_MEDIA_TYPE);
        assert_eq!(
            manifest["annotations"]["module.wasm.image/variant"],
            "compat"
        );
    }

    #[test]
    fn variant_has_two_layers_and_cncf_one() {
        let oci = build(MODULE, Format::Oci, "0.2.1", &BTreeMap::new(), "t");
        let manifest: serde_json::Value = serde_json::from_slice(&oci.manifest).unwrap();
        assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);
        assert_eq!(manifest["config"]["mediaType"], WASM_VARIANT_CONFIG);
        assert_eq!(oci.blobs().len(), 2);
        let cncf = build(MODULE, Format::Cncf, "0.2.1", &BTreeMap::new(), "t");
        assert_eq!(cncf.layers[0].media_type, CNCF_LAYER);
        assert_eq!(cncf.layers[0].data, MODULE);
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
