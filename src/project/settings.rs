//! The wasmctl defaults in a package's `[package.metadata.wasmctl]` table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{PluginType, ProjectError};

/// The defaults in `[package.metadata.wasmctl]`; every field is optional and every one has a flag.
/// Read by `from_metadata`, written by `to_toml_table`; never serialized.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub template: Option<String>,
    #[serde(rename = "type")]
    pub plugin_type: Option<PluginType>,
    pub repository: Option<String>,
    pub namespace: Option<String>,
    pub selector: BTreeMap<String, String>,
    pub config: Option<PathBuf>,
    /// A JSON Schema file the pluginConfig must satisfy.
    #[serde(rename = "config-schema")]
    pub config_schema: Option<PathBuf>,
}

impl Settings {
    /// Reads `[package.metadata.wasmctl]` (as JSON, the form cargo metadata gives it); the one place
    /// settings are parsed, whichever way the Cargo.toml was read.
    pub(super) fn from_metadata(
        value: Option<&serde_json::Value>,
        cargo_manifest: &Path,
    ) -> Result<Settings, ProjectError> {
        match value {
            Some(value) => {
                serde_json::from_value(value.clone()).map_err(|e| ProjectError::BadSettings {
                    path: cargo_manifest.to_path_buf(),
                    message: e.to_string(),
                })
            }
            None => Ok(Settings::default()),
        }
    }

    /// Renders the settings as the `[package.metadata.wasmctl]` table of a new project.
    pub fn to_toml_table(&self) -> String {
        let mut table = toml_edit::Table::new();
        let mut set = |key: &str, value: Option<&str>| {
            if let Some(value) = value {
                table[key] = toml_edit::value(value);
            }
        };
        set("template", self.template.as_deref());
        set("type", self.plugin_type.map(PluginType::as_str));
        set("repository", self.repository.as_deref());
        set("namespace", self.namespace.as_deref());
        if !self.selector.is_empty() {
            let mut inline = toml_edit::InlineTable::new();
            for (k, v) in &self.selector {
                inline.insert(k, v.as_str().into());
            }
            table["selector"] = toml_edit::value(inline);
        }
        let path_text =
            |path: &Option<PathBuf>| path.as_ref().map(|p| p.to_string_lossy().into_owned());
        for (key, path) in [
            ("config", &self.config),
            ("config-schema", &self.config_schema),
        ] {
            if let Some(text) = path_text(path) {
                table[key] = toml_edit::value(text);
            }
        }
        let mut package = toml_edit::Table::new();
        package.set_implicit(true);
        let mut metadata = toml_edit::Table::new();
        metadata.set_implicit(true);
        metadata["wasmctl"] = toml_edit::Item::Table(table);
        package["metadata"] = toml_edit::Item::Table(metadata);
        let mut doc = toml_edit::DocumentMut::new();
        doc["package"] = toml_edit::Item::Table(package);
        doc.to_string()
    }
}

/// A TOML value as JSON, for the settings parser that also reads cargo metadata's JSON.
pub(super) fn toml_to_json(item: &toml_edit::Item) -> serde_json::Value {
    use serde_json::Value as Json;
    match item {
        toml_edit::Item::None => Json::Null,
        toml_edit::Item::Value(v) => toml_value_to_json(v),
        toml_edit::Item::Table(t) => Json::Object(
            t.iter()
                .map(|(k, v)| (k.to_string(), toml_to_json(v)))
                .collect(),
        ),
        toml_edit::Item::ArrayOfTables(a) => Json::Array(
            a.iter()
                .map(|t| toml_to_json(&toml_edit::Item::Table(t.clone())))
                .collect(),
        ),
    }
}

fn toml_value_to_json(v: &toml_edit::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match v {
        toml_edit::Value::String(s) => Json::String(s.value().clone()),
        toml_edit::Value::Integer(i) => Json::from(*i.value()),
        toml_edit::Value::Float(f) => Json::from(*f.value()),
        toml_edit::Value::Boolean(b) => Json::Bool(*b.value()),
        toml_edit::Value::Datetime(d) => Json::String(d.value().to_string()),
        toml_edit::Value::Array(a) => Json::Array(a.iter().map(toml_value_to_json).collect()),
        toml_edit::Value::InlineTable(t) => Json::Object(
            t.iter()
                .map(|(k, v)| (k.to_string(), toml_value_to_json(v)))
                .collect(),
        ),
    }
}
