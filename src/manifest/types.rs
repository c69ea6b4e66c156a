//! The Istio resources `wasmctl manifest` emits, as typed values.
//!
//! Field names and enum spellings follow the CRDs of `extensions.istio.io/v1alpha1`; fields that are
//! unset are left out of the output so that Istio applies its own defaults. The field order here is the
//! order of the output.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_with::skip_serializing_none;

use crate::spelling::spelling;

pub use crate::project::PluginType;

pub const API_VERSION: &str = "extensions.istio.io/v1alpha1";

spelling! {
    /// Which Istio resource to emit.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum Kind {
        #[default]
        WasmPlugin => "WasmPlugin",
        /// Istio 1.30's successor of WasmPlugin: the same inputs, the Wasm fields under `spec.wasm`.
        TrafficExtension => "TrafficExtension",
    }
    from_str: "kind", expected "WasmPlugin or TrafficExtension"
}

/// Declares a CRD enum: its wire spelling, and a case-insensitive parser that names the valid values.
macro_rules! crd_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($variant:ident => $wire:literal),+ $(,)? }) => {
        spelling! {
            $(#[$meta])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
            pub enum $name {
                $(#[serde(rename = $wire)] $variant => $wire,)+
            }
            from_str: $what
        }
    };
}

crd_enum!(
    /// Where in the filter chain the plugin goes.
    Phase, "phase", { Authn => "AUTHN", Authz => "AUTHZ", Stats => "STATS" }
);
crd_enum!(
    /// What the proxy does when the plugin fails fatally.
    FailStrategy, "fail strategy", {
        FailClose => "FAIL_CLOSE",
        FailOpen => "FAIL_OPEN",
        FailReload => "FAIL_RELOAD",
    }
);
crd_enum!(
    /// When the proxy pulls the module again.
    PullPolicy, "image pull policy", { IfNotPresent => "IfNotPresent", Always => "Always" }
);
crd_enum!(
    /// Traffic direction a match entry selects.
    WorkloadMode, "traffic mode", {
        Client => "CLIENT",
        Server => "SERVER",
        ClientAndServer => "CLIENT_AND_SERVER",
    }
);
crd_enum!(
    /// Where an environment variable's value comes from.
    EnvValueSource, "env value source", { Inline => "INLINE", Host => "HOST" }
);

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ObjectMeta {
    pub name: String,
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSelector {
    pub match_labels: BTreeMap<String, String>,
}

/// A Gateway API style reference to the resource a plugin attaches to: a WasmPlugin's
/// `targetRefs` and an EnvoyExtensionPolicy's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyTargetReference {
    /// Empty for the core API group (Service).
    pub group: String,
    pub kind: String,
    pub name: String,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    pub value: Option<String>,
    /// Left out for INLINE, Istio's default, as in Istio's own examples.
    pub value_from: Option<EnvValueSource>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VmConfig {
    pub env: Vec<EnvVar>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortSelector {
    pub number: u32,
}

/// One entry of `match`: traffic direction and destination ports.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrafficSelector {
    pub mode: Option<WorkloadMode>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortSelector>,
}

/// The module: where it is pulled from, how it is checked, and which plugin in it runs. Istio's
/// WasmPlugin and Higress's (an early WasmPlugin) spell these fields the same.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Module {
    pub url: String,
    pub sha256: Option<String>,
    pub image_pull_policy: Option<PullPolicy>,
    pub image_pull_secret: Option<String>,
    pub verification_key: Option<String>,
    pub plugin_name: Option<String>,
}

/// Where the module comes from and how it runs: shared by both kinds.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmSource {
    #[serde(flatten)]
    pub module: Module,
    pub fail_strategy: Option<FailStrategy>,
    #[serde(rename = "type")]
    pub plugin_type: Option<PluginType>,
    pub vm_config: Option<VmConfig>,
    /// Kept in the order the configuration file gave it, so output follows input.
    pub plugin_config: Option<serde_json::Map<String, serde_json::Value>>,
}

impl WasmSource {
    /// The names `--env-from-host` gave: variables the proxy copies from its own environment.
    pub fn host_env_keys(&self) -> Vec<String> {
        self.vm_config
            .iter()
            .flat_map(|vm| &vm.env)
            .filter(|env| env.value_from == Some(EnvValueSource::Host))
            .map(|env| env.name.clone())
            .collect()
    }
}

/// Where the plugin applies: shared by both kinds.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    pub selector: Option<WorkloadSelector>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<PolicyTargetReference>,
    pub phase: Option<Phase>,
    pub priority: Option<i64>,
    #[serde(rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<TrafficSelector>,
}

/// `WasmPlugin.spec`: placement and module fields side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WasmPluginSpec {
    #[serde(flatten)]
    pub placement: Placement,
    #[serde(flatten)]
    pub wasm: WasmSource,
}

/// `TrafficExtension.spec`: placement fields, the module under `wasm`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrafficExtensionSpec {
    #[serde(flatten)]
    pub placement: Placement,
    pub wasm: WasmSource,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Spec {
    WasmPlugin(WasmPluginSpec),
    TrafficExtension(TrafficExtensionSpec),
}

/// A Kubernetes object as the tool emits it: its type, its metadata and a typed `spec`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Object<S> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: S,
}

/// A WasmPlugin or TrafficExtension, ready to serialize.
pub type Extension = Object<Spec>;

impl Extension {
    pub fn new(kind: Kind, metadata: ObjectMeta, placement: Placement, wasm: WasmSource) -> Self {
        let spec = match kind {
            Kind::WasmPlugin => Spec::WasmPlugin(WasmPluginSpec { placement, wasm }),
            Kind::TrafficExtension => {
                Spec::TrafficExtension(TrafficExtensionSpec { placement, wasm })
            }
        };
        Extension {
            api_version: API_VERSION,
            kind: kind.as_str(),
            metadata,
            spec,
        }
    }

    pub fn placement(&self) -> &Placement {
        match &self.spec {
            Spec::WasmPlugin(spec) => &spec.placement,
            Spec::TrafficExtension(spec) => &spec.placement,
        }
    }

    pub fn wasm(&self) -> &WasmSource {
        match &self.spec {
            Spec::WasmPlugin(spec) => &spec.wasm,
            Spec::TrafficExtension(spec) => &spec.wasm,
        }
    }

    pub fn kind(&self) -> Kind {
        match &self.spec {
            Spec::WasmPlugin(_) => Kind::WasmPlugin,
            Spec::TrafficExtension(_) => Kind::TrafficExtension,
        }
    }
}

/// A `kubernetes.io/dockerconfigjson` Secret holding the pull credentials for one registry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullSecret {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    #[serde(rename = "type")]
    pub secret_type: &'static str,
    pub data: BTreeMap<String, String>,
}
