//! A small YAML writer for manifests, in kubectl's layout.
//!
//! Kubernetes tooling reads YAML with YAML 1.1 rules, where `on`, `yes`, `n` or `012` are not
//! strings. A general YAML 1.2 emitter leaves such words bare, so a pluginConfig value `yes` would
//! reach the plugin as `true`. This writer quotes every string that any YAML version could read as
//! something else, and writes the same bytes for the same value.

use serde_json::Value;

/// Renders one YAML document (without a leading `---`).
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        scalar => {
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
    out
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (i, (key, value)) in map.iter().enumerate() {
        // The first key of a map inside a sequence item follows the `- ` directly.
        if i > 0 || !out.ends_with("- ") {
            push_indent(out, indent);
        }
        out.push_str(&string_text(key));
        out.push(':');
        write_value_after_key(out, value, indent);
    }
}

fn write_value_after_key(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(out, map, indent + 2);
        }
        // kubectl style: sequence items at the same indent as their key.
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_seq(out, items, indent);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        push_indent(out, indent);
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_map(out, map, indent + 2),
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_seq(out, inner, indent + 2);
            }
            scalar => {
                out.push_str(&scalar_text(scalar));
                out.push('\n');
            }
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string_text(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// A string as a plain scalar when that is unambiguous, else double-quoted (JSON escapes are valid
/// YAML double-quoted escapes). JSON leaves some characters raw that YAML reads otherwise: those
/// are escaped too.
fn string_text(s: &str) -> String {
    if is_safe_plain(s) {
        return s.to_string();
    }
    let json = serde_json::to_string(s).expect("strings serialize");
    if !json.chars().any(needs_yaml_escape) {
        return json;
    }
    json.chars()
        .map(|c| match needs_yaml_escape(c) {
            true => format!("\\u{:04X}", u32::from(c)),
            false => c.to_string(),
        })
        .collect()
}

/// A character YAML 1.1 does not read as itself inside quotes: one outside its printable set
/// (DEL, the C1 controls, U+FFFE, U+FFFF), or a line break YAML 1.1 knows and JSON does not
/// (NEL, U+2028, U+2029), which a reader would fold into a space.
fn needs_yaml_escape(c: char) -> bool {
    matches!(
        c,
        '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{fffe}' | '\u{ffff}'
    )
}

fn is_safe_plain(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if first.is_ascii_digit() || "-+.?:,[]{}#&*!|>'\"%@`~= ".contains(first) {
        // Numbers, dates, sexagesimals, indicators: quote them all rather than classify them.
        return false;
    }
    if s.ends_with(' ') || s.ends_with(':') || s.contains(": ") || s.contains(" #") {
        return false;
    }
    if !s.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || "-_./:@+=,()".contains(c)
            || c == ' '
            || (!c.is_ascii() && !c.is_control() && !needs_yaml_escape(c))
    }) {
        return false;
    }
    !is_special_word(s)
}

/// Words YAML 1.1 or 1.2 resolve to null, booleans or special floats.
fn is_special_word(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "null", "y", "yes", "n", "no", "true", "false", "on", "off", "nan", "inf",
    ];
    let lower = s.to_ascii_lowercase();
    WORDS.contains(&lower.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ambiguous_strings_are_quoted() {
        for s in [
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "null",
            "~",
            "",
            "true",
            "012",
            "1.5",
            "1e3",
            "0x1f",
            "2024-01-01",
            "1:20",
            "-1",
            ".inf",
            "a: b",
            "a #b",
            "*x",
            "!tag",
            "x\ny",
            " a",
            "a ",
            // YAML 1.1 line breaks JSON leaves raw, and characters outside YAML's printable set.
            "x\u{2028}",
            "a\u{85}b",
            "x\u{2029}y",
            "d\u{7f}",
        ] {
            assert!(!is_safe_plain(s), "{s:?} must be quoted");
            assert!(
                !string_text(s).chars().any(needs_yaml_escape),
                "{s:?} is escaped: {}",
                string_text(s)
            );
            let back: Value = serde_yaml::from_str(&format!("k: {}", string_text(s))).unwrap();
            assert_eq!(
                back["k"],
                json!(s),
                "{s:?} must read back as the same string"
            );
        }
        for s in [
            "hello",
            "x-greeting",
            "oci://r:5000/a@sha256:ab",
            "HTTP",
            "a b",
            "héllo",
        ] {
            assert!(is_safe_plain(s), "{s:?} may stay plain");
        }
    }

    #[test]
    fn layout_follows_kubectl() {
        let value = json!({
            "a": {"b": [1, {"c": "d", "e": [true]}], "f": {}},
            "g": [],
            "h": null,
        });
        assert_eq!(
            to_string(&value),
            "a:\n  b:\n  - 1\n  - c: d\n    e:\n    - true\n  f: {}\ng: []\nh: null\n"
        );
        let back: Value = serde_yaml::from_str(&to_string(&value)).unwrap();
        assert_eq!(back, value);
    }
}
