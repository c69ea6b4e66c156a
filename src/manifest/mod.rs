//! How a plugin is deployed: Istio's WasmPlugin and TrafficExtension, Envoy Gateway's
//! EnvoyExtensionPolicy, Higress's WasmPlugin, and plain Envoy configuration. Defaults from the
//! project and its last push, the user's overrides, validation against what the proxy accepts, and
//! stable YAML or JSON.

pub(crate) mod config;
mod envoy_config;
mod envoy_gateway;
mod error;
mod flags;
mod higress;
pub(crate) mod labels;
pub(crate) mod names;
mod placement;
pub(crate) mod pull_secret;
mod resources;
mod source;
mod target;
pub(crate) mod types;
pub(crate) mod validate;
pub(crate) mod version;
mod vm;
pub(crate) mod yaml;

use std::path::PathBuf;

use crate::key_value::KeyValue;
pub use crate::project::PluginType;
use crate::project::Project;
pub use envoy_config::CodeSource;
pub use error::ManifestError;
pub use resources::{Manifest, Resource};
pub use target::Target;
pub use types::{
    EnvValueSource, Extension, FailStrategy, Kind, Phase, PullPolicy, PullSecret, WorkloadMode,
};
use types::{Module, ObjectMeta, WasmSource};
pub use validate::Problem;
pub use version::IstioVersion;

/// What the user asked for; unset fields fall back to the project's settings and last push.
#[derive(Debug, Clone, Default)]
pub struct ManifestOptions {
    pub kind: Target,
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
    /// envoy-bootstrap: the `ADDR:PORT` the listener binds.
    pub listen: Option<String>,
    /// envoy-bootstrap: the `HOST:PORT` requests go to; without it the listener answers 200 itself.
    pub upstream: Option<String>,
    /// envoy-bootstrap and envoy-filter: where Envoy reads the module from.
    pub code: Option<CodeSource>,
    /// HigressWasmPlugin: `KEY=VALUE,...` rules (ingress, domain, service, config).
    pub match_rules: Vec<String>,
    /// HigressWasmPlugin: the defaultConfig applies nowhere, only the match rules do.
    pub default_config_disable: bool,
}

/// Builds and validates the resource; nothing is returned that its proxy would refuse.
pub fn generate(options: &ManifestOptions, project: Option<&Project>) -> crate::Result<Manifest> {
    flags::refuse_inexpressible(options)?;
    let manifest = match options.kind {
        Target::WasmPlugin => istio(options, project, Kind::WasmPlugin)?,
        Target::TrafficExtension => istio(options, project, Kind::TrafficExtension)?,
        Target::EnvoyExtensionPolicy => envoy_gateway::generate(options, project)?,
        Target::HigressWasmPlugin => higress::generate(options, project)?,
        Target::EnvoyBootstrap | Target::EnvoyFilter => envoy_config::generate(options, project)?,
    };
    Ok(manifest)
}

/// A WasmPlugin or a TrafficExtension.
fn istio(
    options: &ManifestOptions,
    project: Option<&Project>,
    kind: Kind,
) -> Result<Manifest, ManifestError> {
    let settings = project.map(|p| &p.settings);
    let metadata = metadata(options, project)?;
    let placement = placement::placement(options, settings)?;
    let location = source::module_location(options, project)?;
    let mut wasm = wasm_source(options, project, location)?;
    wasm.plugin_type = plugin_type(options, project);
    let secret = pull_secret(options, &metadata, &mut wasm)?;

    let extension = Extension::new(kind, metadata, placement, wasm);
    let mut problems = validate::validate(&extension, options.istio_version);
    problems.extend(source::digest_mismatch(&extension.wasm().module));
    refuse_problems(options.kind, problems)?;
    Ok(Manifest::new(Resource::Istio(extension), secret))
}

/// The module and how it runs, as every kind reads it from the options, the project and the
/// module's location (`url`, `sha256`).
fn wasm_source(
    options: &ManifestOptions,
    project: Option<&Project>,
    (url, sha256): (String, Option<String>),
) -> Result<WasmSource, ManifestError> {
    Ok(WasmSource {
        module: Module {
            url,
            sha256,
            image_pull_policy: options.image_pull_policy,
            image_pull_secret: options.image_pull_secret.clone(),
            verification_key: options.verification_key.clone(),
            plugin_name: options.plugin_name.clone(),
        },
        fail_strategy: options.fail_strategy,
        plugin_type: options
            .plugin_type
            .or_else(|| project.and_then(|p| p.settings.plugin_type)),
        vm_config: vm::vm_config(options)?,
        plugin_config: config::for_resource(options, project)?,
    })
}

/// Turns what validation found into the error that lists it.
fn refuse_problems(kind: Target, problems: Vec<Problem>) -> Result<(), ManifestError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ManifestError::Invalid { kind, problems })
    }
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
    wasm.module.image_pull_secret = Some(secret_name.clone());
    // Checked before the credentials are read, so a bad name never costs a helper call.
    names::check_subdomain(&secret_name).map_err(|why| ManifestError::BadArgument {
        flag: "--image-pull-secret",
        item: secret_name.clone(),
        message: why,
    })?;
    Ok(Some(pull_secret::from_docker_config(
        &wasm.module.url,
        &secret_name,
        metadata.namespace.as_deref(),
    )?))
}
