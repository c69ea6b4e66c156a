//! Checks a manifest against what Istio's CRDs accept (the openAPIV3Schema constraints and the
//! `x-kubernetes-validations` CEL rules of `extensions.istio.io/v1alpha1`, release 1.30), the
//! Kubernetes naming rules, and the fields the chosen Istio release knows.
//!
//! CEL rule messages are quoted as the API server would print them, so a user who searches for the
//! message finds Istio's documentation.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::names;
use super::types::{
    Extension, FailStrategy, Kind, ObjectMeta, Placement, PolicyTargetReference, WasmSource,
};
use super::version::IstioVersion;
use crate::go_url;

/// One reason the manifest would be refused, at a field path such as `spec.vmConfig.env[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<Problem>);

impl Problems {
    pub(super) fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            field: field.into(),
            message: message.into(),
            hint: None,
        });
    }

    pub(super) fn add_with_hint(
        &mut self,
        field: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0.push(Problem {
            field: field.into(),
            message: message.into(),
            hint: Some(hint.into()),
        });
    }

    pub(super) fn length(&mut self, field: &str, value: &str, min: usize, max: usize) {
        // The API server counts characters, not bytes.
        let n = value.chars().count();
        if n < min {
            self.add(field, format!("must be at least {min} character(s)"));
        } else if n > max {
            self.add(
                field,
                format!("must be at most {max} characters (it has {n})"),
            );
        }
    }
}

const URL_SCHEMES: [&str; 4] = ["http", "https", "oci", "file"];

/// Every problem with `ext` for Istio `version`; empty when Istio would accept it.
pub fn validate(ext: &Extension, version: IstioVersion) -> Vec<Problem> {
    let mut p = Problems::default();
    check_metadata(&ext.metadata, &mut p);
    check_version(ext, version, &mut p);
    check_placement(ext.placement(), &mut p);
    let prefix = match ext.kind() {
        Kind::WasmPlugin => "spec",
        Kind::TrafficExtension => "spec.wasm",
    };
    check_wasm(ext.wasm(), prefix, &mut p);
    p.0
}

pub(super) fn check_metadata(meta: &ObjectMeta, p: &mut Problems) {
    if let Err(why) = names::check_subdomain(&meta.name) {
        p.add_with_hint(
            "metadata.name",
            format!("`{}` {why}", meta.name),
            "choose another name with --name",
        );
    }
    if let Some(ns) = &meta.namespace
        && let Err(why) = names::check_label_name(ns)
    {
        p.add("metadata.namespace", format!("`{ns}` {why}"));
    }
    for (key, value) in &meta.labels {
        if let Err(why) = names::check_label_key(key) {
            p.add("metadata.labels", format!("label key `{key}`: {why}"));
        }
        if let Err(why) = names::check_label_value(value) {
            p.add(
                "metadata.labels",
                format!("label value `{value}` of `{key}` {why}"),
            );
        }
    }
    for key in meta.annotations.keys() {
        // As apimachinery checks them: lower-cased first.
        if let Err(why) = names::check_label_key(&key.to_ascii_lowercase()) {
            p.add(
                "metadata.annotations",
                format!("annotation key `{key}`: {why}"),
            );
        }
    }
    let annotation_bytes: usize = meta
        .annotations
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if annotation_bytes > 256 * 1024 {
        p.add("metadata.annotations", "must total at most 256 KiB");
    }
}

fn check_version(ext: &Extension, version: IstioVersion, p: &mut Problems) {
    let needs = |what: &str, since: IstioVersion| {
        (
            format!("{what} needs Istio {since} or later (chosen: {version})"),
            format!("target a newer release with --istio-version {since}, or drop the field"),
        )
    };
    if version < IstioVersion::WASM_PLUGIN {
        let (message, _) = needs("WasmPlugin", IstioVersion::WASM_PLUGIN);
        p.add_with_hint(
            "kind",
            message,
            "Istio releases before 1.12 load Wasm only through EnvoyFilter, which wasmctl does not emit",
        );
    }
    if ext.kind() == Kind::TrafficExtension && version < IstioVersion::TRAFFIC_EXTENSION {
        let (message, _) = needs("TrafficExtension", IstioVersion::TRAFFIC_EXTENSION);
        p.add_with_hint(
            "kind",
            message,
            "emit a WasmPlugin (the default kind) for older releases",
        );
    }
    let prefix = match ext.kind() {
        Kind::WasmPlugin => "spec",
        Kind::TrafficExtension => "spec.wasm",
    };
    let wasm = ext.wasm();
    if wasm.plugin_type.is_some() && version < IstioVersion::PLUGIN_TYPE {
        let (message, hint) = needs("`type`", IstioVersion::PLUGIN_TYPE);
        p.add_with_hint(format!("{prefix}.type"), message, hint);
    }
    if wasm.fail_strategy == Some(FailStrategy::FailReload) && version < IstioVersion::FAIL_RELOAD {
        let (message, _) = needs("FAIL_RELOAD", IstioVersion::FAIL_RELOAD);
        p.add_with_hint(
            format!("{prefix}.failStrategy"),
            message,
            "use FAIL_CLOSE or FAIL_OPEN, or --istio-version 1.27",
        );
    }
    if !ext.placement().target_refs.is_empty() && version < IstioVersion::TARGET_REFS {
        let (message, hint) = needs("`targetRefs`", IstioVersion::TARGET_REFS);
        p.add_with_hint("spec.targetRefs", message, hint);
    }
}

