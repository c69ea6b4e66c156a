//! Scenario files: declarative YAML that says how to start a plugin, what traffic to send through
//! it, and what must come out. `wasmctl test` runs them in the built-in host; the project's own tests
//! also run them through Envoy to prove the host right.
//!
//! ```yaml
//! name: adds the greeting
//! config:                      # pluginConfig (or config_file: ../config.yaml)
//!   headers: {x-greeting: hello}
//! env: {TRUST_DOMAIN: cluster.local}
//! exchanges:
//!   - name: plain GET
//!     request: {method: GET, path: /, headers: {accept: text/plain}}
//!     response: {status: 200, body: "hi"}       # what the upstream answers
//!     expect:
//!       response:
//!         status: 200
//!         headers: {x-greeting: hello, x-trust-domain: {regex: "^cluster\\."}}
//!         absent: [x-debug]
//!       logs: ["adding 1 header"]
//! ```

mod check;
mod envoy;
pub mod run;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;

use crate::diagnostic::Hint;
use crate::host::LogLevel;

pub use check::{CaseReport, ScenarioReport, check_connection, check_exchange};
pub use envoy::run_file_in_envoy;
pub use run::{PluginCache, run_file};

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("failed to read `{}`", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid scenario `{}`: {message}", .path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("invalid plugin configuration in `{}`: {message}", .path.display())]
    BadConfig { path: PathBuf, message: String },
    #[error("scenario `{}` names no plugin and there is no default one", .0.display())]
    NoPlugin(PathBuf),
    #[error("project `{0}` has not been built yet")]
    NotBuilt(String),
    #[error(transparent)]
    Envoy(#[from] crate::host::envoy::EnvoyError),
    #[error("failed to load the plugin `{}`", .path.display())]
    Plugin {
        path: PathBuf,
        #[source]
        source: crate::host::HostError,
    },
}

impl Hint for ScenarioError {
    fn hints(&self) -> Vec<String> {
        match self {
            ScenarioError::NoPlugin(_) => vec![
                "run `wasmctl build` in the project first, or set `plugin:` in the scenario".into(),
            ],
            ScenarioError::NotBuilt(_) => {
                vec!["run `wasmctl build` first, or give the module's path".into()]
            }
            ScenarioError::Invalid { .. } => {
                vec!["the scenario format is described in docs/run.md".into()]
            }
            _ => Vec::new(),
        }
    }
}

/// One scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Shown in reports; defaults to the file name.
    #[serde(default)]
    pub name: Option<String>,
    /// The module to run, relative to the scenario file; defaults to the project's last build.
    #[serde(default)]
    pub plugin: Option<PathBuf>,
    /// pluginConfig, inline (YAML, sent to the plugin as JSON).
    #[serde(default)]
    pub config: Option<serde_yaml::Value>,
    /// pluginConfig from a YAML or JSON file, relative to the scenario file.
    #[serde(default)]
    pub config_file: Option<PathBuf>,
    /// vm_config.configuration, as a string.
    #[serde(default)]
    pub vm_config: Option<String>,
    /// Environment variables (vmConfig.env).
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// Property overrides, dotted paths.
    #[serde(default)]
    pub properties: IndexMap<String, String>,
    /// Whether the plugin must accept its configuration (default) or reject it.
    #[serde(default)]
    pub configure: Configure,
    /// Logs expected while the plugin starts (on_vm_start, on_configure).
    #[serde(default)]
    pub start_logs: Vec<LogExpect>,
    /// Answers for http_call/grpc_call made while the plugin starts (e.g. fetching keys).
    #[serde(default)]
    pub http_calls: Vec<CallSpec>,
    #[serde(default)]
    pub exchanges: Vec<Exchange>,
    #[serde(default)]
    pub connections: Vec<Connection>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Configure {
    #[default]
    Accepted,
    Rejected,
}

/// Headers as a map (`name: value`), in order.
pub type Headers = IndexMap<String, String>;

/// One HTTP request/response through the plugin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub request: RequestSpec,
    /// What the upstream answers; 200 with no body when absent.
    #[serde(default)]
    pub response: ResponseSpec,
    /// Answers for the plugin's http_call/grpc_call, in order.
    #[serde(default)]
    pub http_calls: Vec<CallSpec>,
    /// Milliseconds of simulated time to pass before this exchange (fires on_tick).
    #[serde(default)]
    pub advance_ms: u64,
    #[serde(default)]
    pub expect: Expect,
}

