//! Reading an image the way Istio's agent does (istio pkg/wasm/imagefetcher.go): an index stands for
//! its linux/amd64 image; then a Docker image, else the OCI "compat" image, falling back to the
//! module.wasm "variant"; anything else is rejected, and the reasons say exactly why.
//! `tests/interop.rs` holds this to the agent's own code.

use std::io::Read;

use serde::Serialize;
use serde_json::Value;

use super::image::{
    CNCF_CONFIG, DOCKER_LAYER_TAR_GZIP, DOCKER_LIST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE,
    INDEX_MEDIA_TYPE, OCI_LAYER_TAR_GZIP, PLUGIN_FILE, WASM_VARIANT_CONTENT,
};
use super::pull::FetchedImage;
use crate::digest::Digest;
use crate::module::{self, WASM_MAGIC};

/// Istio refuses modules larger than this.
pub const MAX_MODULE_SIZE: u64 = 256 * 1024 * 1024;
/// The largest module layer worth downloading: a gzip layer this large cannot hold a module under
/// the cap (wasm does not compress to nothing), and tar adds little.
pub(super) const MAX_LAYER_SIZE: u64 = MAX_MODULE_SIZE + (1 << 20);

/// The image layouts Istio loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IstioLayout {
    /// Docker image, last layer a tar.gz holding plugin.wasm.
    Docker,
    /// OCI image, last layer a tar+gzip holding plugin.wasm (`--format compat`).
    Compat,
    /// module.wasm variant: two layers, one the raw module (`--format oci`).
    Oci,
}

impl IstioLayout {
    pub fn describe(self) -> &'static str {
        match self {
            IstioLayout::Docker => "Docker image with plugin.wasm in its last layer",
            IstioLayout::Compat => "OCI compat image with plugin.wasm in a tar+gzip layer",
            IstioLayout::Oci => "OCI module.wasm variant image with a raw wasm layer",
        }
    }
}

/// The layer that holds the module, and how the module is wrapped in it.
#[derive(Debug)]
enum ModuleLayer {
    /// A tar.gz holding `plugin.wasm`.
    TarGz { layout: IstioLayout, digest: String },
    /// The module itself; `layout` is None for a CNCF artifact, which Istio does not load.
    Raw {
        layout: Option<IstioLayout>,
        digest: String,
    },
}

/// What the manifest alone says about where the module is, and why Istio would refuse the image.
#[derive(Debug, Default)]
pub(super) struct ModuleSearch {
    layer: Option<ModuleLayer>,
    /// The module.wasm variant's layer, which Istio reads when the compat `layer` holds no
    /// plugin.wasm (an image can have the shape of both).
    fallback: Option<ModuleLayer>,
    reasons: Vec<String>,
    /// Whether the image has a layout Istio reads (whatever else is wrong with it): when not,
    /// pushing it again in such a format mends it.
    format_known: bool,
}

/// What the agent reads when `manifest` is an image index (or a Docker manifest list): the image
/// for linux/amd64, go-containerregistry's default platform, where an entry without a platform
/// counts as linux/amd64. `None` when `manifest` is an image's own manifest; `Some(Err)` with the
/// reason when the index has no such image.
pub(super) fn index_image(manifest: &[u8]) -> Option<Result<String, String>> {
    let manifest: Value = serde_json::from_slice(manifest).ok()?;
    let media_type = manifest["mediaType"].as_str();
    let is_index = matches!(media_type, Some(INDEX_MEDIA_TYPE | DOCKER_LIST_MEDIA_TYPE))
        || (media_type.is_none() && manifest["manifests"].is_array());
    if !is_index {
        return None;
    }
    let child = manifest["manifests"].as_array()?.iter().find(|entry| {
        let platform = &entry["platform"];
        platform.is_null() || (platform["os"] == "linux" && platform["architecture"] == "amd64")
    });
    Some(match child.and_then(|c| c["digest"].as_str()) {
        Some(digest) => Ok(digest.to_string()),
        None => Err(
            "it is an image index without a linux/amd64 image: Istio's agent loads \
                     only that platform's image of an index"
                .into(),
        ),
    })
}

impl ModuleSearch {
    /// An image Istio refuses before looking for a module.
    pub fn refused(reason: String) -> ModuleSearch {
        ModuleSearch {
            reasons: vec![reason],
            ..ModuleSearch::default()
        }
    }

