//! Plugin names: one string that must be both a cargo package name and a Kubernetes DNS-1123 label,
//! because it names the crate, the module and the WasmPlugin.

use std::fmt;

/// The longest DNS-1123 label.
pub const MAX_LEN: usize = 63;

/// Names cargo refuses or that would shadow a crate every plugin depends on.
const RESERVED: &[&str] = &[
    "test",
    "core",
    "std",
    "alloc",
    "proc-macro",
    "proxy-wasm",
    "log",
    "serde",
    "serde-json",
    "self",
    "super",
    "crate",
    "build",
    "deps",
    "examples",
    "incremental",
    "con",
    "prn",
    "aux",
    "nul",
    "com1",
    "lpt1",
];

/// Rust keywords are invalid crate names.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "try", "typeof",
    "unsized", "virtual", "yield", "gen",
];

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name is empty")]
    Empty,
    #[error("the name is {0} characters long; the limit is {MAX_LEN}")]
    TooLong(usize),
    #[error("the name must start with a lowercase letter")]
    BadStart,
    #[error("the name must end with a lowercase letter or a digit")]
    BadEnd,
    #[error("the name contains {0:?}; only lowercase letters, digits and '-' are allowed")]
    BadChar(char),
    #[error("`{0}` is reserved")]
    Reserved(String),
}

/// A validated plugin name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PluginName(String);

impl PluginName {
    pub fn parse(name: &str) -> Result<PluginName, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        let len = name.chars().count();
        if len > MAX_LEN {
            return Err(NameError::TooLong(len));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(NameError::BadChar(c));
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(NameError::BadStart);
        }
        if name.ends_with('-') {
            return Err(NameError::BadEnd);
        }
        if RESERVED.contains(&name) || KEYWORDS.contains(&name) {
            return Err(NameError::Reserved(name.to_string()));
        }
        Ok(PluginName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a Rust identifier: `my-plugin` -> `my_plugin`.
    pub fn crate_name(&self) -> String {
        self.0.replace('-', "_")
    }

    /// A suggestion the user can take when `name` was refused.
    pub fn suggest(name: &str) -> Option<String> {
        let mut s: String = name
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        while s.contains("--") {
            s = s.replace("--", "-");
        }
        let s = s.trim_matches(|c: char| c == '-' || c.is_ascii_digit());
        let s: String = s.chars().take(MAX_LEN).collect();
        let s = s.trim_end_matches('-').to_string();
        PluginName::parse(&s)
            .ok()
            .map(|n| n.0)
            .filter(|n| n != name)
    }
}

impl fmt::Display for PluginName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_labels_that_are_crate_names() {
        for ok in ["demo", "my-plugin", "a", "auth2", &"a".repeat(63)] {
            assert!(PluginName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_what_either_world_refuses() {
        assert_eq!(PluginName::parse("Bad Name"), Err(NameError::BadChar('B')));
        assert_eq!(PluginName::parse("-x"), Err(NameError::BadStart));
        assert_eq!(PluginName::parse("a..b"), Err(NameError::BadChar('.')));
        assert_eq!(PluginName::parse("a_b"), Err(NameError::BadChar('_')));
        assert_eq!(PluginName::parse("1abc"), Err(NameError::BadStart));
        assert_eq!(PluginName::parse("abc-"), Err(NameError::BadEnd));
        assert_eq!(
            PluginName::parse(&"a".repeat(64)),
            Err(NameError::TooLong(64))
        );
        assert!(matches!(
            PluginName::parse("proxy-wasm"),
            Err(NameError::Reserved(_))
        ));
        assert!(matches!(
            PluginName::parse("fn"),
            Err(NameError::Reserved(_))
        ));
        assert_eq!(PluginName::parse(""), Err(NameError::Empty));
    }

    #[test]
    fn suggests_a_valid_name() {
        assert_eq!(PluginName::suggest("Bad Name").as_deref(), Some("bad-name"));
        assert_eq!(PluginName::suggest("a..b").as_deref(), Some("a-b"));
        assert_eq!(PluginName::suggest("-x").as_deref(), Some("x"));
    }
}
