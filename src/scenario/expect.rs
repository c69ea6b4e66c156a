//! What a scenario expects to come out, and how a string or a log line is matched.

use std::sync::OnceLock;

use indexmap::IndexMap;
use regex::Regex;
use serde::Deserialize;

use crate::host::{LogLevel, LogRecord};

/// What must be true after an exchange or a connection. The HTTP fields are for exchanges and the
/// byte fields for connections; loading refuses the other kind's (see [`Expect::misplaced`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Expect {
    /// Whether the plugin answered with a local reply (exchanges).
    pub local_reply: Option<bool>,
    /// The request as forwarded upstream (exchanges).
    pub upstream: Option<MessageExpect>,
    /// The response the client receives (exchanges).
    pub response: Option<MessageExpect>,
    /// Bytes forwarded to the upstream (connections).
    pub to_upstream: Option<Matcher>,
    /// Bytes forwarded to the client (connections).
    pub to_downstream: Option<Matcher>,
    /// Log lines that must appear (a plain string must be contained in a message).
    pub logs: Vec<LogExpect>,
    /// Log lines that must not appear.
    pub no_logs: Vec<LogExpect>,
    /// Metric values after the exchange or connection.
    pub metrics: IndexMap<String, i64>,
    /// The http_calls and grpc_calls the plugin made, in order: each as it reached its cluster.
    pub calls: Option<Vec<CallExpect>>,
    /// The plugin must fail with an error matching this.
    pub failure: Option<Matcher>,
}

/// Which kind of case an [`Expect`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseKind {
    Exchange,
    Connection,
}

impl Expect {
    /// The first field given that only the other kind of case has, e.g. `response` on a
    /// connection.
    pub fn misplaced(&self, kind: CaseKind) -> Option<&'static str> {
        let http = [
            ("local_reply", self.local_reply.is_some()),
            ("upstream", self.upstream.is_some()),
            ("response", self.response.is_some()),
        ];
        let bytes = [
            ("to_upstream", self.to_upstream.is_some()),
            ("to_downstream", self.to_downstream.is_some()),
        ];
        let other: &[_] = match kind {
            CaseKind::Exchange => &bytes,
            CaseKind::Connection => &http,
        };
        other
            .iter()
            .find(|(_, given)| *given)
            .map(|(name, _)| *name)
    }

    /// Every match rule, of the strings and of the logs, so their regexes can be checked when
    /// the file is loaded.
    pub fn rules(&self) -> impl Iterator<Item = &MatchRule> {
        let messages = self.upstream.iter().chain(&self.response);
        let calls = self.calls.iter().flatten();
        let strings = messages
            .flat_map(|m| m.headers.values().chain(m.trailers.values()).chain(&m.body))
            .chain(calls.flat_map(|c| c.headers.values().chain(&c.body)))
            .chain(&self.to_upstream)
            .chain(&self.to_downstream)
            .chain(&self.failure)
            .filter_map(Matcher::rule);
        let logs = self.logs.iter().chain(&self.no_logs);
        strings.chain(logs.filter_map(LogExpect::rule))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessageExpect {
    pub status: Option<u16>,
    /// Headers that must be present with a matching value.
    pub headers: IndexMap<String, Matcher>,
    /// Headers that must be absent.
    pub absent: Vec<String>,
    pub body: Option<Matcher>,
    /// Trailers that must be present with a matching value.
    pub trailers: IndexMap<String, Matcher>,
}

/// One call the plugin made, as it reached its cluster: a grpc_call's body is its message.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallExpect {
    /// The cluster it went to.
    pub upstream: Option<String>,
    /// Headers that must be present with a matching value (`:method`, `:path` too).
    pub headers: IndexMap<String, Matcher>,
    /// Headers that must be absent.
    pub absent: Vec<String>,
    pub body: Option<Matcher>,
}

impl CallExpect {
    /// The same as a message expectation, which has no status or trailers to check.
    pub(super) fn as_message(&self) -> MessageExpect {
        MessageExpect {
            headers: self.headers.clone(),
            absent: self.absent.clone(),
            body: self.body.clone(),
            ..MessageExpect::default()
        }
    }
}

/// A string expectation: exact by default, or `{regex: ...}`, `{contains: ...}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Matcher {
    Exact(String),
    Rule(MatchRule),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchRule {
    pub equals: Option<String>,
    pub contains: Option<String>,
    pub regex: Option<String>,
    /// The bytes exactly, as base64: for a body that is not text (a protobuf message).
    pub base64: Option<String>,
    /// `regex`, compiled the first time it is needed: by the check at load, then kept for
    /// every match.
    #[serde(skip)]
    compiled: OnceLock<Result<Regex, regex::Error>>,
}

/// A log expectation: a plain string the message contains, or a rule with an optional level.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LogExpect {
    Contains(String),
    Rule {
        #[serde(default)]
        level: Option<LogLevel>,
        #[serde(flatten)]
        rule: MatchRule,
    },
}

impl Matcher {
    /// Checks a regex compiles, so a bad one is reported when the file is loaded.
    pub fn compile(&self) -> Result<(), String> {
        self.rule().map_or(Ok(()), MatchRule::compile)
    }

    /// The rule, when this is one rather than an exact string.
    pub fn rule(&self) -> Option<&MatchRule> {
        match self {
            Matcher::Exact(_) => None,
            Matcher::Rule(rule) => Some(rule),
        }
    }

    pub fn matches(&self, actual: &str) -> bool {
        self.matches_bytes(actual.as_bytes())
    }