    /// Reads the manifest as Istio would, refusing a module layer over the size cap before it
    /// is downloaded.
    pub fn in_manifest(manifest: &[u8]) -> ModuleSearch {
        let mut search = find_module_layer(manifest);
        search.format_known = [&search.layer, &search.fallback].into_iter().any(|layer| {
            matches!(
                layer,
                Some(
                    ModuleLayer::TarGz { .. }
                        | ModuleLayer::Raw {
                            layout: Some(_),
                            ..
                        }
                )
            )
        });
        search.refuse_oversized_layer(manifest);
        search
    }

    /// The digests of the layers to download, in the order [`ModuleSearch::conclude`] takes
    /// their bytes: the module layer, then the fallback layer if there is one.
    pub fn layer_digests(&self) -> Vec<&str> {
        [&self.layer, &self.fallback]
            .into_iter()
            .flatten()
            .map(ModuleLayer::digest)
            .collect()
    }

    fn refuse_oversized_layer(&mut self, manifest: &[u8]) {
        let manifest: Value = serde_json::from_slice(manifest).unwrap_or_default();
        let size_of = |layer: &Option<ModuleLayer>| {
            let digest = layer.as_ref()?.digest();
            manifest["layers"]
                .as_array()?
                .iter()
                .find(|l| l["digest"].as_str() == Some(digest))
                .and_then(|l| l["size"].as_u64())
                .filter(|size| *size > MAX_LAYER_SIZE)
        };
        if size_of(&self.fallback).is_some() {
            self.fallback = None;
        }
        if let Some(size) = size_of(&self.layer) {
            self.reasons.push(format!(
                "the module layer is {size} bytes, over Istio's 256 MiB limit"
            ));
            self.layer = self.fallback.take();
        }
    }

    /// The verdict on the image at `reference` (manifest `digest`), given the bytes of the
    /// layers [`ModuleSearch::layer_digests`] named, in its order.
    pub fn conclude(self, reference: String, digest: String, blobs: Vec<Vec<u8>>) -> FetchedImage {
        let mut reasons = self.reasons;
        let mut blobs = blobs.into_iter();
        let (layout, module) = match unwrap_module(self.layer, blobs.next()) {
            Ok(found) => found,
            // As Istio does: the compat reading failed, so read the image as the variant.
            Err(reason) => match unwrap_module(self.fallback, blobs.next()) {
                Ok(found @ (Some(_), _)) => found,
                _ => {
                    reasons.push(reason);
                    (None, None)
                }
            },
        };
        let abi = module
            .as_deref()
            .and_then(|m| check_module(m, &mut reasons));
        FetchedImage {
            reference,
            digest,
            layout,
            accepted: layout.is_some() && reasons.is_empty(),
            reasons,
            abi,
            module_size: module.as_ref().map(|m| m.len() as u64),
            module_sha256: module.as_deref().map(Digest::of),
            module,
            format_known: self.format_known,
        }
    }
}

impl ModuleLayer {
    fn digest(&self) -> &str {
        match self {
            ModuleLayer::TarGz { digest, .. } | ModuleLayer::Raw { digest, .. } => digest,
        }
    }
}

/// The module in `blob`, the bytes of `layer`, with the layout it was found in; `Err` with the
/// reason when a tar.gz layer holds none.
#[allow(clippy::type_complexity)]
fn unwrap_module(
    layer: Option<ModuleLayer>,
    blob: Option<Vec<u8>>,
) -> Result<(Option<IstioLayout>, Option<Vec<u8>>), String> {
    match (layer, blob) {
        (Some(ModuleLayer::TarGz { layout, .. }), Some(blob)) => {
            untar_plugin(&blob).map(|module| (Some(layout), Some(module)))
        }
        (Some(ModuleLayer::Raw { layout, .. }), Some(blob)) => Ok((layout, Some(blob))),
        _ => Ok((None, None)),
    }
}

/// Istio's checks on the module itself; its proxy-wasm ABI when it declares one.
fn check_module(module: &[u8], reasons: &mut Vec<String>) -> Option<String> {
    if module.len() as u64 > MAX_MODULE_SIZE {
        reasons.push(format!(
            "the module is {} bytes, over Istio's 256 MiB limit",
            module.len()
        ));
    }
    if !module.starts_with(&WASM_MAGIC) {
        reasons.push("the module does not start with the wasm magic bytes".into());
        return None;
    }
    match module::inspect(module) {
        Ok(info) => Some(info.abi.to_string()),
        Err(e) => {
            reasons.push(e.to_string());
            None
        }
    }
}

