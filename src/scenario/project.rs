//! What `run` and `test` take from the project when the command line does not say: the last build,
//! the scenarios directory, the config file.

use std::path::{Path, PathBuf};

use super::error::ScenarioError;
use crate::project::{Lookup, Project, ProjectSelector, StaleBuild};

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
    let stale = project.stale_build(&module);
    Ok((module, stale))
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
