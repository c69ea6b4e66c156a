//! The emitted Kubernetes resources, rendered as stable YAML or JSON.

use super::types::Extension;
use super::{Kind, PullSecret, yaml};

/// The emitted documents: the extension, and the pull Secret when asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub extension: Extension,
    pub secret: Option<PullSecret>,
}

/// The order of `WasmPlugin.spec` fields in the output: where, what, how, then the payload.
const WASM_PLUGIN_SPEC_ORDER: &[&str] = &[
    "selector",
    "targetRefs",
    "url",
    "sha256",
    "imagePullPolicy",
    "imagePullSecret",
    "verificationKey",
    "pluginName",
    "phase",
    "priority",
    "failStrategy",
    "type",
    "match",
    "vmConfig",
    "pluginConfig",
];

impl Manifest {
    /// The documents as JSON values, fields in their output order.
    pub fn documents(&self) -> Vec<serde_json::Value> {
        let mut extension = serde_json::to_value(&self.extension).expect("manifests serialize");
        if let Some(serde_json::Value::Object(spec)) = extension.get_mut("spec")
            && self.extension.kind() == Kind::WasmPlugin
        {
            let rank = |key: &str| {
                WASM_PLUGIN_SPEC_ORDER
                    .iter()
                    .position(|k| *k == key)
                    .unwrap_or(WASM_PLUGIN_SPEC_ORDER.len())
            };
            let mut fields: Vec<(String, serde_json::Value)> =
                std::mem::take(spec).into_iter().collect();
            fields.sort_by_key(|(key, _)| rank(key));
            spec.extend(fields);
        }
        let mut documents = vec![extension];
        if let Some(secret) = &self.secret {
            documents.push(serde_json::to_value(secret).expect("manifests serialize"));
        }
        documents
    }

    /// YAML documents separated by `---`, ready for `kubectl apply -f -`.
    pub fn to_yaml(&self) -> String {
        self.documents()
            .iter()
            .map(yaml::to_string)
            .collect::<Vec<_>>()
            .join("---\n")
    }

    /// One JSON object, or a `v1` List holding both documents.
    pub fn to_json(&self) -> String {
        let mut documents = self.documents();
        let value = if documents.len() == 1 {
            documents.remove(0)
        } else {
            serde_json::json!({"apiVersion": "v1", "kind": "List", "items": documents})
        };
        let mut out = serde_json::to_string_pretty(&value).expect("manifests serialize");
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_render_the_same_fields() {
        let ext = Extension::new(
            Kind::WasmPlugin,
            super::super::types::ObjectMeta {
                name: "demo".into(),
                ..super::super::types::ObjectMeta::default()
            },
            super::super::types::Placement::default(),
            super::super::types::WasmSource {
                url: "oci://r/x".into(),
                ..super::super::types::WasmSource::default()
            },
        );
        let manifest = Manifest {
            extension: ext,
            secret: None,
        };
        assert_eq!(
            manifest.to_yaml(),
            "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: demo\nspec:\n  url: oci://r/x\n"
        );
        let json: serde_json::Value = serde_json::from_str(&manifest.to_json()).unwrap();
        assert_eq!(json["spec"]["url"], "oci://r/x");
    }
}
