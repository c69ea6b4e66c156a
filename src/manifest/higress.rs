//! Higress's WasmPlugin (`extensions.higress.io/v1alpha1`): Istio's early fields plus
//! `defaultConfig`, `defaultConfigDisable` and `matchRules`, each rule with its own config.
//!
//! Higress turns it into an Istio WasmPlugin for its gateway. A `pluginConfig` there replaces
//! `defaultConfig` and every rule, so the project's configuration goes into `defaultConfig`.

use std::path::PathBuf;

use serde::Serialize;
use serde_with::skip_serializing_none;

use super::config::{self, PluginConfig};
use super::types::{Module, Object, Phase, WasmSource};
use super::validate::{self, Problem, Problems};
use super::{
    Manifest, ManifestError, ManifestOptions, PluginType, Resource, Target, names, source,
};
use crate::project::Project;

pub const API_VERSION: &str = "extensions.higress.io/v1alpha1";
pub const KIND: &str = "WasmPlugin";

pub type HigressWasmPlugin = Object<HigressSpec>;

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HigressSpec {
    #[serde(flatten)]
    pub module: Module,
    pub phase: Option<Phase>,
    pub priority: Option<i64>,
    pub default_config: Option<PluginConfig>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub default_config_disable: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_rules: Vec<MatchRule>,
}

/// Where a rule applies (Higress reads ingress first, then domain, then service) and its config.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchRule {
    /// Ingress (route) names, `NAMESPACE/NAME`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<String>,
    /// Host names, `*.example.com` wildcards allowed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domain: Vec<String>,
    /// Upstream services (Higress 2).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub service: Vec<String>,
    pub config: Option<PluginConfig>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub config_disable: bool,
}

/// The fields of `--match-rule`.
const RULE_FIELDS: &str = "ingress, domain, service, config or config-disable";

pub(super) fn generate(
    options: &ManifestOptions,
    project: Option<&Project>,
) -> Result<Manifest, ManifestError> {
    let metadata = super::metadata(&options.metadata, options.kind, project)?;
    let match_rules = options
        .higress
        .match_rules
        .iter()
        .map(|item| parse_rule(item))
        .collect::<Result<Vec<_>, _>>()?;
    // A rule's config is the plugin's whole configuration where the rule matches: the project's
    // schema judges it as it judges the default.
    if let Some(project) = project
        && let Some(schema) = &project.settings.config_schema
    {
        let schema = project.resolve(schema);
        for (i, rule) in match_rules.iter().enumerate() {
            let Some(config) = &rule.config else { continue };
            if let Err(ManifestError::ConfigSchemaMismatch { schema, problems }) =
                config::check_schema(config, &schema)
            {
                let problems = (problems.into_iter())
                    .map(|problem| format!("--match-rule {}'s config: {problem}", i + 1))
                    .collect();
                return Err(ManifestError::ConfigSchemaMismatch { schema, problems });
            }
        }
    }
    let location = source::module_location(&options.module, project)?;
    let mut wasm = super::wasm_source(options, project, location)?;
    if wasm.plugin_type == Some(PluginType::Network) {
        return Err(ManifestError::Inexpressible {
            flag: "type NETWORK".into(),
            kind: Target::HigressWasmPlugin,
            hint: "Higress runs Wasm plugins as HTTP filters only".into(),
        });
    }
    let secret = super::pull_secret(&options.module, &metadata, &mut wasm)?;
    let plugin = HigressWasmPlugin {
        api_version: API_VERSION,
        kind: KIND,
        metadata,
        spec: spec(options, wasm, match_rules),
    };
    let mut problems = check(&plugin);
    problems.extend(source::digest_mismatch(&plugin.spec.module));
    super::refuse_problems(Target::HigressWasmPlugin, problems)?;
    let rules = !plugin.spec.match_rules.is_empty();
    let mut manifest = Manifest::new(Resource::Higress(plugin), secret);
    if rules {
        manifest.notes.push(
            "Higress does not narrow the plugin by its match rules: it hands them to the plugin in \
             its configuration (`_rules_`, each with `_match_route_` or `_match_domain_`, or in \
             Higress 2 `_match_service_`, and the rule's config), and the plugin must match each request \
             itself, as Higress's plugin SDKs do; a plugin that ignores `_rules_` (wasmctl's \
             templates do) runs everywhere with the default config"
                .into(),
        );
    }
    Ok(manifest)
}

fn spec(options: &ManifestOptions, wasm: WasmSource, match_rules: Vec<MatchRule>) -> HigressSpec {
    HigressSpec {
        module: wasm.module,
        phase: options.placement.phase,
        priority: options.placement.priority,
        default_config: wasm.plugin_config,
        default_config_disable: options.higress.default_config_disable,
        match_rules,
    }
}

