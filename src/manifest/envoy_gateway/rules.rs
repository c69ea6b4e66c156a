//! What Envoy Gateway 1.9's EnvoyExtensionPolicy CRD accepts: its openAPIV3Schema limits and its
//! `x-kubernetes-validations` CEL rules (messages quoted as the API server prints them), plus the
//! checks Envoy Gateway's translator makes before it fetches the module.

use std::collections::BTreeSet;

use super::{CodeType, EnvoyExtensionPolicy, GATEWAY_API_GROUP, TARGET_KINDS, Wasm, WasmCode};
use crate::manifest::names;
use crate::manifest::types::PolicyTargetReference;
use crate::manifest::validate::{self, Problem, Problems};

/// Every problem with `policy`; empty when the API server and Envoy Gateway would accept it.
pub(super) fn check(policy: &EnvoyExtensionPolicy) -> Vec<Problem> {
    let mut p = Problems::default();
    validate::check_metadata(&policy.metadata, &mut p);
    check_target_refs(&policy.spec.target_refs, &mut p);
    // Schema: maxItems 16.
    if policy.spec.wasm.len() > 16 {
        p.add("spec.wasm", "must have at most 16 items");
    }
    for (i, wasm) in policy.spec.wasm.iter().enumerate() {
        check_wasm(wasm, &format!("spec.wasm[{i}]"), &mut p);
    }
    p.0
}

fn check_target_refs(target_refs: &[PolicyTargetReference], p: &mut Problems) {
    // CEL: (has(self.targetRef) && !has(self.targetRefs)) || (!has(self.targetRef) &&
    // has(self.targetRefs)) || (has(self.targetSelectors) && self.targetSelectors.size() > 0)
    if target_refs.is_empty() {
        p.add_with_hint(
            "spec",
            "either targetRef or targetRefs must be used",
            "pass --target-ref Gateway/NAME or HTTPRoute/NAME",
        );
    }
    for (i, target) in target_refs.iter().enumerate() {
        let field = format!("spec.targetRefs[{i}]");
        // CEL: self.targetRefs.all(ref, ref.group == 'gateway.networking.k8s.io')
        if target.group != GATEWAY_API_GROUP {
            p.add(
                format!("{field}.group"),
                "this policy can only have a targetRefs[*].group of gateway.networking.k8s.io",
            );
        } else if !validate::is_group(&target.group) {
            p.add(
                format!("{field}.group"),
                format!("`{}` is not an API group name", target.group),
            );
        }
        // CEL: self.targetRefs.all(ref, ref.kind in [...])
        if !TARGET_KINDS.contains(&target.kind.as_str()) {
            p.add_with_hint(
                format!("{field}.kind"),
                "this policy can only have a targetRefs[*].kind of \
                 Gateway/ListenerSet/HTTPRoute/GRPCRoute/TCPRoute/UDPRoute/TLSRoute",
                format!("`{}` is not one of them", target.kind),
            );
        }
        p.length(&format!("{field}.name"), &target.name, 1, 253);
    }
}

fn check_wasm(wasm: &Wasm, at: &str, p: &mut Problems) {
    check_code(&wasm.code, &format!("{at}.code"), p);
    if let Some(env) = &wasm.env {
        let mut seen = BTreeSet::new();
        for (i, key) in env.host_keys.iter().enumerate() {
            let field = format!("{at}.env.hostKeys[{i}]");
            if key.is_empty() {
                p.add(&field, "must not be empty");
            }
            if !seen.insert(key.as_str()) {
                p.add_with_hint(
                    &field,
                    format!("duplicate host variable `{key}`"),
                    "give each --env-from-host name once",
                );
            }
        }
    }
}

fn check_code(code: &WasmCode, at: &str, p: &mut Problems) {
    // CEL: self.type == 'HTTP' ? has(self.http) : !has(self.http), and the same for Image.
    match code.code_type {
        CodeType::Http if code.http.is_none() || code.image.is_some() => {
            p.add(at, "If type is HTTP, http field needs to be set.");
        }
        CodeType::Image if code.image.is_none() || code.http.is_some() => {
            p.add(at, "If type is Image, image field needs to be set.");
        }
        _ => {}
    }
    if let Some(image) = &code.image {
        let field = format!("{at}.image");
        // Envoy Gateway prefixes `oci://` itself: a url with a scheme would be fetched as a path.
        if image.url.is_empty() {
            p.add(format!("{field}.url"), "must not be empty");
        } else if image.url.contains("://") {
            p.add(
                format!("{field}.url"),
                format!(
                    "`{}` must be registry/repository[:tag|@digest], without a scheme",
                    image.url
                ),
            );
        } else {
            validate::check_image_url(&image.url, &format!("{field}.url"), p);
        }
        check_sha256(image.sha256.as_deref(), &format!("{field}.sha256"), p);
        if let Some(secret) = &image.pull_secret_ref {
            let field = format!("{field}.pullSecretRef.name");
            p.length(&field, &secret.name, 1, 253);
            if let Err(why) = names::check_subdomain(&secret.name) {
                p.add(&field, format!("Secret name `{}` {why}", secret.name));
            }
        }
    }
    if let Some(http) = &code.http {
        let field = format!("{at}.http");
        let scheme = crate::go_url::scheme_of(&http.url).map(str::to_ascii_lowercase);
        if !matches!(scheme.as_deref(), Some("http" | "https")) {
            p.add(
                format!("{field}.url"),
                format!("`{}` is not an http(s) url", http.url),
            );
        }
        check_sha256(http.sha256.as_deref(), &format!("{field}.sha256"), p);
    }
}

/// The CRD documents `^[a-f0-9]{64}$` for both checksums (without enforcing it); Envoy Gateway
/// compares the value with the digest it computes, so anything else never matches.
fn check_sha256(sha: Option<&str>, field: &str, p: &mut Problems) {
    if let Some(sha) = sha
        && !validate::is_sha256_hex(sha)
    {
        p.add(field, format!("`{sha}` is not 64 lower-case hex digits"));
    }
}