/// Each layer's media type and digest, in manifest order.
fn layers_of(manifest: &Value) -> Vec<(&str, &str)> {
    manifest["layers"]
        .as_array()
        .map(|layers| {
            layers
                .iter()
                .map(|l| {
                    (
                        l["mediaType"].as_str().unwrap_or_default(),
                        l["digest"].as_str().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Decides from the manifest alone where Istio would look for the module.
fn find_module_layer(manifest: &[u8]) -> ModuleSearch {
    let found = |layer, fallback| ModuleSearch {
        layer: Some(layer),
        fallback,
        ..ModuleSearch::default()
    };
    let Ok(manifest) = serde_json::from_slice::<Value>(manifest) else {
        return ModuleSearch::refused("the manifest is not valid JSON".into());
    };
    let layers = layers_of(&manifest);
    if manifest["mediaType"].as_str() == Some(DOCKER_MANIFEST_MEDIA_TYPE) {
        return as_docker(&layers);
    }
    let mut reasons = Vec::new();
    if let Some(layer) = as_compat(&layers, &mut reasons) {
        return found(layer, as_variant(&layers, &mut Vec::new()));
    }
    if let Some(layer) = as_variant(&layers, &mut reasons) {
        return found(layer, None);
    }
    // Not loadable, but `pull` can still unwrap a CNCF artifact's raw module.
    let mut layer = None;
    if manifest["config"]["mediaType"].as_str() == Some(CNCF_CONFIG)
        && let [(_, digest)] = layers.as_slice()
    {
        reasons.insert(
            0,
            "it is a CNCF wasm artifact (application/wasm), which Istio does not load".into(),
        );
        layer = Some(ModuleLayer::Raw {
            layout: None,
            digest: digest.to_string(),
        });
    }
    ModuleSearch {
        layer,
        fallback: None,
        reasons,
        ..ModuleSearch::default()
    }
}

/// A Docker image: the last layer must be a Docker tar.gz layer.
fn as_docker(layers: &[(&str, &str)]) -> ModuleSearch {
    let (layer, reason) = match layers.last() {
        Some((mt, digest)) if *mt == DOCKER_LAYER_TAR_GZIP => (
            Some(ModuleLayer::TarGz {
                layout: IstioLayout::Docker,
                digest: digest.to_string(),
            }),
            None,
        ),
        Some((mt, _)) => (
            None,
            Some(format!(
                "Docker image: the last layer is `{mt}`, not `{DOCKER_LAYER_TAR_GZIP}`"
            )),
        ),
        None => (None, Some("Docker image: it has no layers".into())),
    };
    ModuleSearch {
        layer,
        fallback: None,
        reasons: reason.into_iter().collect(),
        ..ModuleSearch::default()
    }
}

/// compat: the last layer must be an OCI tar+gzip layer.
fn as_compat(layers: &[(&str, &str)], reasons: &mut Vec<String>) -> Option<ModuleLayer> {
    match layers.last() {
        Some((mt, digest)) if *mt == OCI_LAYER_TAR_GZIP => {
            return Some(ModuleLayer::TarGz {
                layout: IstioLayout::Compat,
                digest: digest.to_string(),
            });
        }
        Some((mt, _)) => reasons.push(format!(
            "as a compat image: the last layer is `{mt}`, not `{OCI_LAYER_TAR_GZIP}`"
        )),
        None => reasons.push("as a compat image: it has no layers".into()),
    }
    None
}

/// variant: exactly two layers, one of them the raw module.
fn as_variant(layers: &[(&str, &str)], reasons: &mut Vec<String>) -> Option<ModuleLayer> {
    if layers.len() != 2 {
        reasons.push(format!(
            "as a module.wasm variant image: number of layers must be 2 but got {}",
            layers.len()
        ));
        return None;
    }
    match layers.iter().find(|(mt, _)| *mt == WASM_VARIANT_CONTENT) {
        Some((_, digest)) => Some(ModuleLayer::Raw {
            layout: Some(IstioLayout::Oci),
            digest: digest.to_string(),
        }),
        None => {
            reasons.push(format!(
                "as a module.wasm variant image: no layer of type `{WASM_VARIANT_CONTENT}`"
            ));
            None
        }
    }
}

/// Finds `plugin.wasm` in a tar.gz layer, as Istio does (by file name, at any depth). The gzip
/// stream may be several members one after another, as gzip allows and Go's reader reads.
fn untar_plugin(blob: &[u8]) -> Result<Vec<u8>, String> {
    let not_tar_gz = |e: std::io::Error| format!("the layer is not a tar.gz: {e}");
    let gz = flate2::read::MultiGzDecoder::new(blob);
    let mut archive = tar::Archive::new(gz);
    for entry in archive.entries().map_err(not_tar_gz)? {
        let mut entry = entry.map_err(not_tar_gz)?;
        let is_plugin = entry
            .path()
            .ok()
            .and_then(|p| p.file_name().map(|n| n == PLUGIN_FILE))
            .unwrap_or(false);
        if is_plugin {
            let mut module = Vec::new();
            entry
                .by_ref()
                .take(MAX_MODULE_SIZE + 1)
                .read_to_end(&mut module)
                .map_err(not_tar_gz)?;
            let read = module.len() as u64;
            if read <= MAX_MODULE_SIZE && read < entry.size() {
                return Err(format!(
                    "the layer ends inside `{PLUGIN_FILE}`: {read} of its {} bytes",
                    entry.size()
                ));
            }
            return Ok(module);
        }
    }
    Err(format!("the layer holds no `{PLUGIN_FILE}`"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::image::{Format, build};
    use super::*;

    fn manifest_of(format: Format) -> Vec<u8> {
        build(b"\0asm\x01\0\0\0", format, "0.2.1", &BTreeMap::new(), "t").manifest
    }

    fn plan_of(format: Format) -> (Option<ModuleLayer>, Vec<String>) {
        let search = find_module_layer(&manifest_of(format));
        (search.layer, search.reasons)
    }

    #[test]
    fn compat_and_oci_are_loadable_cncf_is_not() {
        assert!(matches!(
            plan_of(Format::Compat).0,
            Some(ModuleLayer::TarGz {
                layout: IstioLayout::Compat,
                ..
            })
        ));
        assert!(matches!(
            plan_of(Format::Oci).0,
            Some(ModuleLayer::Raw {
                layout: Some(IstioLayout::Oci),
                ..
            })
        ));
        let (plan, reasons) = plan_of(Format::Cncf);
        assert!(matches!(plan, Some(ModuleLayer::Raw { layout: None, .. })));
        assert!(
            reasons.iter().any(|r| r.contains("must be 2 but got 1")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains("application/wasm")),
            "{reasons:?}"
        );
    }

    #[test]
    fn oversized_layers_are_refused_before_download() {
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&manifest_of(Format::Compat)).unwrap();
        manifest["layers"][0]["size"] = (300u64 << 20).into();
        let manifest = serde_json::to_vec(&manifest).unwrap();
        let ModuleSearch {
            layer: plan,
            reasons,
            ..
        } = ModuleSearch::in_manifest(&manifest);
        assert!(plan.is_none());
        assert!(
            reasons[0].contains("over Istio's 256 MiB limit"),
            "{reasons:?}"
        );
    }

    #[test]
    fn an_index_stands_for_its_linux_amd64_image() {
        let index = |platforms: Value| {
            let manifests: Vec<Value> = platforms
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, p)| serde_json::json!({"digest": format!("sha256:{i}"), "platform": p}))
                .collect();
            serde_json::to_vec(
                &serde_json::json!({"mediaType": INDEX_MEDIA_TYPE, "manifests": manifests}),
            )
            .unwrap()
        };
        let wasm = serde_json::json!({"os": "wasip1", "architecture": "wasm"});
        let linux = serde_json::json!({"os": "linux", "architecture": "amd64"});
        assert_eq!(
            index_image(&index(serde_json::json!([wasm, linux]))),
            Some(Ok("sha256:1".into()))
        );
        assert_eq!(
            index_image(&index(serde_json::json!([null]))),
            Some(Ok("sha256:0".into()))
        );
        assert!(matches!(
            index_image(&index(serde_json::json!([wasm]))),
            Some(Err(_))
        ));
        assert_eq!(index_image(&manifest_of(Format::Compat)), None);
    }

    #[test]
    fn a_compat_layer_without_plugin_falls_back_to_the_variant() {
        let manifest = serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "layers": [
                {"mediaType": WASM_VARIANT_CONTENT, "digest": "sha256:raw"},
                {"mediaType": OCI_LAYER_TAR_GZIP, "digest": "sha256:tgz"},
            ],
        });
        let search = ModuleSearch::in_manifest(&serde_json::to_vec(&manifest).unwrap());
        assert_eq!(search.layer_digests(), ["sha256:tgz", "sha256:raw"]);
        let module = b"\0asm\x01\0\0\0".to_vec();
        let image = search.conclude("r".into(), "d".into(), vec![Vec::new(), module.clone()]);
        assert_eq!(image.layout, Some(IstioLayout::Oci));
        assert_eq!(image.module, Some(module));
    }

    #[test]
    fn tar_without_plugin_is_explained() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_cksum();
        builder
            .append_data(&mut header, "other.wasm", &b"x"[..])
            .unwrap();
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let err = untar_plugin(&gz.finish().unwrap()).unwrap_err();
        assert!(err.contains("no `plugin.wasm`"), "{err}");
    }
}
