//! The plugin's configuration: a YAML or JSON file, `--set key=value` overrides on top, and the
//! project's JSON Schema for it when it declares one.

use std::path::Path;

use serde_json::{Map, Value};

use super::{ManifestError, PluginOptions};
use crate::key_value::KeyValue;
use crate::project::Project;

/// A pluginConfig object, keys in the order the file gave them.
pub type PluginConfig = Map<String, Value>;

/// Reads a configuration file (YAML, of which JSON is a subset); it must hold a mapping.
///
/// An empty file means no configuration.
pub fn load(path: &Path) -> Result<PluginConfig, ManifestError> {
    let text = crate::fs::read_to_string(path)?;
    parse(&text, path)
}

fn parse(text: &str, path: &Path) -> Result<PluginConfig, ManifestError> {
    parse_file_text(text, path)
        .map(Option::unwrap_or_default)
        .map_err(|e| ManifestError::BadConfig {
            path: path.to_path_buf(),
            line: e.line,
            message: e.message,
        })
}

/// Why a pluginConfig text was refused, and on which line when that is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigTextError {
    pub message: String,
    pub line: Option<usize>,
}

impl std::fmt::Display for ConfigTextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Reads the text of the pluginConfig file `path`: a `.json` file as JSON (where `"<<"` is a key
/// like any other, not YAML's merge), any other as YAML ([`parse_text`]).
pub fn parse_file_text(text: &str, path: &Path) -> Result<Option<PluginConfig>, ConfigTextError> {
    let json = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    if !json {
        return parse_text(text);
    }
    if text.trim().is_empty() {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| ConfigTextError {
        // serde_json appends " at line N column M"; the error names the line itself.
        message: e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_string(),
        line: Some(e.line()),
    })?;
    match value {
        Value::Null => Ok(None),
        Value::Object(map) => Ok(Some(map)),
        other => Err(ConfigTextError {
            message: format!(
                "pluginConfig must be a mapping, not {}",
                json_type_name(&other)
            ),
            line: None,
        }),
    }
}

/// Reads pluginConfig text (YAML, of which JSON is a subset) into the JSON object Istio hands the
/// plugin; `None` for an empty document. The one conversion for `manifest`, `run` and `test`, so
/// the plugin sees in wasmctl's host what it will see in the proxy.
pub fn parse_text(text: &str) -> Result<Option<PluginConfig>, ConfigTextError> {
    let bad = |message: String, line: Option<usize>| ConfigTextError { message, line };
    let value: serde_yaml::Value = match serde_yaml::from_str(text) {
        Ok(value) => value,
        Err(e) => {
            let line = e.location().map(|l| l.line());
            // serde_yaml appends " at line N column M"; the error names the line itself.
            let message = e.to_string();
            let message = match message.find(" at line ") {
                Some(at) => message[..at].to_string(),
                None => message,
            };
            // serde_yaml's words for an integer beyond 64 bits name its own types.
            let message = match message.split_once("invalid type: integer `") {
                Some((at, rest)) if message.contains("as u128") || message.contains("as i128") => {
                    let number = rest.split('`').next().unwrap_or_default();
                    format!(
                        "{at}{number} is beyond what a 64-bit integer holds; write it as a \
                         float (`{number}.0`) or quote it for a string"
                    )
                }
                _ => message,
            };
            return Err(bad(message, line));
        }
    };
    from_yaml(value)
}

/// [`parse_text`] for YAML already parsed (a scenario's inline `config`).
pub fn from_yaml(mut value: serde_yaml::Value) -> Result<Option<PluginConfig>, ConfigTextError> {
    let bad = |message: String, line: Option<usize>| ConfigTextError { message, line };
    value
        .apply_merge()
        .map_err(|e| bad(e.to_string(), e.location().map(|l| l.line())))?;
    let value = yaml_to_json(value, "").map_err(|message| bad(message, None))?;
    match value {
        Value::Null => Ok(None),
        Value::Object(map) => Ok(Some(map)),
        other => Err(bad(
            format!(
                "pluginConfig must be a mapping, not {}",
                json_type_name(&other)
            ),
            None,
        )),
    }
}

/// Converts parsed YAML into the JSON the API server stores, refusing what JSON cannot carry
/// (infinities, NaN, tags, mappings as keys) instead of changing it silently. Scalar keys become
/// strings, as Kubernetes' own YAML-to-JSON conversion does.
fn yaml_to_json(value: serde_yaml::Value, at: &str) -> Result<Value, String> {
    use serde_yaml::Value as Yaml;
    let here = || {
        if at.is_empty() {
            "the top level".to_string()
        } else {
            format!("`{at}`")
        }
    };
    Ok(match value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| format!("{} is {f}, which JSON cannot carry", here()))?
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| yaml_to_json(item, &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (key, item) in map {
                let key = match key {
                    Yaml::String(s) => s,
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Null => "null".to_string(),
                    _ => return Err(format!("{} has a key that is not a scalar", here())),
                };
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                out.insert(key, yaml_to_json(item, &path)?);
            }
            Value::Object(out)
        }
        Yaml::Tagged(tagged) => {
            return Err(format!(
                "{} has a YAML tag ({}), which pluginConfig cannot carry",
                here(),
                tagged.tag
            ));
        }
    })
}

