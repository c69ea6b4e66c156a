//! What `run` and `test` take from the project when the command line does not say: the last build,
//! the scenarios directory, the config file.

use std::path::{Path, PathBuf};

use super::error::ScenarioError;
use crate::project::{Lookup, Project, ProjectSelector};

/// The project, when one is wanted; an error only when it is `required`, since with explicit files
/// and modules a command runs anywhere. A plain Cargo.toml is read directly: `cargo metadata`
/// would cost more than the run itself.
pub(super) fn optional_project(
    selector: &ProjectSelector,
    wanted: bool,
    required: bool,
) -> Result<Option<Project>, ScenarioError> {
    if !wanted {
        return Ok(None);
    }
    Ok(Project::discover_when(
        selector,
        required,
        Lookup::PlainCargoTomlFirst,
    )?)
}

/// The module `run` and `test` use by default: the project's last build, and whether its sources
/// changed since.
pub fn project_plugin(project: &Project) -> Result<(PathBuf, Option<StaleBuild>), ScenarioError> {
    let module = project
        .last_build()
        .map(|b| b.path)
        .filter(|p| p.is_file())
        .ok_or_else(|| ScenarioError::NotBuilt(project.name.clone()))?;
    let stale = project.changed_since(&module).map(|changed| StaleBuild {
        module: module.clone(),
        changed: changed
            .strip_prefix(&project.root)
            .map(Path::to_path_buf)
            .unwrap_or(changed),
    });
    Ok((module, stale))
}

/// The project's last build, used by default, when a source file changed after it: what runs is
/// not what the sources say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleBuild {
    pub module: PathBuf,
    /// The newest source file changed since the build, relative to the project's root.
    pub changed: PathBuf,
}

impl StaleBuild {
    /// The warning, one line.
    pub fn message(&self) -> String {
        format!(
            "`{}` changed after the last build: this runs the module built before it (`{}`)",
            self.changed.display(),
            self.module.display()
        )
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        "run `wasmctl build` first, or `wasmctl dev` to rebuild and retest on every save"
    }
}

/// The scenario files of a project: `scenarios/*.yaml` (and `.yml`) under its root, sorted.
pub fn project_scenarios(project: &Project) -> Vec<PathBuf> {
    scenarios_in(&project.root.join("scenarios"))
}

/// The scenario files in `dir`: its `*.yaml` and `*.yml`, sorted; none when it cannot be read.
pub(super) fn scenarios_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The project's pluginConfig file (`config` in its settings), when it exists.
pub(super) fn project_config(project: &Project) -> Option<PathBuf> {
    let path = project.resolve(project.settings.config.as_ref()?);
    path.is_file().then_some(path)
}
