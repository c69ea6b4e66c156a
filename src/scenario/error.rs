//! What can stop `run` or `test` before a scenario has a result.

use std::path::{Path, PathBuf};

use crate::envoy::EnvoyError;
use crate::error::Hint;
use crate::fs::FileError;
use crate::host::{HostError, LogRecord};
use crate::project::ProjectError;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("invalid scenario `{}`: {message}", .path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("invalid plugin configuration in `{}`: {message}", .path.display())]
    BadConfig { path: PathBuf, message: String },
    #[error("scenario `{}` names no plugin and there is no default one", .0.display())]
    NoPlugin(PathBuf),
    #[error("no module given and no project found")]
    NoModule,
    #[error("no scenario files given and no project found")]
    NoScenarioFiles,
    #[error("no scenarios in `{}`", .0.display())]
    NoScenariosIn(PathBuf),
    #[error("{0} was given traffic before the plugin started")]
    NotStarted(String),
    #[error("project `{0}` has not been built yet")]
    NotBuilt(String),
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Envoy(#[from] EnvoyError),
    #[error("failed to load the plugin `{}`", .path.display())]
    Plugin {
        path: PathBuf,
        #[source]
        source: HostError,
    },
    /// The plugin failed where that is the answer (`wasmctl run`), not a case to report.
    #[error(transparent)]
    PluginFailed(#[from] HostError),
}

impl ScenarioError {
    /// A module that did not load. What is wrong with the file itself already names the file, so
    /// it is said on one line, as `run` says it; anything else is said of the file here.
    pub(crate) fn loading(path: &Path, source: HostError) -> ScenarioError {
        match source {
            HostError::Module(_) => ScenarioError::PluginFailed(source),
            source => ScenarioError::Plugin {
                path: path.to_path_buf(),
                source,
            },
        }
    }

    /// What the plugin logged before it failed, for whoever wants to show it.
    pub fn plugin_logs(&self) -> &[LogRecord] {
        match self {
            ScenarioError::PluginFailed(err) => err.logs(),
            _ => &[],
        }
    }
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
            ScenarioError::Invalid { .. } => vec![
                "the scenario format is described by `wasmctl help scenarios` and in docs/run.md"
                    .into(),
            ],
            ScenarioError::NoScenariosIn(_) => {
                vec!["scenario files end in `.yaml` or `.yml`".into()]
            }
            // A transparent error shows the inner one's message, so it gives its hints too.
            ScenarioError::Project(err) => err.hints(),
            ScenarioError::Envoy(err) => err.hints(),
            ScenarioError::PluginFailed(err) => err.hints(),
            ScenarioError::File(_)
            | ScenarioError::BadConfig { .. }
            | ScenarioError::NoModule
            | ScenarioError::NoScenarioFiles
            | ScenarioError::NotStarted(_)
            | ScenarioError::Plugin { .. } => Vec::new(),
        }
    }
}
