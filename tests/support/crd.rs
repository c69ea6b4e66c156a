//! Validates Kubernetes objects against the real CRDs of the proxies wasmctl deploys to (Istio,
//! Envoy Gateway, Higress), independently of wasmctl's own checks: defaults applied as the API
//! server applies them, the `openAPIV3Schema` through a JSON Schema validator, and every
//! `x-kubernetes-validations` CEL rule through a CEL interpreter.
//!
//! Each CRD comes from the Go module of its project at a pinned version, fetched through the Go
//! module proxy (`go mod download`), so a clone of the project needs nothing beside it. An
//! environment variable per CRD names another file. Where Go is absent the CRD checks say
//! `skipped: … (needs Go)` loudly and pass, unless `WASMCTL_REQUIRE_INTEROP` is set (as `.ci/run`
//! does): then a check that cannot run fails.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use cel::extractors::This;
use serde_json::{Value, json};

/// The `istio.io/api` release whose CRDs the tests hold wasmctl to.
pub const ISTIO_API_MODULE: &str = "istio.io/api@v1.30.8";

/// Where one API group's CRDs come from.
pub struct CrdSource {
    pub group: &'static str,
    /// `path@version` of the Go module that ships the file.
    pub module: &'static str,
    pub file: &'static str,
    /// Names another file instead.
    pub env: &'static str,
}

pub const ISTIO: CrdSource = CrdSource {
    group: "extensions.istio.io",
    module: ISTIO_API_MODULE,
    file: "kubernetes/customresourcedefinitions.gen.yaml",
    env: "WASMCTL_ISTIO_CRDS",
};

/// Envoy Gateway 1.9: the EnvoyExtensionPolicy CRD as its Helm chart installs it.
pub const ENVOY_GATEWAY: CrdSource = CrdSource {
    group: "gateway.envoyproxy.io",
    module: "github.com/envoyproxy/gateway@v1.9.0",
    file: "charts/gateway-helm/charts/crds/crds/generated/gateway.envoyproxy.io_envoyextensionpolicies.yaml",
    env: "WASMCTL_ENVOY_GATEWAY_CRDS",
};

/// Higress 1.4.2, the newest release the Go module proxy serves: its Helm chart's CRDs.
pub const HIGRESS: CrdSource = CrdSource {
    group: "extensions.higress.io",
    module: "github.com/alibaba/higress@v1.4.2",
    file: "helm/core/crds/customresourcedefinitions.gen.yaml",
    env: "WASMCTL_HIGRESS_CRDS",
};

/// The source of the CRD for an object's `apiVersion`.
pub fn source_for(api_version: &str) -> &'static CrdSource {
    let group = api_version.split('/').next().unwrap_or_default();
    [&ISTIO, &ENVOY_GATEWAY, &HIGRESS]
        .into_iter()
        .find(|source| source.group == group)
        .unwrap_or_else(|| panic!("no CRD source for apiVersion {api_version}"))
}

/// The Istio CRD file these tests validate against, or `None` where it cannot be had (no Go).
pub fn crd_path() -> Option<PathBuf> {
    crd_file(&ISTIO)
}

/// Each API group's CRD file, once looked up; `None` where it cannot be had.
type CrdFiles = Vec<(&'static str, Option<PathBuf>)>;

/// The CRD file of `source`, fetched once per test binary; `None` where it cannot be had.
pub fn crd_file(source: &CrdSource) -> Option<PathBuf> {
    static FILES: OnceLock<Mutex<CrdFiles>> = OnceLock::new();
    let mut files = FILES.get_or_init(Mutex::default).lock().unwrap();
    if let Some((_, path)) = files.iter().find(|(group, _)| *group == source.group) {
        return path.clone();
    }
    let path = match std::env::var_os(source.env) {
        Some(path) => Some(PathBuf::from(path)),
        None => go_module_dir(source.module).map(|dir| dir.join(source.file)),
    };
    files.push((source.group, path.clone()));
    path
}
/// Where `go mod download` put `module` (`path@version`); `None` without Go, or with a skip allowed.
pub fn go_module_dir(module: &str) -> Option<PathBuf> {
    let required = std::env::var_os("WASMCTL_REQUIRE_INTEROP").is_some_and(|v| !v.is_empty());
    let output = Command::new("go")
        .args(["mod", "download", "-json", module])
        .env("GOFLAGS", "-mod=mod")
        .current_dir(std::env::temp_dir())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) if !required => {
            // Straight to the process's stderr: the test harness captures `eprintln!`, and the skip
            // must show in a passing run.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: CRD validation against {module} (needs Go: {e})"
            );
            return None;
        }
        Err(e) => panic!("WASMCTL_REQUIRE_INTEROP is set but go cannot run: {e}"),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "go mod download {module} failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let info: Value = serde_json::from_str(&text).expect("go mod download prints JSON");
    Some(PathBuf::from(
        info["Dir"]
            .as_str()
            .expect("go mod download names the module's Dir"),
    ))
}

