//! A `kubernetes.io/dockerconfigjson` Secret built from the user's own registry login, so the proxy
//! can pull a private image with the same credentials `wasmctl push` used.
//!
//! Only the entry for the image's registry is copied; other logins in the file stay where they are.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::ManifestError;
use super::types::{ObjectMeta, PullSecret};
use crate::oci::ImageRef;
use crate::oci::auth::{Credential, credentials};

/// The registry host of an `oci://` (or scheme-less) url, as docker config keys name it.
fn registry_of(url: &str) -> Option<String> {
    ImageRef::parse_lenient(url).map(|image| image.registry)
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
    // The same login `wasmctl push` would use for this registry.
    let Some((credential, _)) = credentials::lookup(&registry)? else {
        return Err(ManifestError::NoCredentials {
            registry,
            searched: credentials::searched_files(),
        });
    };
    let key = credentials::store_key(&registry);
    let entry = match credential {
        Credential::Basic { username, password } => json!({
            "username": username,
            "password": password,
            "auth": STANDARD.encode(format!("{username}:{password}")),
        }),
        Credential::IdentityToken(token) => json!({ "identitytoken": token }),
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
