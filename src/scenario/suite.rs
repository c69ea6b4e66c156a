//! `wasmctl test`: scenario files through the built-in host or Envoy, one report per file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::builtin::{BuiltinHost, PluginCache};
use super::driver::run_scenario;
use super::error::ScenarioError;
use super::in_envoy::EnvoyHost;
use super::load::ScenarioFile;
use super::project::{optional_project, project_plugin, project_scenarios, scenarios_in};
use super::report::ScenarioReport;
use crate::envoy::{EnvoyError, find_binary};
use crate::project::{ProjectSelector, StaleBuild};

/// What `wasmctl test` runs.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// Scenario files, or directories of them (their `*.yaml`); the project's `scenarios/*.yaml`
    /// when empty.
    pub files: Vec<PathBuf>,
    /// The module for scenarios that name none; the project's last build when absent.
    pub plugin: Option<PathBuf>,
    /// Through a real Envoy (one per file) instead of the built-in host.
    pub envoy: bool,
    pub project: ProjectSelector,
}

/// Told as each file runs, so results show while later files still run.
pub trait TestObserver {
    /// A file begins; in Envoy this takes a few seconds.
    fn file_started(&mut self, _path: &Path, _in_envoy: bool) {}
    /// A file has its report.
    fn file_finished(&mut self, _report: &ScenarioReport) {}
}

/// Every file's report.
#[derive(Debug, Clone, Serialize)]
pub struct TestSummary {
    pub scenarios: Vec<ScenarioReport>,
    #[serde(skip)]
    pub in_envoy: bool,
    /// The project's last build ran, and a source file changed after it.
    #[serde(skip)]
    pub stale_build: Option<StaleBuild>,
}

impl TestSummary {
    pub fn cases(&self) -> usize {
        self.scenarios.iter().map(|r| r.cases.len()).sum()
    }

    pub fn failed(&self) -> usize {
        self.count(|case| !case.passed())
    }

    pub fn skipped(&self) -> usize {
        self.count(|case| case.skipped.is_some())
    }

    fn count(&self, which: impl Fn(&super::report::CaseReport) -> bool) -> usize {
        self.scenarios
            .iter()
            .map(|r| r.cases.iter().filter(|c| which(c)).count())
            .sum()
    }
}

/// Runs every scenario file `options` names (or the project's) and reports each.
pub fn run_tests(
    options: &TestOptions,
    observer: &mut dyn TestObserver,
) -> crate::Result<TestSummary> {
    let wanted = options.files.is_empty() || options.plugin.is_none();
    let project = optional_project(&options.project, wanted, options.files.is_empty())?;
    let files = if options.files.is_empty() {
        let project = project.as_ref().ok_or(ScenarioError::NoScenarioFiles)?;
        let files = project_scenarios(project);
        if files.is_empty() {
            return Err(ScenarioError::NoScenariosIn(project.root.join("scenarios")).into());
        }
        files
    } else {
        expand_dirs(&options.files)?
    };
    let (plugin, stale) = match (&options.plugin, &project) {
        (Some(path), _) => (Some(path.clone()), None),
        (None, Some(project)) => {
            let (path, stale) = project_plugin(project)?;
            (Some(path), stale)
        }
        (None, None) => (None, None),
    };
    let envoy = match options.envoy {
        true => Some(find_binary().ok_or(EnvoyError::NotFound)?),
        false => None,
    };
    // Every file is read and checked before any runs: a bad one stops the run before it reports
    // anything.
    let files = files
        .iter()
        .map(|path| ScenarioFile::load(path, plugin.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut cache = PluginCache::default();
    let mut scenarios = Vec::new();
    for file in &files {
        observer.file_started(&file.path, envoy.is_some());
        let started = Instant::now();
        let mut report = match &envoy {
            Some(binary) => run_scenario(&mut EnvoyHost::new(binary.clone()), file)?,
            None => run_scenario(&mut BuiltinHost::new(&mut cache), file)?,
        };
        report.elapsed = started.elapsed();
        observer.file_finished(&report);
        scenarios.push(report);
    }
    // Stale only if it ran: every scenario may name a module of its own.
    let ran = |s: &ScenarioReport| plugin.as_ref() == Some(&s.plugin);
    let stale_build = stale.filter(|_| scenarios.iter().any(ran));
    Ok(TestSummary {
        scenarios,
        in_envoy: envoy.is_some(),
        stale_build,
    })
}

/// The files given, each directory among them replaced by the scenario files in it.
fn expand_dirs(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let found = scenarios_in(path);
        if found.is_empty() {
            return Err(ScenarioError::NoScenariosIn(path.clone()));
        }
        files.extend(found);
    }
    Ok(files)
}