fn check_placement(placement: &Placement, p: &mut Problems) {
    // CEL: (has(self.selector) ? 1 : 0) + (has(self.targetRef) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1
    if placement.selector.is_some() && !placement.target_refs.is_empty() {
        p.add_with_hint(
            "spec",
            "only one of targetRefs or selector can be set",
            "pass either --selector or --target-ref (a project's default selector is dropped when \
             --target-ref is given)",
        );
    }
    if let Some(selector) = &placement.selector {
        check_selector(&selector.match_labels, p);
    }
    check_target_refs(&placement.target_refs, p);
    if let Some(priority) = placement.priority
        && i32::try_from(priority).is_err()
    {
        p.add(
            "spec.priority",
            format!(
                "{priority} is out of range: Istio takes a 32-bit signed integer ({} to {})",
                i32::MIN,
                i32::MAX
            ),
        );
    }
    for (i, traffic) in placement.traffic.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for (j, port) in traffic.ports.iter().enumerate() {
            let field = format!("spec.match[{i}].ports[{j}].number");
            if !(1..=65535).contains(&port.number) {
                p.add(&field, format!("port {} is not in 1..65535", port.number));
            }
            // x-kubernetes-list-type: map keyed by number.
            if !seen.insert(port.number) {
                p.add(&field, format!("duplicate port {}", port.number));
            }
        }
    }
}

fn check_selector(labels: &BTreeMap<String, String>, p: &mut Problems) {
    if labels.len() > 4096 {
        p.add("spec.selector.matchLabels", "must have at most 4096 labels");
    }
    for (key, value) in labels {
        let field = format!("spec.selector.matchLabels[{key}]");
        // CEL: self.all(key, !key.contains("*")) and self.all(key, key.size() != 0)
        if key.is_empty() {
            p.add(&field, "key must not be empty");
        } else if key.contains('*') {
            p.add(&field, "wildcard not allowed in label key match");
        } else if let Err(why) = names::check_label_key(key) {
            p.add(&field, format!("label key `{key}`: {why}"));
        }
        // CEL on values: !self.contains("*"); schema: maxLength 63.
        if value.contains('*') {
            p.add(&field, "wildcard not allowed in label value match");
        } else if let Err(why) = names::check_label_value(value) {
            p.add(&field, format!("label value `{value}` {why}"));
        }
    }
}

fn check_target_refs(target_refs: &[PolicyTargetReference], p: &mut Problems) {
    if target_refs.len() > 16 {
        p.add("spec.targetRefs", "must have at most 16 items");
    }
    for (i, target) in target_refs.iter().enumerate() {
        let field = format!("spec.targetRefs[{i}]");
        if target.group.len() > 253 || !(target.group.is_empty() || is_group(&target.group)) {
            p.add(
                format!("{field}.group"),
                format!("`{}` is not an API group name", target.group),
            );
        }
        p.length(&format!("{field}.kind"), &target.kind, 1, 63);
        if !is_kind(&target.kind) {
            p.add(
                format!("{field}.kind"),
                format!(
                    "`{}` is not a kind name (letters, digits and '-')",
                    target.kind
                ),
            );
        }
        p.length(&format!("{field}.name"), &target.name, 1, 253);
        // Istio's webhook: the kinds a WasmPlugin can attach to, by group ("" is "core") and kind.
        let group = if target.group.is_empty() {
            "core"
        } else {
            target.group.as_str()
        };
        if !ISTIO_TARGET_KINDS.contains(&(group, target.kind.as_str())) {
            p.add_with_hint(
                field.clone(),
                format!(
                    "targetRef must be to a Service, ServiceEntry, Gateway or GatewayClass, not \
                     {}/{}",
                    target.group, target.kind
                ),
                "write Service/NAME, networking.istio.io/ServiceEntry/NAME, Gateway/NAME or \
                 GatewayClass/NAME",
            );
        }
    }
}

/// Istio's webhook holds a plugin name and an env name to 256 bytes, where the CRD counts
/// characters: a name of many-byte characters can pass one and not the other.
fn webhook_bytes(field: &str, value: &str, p: &mut Problems) {
    if value.chars().count() <= 256 && value.len() > 256 {
        p.add(
            field,
            format!(
                "must be at most 256 bytes, as Istio's webhook counts them (it has {})",
                value.len()
            ),
        );
    }
}

/// What Istio lets a policy's targetRefs name: group (`core` for "") and kind.
const ISTIO_TARGET_KINDS: [(&str, &str); 4] = [
    ("core", "Service"),
    ("networking.istio.io", "ServiceEntry"),
    ("gateway.networking.k8s.io", "Gateway"),
    ("gateway.networking.k8s.io", "GatewayClass"),
];

