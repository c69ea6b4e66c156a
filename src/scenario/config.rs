//! pluginConfig files as the proxy delivers them.

/// Converts a YAML or JSON pluginConfig file to the JSON bytes the proxy delivers, by the same
/// conversion `wasmctl manifest` uses for a WasmPlugin's `pluginConfig`. An empty document means no
/// configuration.
pub fn config_to_json(text: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "not UTF-8 text".to_string())?;
    match crate::manifest::config::parse_text(text).map_err(|e| e.to_string())? {
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
}
