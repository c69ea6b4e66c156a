//! `pull` and `verify`: fetch an image and read it the way Istio's agent does
//! (istio pkg/wasm/imagefetcher.go): a Docker image, then the OCI "compat" image, then the
//! module.wasm "variant"; anything else is rejected, and the reasons say exactly why.

use std::io::Read;

use serde::Serialize;

use super::auth::Credential;
use super::image::{
    CNCF_CONFIG, DOCKER_LAYER_TAR_GZIP, DOCKER_MANIFEST_MEDIA_TYPE, OCI_LAYER_TAR_GZIP,
    PLUGIN_FILE, WASM_VARIANT_CONTENT,
};
use super::layout::LayoutImage;
use super::reference::Location;
use super::registry::{Registry, Transport};
use super::{OciError, runtime};
use crate::module::{self, WASM_MAGIC};

/// Istio refuses modules larger than this.
pub const MAX_MODULE_SIZE: u64 = 256 * 1024 * 1024;

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

/// What reading an image found.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
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
    pub module_sha256: Option<String>,
    #[serde(skip)]
    pub module: Option<Vec<u8>>,
}

/// Where the module sits in the image, and how it is wrapped.
enum Plan {
    TarGz {
        layout: IstioLayout,
        digest: String,
    },
    Raw {
        layout: Option<IstioLayout>,
        digest: String,
    },
}

/// Fetches the image at `location` and checks it the way Istio would.
pub fn inspect(
    location: &Location,
    transport: &Transport,
    credential: Option<Credential>,
) -> Result<Inspection, OciError> {
    match location {
        Location::Registry(image) => {
            let mut registry = Registry::new(image, transport, credential, false)?;
            runtime().block_on(async {
                let (manifest, digest) = registry.pull_manifest().await?;
                let (mut plan, mut reasons) = plan(&manifest);
                check_layer_size(&manifest, &mut plan, &mut reasons);
                let blob = match &plan {
                    Some(Plan::TarGz { digest, .. } | Plan::Raw { digest, .. }) => Some(
                        registry
                            .pull_blob(digest, MAX_MODULE_SIZE + (1 << 20))
                            .await?,
                    ),
                    None => None,
                };
                Ok(finish(image.to_string(), digest, plan, blob, reasons))
            })
        }
        Location::Layout { dir, tag } => {
            let layout = LayoutImage::open(dir, tag)?;
            let (mut plan, mut reasons) = plan(&layout.manifest);
            check_layer_size(&layout.manifest, &mut plan, &mut reasons);
            let blob = match &plan {
                Some(Plan::TarGz { digest, .. } | Plan::Raw { digest, .. }) => {
                    Some(layout.blob(digest)?)
                }
                None => None,
            };
            Ok(finish(
                location.to_string(),
                layout.digest.clone(),
                plan,
                blob,
                reasons,
            ))
        }
    }
}

/// Refuses, before downloading it, a module layer the manifest says is over the size cap (a
/// gzip layer that large cannot hold a module under it: wasm does not compress to nothing).
fn check_layer_size(manifest: &[u8], plan: &mut Option<Plan>, reasons: &mut Vec<String>) {
    let Some(Plan::TarGz { digest, .. } | Plan::Raw { digest, .. }) = plan.as_ref() else {
        return;
    };
    let manifest: serde_json::Value = serde_json::from_slice(manifest).unwrap_or_default();
    let size = manifest["layers"].as_array().and_then(|layers| {
        layers
            .iter()
            .find(|l| l["digest"].as_str() == Some(digest.as_str()))
            .and_then(|l| l["size"].as_u64())
    });
    if let Some(size) = size.filter(|s| *s > MAX_MODULE_SIZE + (1 << 20)) {
        reasons.push(format!(
            "the module layer is {size} bytes, over Istio's 256 MiB limit"
        ));
        *plan = None;
    }
}

