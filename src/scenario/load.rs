//! Loading a scenario file: parsing, the checks serde cannot make, and what the plugin starts with.

use std::path::{Path, PathBuf};

use super::config::{config_to_json, inline_config_to_json};
use super::driver::Case;
use super::error::ScenarioError;
use super::expect::{CaseKind, LogExpect};
use super::spec::{Configure, Scenario, call_answers, pairs};
use crate::host::VmOptions;
use crate::project::StaleBuild;

/// A scenario file, loaded, with the module it runs and the options that module starts with.
#[derive(Debug, Clone)]
pub struct ScenarioFile {
    pub path: PathBuf,
    pub scenario: Scenario,
    pub setup: PluginSetup,
}

/// What a host loads: a module, its VM options, and whether it is a network filter.
#[derive(Debug, Clone)]
pub struct PluginSetup {
    pub wasm: PathBuf,
    pub options: VmOptions,
    pub network: bool,
    /// The upstreams the scenario scripts call answers for: a real proxy needs a cluster for
    /// each before it starts.
    pub call_upstreams: Vec<String>,
    /// The project's last build is the module, and a source file changed after it.
    pub stale_build: Option<StaleBuild>,
}

impl ScenarioFile {
    /// Loads the scenario at `path`; `default_plugin` is the module when the scenario names none.
    pub fn load(path: &Path, default_plugin: Option<&Path>) -> Result<ScenarioFile, ScenarioError> {
        let scenario = Scenario::load(path)?;
        let wasm = match &scenario.plugin {
            Some(p) => relative_to(path, p),
            None => default_plugin
                .map(Path::to_path_buf)
                .ok_or_else(|| ScenarioError::NoPlugin(path.to_path_buf()))?,
        };
        let setup = PluginSetup {
            wasm,
            options: scenario.vm_options(path)?,
            network: !scenario.connections.is_empty(),
            call_upstreams: scenario.call_upstreams(),
            stale_build: None,
        };
        Ok(ScenarioFile {
            path: path.to_path_buf(),
            scenario,
            setup,
        })
    }

