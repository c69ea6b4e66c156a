//! Istio WasmPlugin and TrafficExtension manifests: defaults from the project and its last push,
//! the user's overrides, validation against what Istio accepts, and stable YAML or JSON.

pub mod config;
pub mod names;
pub mod pull_secret;
pub mod types;
pub mod validate;
pub mod version;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::diagnostic::Hint;
use crate::project::Project;
pub use types::{
    EnvValueSource, Extension, FailStrategy, Kind, Phase, PluginType, PullPolicy, PullSecret,
    WorkloadMode,
};
use types::{
    EnvVar, ObjectMeta, Placement, PolicyTargetReference, PortSelector, TrafficSelector, VmConfig,
    WasmSource, WorkloadSelector,
};
pub use validate::Problem;
pub use version::IstioVersion;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("no url for the module: this project has not been pushed yet")]
    NoUrl,
    #[error("no name for the {0}")]
    NoName(Kind),
    #[error("invalid {flag} `{item}`: {message}")]
    BadArgument {
        flag: &'static str,
        item: String,
        message: String,
    },
    #[error("failed to read `{}`", .path.display())]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid YAML in `{}`{}: {message}", .path.display(), .line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    BadConfig {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("invalid --set `{item}`: {message}")]
    BadOverride { item: String, message: String },
    #[error("invalid JSON Schema `{}`: {message}", .path.display())]
    BadConfigSchema { path: PathBuf, message: String },
    #[error("pluginConfig does not match `{}`: {}", .schema.display(), .problems.join("; "))]
    ConfigSchemaMismatch {
        schema: PathBuf,
        problems: Vec<String>,
    },
    #[error("no local module to hash for `{url}`: `{}` does not exist", .artifact.display())]
    NoArtifact { url: String, artifact: PathBuf },
    #[error("failed to read the module `{}`", .path.display())]
    ReadArtifact {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--pull-secret-from-docker-config needs an OCI image, not `{url}`")]
    PullSecretNeedsOci { url: String },
    #[error("no login for registry `{registry}` in {}", display_paths(.searched))]
    NoCredentials {
        registry: String,
        searched: Vec<PathBuf>,
    },
    #[error("invalid {kind}: {}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid { kind: Kind, problems: Vec<Problem> },
}

