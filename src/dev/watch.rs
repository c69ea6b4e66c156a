//! What `wasmctl dev` watches: the project's sources, its Cargo.toml, its pluginConfig file and its
//! scenarios, with a debouncer so a burst of saves gives one rebuild.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use notify_debouncer_full::notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify_debouncer_full::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use super::DevError;
use crate::project::Project;

/// The watched files of one project.
pub(crate) struct ProjectWatch {
    root: PathBuf,
    config: Option<PathBuf>,
    events: Receiver<DebounceEventResult>,
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
}

/// What a wait for changes ended with.
pub(crate) enum Wait {
    Changed(Vec<PathBuf>),
    Quiet,
}

impl ProjectWatch {
    pub fn start(project: &Project, debounce: Duration) -> Result<ProjectWatch, DevError> {
        let (send, events) = std::sync::mpsc::channel();
        let mut watcher = new_debouncer(debounce, None, send).map_err(watch_error)?;
        // The root alone (Cargo.toml, the config file), then the two trees below it; the target
        // directory, which every build writes, is never watched.
        watcher
            .watch(&project.root, RecursiveMode::NonRecursive)
            .map_err(watch_error)?;
        for tree in ["src", "scenarios"] {
            let dir = project.root.join(tree);
            if dir.is_dir() {
                watcher
                    .watch(&dir, RecursiveMode::Recursive)
                    .map_err(watch_error)?;
            }
        }
        let config = project.settings.config.as_ref().map(|c| project.resolve(c));
        if let Some(config) = config.as_ref().filter(|c| !c.starts_with(&project.root)) {
            watcher
                .watch(config, RecursiveMode::NonRecursive)
                .map_err(watch_error)?;
        }
        Ok(ProjectWatch {
            root: project.root.clone(),
            config,
            events,
            _debouncer: watcher,
        })
    }

    /// Waits up to `timeout` for a debounced batch of changes to watched files.
    pub fn wait(&self, timeout: Duration) -> Result<Wait, DevError> {
        let batch = match self.events.recv_timeout(timeout) {
            Ok(batch) => batch.map_err(|errors| match errors.into_iter().next() {
                Some(err) => watch_error(err),
                None => DevError::Watch("the file watcher failed".into()),
            })?,
            Err(RecvTimeoutError::Timeout) => return Ok(Wait::Quiet),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(DevError::Watch("the file watcher stopped".into()));
            }
        };
        let mut changed: Vec<PathBuf> = batch
            .into_iter()
            .filter(|e| is_change(&e.kind))
            .flat_map(|e| e.event.paths)
            .filter(|p| self.is_watched(p))
            .collect();
        changed.sort();
        changed.dedup();
        Ok(match changed.is_empty() {
            true => Wait::Quiet,
            false => Wait::Changed(changed),
        })
    }

    /// Whether a change to `path` calls for a rebuild.
    fn is_watched(&self, path: &Path) -> bool {
        if self.config.as_deref() == Some(path) {
            return true;
        }
        let Ok(relative) = path.strip_prefix(&self.root) else {
            return false;
        };
        let in_tree = relative.starts_with("src") || relative.starts_with("scenarios");
        // Editors' swap and backup files are not the source.
        let name = relative.to_string_lossy();
        let scratch = name.ends_with('~') || name.ends_with(".swp") || name.contains("/.#");
        (in_tree || relative == Path::new("Cargo.toml")) && !scratch
    }
}

/// Whether an event changes a file's content or presence: not a read (cargo and the scenario
/// loader open the watched files on every cycle) nor a metadata change.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

fn watch_error(err: notify_debouncer_full::notify::Error) -> DevError {
    DevError::Watch(err.to_string())
}