    /// The name reports use: the scenario's own, else the file name.
    pub fn name(&self) -> String {
        self.scenario.name.clone().unwrap_or_else(|| {
            self.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
    }
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = crate::fs::read_to_string(path)?;
        let mut scenario: Scenario =
            serde_yaml::from_str(&text).map_err(|e| ScenarioError::Invalid {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        // `get` means GET, as with `run --request`.
        for exchange in &mut scenario.exchanges {
            exchange.request.method.make_ascii_uppercase();
        }
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
        // A plugin runs as an HTTP filter or as a network filter, as Envoy loads it.
        if !self.exchanges.is_empty() && !self.connections.is_empty() {
            return Err(invalid(
                "both `exchanges` (an HTTP filter's) and `connections` (a network filter's): \
                 test each in a file of its own"
                    .into(),
            ));
        }
        for (index, exchange) in self.exchanges.iter().enumerate() {
            let (request, response) = (&exchange.request, &exchange.response);
            for (what, problem) in [
                ("request", request.problem()),
                ("response", response.problem(&request.method)),
            ] {
                if let Some(problem) = problem {
                    let name = exchange.name(index);
                    return Err(invalid(format!("the {what} of `{name}`: {problem}")));
                }
            }
        }
        let exchanges = self
            .exchanges
            .iter()
            .map(|e| (CaseKind::Exchange, &e.expect));
        let connections = self
            .connections
            .iter()
            .map(|c| (CaseKind::Connection, &c.expect));
        for (kind, expect) in exchanges.chain(connections) {
            if let Some(field) = expect.misplaced(kind) {
                let (this, other) = match kind {
                    CaseKind::Exchange => ("exchanges", "connections"),
                    CaseKind::Connection => ("connections", "exchanges"),
                };
                return Err(invalid(format!(
                    "`expect.{field}` is for {other}, not {this}"
                )));
            }
            for rule in expect.rules() {
                rule.compile().map_err(invalid)?;
            }
        }
        for rule in self.start_logs.iter().filter_map(LogExpect::rule) {
            rule.compile().map_err(invalid)?;
        }
        Ok(())
    }

    /// The pluginConfig bytes the proxy would deliver: the config as JSON, empty when there is none.
    pub fn plugin_config(&self, scenario_path: &Path) -> Result<Vec<u8>, ScenarioError> {
        if let Some(file) = &self.config_file {
            let path = relative_to(scenario_path, file);
            // Said of the scenario, which a run of many files would not name otherwise.
            let text = std::fs::read(&path).map_err(|e| ScenarioError::Invalid {
                path: scenario_path.to_path_buf(),
                message: format!("config_file `{}`: {e}", path.display()),
            })?;
            return config_to_json(&text, &path)
                .map_err(|message| ScenarioError::BadConfig { path, message });
        }
        match &self.config {
            None => Ok(Vec::new()),
            Some(value) => {
                inline_config_to_json(value).map_err(|message| ScenarioError::BadConfig {
                    path: scenario_path.to_path_buf(),
                    message,
                })
            }
        }
    }

    /// Each upstream an answer is scripted for.
    fn call_upstreams(&self) -> Vec<String> {
        upstreams_named(self.answer_upstreams())
    }

    /// The upstream of every scripted answer, named or not.
    fn answer_upstreams(&self) -> impl Iterator<Item = &Option<String>> + Clone {
        let answers = (self.exchanges.iter().flat_map(|e| &e.http_calls))
            .chain(self.connections.iter().flat_map(|c| &c.http_calls));
        self.http_calls.iter().chain(answers).map(|c| &c.upstream)
    }

    /// The VM options the scenario describes.
    pub fn vm_options(&self, path: &Path) -> Result<VmOptions, ScenarioError> {
        Ok(VmOptions {
            plugin_config: self.plugin_config(path)?,
            vm_config: self.vm_config.clone().unwrap_or_default().into_bytes(),
            env: pairs(&self.env),
            properties: pairs(&self.properties),
            call_answers: call_answers(&self.http_calls),
            clusters: clusters_named(self.answer_upstreams()),
            ..VmOptions::default()
        })
    }
}
/// Each upstream named, once, in the order they first appear.
pub(crate) fn upstreams_named<'a>(
    upstreams: impl IntoIterator<Item = &'a Option<String>>,
) -> Vec<String> {
    let mut named: Vec<String> = Vec::new();
    for upstream in upstreams.into_iter().flatten() {
        if !named.contains(upstream) {
            named.push(upstream.clone());
        }
    }
    named
}

/// The clusters a proxy playing these answers has: when each names its upstream, those, so a
/// call to another is refused as Envoy refuses it; when one names none, any (`None`).
pub(crate) fn clusters_named<'a>(
    upstreams: impl IntoIterator<Item = &'a Option<String>> + Clone,
) -> Option<Vec<String>> {
    let every_one_named = upstreams.clone().into_iter().all(Option::is_some);
    every_one_named.then(|| upstreams_named(upstreams))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each scenario text fails to load with an error that contains its message.
    #[track_caller]
    fn assert_refused(cases: &[(&str, &str)]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.yaml");
        for (text, message) in cases {
            std::fs::write(&path, text).unwrap();
            let err = Scenario::load(&path).unwrap_err().to_string();
            assert!(err.contains(message), "{text:?}: {err}");
            assert_eq!(err.lines().count(), 1, "one line: {err}");
        }
    }

    #[test]
    fn the_documented_format_is_a_valid_scenario() {
        let scenario: Scenario = serde_yaml::from_str(crate::scenario::FORMAT).unwrap();
        assert_eq!(scenario.exchanges[0].http_calls[0].status.get(), 200);
        assert!(!scenario.connections.is_empty());
        // It shows both kinds of case; a file has one kind or the other.
        for http in [true, false] {
            let mut one_kind = scenario.clone();
            match http {
                true => one_kind.connections.clear(),
                false => one_kind.exchanges.clear(),
            }
            one_kind.validate(Path::new("format.yaml")).unwrap();
        }
        let docs = include_str!("../../docs/run.md");
        assert!(
            docs.contains(crate::scenario::FORMAT),
            "docs/run.md shows another format than src/scenario/format.yaml"
        );
    }

    /// A scenario whose request or response gives `count` headers of its own.
    fn many_fields(message: &str, count: usize) -> String {
        let fields: Vec<String> = (0..count).map(|i| format!("x-h{i}: v")).collect();
        format!(
            "exchanges:\n  - {message}: {{headers: {{{}}}}}\n",
            fields.join(", ")
        )
    }

    #[test]
    fn headers_and_statuses_no_proxy_would_send_are_refused() {
        let big_header = format!(
            "exchanges:\n  - request: {{headers: {{x-big: {}}}}}\n",
            "a".repeat(61 * 1024 - "x-big".len())
        );
        assert_refused(&[
            (
                "exchanges:\n  - request: {headers: {\"x a\": b}}\n",
                "header name `x a` has a space in it",
            ),
            (
                "exchanges:\n  - request: {headers: {\":path\": /x}}\n",
                "`:path` is a pseudo-header: set it with the request's `method`, `path`",
            ),
            (
                "exchanges:\n  - response: {headers: {x-a: \"b\\r\\nc\"}}\n",
                "the value of header `x-a` has a line break",
            ),
            (
                "exchanges:\n  - response: {status: 700}\n",
                "status 700 is outside 100-599",
            ),
            (
                "exchanges:\n  - http_calls: [{status: 42}]\n",
                "status 42 is outside 100-599",
            ),
            (
                "exchanges:\n  - request: {path: orders}\n",
                "the request of `exchange 1: GET orders`: path `orders` does not start with `/`",
            ),
            (
                "exchanges:\n  - request: {path: \"/a#b\"}\n",
                "path `/a#b` has '#': Envoy answers 400",
            ),
            (
                "exchanges:\n  - request: {body: abc, headers: {content-length: \"10\"}}\n",
                "the request of `exchange 1: GET /`: content-length says `10` but the body is 3 bytes",
            ),
            (
                "exchanges:\n  - response: {body: abc, headers: {content-length: \"2\"}}\n",
                "the response of `exchange 1: GET /`: content-length says `2` but the body is 3 bytes",
            ),
            (
                "exchanges:\n  - response: {body: a, headers: {content-length: \"1\"}, trailers: {x: y}}\n",
                "trailers follow only a chunked body over HTTP/1: leave out the content-length",
            ),
            (
                "exchanges:\n  - request: {method: \"\"}\n",
                "the method is empty: Envoy answers 400",
            ),
            (
                &big_header,
                "the headers are 61 KiB: Envoy answers 431 above 60 KiB",
            ),
            (
                &many_fields("request", 98),
                "the request has 101 header fields: Envoy answers 431 above 100",
            ),
            (
                &many_fields("response", 100),
                "the response has 101 header fields: Envoy answers 502 above 100",
            ),
            (
                "exchanges:\n  - response: {status: 103}\n",
                "the response of `exchange 1: GET /`: status 103 is not a final response",
            ),
            (
                "exchanges:\n  - name: gone\n    response: {status: 204, body: x}\n",
                "the response of `gone`: a 204 response has no body",
            ),
        ]);
    }

    #[test]
    fn unknown_keys_and_bad_events_are_refused() {
        assert_refused(&[
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
                "exchanges: [{}]\nconnections: [{events: []}]\n",
                "test each in a file of its own",
            ),
            (
                "config: {}\nconfig_file: c.yaml\nexchanges: [{}]\n",
                "not both",
            ),
            (
                "connections:\n  - expect: {response: {status: 200}}\n",
                "`expect.response` is for exchanges, not connections",
            ),
            (
                "exchanges:\n  - expect: {to_upstream: a}\n",
                "`expect.to_upstream` is for connections, not exchanges",
            ),
            (
                "exchanges:\n  - expect: {no_logs: [{regex: \"(\"}]}\n",
                "bad regex `(`",
            ),
            (
                "start_logs: [{level: info, regex: \"[\"}]\nexchanges: [{}]\n",
                "bad regex `[`: unclosed character class",
            ),
        ]);
    }
}
