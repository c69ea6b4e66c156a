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
mod options;
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

pub use crate::project::PluginType;
use crate::project::Project;
pub use envoy_config::CodeSource;
pub use error::ManifestError;
pub use options::{
    EnvoyOptions, HigressOptions, ManifestOptions, MetadataOptions, ModuleOptions,
    PlacementOptions, PluginOptions,
};
pub use resources::{Manifest, Resource};
pub use target::Target;
pub use types::{
    EnvValueSource, Extension, FailStrategy, Kind, Phase, PullPolicy, PullSecret, WorkloadMode,
};
use types::{Module, ObjectMeta, WasmSource};
pub use validate::Problem;
pub use version::IstioVersion;

/// Builds and validates the resource; nothing is returned that its proxy would refuse.
pub fn generate(options: &ManifestOptions, project: Option<&Project>) -> crate::Result<Manifest> {
    flags::refuse_inexpressible(options)?;
    let mut manifest = match options.kind {
        Target::WasmPlugin => istio(options, project, Kind::WasmPlugin)?,
        Target::TrafficExtension => istio(options, project, Kind::TrafficExtension)?,
        Target::EnvoyExtensionPolicy => envoy_gateway::generate(options, project)?,
        Target::HigressWasmPlugin => higress::generate(options, project)?,
        Target::EnvoyBootstrap | Target::EnvoyFilter => envoy_config::generate(options, project)?,
    };
    if options.module.url.is_none() && !options.kind.is_envoy_config() {
        manifest.notes.extend(project.and_then(layout_note));
    }
    Ok(manifest)
}

/// When the last push wrote an image layout on disk, which is not where the resource points: the
/// image must be copied there.
fn layout_note(project: &Project) -> Option<String> {
    let record = project.last_push()?;
    let repository = project.settings.repository.as_ref()?;
    let layout = record.layout_reference()?;
    Some(format!(
        "the last push wrote an image layout ({layout}); the manifest points at {repository}: \
         copy the image there before applying, e.g. `skopeo copy --preserve-digests oci:{} docker://{repository}:TAG`",
        layout.trim_start_matches("oci-layout:")
    ))
}

/// A WasmPlugin or a TrafficExtension.
fn istio(
    options: &ManifestOptions,
    project: Option<&Project>,
    kind: Kind,
) -> Result<Manifest, ManifestError> {
    let settings = project.map(|p| &p.settings);
    let metadata = metadata(&options.metadata, options.kind, project)?;
    let placement = placement::placement(&options.placement, settings)?;
    let location = source::module_location(&options.module, project)?;
    let mut wasm = wasm_source(options, project, location)?;
    wasm.plugin_type = stated_type(options, wasm.plugin_type);
    let secret = pull_secret(&options.module, &metadata, &mut wasm)?;

    let extension = Extension::new(kind, metadata, placement, wasm);
    let mut problems = validate::validate(&extension, options.istio_version());
    problems.extend(source::digest_mismatch(&extension.wasm().module));
    refuse_problems(options.kind, problems)?;
    Ok(Manifest::new(Resource::Istio(extension), secret))
}

/// The module and how it runs, as every kind reads it from the module and plugin options, the
/// project and the module's location (`url`, `sha256`).
fn wasm_source(
    options: &ManifestOptions,
    project: Option<&Project>,
    (url, sha256): (String, Option<String>),
) -> Result<WasmSource, ManifestError> {
    let (module, plugin) = (&options.module, &options.plugin);
    Ok(WasmSource {
        module: Module {
            url,
            sha256,
            image_pull_policy: module.image_pull_policy,
            image_pull_secret: module.image_pull_secret.clone(),
            verification_key: module.verification_key.clone(),
            plugin_name: module.plugin_name.clone(),
        },
        fail_strategy: plugin.fail_strategy,
        plugin_type: plugin
            .plugin_type
            .or_else(|| project.and_then(|p| p.settings.plugin_type)),
        vm_config: vm::vm_config(plugin)?,
        plugin_config: config::for_resource(plugin, project)?,
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

/// The name, namespace, labels and annotations; `kind` is what an error without a name names.
fn metadata(
    options: &MetadataOptions,
    kind: Target,
    project: Option<&Project>,
) -> Result<ObjectMeta, ManifestError> {
    let name = match (&options.name, project) {
        (Some(name), _) => name.clone(),
        (None, Some(project)) => names::object_name_from_package(&project.name),
        (None, None) => return Err(ManifestError::NoName(kind)),
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

/// The `type` an Istio resource states, given the one `wasm_source` settled on (`--type`, else
/// the project's): all but a project's HTTP default for a release without the field.
fn stated_type(options: &ManifestOptions, settled: Option<PluginType>) -> Option<PluginType> {
    match settled {
        // Before `type` existed every plugin was HTTP, so an HTTP default is simply left out.
        Some(PluginType::Http)
            if options.plugin.plugin_type.is_none()
                && options.istio_version() < IstioVersion::PLUGIN_TYPE =>
        {
            None
        }
        settled => settled,
    }
}

/// The pull Secret, when asked for; the resource then names it.
fn pull_secret(
    options: &ModuleOptions,
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