impl Exchange {
    /// The name reports use: the given one, else its position and request line.
    pub fn display_name(&self, index: usize) -> String {
        self.name.clone().unwrap_or_else(|| {
            format!(
                "exchange {}: {} {}",
                index + 1,
                self.request.method,
                self.request.path
            )
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default = "default_authority")]
    pub authority: String,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub trailers: Headers,
}

impl Default for RequestSpec {
    fn default() -> Self {
        RequestSpec {
            method: default_method(),
            path: default_path(),
            authority: default_authority(),
            headers: Headers::new(),
            body: String::new(),
            trailers: Headers::new(),
        }
    }
}

fn default_method() -> String {
    "GET".into()
}
fn default_path() -> String {
    "/".into()
}
fn default_authority() -> String {
    "example.com".into()
}
fn default_status() -> u16 {
    200
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseSpec {
    #[serde(default = "default_status")]
    pub status: u16,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub trailers: Headers,
}

impl Default for ResponseSpec {
    fn default() -> Self {
        ResponseSpec {
            status: 200,
            headers: Headers::new(),
            body: String::new(),
            trailers: Headers::new(),
        }
    }
}

/// A scripted answer to an http_call (or grpc_call).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSpec {
    /// The cluster the call goes to; any when absent.
    #[serde(default)]
    pub upstream: Option<String>,
    #[serde(default = "default_status")]
    pub status: u16,
    #[serde(default)]
    pub headers: Headers,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub grpc_status: u32,
}

/// What must be true after an exchange.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Whether the plugin answered with a local reply.
    #[serde(default)]
    pub local_reply: Option<bool>,
    /// The request as forwarded upstream.
    #[serde(default)]
    pub upstream: Option<MessageExpect>,
    /// The response the client receives.
    #[serde(default)]
    pub response: Option<MessageExpect>,
    /// Log lines that must appear (a plain string must be contained in a message).
    #[serde(default)]
    pub logs: Vec<LogExpect>,
    /// Log lines that must not appear.
    #[serde(default)]
    pub no_logs: Vec<LogExpect>,
    /// Metric values after the exchange.
    #[serde(default)]
    pub metrics: IndexMap<String, i64>,
    /// The plugin must fail with an error matching this.
    #[serde(default)]
    pub failure: Option<Matcher>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageExpect {
    #[serde(default)]
    pub status: Option<u16>,
    /// Headers that must be present with a matching value.
    #[serde(default)]
    pub headers: IndexMap<String, Matcher>,
    /// Headers that must be absent.
    #[serde(default)]
    pub absent: Vec<String>,
    #[serde(default)]
    pub body: Option<Matcher>,
}

/// A string expectation: exact by default, or `{regex: ...}`, `{contains: ...}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Matcher {
    Exact(String),
    Rule(MatchRule),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRule {
    #[serde(default)]
    pub equals: Option<String>,
    #[serde(default)]
    pub contains: Option<String>,
    #[serde(default)]
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

/// One TCP connection through a network filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub events: Vec<EventSpec>,
    #[serde(default)]
    pub expect: ConnectionExpect,
}

/// `{downstream: "bytes"}`, `{upstream: "bytes"}` or `{close: downstream|upstream}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    #[serde(default)]
    pub downstream: Option<String>,
    #[serde(default)]
    pub upstream: Option<String>,
    #[serde(default)]
    pub close: Option<Side>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Downstream,
    Upstream,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionExpect {
    /// Bytes forwarded to the upstream.
    #[serde(default)]
    pub to_upstream: Option<Matcher>,
    /// Bytes forwarded to the client.
    #[serde(default)]
    pub to_downstream: Option<Matcher>,
    #[serde(default)]
    pub logs: Vec<LogExpect>,
    #[serde(default)]
    pub no_logs: Vec<LogExpect>,
    #[serde(default)]
    pub metrics: IndexMap<String, i64>,
    #[serde(default)]
    pub failure: Option<Matcher>,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let scenario: Scenario =
            serde_yaml::from_str(&text).map_err(|e| ScenarioError::Invalid {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        scenario.validate(path)?;
        Ok(scenario)
    }

    fn validate(&self, path: &Path) -> Result<(), ScenarioError> {
        let invalid = |message: String| ScenarioError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        if self.config.is_some() && self.config_file.is_some() {
            return Err(invalid("give `config` or `config_file`, not both".into()));
        }
        if self.configure == Configure::Accepted
            && self.exchanges.is_empty()
            && self.connections.is_empty()
        {
            return Err(invalid("no `exchanges` and no `connections`".into()));
        }
        for (i, connection) in self.connections.iter().enumerate() {
            for event in &connection.events {
                let given = [
                    event.downstream.is_some(),
                    event.upstream.is_some(),
                    event.close.is_some(),
                ];
                if given.iter().filter(|g| **g).count() != 1 {
                    return Err(invalid(format!(
                        "connections[{i}]: each event is one of `downstream`, `upstream` or `close`"
                    )));
                }
            }
        }
        for exchange in &self.exchanges {
            for m in exchange
                .expect
                .response
                .iter()
                .chain(&exchange.expect.upstream)
            {
                for matcher in m.headers.values().chain(&m.body) {
                    matcher.compile().map_err(invalid)?;
                }
            }
        }
        Ok(())
    }

    /// The pluginConfig bytes the proxy would deliver: the config as JSON, empty when there is none.
    pub fn plugin_config(&self, scenario_path: &Path) -> Result<Vec<u8>, ScenarioError> {
        if let Some(file) = &self.config_file {
            let path = relative_to(scenario_path, file);
            let text = std::fs::read(&path).map_err(|source| ScenarioError::Read {
                path: path.clone(),
                source,
            })?;
            return config_to_json(&text)
                .map_err(|message| ScenarioError::BadConfig { path, message });
        }
        match &self.config {
            None => Ok(Vec::new()),
            Some(value) => serde_json::to_vec(value).map_err(|e| ScenarioError::BadConfig {
                path: scenario_path.to_path_buf(),
                message: e.to_string(),
            }),
        }
    }
}

/// The module `run` and `test` use by default: the project's last build.
pub fn project_plugin(project: &crate::project::Project) -> Result<PathBuf, ScenarioError> {
    project
        .last_build()
        .map(|b| b.path)
        .filter(|p| p.is_file())
        .ok_or_else(|| ScenarioError::NotBuilt(project.name.clone()))
}

/// The scenario files of a project: `scenarios/*.yaml` (and `.yml`) under its root, sorted.
pub fn project_scenarios(project: &crate::project::Project) -> Vec<PathBuf> {
    let dir = project.root.join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A path from a scenario, relative to the scenario's directory.
pub fn relative_to(scenario_path: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    scenario_path
        .parent()
        .map(|dir| dir.join(path))
        .unwrap_or_else(|| path.to_path_buf())
}

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
        let mut parts = Vec::new();
        if let Some(e) = &self.equals {
            parts.push(format!("equal to {e:?}"));
        }
        if let Some(c) = &self.contains {
            parts.push(format!("containing {c:?}"));
        }
        if let Some(r) = &self.regex {
            parts.push(format!("matching /{r}/"));
        }
        if parts.is_empty() {
            parts.push("anything".into());
        }
        f.write_str(&parts.join(" and "))
    }
}

impl LogExpect {
    pub fn matches(&self, record: &crate::host::LogRecord) -> bool {
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
    fn unknown_keys_and_bad_events_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.yaml");
        for (text, message) in [
            ("exchanges:\n  - requets: {}\n", "unknown field `requets`"),
            (
                "connections:\n  - events: [{downstream: a, close: upstream}]\n",
                "each event is one of",
            ),
            (
                "name: nothing to do\n",
                "no `exchanges` and no `connections`",
            ),
            (
                "config: {}\nconfig_file: c.yaml\nexchanges: [{}]\n",
                "not both",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = Scenario::load(&path).unwrap_err().to_string();
            assert!(err.contains(message), "{text:?}: {err}");
        }
    }
}