fn check_wasm(wasm: &WasmSource, prefix: &str, p: &mut Problems) {
    let field = |name: &str| format!("{prefix}.{name}");
    if wasm.module.url.is_empty() {
        p.add(field("url"), "must not be empty");
    } else {
        check_url(&wasm.module.url, &field("url"), p);
        check_image_url(&wasm.module.url, &field("url"), p);
    }
    if let Some(sha) = &wasm.module.sha256
        && !(sha.is_empty() || is_sha256_hex(sha))
    {
        p.add(
            field("sha256"),
            format!("`{sha}` is not 64 lower-case hex digits"),
        );
    }
    if let Some(secret) = &wasm.module.image_pull_secret {
        p.length(&field("imagePullSecret"), secret, 1, 253);
        if let Err(why) = names::check_subdomain(secret) {
            p.add(
                field("imagePullSecret"),
                format!("Secret name `{secret}` {why}"),
            );
        }
    }
    if let Some(name) = &wasm.module.plugin_name {
        p.length(&field("pluginName"), name, 1, 256);
        webhook_bytes(&field("pluginName"), name, p);
    }
    if let Some(vm) = &wasm.vm_config {
        if vm.env.len() > 256 {
            p.add(field("vmConfig.env"), "must have at most 256 items");
        }
        let mut seen = BTreeSet::new();
        for (i, env) in vm.env.iter().enumerate() {
            let at = field(&format!("vmConfig.env[{i}]"));
            p.length(&format!("{at}.name"), &env.name, 1, 256);
            webhook_bytes(&format!("{at}.name"), &env.name, p);
            if let Some(value) = &env.value {
                p.length(&format!("{at}.value"), value, 0, 2048);
            }
            // CEL: (has(self.valueFrom) ? self.valueFrom : "") != "HOST" || !has(self.value)
            if env.value_from == Some(super::types::EnvValueSource::Host) && env.value.is_some() {
                p.add(&at, "value may only be set when valueFrom is INLINE");
            }
            // x-kubernetes-list-type: map keyed by name.
            if !seen.insert(env.name.as_str()) {
                p.add_with_hint(
                    format!("{at}.name"),
                    format!("duplicate environment variable `{}`", env.name),
                    "give each --env / --env-from-host name once",
                );
            }
        }
    }
}

/// The CRD's rule for `url`: `isURL(self) ? url(self).getScheme() in [...] : (isURL("http://" +
/// self) && ...)`, where `isURL` and `url` are Go's `url.ParseRequestURI`, which lower-cases the
/// scheme.
fn check_url(url: &str, field: &str, p: &mut Problems) {
    const MESSAGE: &str = "url must have schema one of [http, https, file, oci]";
    let read = go_url::scheme(url).or_else(|_| go_url::scheme(&format!("http://{url}")));
    match read {
        Ok(scheme) if scheme.is_empty() || URL_SCHEMES.contains(&scheme.as_str()) => {}
        Ok(scheme) => p.add_with_hint(
            field,
            MESSAGE,
            format!("`{url}` reads as scheme `{scheme}`; write oci://, http(s):// or file://"),
        ),
        Err(why) => p.add_with_hint(
            field,
            MESSAGE,
            format!("Kubernetes does not read `{url}` as a URL: {why}"),
        ),
    }
}

/// An image's url (`oci://...`, or a url without a scheme, which the proxies read as one) must be a
/// reference the proxy's fetcher reads, as go-containerregistry does, or the image is never
/// fetched although every admission check passes.
pub(super) fn check_image_url(url: &str, field: &str, p: &mut Problems) {
    let reference = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("oci") => rest,
        Some(_) => return,
        None if go_url::scheme_of(url).is_none() => url,
        None => return,
    };
    if let Err(why) = crate::oci::go_name::parse_reference(reference) {
        p.add_with_hint(
            field,
            format!("`{url}` is not an image reference the proxy can fetch: {why}"),
            "the proxy reads it as go-containerregistry does: [REGISTRY/]REPOSITORY[:TAG][@sha256:HEX], \
             the repository in lower case",
        );
    }
}

pub(super) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// CRD pattern `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`.
pub(super) fn is_group(s: &str) -> bool {
    s.split('.').all(|part| {
        let b = part.as_bytes();
        !b.is_empty()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    })
}

/// CRD pattern `^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`.
pub(super) fn is_kind(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that `pattern` matches every one of `valid` and none of `invalid`, naming the value
    /// it misjudges.
    fn judges(pattern: fn(&str) -> bool, valid: &[&str], invalid: &[&str]) {
        for value in valid {
            assert!(pattern(value), "`{value}` refused");
        }
        for value in invalid {
            assert!(!pattern(value), "`{value}` accepted");
        }
    }

    #[test]
    fn crd_patterns() {
        judges(
            is_group,
            &["gateway.networking.k8s.io"],
            &["Gateway", "a..b"],
        );
        judges(is_kind, &["Gateway"], &["1Gateway", "Gate_way"]);
        judges(is_sha256_hex, &[&"a".repeat(64)], &[&"A".repeat(64)]);
    }
}
