//! pluginConfig files as the proxy delivers them.

use crate::manifest::config::{ConfigTextError, PluginConfig, from_yaml, parse_text};

/// Converts a YAML or JSON pluginConfig file to the JSON bytes the proxy delivers, by the same
/// conversion `wasmctl manifest` uses for a WasmPlugin's `pluginConfig`. An empty document means no
/// configuration.
pub fn config_to_json(text: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "not UTF-8 text".to_string())?;
    to_bytes(parse_text(text))
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
        assert_eq!(
            config_to_json(b"a: 1\nb: [x]\n").unwrap(),
            br#"{"a":1,"b":["x"]}"#
        );
        assert_eq!(config_to_json(b"{\"a\": 1}").unwrap(), br#"{"a":1}"#);
        assert_eq!(config_to_json(b"  \n").unwrap(), b"");
        assert_eq!(config_to_json(b"# only a comment\n").unwrap(), b"");
        assert!(config_to_json(b"a: [").is_err());
        // As in a WasmPlugin: a pluginConfig is a mapping, and YAML merge keys are applied.
        assert!(config_to_json(b"[1, 2]\n").is_err());
        assert_eq!(
            config_to_json(b"base: &b {x: 1}\nother: {<<: *b, y: 2}\n").unwrap(),
            br#"{"base":{"x":1},"other":{"y":2,"x":1}}"#
        );
    }

    #[test]
    fn an_inline_config_becomes_json_as_a_file_does() {
        let inline = |text: &str| inline_config_to_json(&serde_yaml::from_str(text).unwrap());
        assert_eq!(inline("{a: 1, b: [x]}").unwrap(), br#"{"a":1,"b":["x"]}"#);
        assert_eq!(inline("null").unwrap(), b"");
        for refused in ["{a: .inf}", "{a: .nan}", "[1, 2]", "{a: !custom 1}"] {
            assert!(inline(refused).is_err(), "{refused}");
            assert!(config_to_json(refused.as_bytes()).is_err(), "{refused}");
        }
    }
}
