//! The emitted documents (Kubernetes resources or Envoy configuration), rendered as stable YAML or
//! JSON.

use super::envoy_config::EnvoyConfig;
use super::envoy_gateway::EnvoyExtensionPolicy;
use super::higress::HigressWasmPlugin;
use super::types::Extension;
use super::{Kind, PullSecret, yaml};

/// The emitted documents: the resource, and the pull Secret when asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub resource: Resource,
    pub secret: Option<PullSecret>,
    /// What the user must still do for the output to work.
    pub notes: Vec<String>,
}

/// The one resource (or configuration) a manifest is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    Istio(Extension),
    EnvoyGateway(EnvoyExtensionPolicy),
    Higress(HigressWasmPlugin),
    Envoy(EnvoyConfig),
}

impl Resource {
    /// What the status line calls it: the Kubernetes kind, or the Envoy configuration's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::Istio(extension) => extension.kind,
            Resource::EnvoyGateway(policy) => policy.kind,
            Resource::Higress(plugin) => plugin.kind,
            Resource::Envoy(config) => config.kind.as_str(),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Resource::Istio(extension) => &extension.metadata.name,
            Resource::EnvoyGateway(policy) => &policy.metadata.name,
            Resource::Higress(plugin) => &plugin.metadata.name,
            Resource::Envoy(config) => &config.name,
        }
    }

    fn to_value(&self) -> serde_json::Value {
        match self {
            Resource::Istio(extension) => istio_document(extension),
            Resource::EnvoyGateway(policy) => to_value(policy),
            Resource::Higress(plugin) => to_value(plugin),
            Resource::Envoy(config) => config.document.clone(),
        }
    }
}

fn to_value(resource: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(resource).expect("manifests serialize")
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

/// An Istio resource, WasmPlugin fields in their output order.
fn istio_document(extension: &Extension) -> serde_json::Value {
    let mut document = to_value(extension);
    if let Some(serde_json::Value::Object(spec)) = document.get_mut("spec")
        && extension.kind() == Kind::WasmPlugin
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
    document
}

impl Manifest {
    pub fn new(resource: Resource, secret: Option<PullSecret>) -> Manifest {
        Manifest {
            resource,
            secret,
            notes: Vec::new(),
        }
    }

    /// The documents as JSON values, fields in their output order.
    pub fn documents(&self) -> Vec<serde_json::Value> {
        let mut documents = vec![self.resource.to_value()];
        documents.extend(self.secret.as_ref().map(to_value));
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
                module: super::super::types::Module {
                    url: "oci://r/x".into(),
                    ..super::super::types::Module::default()
                },
                ..super::super::types::WasmSource::default()
            },
        );
        let manifest = Manifest::new(Resource::Istio(ext), None);
        assert_eq!(
            manifest.to_yaml(),
            "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: demo\nspec:\n  url: oci://r/x\n"
        );
        let json: serde_json::Value = serde_json::from_str(&manifest.to_json()).unwrap();
        assert_eq!(json["spec"]["url"], "oci://r/x");
    }
}
