//! What the user asked for, grouped by the part of the resource it shapes; each builder reads the
//! group it needs. Unset fields fall back to the project's settings and last push.

use std::path::PathBuf;

use super::types::{FailStrategy, Phase, PullPolicy};
use super::{CodeSource, IstioVersion, PluginType, Target};
use crate::key_value::KeyValue;

/// Every flag of `wasmctl manifest`, by concern.
#[derive(Debug, Clone, Default)]
pub struct ManifestOptions {
    pub kind: Target,
    /// The Istio release to target (Istio's kinds only); `None`: [`IstioVersion::DEFAULT_TARGET`].
    pub istio_version: Option<IstioVersion>,
    pub metadata: MetadataOptions,
    pub module: ModuleOptions,
    pub placement: PlacementOptions,
    pub plugin: PluginOptions,
    pub envoy: EnvoyOptions,
    pub higress: HigressOptions,
}

impl ManifestOptions {
    /// The Istio release the resource targets.
    pub fn istio_version(&self) -> IstioVersion {
        self.istio_version.unwrap_or(IstioVersion::DEFAULT_TARGET)
    }
}

/// The object's name, namespace, labels and annotations.
#[derive(Debug, Clone, Default)]
pub struct MetadataOptions {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub labels: Vec<KeyValue>,
    pub annotations: Vec<KeyValue>,
}

/// The module: where the proxy fetches it, how it checks it, and which plugin in it runs.
#[derive(Debug, Clone, Default)]
pub struct ModuleOptions {
    pub url: Option<String>,
    pub sha256: Option<String>,
    pub image_pull_policy: Option<PullPolicy>,
    pub image_pull_secret: Option<String>,
    /// Also emit the pull Secret, from the user's docker/podman login.
    pub pull_secret_from_docker_config: bool,
    pub verification_key: Option<String>,
    pub plugin_name: Option<String>,
}

/// Which workloads or resources the plugin applies to, on which traffic, and in what order.
#[derive(Debug, Clone, Default)]
pub struct PlacementOptions {
    /// Workload labels; replaces the project's selector.
    pub selector: Vec<KeyValue>,
    /// Leave out the project's default selector: the plugin applies to the whole namespace.
    pub no_selector: bool,
    /// `[GROUP/]KIND/NAME`.
    pub target_refs: Vec<String>,
    pub phase: Option<Phase>,
    pub priority: Option<i64>,
    /// `[MODE][:PORT,...]` traffic matches.
    pub matches: Vec<String>,
}

/// How the plugin runs: its type, what a failure does, its pluginConfig and its VM's environment.
#[derive(Debug, Clone, Default)]
pub struct PluginOptions {
    pub plugin_type: Option<PluginType>,
    pub fail_strategy: Option<FailStrategy>,
    /// A pluginConfig file; replaces the project's.
    pub config: Option<PathBuf>,
    /// Leave out the project's pluginConfig file.
    pub no_config: bool,
    /// pluginConfig overrides, dotted keys.
    pub set: Vec<KeyValue>,
    /// INLINE variables.
    pub env: Vec<KeyValue>,
    /// `NAME`, variables the proxy copies from its own environment.
    pub env_from_host: Vec<String>,
}

/// Plain Envoy configuration only: envoy-bootstrap and envoy-filter.
#[derive(Debug, Clone, Default)]
pub struct EnvoyOptions {
    /// envoy-bootstrap: the `ADDR:PORT` the listener binds.
    pub listen: Option<String>,
    /// envoy-bootstrap: the `HOST:PORT` requests go to; without it the listener answers 200 itself.
    pub upstream: Option<String>,
    /// Where Envoy reads the module from.
    pub code: Option<CodeSource>,
}

/// HigressWasmPlugin only.
#[derive(Debug, Clone, Default)]
pub struct HigressOptions {
    /// `KEY=VALUE,...` rules (ingress, domain, service, config).
    pub match_rules: Vec<String>,
    /// The defaultConfig applies nowhere, only the match rules do.
    pub default_config_disable: bool,
}
