//! The result of running a scenario: one case per exchange and connection, with what differed.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::load::ScenarioFile;
use crate::host::{HttpOutcome, NetworkOutcome};

/// The result of one scenario file.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub path: PathBuf,
    pub name: String,
    pub plugin: PathBuf,
    pub cases: Vec<CaseReport>,
    /// From loading the plugin to the last case (in Envoy, with Envoy's start).
    #[serde(skip)]
    pub elapsed: Duration,
}

impl ScenarioReport {
    /// A report with no cases yet.
    pub fn new(file: &ScenarioFile) -> ScenarioReport {
        ScenarioReport {
            path: file.path.clone(),
            name: file.name(),
            plugin: file.setup.wasm.clone(),
            cases: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    pub fn passed(&self) -> bool {
        self.cases.iter().all(CaseReport::passed)
    }
}

/// One exchange, connection or the start-up, with every expectation it missed.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub name: String,
    pub failures: Vec<String>,
    /// Why the case was not run, when it was not (e.g. what Envoy cannot be scripted to do).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Expectations this host could not check, each with why (a histogram in Envoy).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unchecked: Vec<String>,
    /// What the plugin did, for --json and for debugging a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<CaseOutcome>,
}

impl CaseReport {
    pub fn new(name: &str) -> CaseReport {
        CaseReport {
            name: name.to_string(),
            failures: Vec::new(),
            skipped: None,
            unchecked: Vec::new(),
            outcome: None,
        }
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    pub fn fail(&mut self, message: String) {
        self.failures.push(message);
    }
}

/// What came out of an exchange or a connection; serialized as the outcome itself.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum CaseOutcome {
    Http(Box<HttpOutcome>),
    Connection(NetworkOutcome),
}