/// The parts of a dotted `--set` key: `.` separates them, and `\.` is a dot within one, as in
/// Helm's `--set` (`hosts.example\.com=1`).
fn key_parts(key: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        let part = parts.last_mut().expect("there is always a part");
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                part.push('.');
                chars.next();
            }
            '.' => parts.push(String::new()),
            c => part.push(c),
        }
    }
    parts
}

/// Applies `key=value` overrides: dotted keys reach into nested mappings (creating them; `\.` is a
/// dot within a key), values are read as YAML scalars (`8080` a number, `true` a boolean, `"8080"`
/// a string).
pub fn apply_overrides(
    config: &mut PluginConfig,
    overrides: &[KeyValue],
) -> Result<(), ManifestError> {
    for item in overrides {
        let bad = |message: &str| ManifestError::BadOverride {
            item: item.to_string(),
            message: message.to_string(),
        };
        let (key, raw) = (item.key.as_str(), item.value.as_str());
        let path = key_parts(key);
        if path.iter().any(|part| part.is_empty()) {
            return Err(bad("the key has an empty part"));
        }
        let value = match serde_yaml::from_str::<serde_yaml::Value>(raw) {
            _ if raw.is_empty() => Value::String(String::new()),
            Ok(value) => yaml_to_json(value, key).map_err(|message| bad(&message))?,
            Err(_) => Value::String(raw.to_string()),
        };
        let (last, parents) = path.split_last().expect("split yields one part");
        let mut map = &mut *config;
        for (depth, part) in parents.iter().enumerate() {
            let entry = map
                .entry(part.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            map = match entry {
                Value::Object(inner) => inner,
                other => {
                    return Err(bad(&format!(
                        "`{}` is {}, not a mapping",
                        path[..=depth].join("."),
                        json_type_name(other)
                    )));
                }
            };
        }
        map.insert(last.clone(), value);
    }
    Ok(())
}

/// The pluginConfig of a resource: the file given (else the project's, unless left out), the
/// overrides on top, checked against the project's schema. `None` when it is empty.
pub(super) fn for_resource(
    options: &PluginOptions,
    project: Option<&Project>,
) -> Result<Option<PluginConfig>, ManifestError> {
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
        Some(path) => load(path)?,
        None => PluginConfig::new(),
    };
    apply_overrides(&mut config, &options.set)?;
    if let Some(project) = project
        && let Some(schema) = &project.settings.config_schema
    {
        check_schema(&config, &project.resolve(schema))?;
    }
    Ok((!config.is_empty()).then_some(config))
}