    /// Matches bytes that need not be text: the text conditions see them as text (a byte that is
    /// not UTF-8 as U+FFFD), `base64` sees them as they are.
    pub fn matches_bytes(&self, actual: &[u8]) -> bool {
        match self {
            Matcher::Exact(s) => s.as_bytes() == actual,
            Matcher::Rule(rule) => rule.matches_bytes(actual),
        }
    }
}

impl MatchRule {
    /// Checks the regex compiles, so a bad one is reported when the file is loaded.
    pub fn compile(&self) -> Result<(), String> {
        if let (Some(text), None) = (&self.base64, self.bytes()) {
            return Err(format!("bad base64 `{text}`"));
        }
        match (&self.regex, self.pattern()) {
            (Some(re), Some(Err(e))) => {
                // The regex crate draws the pattern with a caret over several lines; its last
                // line says what is wrong, which is what one error line has room for.
                let text = e.to_string();
                let why = text.lines().last().unwrap_or_default();
                let why = why.strip_prefix("error: ").unwrap_or(why);
                Err(format!("bad regex `{re}`: {why}"))
            }
            _ => Ok(()),
        }
    }

    /// The `base64` bytes, when they decode.
    fn bytes(&self) -> Option<Vec<u8>> {
        use base64::Engine as _;
        let text = self.base64.as_deref()?.trim();
        base64::engine::general_purpose::STANDARD.decode(text).ok()
    }

    /// The compiled `regex`, when there is one.
    fn pattern(&self) -> Option<Result<&Regex, &regex::Error>> {
        let source = self.regex.as_deref()?;
        Some(self.compiled.get_or_init(|| Regex::new(source)).as_ref())
    }

    pub fn matches(&self, actual: &str) -> bool {
        self.matches_bytes(actual.as_bytes())
    }

    fn matches_bytes(&self, bytes: &[u8]) -> bool {
        let actual = &*String::from_utf8_lossy(bytes);
        let exactly = self.base64.is_none() || self.bytes().is_some_and(|b| b == bytes);
        exactly
            && self.equals.as_ref().is_none_or(|e| e == actual)
            && self
                .contains
                .as_ref()
                .is_none_or(|c| actual.contains(c.as_str()))
            && self
                .pattern()
                .is_none_or(|re| re.is_ok_and(|re| re.is_match(actual)))
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "{s:?}"),
            Matcher::Rule(rule) => write!(f, "{rule}"),
        }
    }
}

impl std::fmt::Display for MatchRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut conditions = Vec::new();
        if let Some(e) = &self.equals {
            conditions.push(format!("equal to {e:?}"));
        }
        if let Some(c) = &self.contains {
            conditions.push(format!("containing {c:?}"));
        }
        if let Some(r) = &self.regex {
            conditions.push(format!("matching /{r}/"));
        }
        if let Some(b) = &self.base64 {
            conditions.push(format!("equal to base64 {b:?}"));
        }
        if conditions.is_empty() {
            conditions.push("anything".into());
        }
        f.write_str(&conditions.join(" and "))
    }
}

impl LogExpect {
    /// The rule, when this is one rather than a plain string.
    pub fn rule(&self) -> Option<&MatchRule> {
        match self {
            LogExpect::Contains(_) => None,
            LogExpect::Rule { rule, .. } => Some(rule),
        }
    }

    pub fn matches(&self, record: &LogRecord) -> bool {
        match self {
            LogExpect::Contains(text) => record.message.contains(text.as_str()),
            LogExpect::Rule { level, rule } => {
                level.is_none_or(|l| l == record.level) && rule.matches(&record.message)
            }
        }
    }
}

impl std::fmt::Display for LogExpect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogExpect::Contains(text) => write!(f, "a log containing {text:?}"),
            LogExpect::Rule { level, rule } => match level {
                Some(level) => {
                    let article = match level {
                        LogLevel::Info | LogLevel::Error => "an",
                        _ => "a",
                    };
                    write!(f, "{article} {} log {rule}", level.as_str())
                }
                None => write!(f, "a log {rule}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_bytes_exactly() {
        let rule: Matcher = serde_yaml::from_str("{base64: CIA=}").unwrap();
        assert!(rule.compile().is_ok());
        assert!(rule.matches_bytes(&[0x08, 0x80]));
        // As text both read as U+FFFD; as bytes they differ.
        assert!(!rule.matches_bytes(&[0x08, 0x81]));
        assert_eq!(rule.to_string(), "equal to base64 \"CIA=\"");
        let bad: Matcher = serde_yaml::from_str("{base64: '%%'}").unwrap();
        assert_eq!(bad.compile().unwrap_err(), "bad base64 `%%`");
    }

    #[test]
    fn matchers() {
        let parse = |y: &str| serde_yaml::from_str::<Matcher>(y).unwrap();
        assert!(parse("hello").matches("hello"));
        assert!(!parse("hello").matches("hello!"));
        assert!(parse("{regex: '^h.*o$'}").matches("hello"));
        assert!(parse("{contains: ell}").matches("hello"));
        assert!(!parse("{contains: ell, regex: '^x'}").matches("hello"));
        assert_eq!(parse("{regex: '^a'}").to_string(), "matching /^a/");
        assert!(parse("{regex: '('}").compile().is_err());
    }

    #[test]
    fn a_regex_is_compiled_once_by_the_load_check() {
        let rule: MatchRule = serde_yaml::from_str("{regex: '^h'}").unwrap();
        assert!(rule.compiled.get().is_none());
        rule.compile().unwrap();
        assert!(rule.compiled.get().is_some_and(Result::is_ok));
        assert!(rule.matches("hello") && !rule.matches("oh"));
    }
}
