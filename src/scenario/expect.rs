//! What a scenario expects to come out, and how a string or a log line is matched.

use indexmap::IndexMap;
use serde::Deserialize;

use crate::host::{LogLevel, LogRecord};

/// What must be true after an exchange.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Expect {
    /// Whether the plugin answered with a local reply.
    pub local_reply: Option<bool>,
    /// The request as forwarded upstream.
    pub upstream: Option<MessageExpect>,
    /// The response the client receives.
    pub response: Option<MessageExpect>,
    /// Log lines that must appear (a plain string must be contained in a message).
    pub logs: Vec<LogExpect>,
    /// Log lines that must not appear.
    pub no_logs: Vec<LogExpect>,
    /// Metric values after the exchange.
    pub metrics: IndexMap<String, i64>,
    /// The plugin must fail with an error matching this.
    pub failure: Option<Matcher>,
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionExpect {
    /// Bytes forwarded to the upstream.
    pub to_upstream: Option<Matcher>,
    /// Bytes forwarded to the client.
    pub to_downstream: Option<Matcher>,
    pub logs: Vec<LogExpect>,
    pub no_logs: Vec<LogExpect>,
    pub metrics: IndexMap<String, i64>,
    pub failure: Option<Matcher>,
}

impl Matcher {
    /// Checks a regex compiles, so a bad one is reported when the file is loaded.
    pub fn compile(&self) -> Result<(), String> {
        if let Matcher::Rule(rule) = self
            && let Some(re) = &rule.regex
        {
            regex::Regex::new(re).map_err(|e| format!("bad regex `{re}`: {e}"))?;
        }
        Ok(())
    }

    pub fn matches(&self, actual: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == actual,
            Matcher::Rule(rule) => rule.matches(actual),
        }
    }
}

impl MatchRule {
    pub fn matches(&self, actual: &str) -> bool {
        self.equals.as_ref().is_none_or(|e| e == actual)
            && self
                .contains
                .as_ref()
                .is_none_or(|c| actual.contains(c.as_str()))
            && self
                .regex
                .as_ref()
                .is_none_or(|r| regex::Regex::new(r).is_ok_and(|re| re.is_match(actual)))
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
        if conditions.is_empty() {
            conditions.push("anything".into());
        }
        f.write_str(&conditions.join(" and "))
    }
}

impl LogExpect {
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
}
