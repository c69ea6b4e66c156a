//! What goes wrong while generating a resource, and what the user can do about it.

use std::path::PathBuf;

use super::{Problem, Target};
use crate::error::Hint;
use crate::fs::FileError;
use crate::oci::auth::CredentialError;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("no url for the module: this project has not been pushed yet")]
    NoUrl,
    #[error("no name for the {0}")]
    NoName(Target),
    #[error("an EnvoyExtensionPolicy needs a target: no --target-ref given")]
    NoTargetRef,
    #[error("no module for Envoy: no project here and no --url file://PATH")]
    NoModule,
    #[error("the module `{}` has not been built", .artifact.display())]
    NotBuilt { artifact: PathBuf },
    #[error("--code remote needs an http(s) url, not `{url}`")]
    RemoteNeedsHttp { url: String },
    #[error("unknown kind `{0}`")]
    UnknownKind(String),
    #[error("{flag} cannot be expressed in --kind {kind}")]
    Inexpressible {
        flag: String,
        kind: Target,
        hint: String,
    },
    #[error("invalid {flag} `{item}`: {message}")]
    BadArgument {
        flag: &'static str,
        item: String,
        message: String,
    },
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Credential(#[from] CredentialError),
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
    Invalid {
        kind: Target,
        problems: Vec<Problem>,
    },
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
            ManifestError::NoTargetRef => vec![
                "pass --target-ref Gateway/NAME, HTTPRoute/NAME or GRPCRoute/NAME (repeatable)".into(),
            ],
            ManifestError::NoModule => vec!["run inside a plugin project, or pass --url file:///PATH/TO/plugin.wasm".into()],
            ManifestError::NotBuilt { .. } => vec!["build it with `wasmctl build`, or pass --url file:///PATH/TO/plugin.wasm".into()],
            ManifestError::RemoteNeedsHttp { .. } => vec![
                "Envoy fetches modules over HTTP(S) only: serve target/wasmctl/NAME.wasm and pass --url https://HOST/NAME.wasm, or use --code file".into(),
            ],
            ManifestError::UnknownKind(_) => vec![format!("--kind takes one of {}", Target::list())],
            ManifestError::Inexpressible { hint, .. } => vec![hint.clone()],
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
            ManifestError::Credential(err) => err.hints(),
            ManifestError::Invalid { problems, .. } => {
                problems.iter().filter_map(|p| p.hint.clone()).collect()
            }
            ManifestError::BadArgument { .. }
            | ManifestError::File(_)
            | ManifestError::BadOverride { .. }
            | ManifestError::BadConfigSchema { .. }
            | ManifestError::ConfigSchemaMismatch { .. }
            | ManifestError::ReadArtifact { .. }
            | ManifestError::PullSecretNeedsOci { .. } => Vec::new(),
        }
    }
}
