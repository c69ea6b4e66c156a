//! Envoy Gateway's EnvoyExtensionPolicy (`gateway.envoyproxy.io/v1alpha1`, Envoy Gateway 1.9): the
//! same module, configuration and environment a WasmPlugin carries, attached to Gateway API
//! resources and spelled the way Envoy Gateway reads it.

mod rules;

use serde::Serialize;
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

use super::types::{
    FailStrategy, Module, Object, ObjectMeta, PolicyTargetReference, PullPolicy, WasmSource,
};
use super::{
    Manifest, ManifestError, ManifestOptions, PluginType, Resource, Target, placement, source,
};
use crate::project::Project;

pub const API_VERSION: &str = "gateway.envoyproxy.io/v1alpha1";
pub const KIND: &str = "EnvoyExtensionPolicy";

/// The Gateway API group every target of this policy lives in.
pub(super) const GATEWAY_API_GROUP: &str = "gateway.networking.k8s.io";

/// The kinds the policy attaches to (the CRD's CEL rule lists them).
pub(super) const TARGET_KINDS: [&str; 7] = [
    "Gateway",
    "ListenerSet",
    "HTTPRoute",
    "GRPCRoute",
    "UDPRoute",
    "TCPRoute",
    "TLSRoute",
];

pub type EnvoyExtensionPolicy = Object<PolicySpec>;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    /// `LocalPolicyTargetReferenceWithSectionName`: resources in the policy's namespace.
    pub target_refs: Vec<PolicyTargetReference>,
    pub wasm: Vec<Wasm>,
}

/// One entry of `spec.wasm`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Wasm {
    pub name: String,
    #[serde(rename = "rootID")]
    pub root_id: String,
    pub code: WasmCode,
    /// Handed to the plugin as JSON, like Istio's pluginConfig.
    pub config: Option<Map<String, Value>>,
    pub fail_open: Option<bool>,
    pub env: Option<WasmEnv>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CodeType {
    Image,
    #[serde(rename = "HTTP")]
    Http,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmCode {
    #[serde(rename = "type")]
    pub code_type: CodeType,
    pub image: Option<ImageSource>,
    pub http: Option<HttpSource>,
    pub pull_policy: Option<PullPolicy>,
}

/// An OCI image, `registry/repository@sha256:...` without a scheme.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSource {
    pub url: String,
    /// The image's manifest digest (hex), which Envoy Gateway checks after pulling.
    pub sha256: Option<String>,
    pub pull_secret_ref: Option<SecretRef>,
}

/// A module served over HTTP(S), checked by the sha256 of its bytes.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpSource {
    pub url: String,
    pub sha256: Option<String>,
}

/// A Secret in the policy's namespace (group and kind default to the core Secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecretRef {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmEnv {
    pub host_keys: Vec<String>,
}

/// Builds and validates the policy, with the pull Secret when asked for.
pub(super) fn generate(
    options: &ManifestOptions,
    project: Option<&Project>,
) -> Result<Manifest, ManifestError> {
    let metadata = super::metadata(&options.metadata, options.kind, project)?;
    let target_refs = target_refs(&options.placement.target_refs)?;
    let location = source::module_location(&options.module, project)?;
    let mut wasm = super::wasm_source(options, project, location)?;
    refuse_values(&wasm)?;
    let secret = super::pull_secret(&options.module, &metadata, &mut wasm)?;
    let entry = wasm_entry(&metadata, wasm.clone())?;
    let policy = EnvoyExtensionPolicy {
        api_version: API_VERSION,
        kind: KIND,
        metadata,
        spec: PolicySpec {
            target_refs,
            wasm: vec![entry],
        },
    };
    let mut problems = rules::check(&policy);
    problems.extend(source::digest_mismatch(&wasm.module));
    super::refuse_problems(Target::EnvoyExtensionPolicy, problems)?;
    Ok(Manifest::new(Resource::EnvoyGateway(policy), secret))
}

/// `--target-ref KIND/NAME` (the Gateway API group by default) or `GROUP/KIND/NAME`.
fn target_refs(items: &[String]) -> Result<Vec<PolicyTargetReference>, ManifestError> {
    if items.is_empty() {
        return Err(ManifestError::NoTargetRef);
    }
    items
        .iter()
        .map(|item| {
            let target = placement::parse_target_ref(item, gateway_api_group)?;
            // `httproute/x` means HTTPRoute: the kinds are few and their spelling is fixed.
            let kind = TARGET_KINDS
                .into_iter()
                .find(|k| k.eq_ignore_ascii_case(&target.kind))
                .map_or(target.kind, str::to_string);
            Ok(PolicyTargetReference { kind, ..target })
        })
        .collect()
}