/// The `openAPIV3Schema` of `kind` in `source`'s CRDs, as the CRD states it.
pub fn schema_of(source: &CrdSource, kind: &str) -> Value {
    let path = crd_file(source).expect("the CRDs are available");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read the CRDs at {}: {e}", path.display()));
    for document in serde_yaml::Deserializer::from_str(&text) {
        let crd: Value = serde::Deserialize::deserialize(document).expect("CRD documents parse");
        if crd["spec"]["group"] == source.group && crd["spec"]["names"]["kind"] == kind {
            let version = &crd["spec"]["versions"][0];
            assert_eq!(version["name"], "v1alpha1");
            let mut schema = version["schema"]["openAPIV3Schema"].clone();
            if source.group == HIGRESS.group {
                add_higress_2_fields(&mut schema);
            }
            return schema;
        }
    }
    panic!("no CRD for kind {kind} in {}", path.display());
}

/// The `openAPIV3Schema` of an Istio `kind` (WasmPlugin or TrafficExtension).
pub fn openapi_schema(kind: &str) -> Value {
    schema_of(&ISTIO, kind)
}

/// Higress 2 matches rules by upstream service too: `matchRules[].service`, a list of strings
/// beside `ingress` and `domain`. The 1.4.2 CRD predates it, so the schema gains that one field,
/// typed as its siblings; everything else is checked as 1.4.2 states it.
fn add_higress_2_fields(schema: &mut Value) {
    let rule = &mut schema["properties"]["spec"]["properties"]["matchRules"]["items"]["properties"];
    let domain = rule["domain"].clone();
    assert!(
        domain.is_object(),
        "the Higress CRD has matchRules[].domain"
    );
    rule["service"] = domain;
}

/// Fills in the `default` of every absent property of a present object, as the API server does
/// before it validates (so `pullSecretRef: {name: x}` is checked with `kind: Secret`).
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(props) = schema["properties"].as_object() {
                for (key, child_schema) in props {
                    match map.get_mut(key) {
                        Some(child) => apply_defaults(child_schema, child),
                        None => {
                            if let Some(default) = child_schema.get("default") {
                                map.insert(key.clone(), default.clone());
                            }
                        }
                    }
                }
            }
            if schema["additionalProperties"].is_object() {
                for child in map.values_mut() {
                    apply_defaults(&schema["additionalProperties"], child);
                }
            }
        }
        Value::Array(items) if schema["items"].is_object() => {
            for item in items {
                apply_defaults(&schema["items"], item);
            }
        }
        _ => {}
    }
}

/// Turns an OpenAPI v3 structural schema into JSON Schema that means the same to the API server:
/// `nullable` widens the type, `format: int32` becomes a range, and objects that the server would
/// prune unknown fields from reject them instead (so a misspelt field fails the test rather than
/// vanishing in the cluster). `x-kubernetes-*` keys are left for the CEL pass.
pub fn to_json_schema(schema: &Value) -> Value {
    let mut out = schema.clone();
    convert(&mut out);
    out
}

