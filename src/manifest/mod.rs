//! Istio WasmPlugin and TrafficExtension resources: defaults from the project and its last push,
//! the user's overrides, validation against what Istio accepts, and stable YAML or JSON.

pub(crate) mod config;
mod error;
pub(crate) mod labels;
pub(crate) mod names;
mod placement;
pub(crate) mod pull_secret;
mod resources;
mod source;
pub(crate) mod types;
pub(crate) mod validate;
pub(crate) mod version;
mod vm;
pub(crate) mod yaml;

use std::path::PathBuf;

use crate::key_value::KeyValue;
pub use crate::project::PluginType;
use crate::project::Project;
pub use error::ManifestError;
pub use resources::Manifest;
pub use types::{
    EnvValueSource, Extension, FailStrategy, Kind, Phase, PullPolicy, PullSecret, WorkloadMode,
};
use types::{ObjectMeta, WasmSource};
pub use validate::Problem;
pub use version::IstioVersion;

/// What the user asked for; unset fields fall back to the project's settings and last push.
#[derive(Debug, Clone, Default)]
pub struct ManifestOptions {
    pub kind: Kind,
    pub istio_version: IstioVersion,
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// Metadata labels.
    pub labels: Vec<KeyValue>,
    /// Metadata annotations.
    pub annotations: Vec<KeyValue>,
    /// Workload labels; replaces the project's selector.
    pub selector: Vec<KeyValue>,
    /// Leave out the project's default selector: the plugin applies to the whole namespace.
    pub no_selector: bool,
    /// `[GROUP/]KIND/NAME`.
    pub target_refs: Vec<String>,
    pub url: Option<String>,
    pub sha256: Option<String>,
    pub image_pull_policy: Option<PullPolicy>,
    pub image_pull_secret: Option<String>,
    pub pull_secret_from_docker_config: bool,
    pub verification_key: Option<String>,
    /// A pluginConfig file; replaces the project's.
    pub config: Option<PathBuf>,
    /// Leave out the project's pluginConfig file.
    pub no_config: bool,
    /// pluginConfig overrides, dotted keys.
    pub set: Vec<KeyValue>,
    pub plugin_name: Option<String>,
    pub phase: Option<Phase>,
    pub priority: Option<i64>,
    pub fail_strategy: Option<FailStrategy>,
    /// INLINE variables.
    pub env: Vec<KeyValue>,
    /// `NAME`, variables the proxy copies from its own environment.
    pub env_from_host: Vec<String>,
    /// `[MODE][:PORT,...]` traffic matches.
    pub matches: Vec<String>,
    pub plugin_type: Option<PluginType>,
}

/// Builds and validates the resource; nothing is returned that Istio would refuse.
pub fn generate(options: &ManifestOptions, project: Option<&Project>) -> crate::Result<Manifest> {
    let settings = project.map(|p| &p.settings);
    let metadata = metadata(options, project)?;
    let placement = placement::placement(options, settings)?;
    let (url, sha256) = source::module_location(options, project)?;
    let mut wasm = WasmSource {
        url,
        sha256,
        image_pull_policy: options.image_pull_policy,
        image_pull_secret: options.image_pull_secret.clone(),
        verification_key: options.verification_key.clone(),
        plugin_name: options.plugin_name.clone(),
        fail_strategy: options.fail_strategy,
        plugin_type: plugin_type(options, project),
        vm_config: vm::vm_config(options)?,
        plugin_config: config::for_resource(options, project)?,
    };
    let secret = pull_secret(options, &metadata, &mut wasm)?;

    let extension = Extension::new(options.kind, metadata, placement, wasm);
    let mut problems = validate::validate(&extension, options.istio_version);
    if let Some(problem) = source::digest_mismatch(extension.wasm()) {
        problems.push(problem);
    }
    if !problems.is_empty() {
        return Err(ManifestError::Invalid {
            kind: options.kind,
            problems,
        }
        .into());
    }
    Ok(Manifest { extension, secret })
}

/// The name, namespace, labels and annotations.
fn metadata(
    options: &ManifestOptions,
    project: Option<&Project>,
) -> Result<ObjectMeta, ManifestError> {
    let name = match (&options.name, project) {
        (Some(name), _) => name.clone(),
        (None, Some(project)) => names::object_name_from_package(&project.name),
        (None, None) => return Err(ManifestError::NoName(options.kind)),
    };
    let namespace = options
        .namespace
        .clone()
        .or_else(|| project.and_then(|p| p.settings.namespace.clone()));
    Ok(ObjectMeta {
        name,
        namespace,
        labels: labels::parse_labels("--label", &options.labels)?,
        annotations: labels::parse_labels("--annotation", &options.annotations)?,
    })
}

fn plugin_type(options: &ManifestOptions, project: Option<&Project>) -> Option<PluginType> {
    match (
        options.plugin_type,
        project.and_then(|p| p.settings.plugin_type),
    ) {
        (Some(explicit), _) => Some(explicit),
        // Before `type` existed every plugin was HTTP, so an HTTP default is simply left out.
        (None, Some(PluginType::Http)) if options.istio_version < IstioVersion::PLUGIN_TYPE => None,
        (None, default) => default,
    }
}

/// The pull Secret, when asked for; the resource then names it.
fn pull_secret(
    options: &ManifestOptions,
    metadata: &ObjectMeta,
    wasm: &mut WasmSource,
) -> Result<Option<PullSecret>, ManifestError> {
    if !options.pull_secret_from_docker_config {
        return Ok(None);
    }
    let secret_name = options
        .image_pull_secret
        .clone()
        .unwrap_or_else(|| format!("{}-pull-secret", metadata.name));
    wasm.image_pull_secret = Some(secret_name.clone());
    // Checked before the credentials are read, so a bad name never costs a helper call.
    names::check_subdomain(&secret_name).map_err(|why| ManifestError::BadArgument {
        flag: "--image-pull-secret",
        item: secret_name.clone(),
        message: why,
    })?;
    Ok(Some(pull_secret::from_docker_config(
        &wasm.url,
        &secret_name,
        metadata.namespace.as_deref(),
    )?))
}
