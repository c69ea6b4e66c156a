//! What `wasmctl dev` watches: the project's sources and its path dependencies', its pluginConfig
//! file and its scenarios, with a debouncer so a burst of saves gives one rebuild.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use notify_debouncer_full::notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify_debouncer_full::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use super::DevError;
use crate::project::{Project, is_scratch};

/// The watched files of one project.
pub(crate) struct ProjectWatch {
    watched: Watched,
    events: Receiver<DebounceEventResult>,
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
}

/// Which changed paths call for a rebuild: the sources a build reads, of the package and of each
/// path dependency (each crate's Cargo.toml, build.rs and `src/`), the package's scenarios and
/// its pluginConfig file.
struct Watched {
    /// The package's root.
    root: PathBuf,
    /// Its path dependencies' roots.
    dependencies: Vec<PathBuf>,
    config: Option<PathBuf>,
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
        let watched = Watched::of(project);
        let mut watch = |path: &Path, mode| watcher.watch(path, mode).map_err(watch_error);
        // Each crate's root alone (Cargo.toml, build.rs, the config file), then the trees below
        // it; the target directory, which every build writes, is never watched.
        for root in watched.crates() {
            watch(root, RecursiveMode::NonRecursive)?;
        }
        for tree in watched.trees() {
            if tree.is_dir() {
                watch(&tree, RecursiveMode::Recursive)?;
            }
        }
        // The config file's directory, unless a watch above covers it: a directory, so that a
        // save that replaces the file (write to a temporary, rename) is seen too.
        let config_dir = watched.config.as_ref().and_then(|c| c.parent());
        if let Some(dir) = config_dir.filter(|d| d.is_dir() && !watched.is_watched_dir(d)) {
            watch(dir, RecursiveMode::NonRecursive)?;
        }
        Ok(ProjectWatch {
            watched,
            events,
            _debouncer: watcher,
        })
    }

    /// Waits up to `timeout` for a debounced batch of changes to watched files made at `since` or
    /// later. An earlier one is already in what the last cycle built: the debouncer hands over
    /// each event once it is old enough, so one save (its write, then its close) may arrive in two
    /// batches, the second while the cycle it started runs.
    pub fn wait(&self, timeout: Duration, since: Instant) -> Result<Wait, DevError> {
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
            .filter(|e| is_change(&e.kind) && e.time >= since)
            .flat_map(|e| e.event.paths)
            .filter(|p| self.watched.covers(p))
            .collect();
        changed.sort();
        changed.dedup();
        Ok(match changed.is_empty() {
            true => Wait::Quiet,
            false => Wait::Changed(changed),
        })
    }
}

impl Watched {
    fn of(project: &Project) -> Watched {
        Watched {
            root: project.root.clone(),
            dependencies: project.path_dependencies.clone(),
            config: project.settings.config.as_ref().map(|c| project.resolve(c)),
        }
    }

    /// The package's root, then its path dependencies'.
    fn crates(&self) -> impl Iterator<Item = &PathBuf> {
        std::iter::once(&self.root).chain(&self.dependencies)
    }

    /// The trees watched whole: each crate's `src/`, and the package's `scenarios/`.
    fn trees(&self) -> impl Iterator<Item = PathBuf> + '_ {
        let sources = self.crates().map(|root| root.join("src"));
        sources.chain([self.root.join("scenarios")])
    }

    /// Whether `start` watches `dir` already: a crate's root, or in one of the trees.
    fn is_watched_dir(&self, dir: &Path) -> bool {
        self.crates().any(|root| root == dir) || self.trees().any(|tree| dir.starts_with(tree))
    }

    /// Whether a change to `path` calls for a rebuild.
    fn covers(&self, path: &Path) -> bool {
        if self.config.as_deref() == Some(path) {
            return true;
        }
        // Editors' swap and backup files are not the source.
        if path.file_name().is_none_or(is_scratch) {
            return false;
        }
        let source = |root: &PathBuf| {
            path.strip_prefix(root).is_ok_and(|relative| {
                relative.starts_with("src")
                    || relative == Path::new("Cargo.toml")
                    || relative == Path::new("build.rs")
            })
        };
        path.starts_with(self.root.join("scenarios")) || self.crates().any(source)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_made_before_a_cycle_began_is_not_a_change_after_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(
            &manifest,
            "[package]\nname = \"w\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
        )
        .unwrap();
        let source = dir.path().join("src/lib.rs");
        std::fs::write(&source, "").unwrap();
        let selector = crate::project::ProjectSelector {
            manifest_path: Some(manifest),
            ..Default::default()
        };
        let project = Project::discover(&selector).unwrap();
        let watch = ProjectWatch::start(&project, Duration::from_millis(50)).unwrap();
        let changed = |since: Instant| {
            (0..20).any(|_| {
                matches!(
                    watch.wait(Duration::from_millis(100), since),
                    Ok(Wait::Changed(_))
                )
            })
        };
        // A save after the last cycle began is a change...
        let began = Instant::now();
        std::fs::write(&source, "// saved").unwrap();
        assert!(changed(began), "the save is seen");
        // ...one before it is not, however late its events arrive.
        std::fs::write(&source, "// saved again").unwrap();
        // The cycle begins once the watcher has the save's events, as it does in `dev`.
        std::thread::sleep(Duration::from_millis(100));
        let began = Instant::now();
        assert!(!changed(began), "the save is in what the cycle built");
    }

    #[test]
    fn sources_of_the_package_and_its_path_dependencies_are_watched() {
        let watched = Watched {
            root: PathBuf::from("/w/plugin"),
            dependencies: vec![PathBuf::from("/w/common")],
            config: Some(PathBuf::from("/etc/plugin.json")),
        };
        for path in [
            "/w/plugin/src/lib.rs",
            "/w/plugin/src/a/b.rs",
            "/w/plugin/Cargo.toml",
            "/w/plugin/build.rs",
            "/w/plugin/scenarios/s.yaml",
            "/w/common/src/lib.rs",
            "/w/common/Cargo.toml",
            "/etc/plugin.json",
        ] {
            assert!(watched.covers(Path::new(path)), "{path}");
        }
        for path in [
            "/w/plugin/src/.lib.rs.swp",
            "/w/plugin/src/lib.rs~",
            "/w/plugin/src/.#lib.rs",
            "/w/plugin/target/wasmctl/plugin.wasm",
            "/w/plugin/README.md",
            "/w/common/scenarios/s.yaml",
            "/w/other/src/lib.rs",
            "/etc/other.json",
        ] {
            assert!(!watched.covers(Path::new(path)), "{path}");
        }
        for (dir, already) in [
            ("/w/plugin", true),
            ("/w/plugin/src/a", true),
            ("/w/common", true),
            ("/w/plugin/conf", false),
            ("/etc", false),
        ] {
            assert_eq!(watched.is_watched_dir(Path::new(dir)), already, "{dir}");
        }
    }
}