fn convert(node: &mut Value) {
    let Value::Object(map) = node else { return };
    if map.remove("nullable") == Some(Value::Bool(true))
        && let Some(Value::String(t)) = map.get("type").cloned()
    {
        map.insert("type".into(), json!([t, "null"]));
    }
    match map.get("format").and_then(Value::as_str) {
        Some("int32") => {
            map.insert("minimum".into(), json!(i32::MIN));
            map.insert("maximum".into(), json!(i32::MAX));
        }
        Some("int64") => {
            map.insert("minimum".into(), json!(i64::MIN));
            map.insert("maximum".into(), json!(i64::MAX));
        }
        _ => {}
    }
    let preserves = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if map.contains_key("properties") && !preserves && !map.contains_key("additionalProperties") {
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    for (key, child) in map.iter_mut() {
        match key.as_str() {
            "properties" => {
                if let Value::Object(props) = child {
                    props.values_mut().for_each(convert);
                }
            }
            "items" | "additionalProperties" | "not" => convert(child),
            "oneOf" | "anyOf" | "allOf" => {
                if let Value::Array(items) = child {
                    items.iter_mut().for_each(convert);
                }
            }
            _ => {}
        }
    }
}

/// The schema of a whole object: the CRD's, plus the `apiVersion`, `kind` and `metadata` every
/// object carries.
fn object_schema(openapi: &Value, api_version: &str, kind: &str) -> Value {
    let mut schema = to_json_schema(openapi);
    let props = schema["properties"]
        .as_object_mut()
        .expect("root has properties");
    props.insert("apiVersion".into(), json!({"const": api_version}));
    props.insert("kind".into(), json!({"const": kind}));
    props.insert(
        "metadata".into(),
        json!({
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}}
            },
            "additionalProperties": false
        }),
    );
    let required = schema
        .as_object_mut()
        .expect("root is an object")
        .entry("required")
        .or_insert_with(|| json!([]));
    required
        .as_array_mut()
        .expect("required is a list")
        .extend([json!("apiVersion"), json!("kind"), json!("metadata")]);
    schema
}

/// Every way `object` breaks its CRD: schema errors, then CEL rule failures, both after the
/// CRD's defaults are applied. Empty when valid.
pub fn violations(object: &Value) -> Vec<String> {
    let kind = object["kind"].as_str().expect("object has a kind");
    let api_version = object["apiVersion"]
        .as_str()
        .expect("object has an apiVersion");
    let openapi = schema_of(source_for(api_version), kind);
    let schema = object_schema(&openapi, api_version, kind);
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
        .expect("the converted CRD schema compiles");
    let mut object = object.clone();
    apply_defaults(&openapi, &mut object);
    let mut found: Vec<String> = validator
        .iter_errors(&object)
        .map(|e| format!("schema: {}: {e}", e.instance_path()))
        .collect();
    check_rules(&openapi, &object, "", &mut found);
    found
}

/// Whether the Istio CRDs can be had here; where not, the checks below skip, loudly.
pub fn available() -> bool {
    crd_path().is_some()
}

/// Whether the CRDs of `source` can be had here.
pub fn available_for(source: &CrdSource) -> bool {
    crd_file(source).is_some()
}

/// Panics with the violations unless `object` is valid under its CRD.
#[track_caller]
pub fn assert_valid(object: &Value) {
    let api_version = object["apiVersion"]
        .as_str()
        .expect("object has an apiVersion");
    if !available_for(source_for(api_version)) {
        return;
    }
    let found = violations(object);
    assert!(
        found.is_empty(),
        "the object breaks its CRD:\n  {}\n{}",
        found.join("\n  "),
        serde_json::to_string_pretty(object).unwrap()
    );
}