/// `KEY=VALUE,...`: `ingress=NS/NAME`, `domain=HOST`, `service=NAME` (each repeatable),
/// `config=FILE` (YAML or JSON), `config-disable=true`.
fn parse_rule(item: &str) -> Result<MatchRule, ManifestError> {
    let bad = |message: String| ManifestError::BadArgument {
        flag: "--match-rule",
        item: item.to_string(),
        message,
    };
    let mut rule = MatchRule::default();
    let mut seen_disable = false;
    for part in item.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("`{part}` is not KEY=VALUE ({RULE_FIELDS})")))?;
        match key {
            "ingress" => rule.ingress.push(value.to_string()),
            "domain" => rule.domain.push(value.to_string()),
            "service" => rule.service.push(value.to_string()),
            "config" if rule.config.is_some() => {
                return Err(bad("config is given twice; a rule has one".into()));
            }
            "config" => rule.config = Some(config::load(&PathBuf::from(value))?),
            "config-disable" if seen_disable => {
                return Err(bad("config-disable is given twice".into()));
            }
            "config-disable" => {
                seen_disable = true;
                rule.config_disable = value
                    .parse()
                    .map_err(|_| bad(format!("config-disable is true or false, not `{value}`")))?;
            }
            other => {
                return Err(bad(format!(
                    "unknown field `{other}`: expected {RULE_FIELDS}"
                )));
            }
        }
    }
    Ok(rule)
}

/// The field rules of Higress's `wasm.proto` and its CRD, and what its controller refuses.
fn check(plugin: &HigressWasmPlugin) -> Vec<Problem> {
    let mut p = Problems::default();
    validate::check_metadata(&plugin.metadata, &mut p);
    let spec = &plugin.spec;
    let module = &spec.module;
    if module.url.is_empty() {
        p.add("spec.url", "must not be empty");
    } else if let Some(scheme) = crate::go_url::scheme_of(&module.url)
        && module.url[scheme.len()..].starts_with("://")
        && !["oci", "http", "https", "file"].contains(&scheme.to_ascii_lowercase().as_str())
    {
        p.add(
            "spec.url",
            format!("scheme `{scheme}` is not oci, http(s) or file"),
        );
    } else {
        validate::check_image_url(&module.url, "spec.url", &mut p);
    }
    if let Some(sha) = &module.sha256
        && !validate::is_sha256_hex(sha)
    {
        p.add(
            "spec.sha256",
            format!("`{sha}` is not 64 lower-case hex digits"),
        );
    }
    if let Some(secret) = &module.image_pull_secret
        && let Err(why) = names::check_subdomain(secret)
    {
        p.add(
            "spec.imagePullSecret",
            format!("Secret name `{secret}` {why}"),
        );
    }
    // wasm.proto: google.protobuf.Int32Value priority.
    if let Some(priority) = spec.priority
        && i32::try_from(priority).is_err()
    {
        p.add(
            "spec.priority",
            format!("{priority} is not a 32-bit signed integer"),
        );
    }
    for (i, rule) in spec.match_rules.iter().enumerate() {
        check_rule(rule, &format!("spec.matchRules[{i}]"), &mut p);
    }
    if spec.default_config_disable && spec.match_rules.iter().all(|r| r.config_disable) {
        p.add_with_hint(
            "spec.defaultConfigDisable",
            "the plugin would apply nowhere: the default config is disabled and no rule is enabled",
            "add a --match-rule, or drop --default-config-disable",
        );
    }
    p.0
}

fn check_rule(rule: &MatchRule, at: &str, p: &mut Problems) {
    let conditions = [&rule.ingress, &rule.domain, &rule.service]
        .iter()
        .filter(|list| !list.is_empty())
        .count();
    match conditions {
        // Higress's controller: "invalid match rule has no match condition".
        0 => p.add_with_hint(
            at,
            "invalid match rule has no match condition",
            "give the rule ingress=NS/NAME, domain=HOST or service=NAME",
        ),
        1 => {}
        // Higress reads only the first kind of condition a rule has and ignores the others.
        _ => p.add_with_hint(
            at,
            "a rule matches by ingress, domain or service, not several: Higress would ignore all \
             but the first",
            "split it into one --match-rule per kind of condition",
        ),
    }
    for (i, ingress) in rule.ingress.iter().enumerate() {
        let ok = ingress.split_once('/').is_some_and(|(ns, name)| {
            names::check_label_name(ns).is_ok() && names::check_subdomain(name).is_ok()
        });
        if !ok {
            p.add(
                format!("{at}.ingress[{i}]"),
                format!("`{ingress}` is not NAMESPACE/NAME"),
            );
        }
    }
    for (field, list) in [("domain", &rule.domain), ("service", &rule.service)] {
        for (i, value) in list.iter().enumerate() {
            if value.is_empty() || value.chars().any(char::is_whitespace) {
                p.add(
                    format!("{at}.{field}[{i}]"),
                    format!("`{value}` is not a {field} name"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_check() {
        let rule =
            parse_rule("domain=a.example.com,domain=*.b.example.com,config-disable=true").unwrap();
        assert_eq!(rule.domain, ["a.example.com", "*.b.example.com"]);
        assert!(rule.config_disable);
        assert!(parse_rule("route=x").is_err());
        assert!(parse_rule("domain").is_err());
        assert!(parse_rule("config-disable=maybe").is_err());
        let mut p = Problems::default();
        check_rule(&parse_rule("service=a,ingress=ns/b").unwrap(), "r", &mut p);
        check_rule(&MatchRule::default(), "r", &mut p);
        check_rule(&parse_rule("ingress=Bad/x").unwrap(), "r", &mut p);
        assert_eq!(p.0.len(), 3, "{:?}", p.0);
    }
}