fn display_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "any docker config (HOME and DOCKER_CONFIG are unset)".into();
    }
    paths
        .iter()
        .map(|p| format!("`{}`", p.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Hint for ManifestError {
    fn hints(&self) -> Vec<String> {
        match self {
            ManifestError::NoUrl => vec![
                "publish it first with `wasmctl push`, or pass --url oci://REGISTRY/REPO@sha256:DIGEST"
                    .into(),
            ],
            ManifestError::NoName(_) => vec!["pass --name, or run inside a plugin project".into()],
            ManifestError::BadConfig { .. } => {
                vec!["pluginConfig files are YAML (or JSON) mappings".into()]
            }
            ManifestError::NoArtifact { .. } => vec![
                "build the module with `wasmctl build`, or pass --sha256 HEX".into(),
            ],
            ManifestError::NoCredentials { .. } => vec![
                "log in with `docker login` (or `skopeo login`), or set DOCKER_CONFIG / REGISTRY_AUTH_FILE"
                    .into(),
            ],
            ManifestError::Invalid { problems, .. } => {
                problems.iter().filter_map(|p| p.hint.clone()).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// What the user asked for; unset fields fall back to the project's settings and last push.
#[derive(Debug, Clone, Default)]
pub struct ManifestOptions {
    pub kind: Kind,
    pub istio_version: IstioVersion,
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// `KEY=VALUE` metadata labels.
    pub labels: Vec<String>,
    /// `KEY=VALUE` metadata annotations.
    pub annotations: Vec<String>,
    /// `KEY=VALUE` workload labels; replaces the project's selector.
    pub selector: Vec<String>,
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
    /// `KEY=VALUE` pluginConfig overrides.
    pub set: Vec<String>,
    pub plugin_name: Option<String>,
    pub phase: Option<Phase>,
    pub priority: Option<i64>,
    pub fail_strategy: Option<FailStrategy>,
    /// `NAME=VALUE`, INLINE variables.
    pub env: Vec<String>,
    /// `NAME`, variables the proxy copies from its own environment.
    pub env_from_host: Vec<String>,
    /// `[MODE][:PORT,...]` traffic matches.
    pub matches: Vec<String>,
    pub plugin_type: Option<PluginType>,
}

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

/// Builds and validates the manifest; nothing is returned that Istio would refuse.
pub fn generate(
    options: &ManifestOptions,
    project: Option<&Project>,
) -> Result<Manifest, ManifestError> {
    let settings = project.map(|p| &p.settings);
    let version = options.istio_version;

    let name = match (&options.name, project) {
        (Some(name), _) => name.clone(),
        (None, Some(project)) => names::object_name_from_package(&project.name),
        (None, None) => return Err(ManifestError::NoName(options.kind)),
    };
    let namespace = options
        .namespace
        .clone()
        .or_else(|| settings.and_then(|s| s.namespace.clone()));
    let metadata = ObjectMeta {
        name: name.clone(),
        namespace: namespace.clone(),
        labels: parse_pairs("--label", &options.labels)?,
        annotations: parse_pairs("--annotation", &options.annotations)?,
    };

    let selector = if !options.selector.is_empty() {
        Some(parse_pairs("--selector", &options.selector)?)
    } else if options.no_selector || !options.target_refs.is_empty() {
        None
    } else {
        settings
            .map(|s| s.selector.clone())
            .filter(|s| !s.is_empty())
    };
    let placement = Placement {
        selector: selector.map(|match_labels| WorkloadSelector { match_labels }),
        target_refs: options
            .target_refs
            .iter()
            .map(|item| parse_target_ref(item))
            .collect::<Result<_, _>>()?,
        phase: options.phase,
        priority: options.priority,
        traffic: options
            .matches
            .iter()
            .map(|item| parse_match(item))
            .collect::<Result<_, _>>()?,
    };

    let (url, sha256) = module_location(options, project)?;
    let plugin_config = plugin_config(options, project)?;
    let plugin_type = match (options.plugin_type, settings.and_then(|s| s.plugin_type)) {
        (Some(explicit), _) => Some(explicit),
        // Before `type` existed every plugin was HTTP, so an HTTP default is simply left out.
        (None, Some(crate::project::PluginType::Http)) if version < IstioVersion::PLUGIN_TYPE => {
            None
        }
        (None, default) => default.map(PluginType::from),
    };
    let mut wasm = WasmSource {
        url,
        sha256,
        image_pull_policy: options.image_pull_policy,
        image_pull_secret: options.image_pull_secret.clone(),
        verification_key: options.verification_key.clone(),
        plugin_name: options.plugin_name.clone(),
        fail_strategy: options.fail_strategy,
        plugin_type,
        vm_config: vm_config(options)?,
        plugin_config,
    };

    let secret = if options.pull_secret_from_docker_config {
        let secret_name = options
            .image_pull_secret
            .clone()
            .unwrap_or_else(|| format!("{name}-pull-secret"));
        wasm.image_pull_secret = Some(secret_name.clone());
        // Checked before the credentials are read, so a bad name never costs a helper call.
        names::check_subdomain(&secret_name).map_err(|why| ManifestError::BadArgument {
            flag: "--image-pull-secret",
            item: secret_name.clone(),
            message: why,
        })?;
        Some(pull_secret::from_docker_config(
            &wasm.url,
            &secret_name,
            namespace.as_deref(),
        )?)
    } else {
        None
    };

    let extension = Extension::new(options.kind, metadata, placement, wasm);
    let mut problems = validate::validate(&extension, version);
    if let Some(problem) = digest_mismatch(extension.wasm()) {
        problems.push(problem);
    }
    if !problems.is_empty() {
        return Err(ManifestError::Invalid {
            kind: options.kind,
            problems,
        });
    }
    Ok(Manifest { extension, secret })
}

/// The url and its checksum: explicit flags, else the project's last push pinned by digest.
fn module_location(
    options: &ManifestOptions,
    project: Option<&Project>,
) -> Result<(String, Option<String>), ManifestError> {
    let Some(url) = &options.url else {
        let record = project
            .and_then(Project::last_push)
            .ok_or(ManifestError::NoUrl)?;
        let hex = record
            .digest
            .strip_prefix("sha256:")
            .unwrap_or(&record.digest)
            .to_string();
        let repository = match record.layout_reference() {
            // An image layout on disk is not a url a proxy can fetch: the image goes to the
            // project's repository, by copying the layout with its digest unchanged.
            Some(_) => project
                .and_then(|p| p.settings.repository.clone())
                .ok_or(ManifestError::NoUrl)?,
            None => record.reference.clone(),
        };
        let url = format!("oci://{}@sha256:{hex}", repository_of(&repository));
        let sha256 = options.sha256.clone().or(Some(hex));
        return Ok((url, sha256));
    };
    if let Some(sha) = &options.sha256 {
        return Ok((url.clone(), Some(sha.clone())));
    }
    let scheme = validate::url_scheme(url).map(str::to_ascii_lowercase);
    let sha256 = match scheme.as_deref() {
        Some("http" | "https") => {
            let artifact =
                project
                    .map(Project::artifact_path)
                    .ok_or_else(|| ManifestError::NoArtifact {
                        url: url.clone(),
                        artifact: PathBuf::from("target/wasmctl/NAME.wasm"),
                    })?;
            Some(hash_artifact(url, &artifact)?)
        }
        // For an image the checksum is its manifest digest, known only when the url pins it.
        Some("oci") | None => url.rsplit_once("@sha256:").map(|(_, hex)| hex.to_string()),
        _ => None,
    };
    Ok((url.clone(), sha256))
}

/// A url pinned with `@sha256:` and a `sha256` field must agree, or the proxy refuses the image.
fn digest_mismatch(wasm: &WasmSource) -> Option<Problem> {
    let (_, pinned) = wasm.url.rsplit_once("@sha256:")?;
    let sha = wasm.sha256.as_deref().filter(|s| !s.is_empty())?;
    (pinned != sha).then(|| Problem {
        field: "sha256".into(),
        message: format!("`{sha}` differs from the digest the url pins (`{pinned}`)"),
        hint: Some("drop --sha256: a pinned url already carries its checksum".into()),
    })
}

fn hash_artifact(url: &str, artifact: &Path) -> Result<String, ManifestError> {
    match std::fs::read(artifact) {
        Ok(bytes) => Ok(hex::encode(Sha256::digest(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ManifestError::NoArtifact {
            url: url.to_string(),
            artifact: artifact.to_path_buf(),
        }),
        Err(source) => Err(ManifestError::ReadArtifact {
            path: artifact.to_path_buf(),
            source,
        }),
    }
}

/// `registry/repo:tag` or `registry/repo@sha256:...` -> `registry/repo`; a port is not a tag.
fn repository_of(reference: &str) -> &str {
    let reference = reference.strip_prefix("oci://").unwrap_or(reference);
    let without_digest = reference
        .split_once('@')
        .map_or(reference, |(repo, _)| repo);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    match without_digest[last_slash..].rfind(':') {
        Some(colon) => &without_digest[..last_slash + colon],
        None => without_digest,
    }
}

fn plugin_config(
    options: &ManifestOptions,
    project: Option<&Project>,
) -> Result<Option<config::PluginConfig>, ManifestError> {
    let path = match (&options.config, project) {
        (Some(path), _) => Some(path.clone()),
        (None, _) if options.no_config => None,
        (None, Some(project)) => project
            .settings
            .config
            .as_ref()
            .map(|path| project.resolve(path)),
        (None, None) => None,
    };
    let mut config = match &path {
        Some(path) => config::load(path)?,
        None => config::PluginConfig::new(),
    };
    config::apply_overrides(&mut config, &options.set)?;
    if let Some(project) = project
        && let Some(schema) = &project.settings.config_schema
    {
        config::check_schema(&config, &project.resolve(schema))?;
    }
    Ok((!config.is_empty()).then_some(config))
}

fn vm_config(options: &ManifestOptions) -> Result<Option<VmConfig>, ManifestError> {
    let mut env = Vec::new();
    for item in &options.env {
        let (name, value) = item
            .split_once('=')
            .ok_or_else(|| ManifestError::BadArgument {
                flag: "--env",
                item: item.clone(),
                message:
                    "no value: write NAME=VALUE, or --env-from-host NAME to copy the proxy's own"
                        .into(),
            })?;
        env.push(EnvVar {
            name: name.to_string(),
            value: Some(value.to_string()),
            value_from: None,
        });
    }
    for name in &options.env_from_host {
        if name.contains('=') {
            return Err(ManifestError::BadArgument {
                flag: "--env-from-host",
                item: name.clone(),
                message: "takes only a NAME: the value comes from the proxy's environment".into(),
            });
        }
        env.push(EnvVar {
            name: name.clone(),
            value: None,
            value_from: Some(EnvValueSource::Host),
        });
    }
    Ok((!env.is_empty()).then_some(VmConfig { env }))
}

fn parse_pairs(
    flag: &'static str,
    items: &[String],
) -> Result<BTreeMap<String, String>, ManifestError> {
    let mut pairs = BTreeMap::new();
    for item in items {
        let bad = |message: &str| ManifestError::BadArgument {
            flag,
            item: item.clone(),
            message: message.to_string(),
        };
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| bad("expected KEY=VALUE"))?;
        if flag != "--annotation" {
            if key.contains('*') || value.contains('*') {
                return Err(bad("wildcards are not allowed in labels"));
            }
            names::check_label_value(value).map_err(|why| bad(&format!("the value {why}")))?;
        }
        names::check_label_key(key).map_err(|why| bad(&format!("the key: {why}")))?;
        if pairs.insert(key.to_string(), value.to_string()).is_some() {
            return Err(bad("the key is given twice"));
        }
    }
    Ok(pairs)
}

/// `KIND/NAME` for the kinds Istio attaches plugins to, or `GROUP/KIND/NAME`.
fn parse_target_ref(item: &str) -> Result<PolicyTargetReference, ManifestError> {
    let bad = |message: String| ManifestError::BadArgument {
        flag: "--target-ref",
        item: item.to_string(),
        message,
    };
    let parts: Vec<&str> = item.split('/').collect();
    let (group, kind, name) = match parts.as_slice() {
        [kind, name] => {
            let group = match *kind {
                "Gateway" | "GatewayClass" => "gateway.networking.k8s.io",
                "Service" => "",
                "ServiceEntry" => "networking.istio.io",
                other => {
                    return Err(bad(format!(
                        "no known API group for kind `{other}`: write GROUP/KIND/NAME"
                    )));
                }
            };
            (group, *kind, *name)
        }
        [group, kind, name] => (*group, *kind, *name),
        _ => return Err(bad("expected KIND/NAME or GROUP/KIND/NAME".into())),
    };
    if kind.is_empty() || name.is_empty() {
        return Err(bad("expected KIND/NAME or GROUP/KIND/NAME".into()));
    }
    Ok(PolicyTargetReference {
        group: group.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
    })
}

/// `MODE`, `MODE:PORT,PORT` or `:PORT,PORT`.
fn parse_match(item: &str) -> Result<TrafficSelector, ManifestError> {
    let bad = |message: String| ManifestError::BadArgument {
        flag: "--match",
        item: item.to_string(),
        message,
    };
    let (mode, ports) = item.split_once(':').unwrap_or((item, ""));
    let mode = if mode.is_empty() {
        None
    } else {
        Some(mode.parse::<WorkloadMode>().map_err(bad)?)
    };
    let ports = ports
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let number: u32 = p
                .parse()
                .map_err(|_| bad(format!("`{p}` is not a port number")))?;
            if !(1..=65535).contains(&number) {
                return Err(bad(format!("port {number} is not in 1..65535")));
            }
            Ok(PortSelector { number })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if mode.is_none() && ports.is_empty() {
        return Err(bad(
            "expected MODE, MODE:PORT[,PORT...] or :PORT[,PORT...]".into()
        ));
    }
    Ok(TrafficSelector { mode, ports })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_of_references() {
        assert_eq!(
            repository_of("localhost:5000/team/demo:v1"),
            "localhost:5000/team/demo"
        );
        assert_eq!(repository_of("localhost:5000/demo"), "localhost:5000/demo");
        assert_eq!(repository_of("ghcr.io/a/b@sha256:00"), "ghcr.io/a/b");
        assert_eq!(repository_of("ghcr.io/a/b:1@sha256:00"), "ghcr.io/a/b");
        assert_eq!(repository_of("oci://ghcr.io/a/b:1"), "ghcr.io/a/b");
    }

    #[test]
    fn target_refs_and_matches() {
        let r = parse_target_ref("Gateway/my-gw").unwrap();
        assert_eq!(
            (r.group.as_str(), r.kind.as_str(), r.name.as_str()),
            ("gateway.networking.k8s.io", "Gateway", "my-gw")
        );
        assert_eq!(parse_target_ref("Service/api").unwrap().group, "");
        assert!(parse_target_ref("Widget/x").is_err());
        assert_eq!(
            parse_target_ref("example.com/Widget/x").unwrap().group,
            "example.com"
        );
        let m = parse_match("SERVER:8080,8443").unwrap();
        assert_eq!(m.mode, Some(WorkloadMode::Server));
        assert_eq!(m.ports.len(), 2);
        assert!(parse_match(":0").is_err());
        assert!(parse_match("SIDEWAYS").is_err());
        assert!(parse_match("").is_err());
    }

    #[test]
    fn json_and_yaml_render_the_same_fields() {
        let ext = Extension::new(
            Kind::WasmPlugin,
            ObjectMeta {
                name: "demo".into(),
                ..ObjectMeta::default()
            },
            Placement::default(),
            WasmSource {
                url: "oci://r/x".into(),
                ..WasmSource::default()
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