/// Walks the schema alongside the value and evaluates each `x-kubernetes-validations` rule with
/// `self` bound to the value at that node, as the API server does.
fn check_rules(schema: &Value, value: &Value, path: &str, found: &mut Vec<String>) {
    if let Some(rules) = schema["x-kubernetes-validations"].as_array() {
        for rule in rules {
            let source = rule["rule"].as_str().expect("rule text");
            let message = rule["message"].as_str().unwrap_or(source);
            match eval_rule(source, value) {
                Ok(true) => {}
                Ok(false) => found.push(format!("cel: {path}: {message}")),
                Err(e) => found.push(format!("cel: {path}: rule `{source}` failed: {e}")),
            }
        }
    }
    match value {
        Value::Object(map) => {
            if let Some(props) = schema["properties"].as_object() {
                for (key, child_schema) in props {
                    if let Some(child) = map.get(key) {
                        check_rules(child_schema, child, &format!("{path}.{key}"), found);
                    }
                }
            }
            if schema["additionalProperties"].is_object() {
                for (key, child) in map {
                    let child_schema = &schema["additionalProperties"];
                    check_rules(child_schema, child, &format!("{path}[{key}]"), found);
                }
            }
        }
        Value::Array(items) if schema["items"].is_object() => {
            for (i, item) in items.iter().enumerate() {
                check_rules(&schema["items"], item, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// Evaluates one rule with Kubernetes' URL library functions (`isURL`, `url`, `getScheme`).
pub fn eval_rule(source: &str, value: &Value) -> Result<bool, String> {
    let program = cel::Program::compile(source).map_err(|e| e.to_string())?;
    let mut context = cel::Context::default();
    context
        .add_variable("self", cel::to_value(value).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    context
        .add_function("isURL", |s: Arc<String>| parse_request_uri(&s).is_ok())
        .map_err(|e| format!("{e:?}"))?;
    // `url()` fails on what isURL refuses; `getScheme()` reads the scheme of the checked string.
    context
        .add_function(
            "url",
            |s: Arc<String>| -> Result<Arc<String>, cel::ExecutionError> {
                parse_request_uri(&s)
                    .map(|_| s.clone())
                    .map_err(|e| cel::ExecutionError::function_error("url", e))
            },
        )
        .map_err(|e| format!("{e:?}"))?;
    context
        .add_function("getScheme", |This(s): This<Arc<String>>| {
            parse_request_uri(&s).unwrap_or_default()
        })
        .map_err(|e| format!("{e:?}"))?;
    match program.execute(&context).map_err(|e| e.to_string())? {
        cel::Value::Bool(b) => Ok(b),
        other => Err(format!("rule returned {other:?}, not a bool")),
    }
}

/// The scheme of `s` if Go's `url.ParseRequestURI` (behind Kubernetes' `isURL` and `url`) accepts
/// it: the parts of net/url these rules reach (scheme, opaque or absolute form, host characters and
/// port), lower-casing the scheme as Go does.
pub fn parse_request_uri(s: &str) -> Result<String, String> {
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in URL".into());
    }
    let (scheme, rest) = go_scheme(s)?;
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    if !rest.starts_with('/') {
        return if scheme.is_empty() {
            Err("invalid URI for request".into())
        } else {
            Ok(scheme)
        };
    }
    if !scheme.is_empty() && rest.starts_with("//") {
        let authority = rest[2..].split('/').next().unwrap_or_default();
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        check_host(host)?;
    }
    Ok(scheme)
}

fn go_scheme(s: &str) -> Result<(String, &str), String> {
    for (i, c) in s.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            '0'..='9' | '+' | '-' | '.' => return Ok((String::new(), s)),
            ':' if i == 0 => return Err("missing protocol scheme".into()),
            ':' => return Ok((s[..i].to_ascii_lowercase(), &s[i + 1..])),
            _ => return Ok((String::new(), s)),
        }
    }
    Ok((String::new(), s))
}

fn check_host(host: &str) -> Result<(), String> {
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let (_, after) = v6.split_once(']').ok_or("missing ']' in host")?;
        ("", after.strip_prefix(':'))
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if let Some(port) = port
        && !port.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("invalid port {port:?} after host"));
    }
    // net/url's host alphabet: letters, digits and these; anything else below 0x80 is refused.
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]<>\"%".contains(&b);
    match name.bytes().find(|b| *b < 0x80 && !allowed(*b)) {
        Some(b) => Err(format!("invalid character {:?} in host name", b as char)),
        None => Ok(()),
    }
}

/// Reads one or more YAML documents into JSON values.
pub fn yaml_documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML document"))
        .collect()
}
