//! pluginConfig files as the proxy delivers them.

use std::path::Path;

use crate::manifest::config::{ConfigTextError, PluginConfig, from_yaml, parse_file_text};

/// Converts the pluginConfig file `path` (YAML, or JSON for a `.json` file), whose content is
/// `text`, to the JSON bytes the proxy delivers, by the same conversion `wasmctl manifest` uses
/// for a WasmPlugin's `pluginConfig`. An empty document means no configuration.
pub fn config_to_json(text: &[u8], path: &Path) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "not UTF-8 text".to_string())?;
    to_bytes(parse_file_text(text, path))
}

/// [`config_to_json`] for a scenario's inline `config`, by the same conversion.
pub fn inline_config_to_json(value: &serde_yaml::Value) -> Result<Vec<u8>, String> {
    to_bytes(from_yaml(value.clone()))
}

fn to_bytes(config: Result<Option<PluginConfig>, ConfigTextError>) -> Result<Vec<u8>, String> {
    match config.map_err(|e| e.to_string())? {
        None => Ok(Vec::new()),
        Some(config) => Ok(serde_json::to_vec(&config).expect("JSON values serialize")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_becomes_json() {
        let yaml = Path::new("c.yaml");
        assert_eq!(
            config_to_json(b"a: 1\nb: [x]\n", yaml).unwrap(),
            br#"{"a":1,"b":["x"]}"#
        );
        assert_eq!(config_to_json(b"{\"a\": 1}", yaml).unwrap(), br#"{"a":1}"#);
        assert_eq!(config_to_json(b"  \n", yaml).unwrap(), b"");
        assert_eq!(config_to_json(b"# only a comment\n", yaml).unwrap(), b"");
        assert!(config_to_json(b"a: [", yaml).is_err());
        // As in a WasmPlugin: a pluginConfig is a mapping, and YAML merge keys are applied.
        assert!(config_to_json(b"[1, 2]\n", yaml).is_err());
        assert_eq!(
            config_to_json(b"base: &b {x: 1}\nother: {<<: *b, y: 2}\n", yaml).unwrap(),
            br#"{"base":{"x":1},"other":{"y":2,"x":1}}"#
        );
    }

    #[test]
    fn a_json_file_is_read_as_json() {
        let json = Path::new("c.json");
        // `<<` is a key like any other in JSON, not YAML's merge.
        assert_eq!(
            config_to_json(br#"{"<<": 5, "a": 1}"#, json).unwrap(),
            br#"{"<<":5,"a":1}"#
        );
        assert_eq!(
            config_to_json(br#"{"<<": {"x": 1}}"#, json).unwrap(),
            br#"{"<<":{"x":1}}"#
        );
        // A number beyond 64 bits is a float, as Kubernetes reads it.
        assert_eq!(
            config_to_json(br#"{"big": 18446744073709551616}"#, json).unwrap(),
            br#"{"big":1.8446744073709552e+19}"#
        );
        assert_eq!(config_to_json(b" \n", json).unwrap(), b"");
        let err = config_to_json(b"{\n  \"a\": 1,\n}", json).unwrap_err();
        assert!(err.starts_with("line 3: trailing comma"), "{err}");
        assert!(config_to_json(b"[1]", json).is_err());
    }

    #[test]
    fn an_inline_config_becomes_json_as_a_file_does() {
        let inline = |text: &str| inline_config_to_json(&serde_yaml::from_str(text).unwrap());
        assert_eq!(inline("{a: 1, b: [x]}").unwrap(), br#"{"a":1,"b":["x"]}"#);
        assert_eq!(inline("null").unwrap(), b"");
        for refused in ["{a: .inf}", "{a: .nan}", "[1, 2]", "{a: !custom 1}"] {
            assert!(inline(refused).is_err(), "{refused}");
            let yaml = Path::new("c.yaml");
            assert!(
                config_to_json(refused.as_bytes(), yaml).is_err(),
                "{refused}"
            );
        }
    }
}