/// Checks the configuration against the project's JSON Schema (YAML or JSON file).
pub fn check_schema(config: &PluginConfig, schema_path: &Path) -> Result<(), ManifestError> {
    let text = crate::fs::read_to_string(schema_path)?;
    let bad_schema = |message: String| ManifestError::BadConfigSchema {
        path: schema_path.to_path_buf(),
        message,
    };
    let schema: Value = serde_yaml::from_str(&text).map_err(|e| bad_schema(e.to_string()))?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| bad_schema(e.to_string()))?;
    let instance = Value::Object(config.clone());
    let problems: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ManifestError::ConfigSchemaMismatch {
            schema: schema_path.to_path_buf(),
            problems,
        })
    }
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(text: &str) -> Result<PluginConfig, ManifestError> {
        parse(text, Path::new("config.yaml"))
    }

    #[test]
    fn yaml_and_json_keep_their_order() {
        let config = parsed("b: 1\na: {c: [x, 2]}\n").unwrap();
        assert_eq!(Value::Object(config), json!({"b": 1, "a": {"c": ["x", 2]}}));
        let keys: Vec<String> = parsed(r#"{"z": true, "y": null}"#)
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["z", "y"]);
        assert!(parsed("").unwrap().is_empty());
    }

    #[test]
    fn yaml_becomes_json_without_silent_changes() {
        let config = parsed("base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n1: one\ntrue: t\n").unwrap();
        assert_eq!(
            Value::Object(config),
            json!({"base": {"x": 1}, "use": {"x": 1, "y": 2}, "1": "one", "true": "t"})
        );
        for text in [
            "a: .inf\n",
            "a: [1, .nan]\n",
            "a: !secret x\n",
            "? [a]\n: 1\n",
        ] {
            assert!(
                matches!(parsed(text), Err(ManifestError::BadConfig { .. })),
                "{text:?} must be refused"
            );
        }
    }

    #[test]
    fn invalid_yaml_names_the_line() {
        let err = parsed("headers:\n  a: b\n c: [\n").unwrap_err();
        match err {
            ManifestError::BadConfig { line, .. } => assert_eq!(line, Some(3)),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parsed("- a\n- b\n"),
            Err(ManifestError::BadConfig { line: None, .. })
        ));
    }

    fn pairs(items: &[&str]) -> Vec<KeyValue> {
        items.iter().map(|item| item.parse().unwrap()).collect()
    }

    #[test]
    fn overrides_nest_and_parse_scalars() {
        let mut config = parsed("headers:\n  x-a: one\nlimit: 3\n").unwrap();
        apply_overrides(
            &mut config,
            &pairs(&[
                "headers.x-b=two",
                "limit=10",
                "debug=true",
                "port=\"8080\"",
                "deep.er.key=",
            ]),
        )
        .unwrap();
        assert_eq!(
            Value::Object(config.clone()),
            json!({
                "headers": {"x-a": "one", "x-b": "two"},
                "limit": 10,
                "debug": true,
                "port": "8080",
                "deep": {"er": {"key": ""}}
            })
        );
        assert!(apply_overrides(&mut config, &pairs(&["limit.x=1"])).is_err());
        // An item with no `=` never reaches the overrides: the flag's parser refuses it.
        assert!("novalue".parse::<KeyValue>().is_err());
        assert!(apply_overrides(&mut config, &pairs(&["a..b=1"])).is_err());
        // What JSON cannot carry is refused, as in a file, not turned into null.
        for value in [".inf", "-.inf", ".nan"] {
            let err = apply_overrides(&mut config, &pairs(&[&format!("a={value}")])).unwrap_err();
            assert!(err.to_string().contains("a="), "{err}");
        }
        assert!(!config.contains_key("a"));
        let err = parse_text("big: 99999999999999999999\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1: big: 99999999999999999999 is beyond what a 64-bit integer holds; write it as \
             a float (`99999999999999999999.0`) or quote it for a string"
        );
        // `\.` is a dot within a key, as in Helm.
        let mut config = PluginConfig::new();
        apply_overrides(&mut config, &pairs(&["hosts.example\\.com=1", "a\\b=2"])).unwrap();
        assert_eq!(
            Value::Object(config),
            json!({"hosts": {"example.com": 1}, "a\\b": 2})
        );
    }
}