/// Decides from the manifest alone where Istio would look for the module.
fn plan(manifest: &[u8]) -> (Option<Plan>, Vec<String>) {
    let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(manifest) else {
        return (None, vec!["the manifest is not valid JSON".into()]);
    };
    let media_type = manifest["mediaType"].as_str().unwrap_or_default();
    let layers: Vec<(&str, &str)> = manifest["layers"]
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
        .unwrap_or_default();
    if media_type == DOCKER_MANIFEST_MEDIA_TYPE {
        return match layers.last() {
            Some((mt, digest)) if *mt == DOCKER_LAYER_TAR_GZIP => (
                Some(Plan::TarGz {
                    layout: IstioLayout::Docker,
                    digest: digest.to_string(),
                }),
                vec![],
            ),
            Some((mt, _)) => (
                None,
                vec![format!(
                    "Docker image: the last layer is `{mt}`, not `{DOCKER_LAYER_TAR_GZIP}`"
                )],
            ),
            None => (None, vec!["Docker image: it has no layers".into()]),
        };
    }
    let mut reasons = Vec::new();
    // compat: the last layer must be an OCI tar+gzip layer.
    match layers.last() {
        Some((mt, digest)) if *mt == OCI_LAYER_TAR_GZIP => {
            return (
                Some(Plan::TarGz {
                    layout: IstioLayout::Compat,
                    digest: digest.to_string(),
                }),
                vec![],
            );
        }
        Some((mt, _)) => reasons.push(format!(
            "as a compat image: the last layer is `{mt}`, not `{OCI_LAYER_TAR_GZIP}`"
        )),
        None => reasons.push("as a compat image: it has no layers".into()),
    }
    // variant: exactly two layers, one of them the raw module.
    if layers.len() != 2 {
        reasons.push(format!(
            "as a module.wasm variant image: number of layers must be 2 but got {}",
            layers.len()
        ));
    } else if let Some((_, digest)) = layers.iter().find(|(mt, _)| *mt == WASM_VARIANT_CONTENT) {
        return (
            Some(Plan::Raw {
                layout: Some(IstioLayout::Oci),
                digest: digest.to_string(),
            }),
            vec![],
        );
    } else {
        reasons.push(format!(
            "as a module.wasm variant image: no layer of type `{WASM_VARIANT_CONTENT}`"
        ));
    }
    // Not loadable, but `pull` can still unwrap a CNCF artifact's raw module.
    if manifest["config"]["mediaType"].as_str() == Some(CNCF_CONFIG)
        && let [(_, digest)] = layers.as_slice()
    {
        reasons.insert(
            0,
            "it is a CNCF wasm artifact (application/wasm), which Istio does not load".into(),
        );
        return (
            Some(Plan::Raw {
                layout: None,
                digest: digest.to_string(),
            }),
            reasons,
        );
    }
    (None, reasons)
}

fn finish(
    reference: String,
    digest: String,
    plan: Option<Plan>,
    blob: Option<Vec<u8>>,
    mut reasons: Vec<String>,
) -> Inspection {
    let mut layout = None;
    let module = match (plan, blob) {
        (Some(Plan::TarGz { layout: l, .. }), Some(blob)) => match untar_plugin(&blob) {
            Ok(module) => {
                layout = Some(l);
                Some(module)
            }
            Err(reason) => {
                reasons.push(reason);
                None
            }
        },
        (Some(Plan::Raw { layout: l, .. }), Some(blob)) => {
            layout = l;
            Some(blob)
        }
        _ => None,
    };
    let mut inspection = Inspection {
        reference,
        digest,
        layout,
        accepted: false,
        reasons: Vec::new(),
        abi: None,
        module_size: None,
        module_sha256: None,
        module: None,
    };
    if let Some(module) = module {
        inspection.module_size = Some(module.len() as u64);
        inspection.module_sha256 =
            Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&module)));
        if module.len() as u64 > MAX_MODULE_SIZE {
            reasons.push(format!(
                "the module is {} bytes, over Istio's 256 MiB limit",
                module.len()
            ));
        }
        if !module.starts_with(&WASM_MAGIC) {
            reasons.push("the module does not start with the wasm magic bytes".into());
        } else {
            match module::inspect(&module) {
                Ok(info) => inspection.abi = Some(info.abi.to_string()),
                Err(e) => reasons.push(e.to_string()),
            }
        }
        inspection.module = Some(module);
    }
    inspection.accepted = layout.is_some() && reasons.is_empty();
    inspection.reasons = reasons;
    inspection
}

/// Finds `plugin.wasm` in a tar.gz layer, as Istio does (by file name, at any depth).
fn untar_plugin(blob: &[u8]) -> Result<Vec<u8>, String> {
    let gz = flate2::read::GzDecoder::new(blob);
    let mut archive = tar::Archive::new(gz);
    let entries = archive
        .entries()
        .map_err(|e| format!("the layer is not a tar.gz: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("the layer is not a tar.gz: {e}"))?;
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
                .map_err(|e| format!("the layer is not a tar.gz: {e}"))?;
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

    fn plan_of(format: Format) -> (Option<Plan>, Vec<String>) {
        let image = build(b"\0asm\x01\0\0\0", format, "0.2.1", &BTreeMap::new(), "t");
        plan(&image.manifest)
    }

    #[test]
    fn compat_and_oci_are_loadable_cncf_is_not() {
        assert!(matches!(
            plan_of(Format::Compat).0,
            Some(Plan::TarGz {
                layout: IstioLayout::Compat,
                ..
            })
        ));
        assert!(matches!(
            plan_of(Format::Oci).0,
            Some(Plan::Raw {
                layout: Some(IstioLayout::Oci),
                ..
            })
        ));
        let (plan, reasons) = plan_of(Format::Cncf);
        assert!(matches!(plan, Some(Plan::Raw { layout: None, .. })));
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
        let image = build(
            b"\0asm\x01\0\0\0",
            Format::Compat,
            "0.2.1",
            &BTreeMap::new(),
            "t",
        );
        let mut manifest: serde_json::Value = serde_json::from_slice(&image.manifest).unwrap();
        manifest["layers"][0]["size"] = (300u64 << 20).into();
        let manifest = serde_json::to_vec(&manifest).unwrap();
        let (mut plan, mut reasons) = plan(&manifest);
        check_layer_size(&manifest, &mut plan, &mut reasons);
        assert!(plan.is_none());
        assert!(
            reasons[0].contains("over Istio's 256 MiB limit"),
            "{reasons:?}"
        );
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