fn gateway_api_group(kind: &str) -> Option<&'static str> {
    TARGET_KINDS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(kind))
        .then_some(GATEWAY_API_GROUP)
}

/// Values that have no field in the policy, from flags or from the project.
fn refuse_values(wasm: &WasmSource) -> Result<(), ManifestError> {
    let refuse = |flag: &str, hint: &str| {
        Err(ManifestError::Inexpressible {
            flag: flag.to_string(),
            kind: Target::EnvoyExtensionPolicy,
            hint: hint.to_string(),
        })
    };
    if wasm.plugin_type == Some(PluginType::Network) {
        return refuse(
            "type NETWORK",
            "Envoy Gateway runs Wasm only as an HTTP filter; deploy a network plugin with \
             --kind WasmPlugin (Istio) or --kind envoy-bootstrap",
        );
    }
    if wasm.fail_strategy == Some(FailStrategy::FailReload) {
        return refuse(
            "--fail-strategy FAIL_RELOAD",
            "Envoy Gateway has failOpen only: pass FAIL_OPEN or FAIL_CLOSE",
        );
    }
    Ok(())
}

/// `spec.wasm[0]`: the module, its configuration and the proxy variables it may read.
fn wasm_entry(metadata: &ObjectMeta, wasm: WasmSource) -> Result<Wasm, ManifestError> {
    let plugin_name = wasm
        .module
        .plugin_name
        .clone()
        .unwrap_or_else(|| metadata.name.clone());
    let code = code(&wasm.module)?;
    let host_keys = wasm.host_env_keys();
    Ok(Wasm {
        name: plugin_name.clone(),
        root_id: plugin_name,
        code,
        config: wasm.plugin_config,
        fail_open: wasm.fail_strategy.map(|s| s == FailStrategy::FailOpen),
        env: (!host_keys.is_empty()).then_some(WasmEnv { host_keys }),
    })
}

/// An OCI image without its scheme, or an HTTP(S) url.
fn code(module: &Module) -> Result<WasmCode, ManifestError> {
    let scheme = crate::go_url::scheme_of(&module.url).map(str::to_ascii_lowercase);
    // `localhost:5000/x` reads as scheme `localhost`; only `SCHEME://` is a scheme here.
    let has_scheme = scheme
        .as_ref()
        .is_some_and(|s| module.url[s.len()..].starts_with("://"));
    match scheme.as_deref() {
        Some("http" | "https") => {
            if let Some(secret) = &module.image_pull_secret {
                return Err(ManifestError::BadArgument {
                    flag: "--image-pull-secret",
                    item: secret.clone(),
                    message: "Envoy Gateway uses a pull Secret only for OCI images".into(),
                });
            }
            Ok(WasmCode {
                code_type: CodeType::Http,
                image: None,
                http: Some(HttpSource {
                    url: module.url.clone(),
                    sha256: module.sha256.clone(),
                }),
                pull_policy: module.image_pull_policy,
            })
        }
        Some(other) if has_scheme && other != "oci" => Err(ManifestError::Inexpressible {
            flag: format!("--url {}", module.url),
            kind: Target::EnvoyExtensionPolicy,
            hint: "Envoy Gateway fetches a module from an OCI registry (push it with `wasmctl \
                   push`) or over HTTP(S)"
                .into(),
        }),
        _ => {
            let url = match module.url.split_once("://") {
                Some((_, rest)) if has_scheme => rest.to_string(),
                _ => module.url.clone(),
            };
            Ok(WasmCode {
                code_type: CodeType::Image,
                image: Some(ImageSource {
                    url,
                    sha256: module.sha256.clone(),
                    pull_secret_ref: module
                        .image_pull_secret
                        .clone()
                        .map(|name| SecretRef { name }),
                }),
                http: None,
                pull_policy: module.image_pull_policy,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(url: &str) -> Result<WasmCode, ManifestError> {
        code(&Module {
            url: url.into(),
            ..Module::default()
        })
    }

    #[test]
    fn urls_become_image_or_http_code() {
        let image = code_of("oci://localhost:5000/x@sha256:ab").unwrap();
        assert_eq!(image.code_type, CodeType::Image);
        assert_eq!(image.image.unwrap().url, "localhost:5000/x@sha256:ab");
        assert_eq!(
            code_of("localhost:5000/x:1").unwrap().image.unwrap().url,
            "localhost:5000/x:1"
        );
        assert_eq!(
            code_of("HTTPS://h/x.wasm").unwrap().code_type,
            CodeType::Http
        );
        assert!(code_of("file:///x.wasm").is_err());
        assert!(code_of("ftp://h/x.wasm").is_err());
        assert_eq!(gateway_api_group("grpcroute"), Some(GATEWAY_API_GROUP));
        assert_eq!(gateway_api_group("Service"), None);
    }
}
