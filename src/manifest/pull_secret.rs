//! A `kubernetes.io/dockerconfigjson` Secret built from the user's own registry login, so the proxy
//! can pull a private image with the same credentials `wasmctl push` used.
//!
//! Only the entry for the image's registry is copied; other logins in the file stay where they are.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use docker_credential::{CredentialRetrievalError, DockerCredential};
use serde_json::json;

use super::ManifestError;
use super::types::{ObjectMeta, PullSecret};

/// The registry host of an `oci://` (or scheme-less) url, as docker config keys name it.
pub fn registry_of(url: &str) -> Option<String> {
    let rest = match url.split_once("://") {
        Some(("oci", rest)) => rest,
        Some(_) => return None,
        None => url,
    };
    let first = rest.split('/').next().unwrap_or_default();
    let is_host =
        rest.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    Some(if is_host {
        first.to_string()
    } else {
        "docker.io".to_string()
    })
}

/// The config files that may hold a login, in the order they are tried.
fn candidate_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(path) = std::env::var_os("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(path));
    }
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        files.push(PathBuf::from(dir).join("config.json"));
    } else if let Some(home) = std::env::var_os("HOME") {
        files.push(PathBuf::from(home).join(".docker").join("config.json"));
    }
    files
}

/// Finds the login for `registry` (an `auths` entry, or a credential helper the file names).
fn find_credential(registry: &str) -> Result<DockerCredential, ManifestError> {
    // Docker Hub logins are stored under their historical key.
    let server = if registry == "docker.io" {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    let files = candidate_files();
    for path in &files {
        let Ok(file) = std::fs::File::open(path) else {
            continue;
        };
        match docker_credential::get_credential_from_reader(std::io::BufReader::new(file), server) {
            Ok(credential) => return Ok(credential),
            Err(CredentialRetrievalError::NoCredentialConfigured) => continue,
            // The error types say what failed, never the secret itself.
            Err(e) => {
                return Err(ManifestError::Credentials {
                    registry: registry.to_string(),
                    path: path.clone(),
                    message: e.to_string(),
                });
            }
        }
    }
    Err(ManifestError::NoCredentials {
        registry: registry.to_string(),
        searched: files,
    })
}

/// Builds the Secret named `name` with the login for the registry of `url`.
pub fn from_docker_config(
    url: &str,
    name: &str,
    namespace: Option<&str>,
) -> Result<PullSecret, ManifestError> {
    let registry = registry_of(url).ok_or_else(|| ManifestError::PullSecretNeedsOci {
        url: url.to_string(),
    })?;
    let key = if registry == "docker.io" {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.clone()
    };
    let entry = match find_credential(&registry)? {
        DockerCredential::UsernamePassword(username, password) => json!({
            "username": username,
            "password": password,
            "auth": STANDARD.encode(format!("{username}:{password}")),
        }),
        DockerCredential::IdentityToken(token) => json!({ "identitytoken": token }),
    };
    let config = json!({ "auths": { key: entry } });
    let data = BTreeMap::from([(
        ".dockerconfigjson".to_string(),
        STANDARD.encode(serde_json::to_vec(&config).expect("json values serialize")),
    )]);
    Ok(PullSecret {
        api_version: "v1",
        kind: "Secret",
        metadata: ObjectMeta {
            name: name.to_string(),
            namespace: namespace.map(str::to_string),
            ..ObjectMeta::default()
        },
        secret_type: "kubernetes.io/dockerconfigjson",
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_of_urls() {
        assert_eq!(
            registry_of("oci://localhost:5000/demo@sha256:ab").as_deref(),
            Some("localhost:5000")
        );
        assert_eq!(
            registry_of("oci://ghcr.io/acme/auth:1").as_deref(),
            Some("ghcr.io")
        );
        assert_eq!(registry_of("acme/auth:1").as_deref(), Some("docker.io"));
        assert_eq!(registry_of("https://example.com/x.wasm"), None);
    }
}
