//! A plugin project: its cargo package, the wasmctl defaults in `[package.metadata.wasmctl]`, and the
//! records `build` and `push` leave behind for the commands that follow them.
//!
//! The defaults live in one documented place, the package's own Cargo.toml:
//!
//! ```toml
//! [package.metadata.wasmctl]
//! template = "http-headers"          # the template the project came from
//! type = "HTTP"                      # WasmPlugin type: HTTP or NETWORK
//! repository = "localhost:5000/demo" # image repository for `wasmctl push` (tag: the crate version)
//! namespace = "default"              # namespace of the WasmPlugin
//! selector = { app = "demo" }        # workload selector (matchLabels)
//! config = "config.yaml"             # pluginConfig for `run`, `test` and `manifest`
//! ```

mod plain;
mod plugin_type;
mod record;
mod settings;

use std::path::{Path, PathBuf};

use cargo_metadata::{Metadata, MetadataCommand, Package};

use crate::error::Hint;
use crate::fs::FileError;
pub use plugin_type::PluginType;
pub use record::{BuildProfile, BuildRecord, PushRecord};
pub use settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("could not find Cargo.toml in `{}` or any parent directory", .0.display())]
    NotFound(PathBuf),
    /// `--manifest-path` names something that is not a Cargo.toml.
    #[error("--manifest-path `{}` {why}", .path.display())]
    BadManifestPath { path: PathBuf, why: &'static str },
    #[error("failed to read the cargo metadata of `{}`", .path.display())]
    Metadata {
        path: PathBuf,
        #[source]
        source: cargo_metadata::Error,
    },
    #[error("`{}` is a workspace with several packages", .0.display())]
    AmbiguousPackage(PathBuf, Vec<String>),
    #[error("package `{0}` is not a member of the workspace")]
    UnknownPackage(String, Vec<String>),
    #[error("invalid [package.metadata.wasmctl] in `{}`: {message}", .path.display())]
    BadSettings { path: PathBuf, message: String },
    #[error(transparent)]
    File(#[from] FileError),
}

impl Hint for ProjectError {
    fn hints(&self) -> Vec<String> {
        match self {
            ProjectError::NotFound(_) => vec![
                "run this inside a plugin project, or pass --manifest-path".into(),
                "create a project with `wasmctl new NAME`".into(),
            ],
            ProjectError::AmbiguousPackage(_, names) | ProjectError::UnknownPackage(_, names) => {
                vec![format!("pick one with -p/--package: {}", names.join(", "))]
            }
            ProjectError::BadManifestPath { .. } => vec![
                "--manifest-path takes a project's Cargo.toml, or the directory that holds it"
                    .into(),
            ],
            ProjectError::Metadata { .. }
            | ProjectError::BadSettings { .. }
            | ProjectError::File(_) => Vec::new(),
        }
    }
}

/// Where to look for the project, and which package of a workspace.
#[derive(Debug, Clone, Default)]
pub struct ProjectSelector {
    /// The `--manifest-path` given: a Cargo.toml.
    pub manifest_path: Option<PathBuf>,
    pub package: Option<String>,
}

impl ProjectSelector {
    /// Whether the user named a Cargo.toml or a package, so not finding it is an error.
    fn is_explicit(&self) -> bool {
        self.manifest_path.is_some() || self.package.is_some()
    }

    /// The Cargo.toml given, or the first one from the current directory upwards.
    fn cargo_manifest(&self) -> Result<PathBuf, ProjectError> {
        match &self.manifest_path {
            // A directory names the Cargo.toml in it, where cargo would refuse it.
            Some(path) if path.is_dir() => {
                let manifest = path.join("Cargo.toml");
                match manifest.is_file() {
                    true => Ok(manifest),
                    false => Err(ProjectError::BadManifestPath {
                        path: path.clone(),
                        why: "is a directory with no Cargo.toml",
                    }),
                }
            }
            Some(path) if !path.exists() => Err(ProjectError::BadManifestPath {
                path: path.clone(),
                why: "does not exist",
            }),
            Some(path) if path.file_name().is_none_or(|name| name != "Cargo.toml") => {
                Err(ProjectError::BadManifestPath {
                    path: path.clone(),
                    why: "is not a Cargo.toml",
                })
            }
            Some(path) => Ok(path.clone()),
            None => {
                let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
                find_cargo_manifest(&cwd).ok_or(ProjectError::NotFound(cwd))
            }
        }
    }
}

/// How to read the project once its Cargo.toml is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lookup {
    /// Ask `cargo metadata`, which resolves everything and checks the Cargo.toml.
    #[default]
    CargoMetadata,
    /// Read a plain single-package Cargo.toml directly; anything cargo must resolve (workspaces,
    /// inherited fields, `-p`, a configured target dir) still goes through `cargo metadata`.
    PlainCargoTomlFirst,
}

/// One cargo package that builds a plugin.
#[derive(Debug, Clone)]
pub struct Project {
    /// The package name as cargo knows it.
    pub name: String,
    pub version: String,
    /// The package's Cargo.toml.
    pub cargo_manifest: PathBuf,
    /// The directory holding Cargo.toml.
    pub root: PathBuf,
    /// The workspace's root, where its Cargo.lock is: `root` for a package on its own.
    pub workspace_root: PathBuf,
    /// The roots of the package's path dependencies and theirs (not dev-dependencies), whose
    /// sources its build reads too.
    pub path_dependencies: Vec<PathBuf>,
    /// Cargo's target directory (honours CARGO_TARGET_DIR and .cargo/config.toml).
    pub target_dir: PathBuf,
    pub settings: Settings,
    /// The package's lib target name (what cargo names the .wasm file).
    pub lib_name: Option<String>,
    pub repository_url: Option<String>,
}

impl Project {
    /// Finds the project from the selector, or from the current directory upwards, through
    /// `cargo metadata`.
    pub fn discover(selector: &ProjectSelector) -> Result<Project, ProjectError> {
        Project::discover_with(selector, Lookup::CargoMetadata)
    }

    /// Finds the project, reading it as `lookup` says.
    pub fn discover_with(
        selector: &ProjectSelector,
        lookup: Lookup,
    ) -> Result<Project, ProjectError> {
        let cargo_manifest = selector.cargo_manifest()?;
        if lookup == Lookup::PlainCargoTomlFirst
            && selector.package.is_none()
            && let Some(project) = plain::read(&cargo_manifest)?
        {
            return Ok(project);
        }
        Project::from_cargo_metadata(&cargo_manifest, selector.package.as_deref())
    }

    /// The one rule for commands that can work without a project, which then only supplies
    /// defaults: no Cargo.toml from the current directory upwards means no project. A Cargo.toml
    /// or package the user named must exist, and a project that is found must be readable.
    pub fn discover_optional(
        selector: &ProjectSelector,
        lookup: Lookup,
    ) -> Result<Option<Project>, ProjectError> {
        match Project::discover_with(selector, lookup) {
            Ok(project) => Ok(Some(project)),
            Err(ProjectError::NotFound(_)) if !selector.is_explicit() => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The project a command works on: required when the command `needs` its defaults, else
    /// optional by the rule of [`Project::discover_optional`]. Every command takes its project
    /// through here.
    pub fn discover_when(
        selector: &ProjectSelector,
        needs: bool,
        lookup: Lookup,
    ) -> Result<Option<Project>, ProjectError> {
        if needs {
            Project::discover_with(selector, lookup).map(Some)
        } else {
            Project::discover_optional(selector, lookup)
        }
    }

    fn from_cargo_metadata(
        cargo_manifest: &Path,
        package: Option<&str>,
    ) -> Result<Project, ProjectError> {
        if !cargo_manifest.is_file() {
            return Err(ProjectError::NotFound(cargo_manifest.to_path_buf()));
        }
        let metadata = MetadataCommand::new()
            .manifest_path(cargo_manifest)
            .no_deps()
            .exec()
            .map_err(|source| ProjectError::Metadata {
                path: cargo_manifest.to_path_buf(),
                source,
            })?;
        let package = pick_package(&metadata, cargo_manifest, package)?;
        Project::from_package(&metadata, package)
    }

    fn from_package(metadata: &Metadata, package: &Package) -> Result<Project, ProjectError> {
        let cargo_manifest = package.manifest_path.clone().into_std_path_buf();
        let settings = Settings::from_metadata(package.metadata.get("wasmctl"), &cargo_manifest)?;
        let path_dependencies = path_dependencies(metadata, package);
        let lib_name = package
            .targets
            .iter()
            .find(|t| t.is_cdylib() || t.is_lib())
            .map(|t| t.name.replace('-', "_"));
        Ok(Project {
            name: package.name.to_string(),
            version: package.version.to_string(),
            root: cargo_manifest
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            cargo_manifest,
            workspace_root: metadata.workspace_root.clone().into_std_path_buf(),
            path_dependencies,
            target_dir: metadata.target_directory.clone().into_std_path_buf(),
            settings,
            lib_name,
            repository_url: package.repository.clone(),
        })
    }

    /// Where wasmctl keeps its own outputs and records: `target/wasmctl`.
    pub fn state_dir(&self) -> PathBuf {
        self.target_dir.join("wasmctl")
    }

    /// The stable path of the built module.
    pub fn artifact_path(&self) -> PathBuf {
        self.state_dir().join(format!("{}.wasm", self.name))
    }

    /// The newest of the files a build of the package reads, when it was modified after
    /// `module`: the module no longer matches its sources. See [`Project::build_inputs`].
    pub fn changed_since(&self, module: &Path) -> Option<PathBuf> {
        let built = modified(module)?;
        self.build_inputs()
            .filter_map(|path| {
                let modified = modified(&path)?;
                (modified > built).then_some((modified, path))
            })
            .max()
            .map(|(_, path)| path)
    }

    /// The files a build of the package reads, as far as wasmctl looks: the workspace's
    /// Cargo.toml and Cargo.lock, then for the package and each of its path dependencies its
    /// Cargo.toml, build.rs and everything under `src/`.
    pub fn build_inputs(&self) -> impl Iterator<Item = PathBuf> + '_ {
        let workspace = ["Cargo.toml", "Cargo.lock"].map(|name| self.workspace_root.join(name));
        let crates = std::iter::once(&self.root).chain(&self.path_dependencies);
        workspace.into_iter().chain(crates.flat_map(|root| {
            ["Cargo.toml", "build.rs"]
                .map(|name| root.join(name))
                .into_iter()
                .chain(
                    walkdir::WalkDir::new(root.join("src"))
                        .into_iter()
                        .filter_map(Result::ok)
                        .filter(|e| e.file_type().is_file() && !is_scratch(e.file_name()))
                        .map(walkdir::DirEntry::into_path),
                )
        }))
    }

    /// `module`, when a source it was built from changed after it: what runs (or is pushed) is
    /// not what the sources say.
    pub fn stale_build(&self, module: &Path) -> Option<StaleBuild> {
        let changed = self.changed_since(module)?;
        Some(StaleBuild {
            module: module.to_path_buf(),
            changed: changed
                .strip_prefix(&self.root)
                .map(Path::to_path_buf)
                .unwrap_or(changed),
        })
    }

    /// A path from the settings, relative to the project root.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.root.join(path)
        }
    }

    /// The record of the last `wasmctl build`, if any.
    pub fn last_build(&self) -> Option<BuildRecord> {
        record::read_record(&self.record_path("build"))
    }

    pub fn save_build(&self, record: &BuildRecord) -> Result<(), ProjectError> {
        record::write_record(&self.record_path("build"), record)
    }

    /// The record of the last `wasmctl push`, if any.
    pub fn last_push(&self) -> Option<PushRecord> {
        record::read_record(&self.record_path("push"))
    }

    pub fn save_push(&self, record: &PushRecord) -> Result<(), ProjectError> {
        record::write_record(&self.record_path("push"), record)
    }

    fn record_path(&self, what: &str) -> PathBuf {
        self.state_dir().join(format!("{}.{what}.json", self.name))
    }
}

/// The roots of the crates `package` builds from by path, its own path dependencies' path
/// dependencies included (not dev-dependencies, which its build does not read), sorted. A crate
/// in the workspace is read from `metadata`; one outside it that may take crates by path is asked
/// of cargo, and when cargo cannot read it, it still counts but its own dependencies are not
/// followed.
fn path_dependencies(metadata: &Metadata, package: &Package) -> Vec<PathBuf> {
    let mut found = std::collections::BTreeSet::new();
    let mut next = direct_path_dependencies(package);
    while let Some(root) = next.pop() {
        if root == package_root(package) || !found.insert(root.clone()) {
            continue;
        }
        let dependencies = match metadata.packages.iter().find(|p| package_root(p) == root) {
            Some(member) => direct_path_dependencies(member),
            None => outside_package(&root)
                .as_ref()
                .map(direct_path_dependencies)
                .unwrap_or_default(),
        };
        next.extend(dependencies);
    }
    found.into_iter().collect()
}

/// The package at `root`, a crate outside the workspace, as cargo reads it; `None` without asking
/// cargo when its Cargo.toml takes nothing by path.
fn outside_package(root: &Path) -> Option<Package> {
    let manifest = root.join("Cargo.toml");
    if !plain::may_have_path_dependencies(&manifest) {
        return None;
    }
    let metadata = MetadataCommand::new()
        .manifest_path(&manifest)
        .no_deps()
        .exec()
        .ok()?;
    metadata
        .packages
        .into_iter()
        .find(|p| p.manifest_path.as_std_path() == manifest)
}

fn direct_path_dependencies(package: &Package) -> Vec<PathBuf> {
    package
        .dependencies
        .iter()
        .filter(|d| d.kind != cargo_metadata::DependencyKind::Development)
        .filter_map(|d| d.path.clone())
        .map(|path| path.into_std_path_buf())
        .collect()
}

fn package_root(package: &Package) -> &Path {
    package
        .manifest_path
        .parent()
        .map_or(Path::new(""), |dir| dir.as_std_path())
}

fn find_cargo_manifest(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join("Cargo.toml"))
        .find(|candidate| candidate.is_file())
}

/// The package `-p SPEC` names, read as cargo reads a package id spec: `NAME`, `NAME@VERSION`, or
/// a url (`path+file:///DIR#NAME@VERSION`; with only a version after `#`, or no `#`, the name is
/// the url's last segment). The name, and the version (or its first parts) when given.
fn package_spec(spec: &str) -> (&str, Option<&str>) {
    let (url, fragment) = match spec.split_once('#') {
        Some((url, fragment)) => (Some(url), fragment),
        None if spec.contains("://") => (Some(spec), ""),
        None => (None, spec),
    };
    let last_segment = || url.and_then(|u| u.trim_end_matches('/').rsplit('/').next());
    match fragment.split_once(['@', ':']) {
        Some((name, version)) => (name, Some(version)),
        None if fragment.starts_with(|c: char| c.is_ascii_digit()) => {
            (last_segment().unwrap_or(fragment), Some(fragment))
        }
        None if fragment.is_empty() => (last_segment().unwrap_or(spec), None),
        None => (fragment, None),
    }
}

fn pick_package<'a>(
    metadata: &'a Metadata,
    cargo_manifest: &Path,
    wanted: Option<&str>,
) -> Result<&'a Package, ProjectError> {
    let members = metadata.workspace_packages();
    let names = || {
        members
            .iter()
            .map(|p| p.name.to_string())
            .collect::<Vec<_>>()
    };
    if let Some(wanted) = wanted {
        let (name, version) = package_spec(wanted);
        let version_matches =
            |have: &str| version.is_none_or(|v| have == v || have.starts_with(&format!("{v}.")));
        return members
            .iter()
            .find(|p| p.name.as_str() == name && version_matches(&p.version.to_string()))
            .copied()
            .ok_or_else(|| ProjectError::UnknownPackage(wanted.to_string(), names()));
    }
    let manifest = cargo_manifest
        .canonicalize()
        .unwrap_or_else(|_| cargo_manifest.to_path_buf());
    if let Some(package) = members.iter().find(|p| {
        p.manifest_path
            .as_std_path()
            .canonicalize()
            .is_ok_and(|m| m == manifest)
    }) {
        return Ok(package);
    }
    match members.as_slice() {
        [only] => Ok(only),
        _ => Err(ProjectError::AmbiguousPackage(
            cargo_manifest.to_path_buf(),
            names(),
        )),
    }
}

/// The project's last build, when a source file changed after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleBuild {
    pub module: PathBuf,
    /// The newest source file changed since the build: relative to the project's root when it
    /// is under it, else (a path dependency's, the workspace's) as it is.
    pub changed: PathBuf,
}

impl StaleBuild {
    /// The warning, one line.
    pub fn message(&self) -> String {
        format!(
            "`{}` changed after the last build: `{}` was built before it",
            self.changed.display(),
            self.module.display()
        )
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        "run `wasmctl build` first, or `wasmctl dev` to rebuild and retest on every save"
    }
}

/// When `path` was last modified, if it exists.
fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).ok()?.modified().ok()
}

/// An editor's swap, backup or lock file, which no build reads: `.lib.rs.swp`, `lib.rs~`, `.#lib.rs`.
pub(crate) fn is_scratch(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with('.') || name.ends_with('~')
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    #[test]
    fn package_specs_read_as_cargo_reads_them() {
        let cases = [
            ("alpha", ("alpha", None)),
            ("alpha@0.1.0", ("alpha", Some("0.1.0"))),
            ("alpha:0.1", ("alpha", Some("0.1"))),
            ("path+file:///ws/alpha#0.1.0", ("alpha", Some("0.1.0"))),
            ("path+file:///ws/dir#alpha@0.1.0", ("alpha", Some("0.1.0"))),
            ("path+file:///ws/alpha", ("alpha", None)),
            ("path+file:///ws/dir#alpha", ("alpha", None)),
        ];
        for (spec, expected) in cases {
            assert_eq!(package_spec(spec), expected, "{spec}");
        }
    }

    /// Writes `text` to `dir/path`, modified at `at`.
    fn write_at(dir: &Path, path: &str, text: &str, at: SystemTime) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        touch(&path, at);
    }

    fn touch(path: &Path, at: SystemTime) {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(at).unwrap();
    }

    fn package(name: &str, dependencies: &str) -> String {
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [dependencies]\n{dependencies}"
        )
    }

    /// A plugin, the path dependency it shares code through and that one's own path dependency
    /// (`proto`), each file written at `at`, and the plugin's module, built after them.
    fn plugin_with_common(dir: &Path, workspace: bool, at: SystemTime) -> (Project, PathBuf) {
        if workspace {
            let members = "[workspace]\nmembers = [\"plugin\", \"common\"]\nresolver = \"2\"\n";
            write_at(dir, "Cargo.toml", members, at);
            write_at(dir, "Cargo.lock", "version = 4\n", at);
        }
        let common = "common = { path = \"../common\" }\n";
        write_at(dir, "plugin/Cargo.toml", &package("plugin", common), at);
        write_at(dir, "plugin/src/lib.rs", "", at);
        let proto = "proto = { path = \"../proto\" }\n";
        write_at(dir, "common/Cargo.toml", &package("common", proto), at);
        write_at(dir, "common/src/lib.rs", "", at);
        write_at(dir, "proto/Cargo.toml", &package("proto", ""), at);
        write_at(dir, "proto/src/lib.rs", "", at);
        let module = dir.join("plugin.wasm");
        write_at(dir, "plugin.wasm", "", at + Duration::from_secs(10));
        let selector = ProjectSelector {
            manifest_path: Some(dir.join("plugin/Cargo.toml")),
            package: None,
        };
        // The fast reading leaves a path dependency to cargo, and finds it so.
        let project = Project::discover_with(&selector, Lookup::PlainCargoTomlFirst).unwrap();
        (project, module)
    }

    #[test]
    fn a_change_to_a_path_dependency_or_the_workspace_makes_the_build_stale() {
        let at = SystemTime::now() - Duration::from_secs(3600);
        let later = at + Duration::from_secs(60);
        for workspace in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let dir = dir.path().canonicalize().unwrap();
            let (project, module) = plugin_with_common(&dir, workspace, at);
            assert_eq!(
                project.path_dependencies,
                vec![dir.join("common"), dir.join("proto")]
            );
            assert_eq!(
                project.stale_build(&module),
                None,
                "built after every source"
            );

            touch(&dir.join("common/src/lib.rs"), later);
            let stale = project
                .stale_build(&module)
                .expect("the dependency changed");
            assert_eq!(stale.changed, dir.join("common/src/lib.rs"));
            assert!(stale.message().contains("common/src/lib.rs"), "{stale:?}");

            // A path dependency's own path dependency is a source too.
            touch(
                &dir.join("proto/src/lib.rs"),
                later + Duration::from_secs(1),
            );
            let stale = project
                .stale_build(&module)
                .expect("its dependency changed");
            assert_eq!(stale.changed, dir.join("proto/src/lib.rs"));

            // The package's own files are named from its root.
            write_at(
                &dir,
                "plugin/src/filter.rs",
                "",
                later + Duration::from_secs(2),
            );
            let stale = project.stale_build(&module).unwrap();
            assert_eq!(stale.changed, Path::new("src/filter.rs"));

            if workspace {
                assert_eq!(project.workspace_root, dir);
                touch(&dir.join("Cargo.lock"), later + Duration::from_secs(3));
                let stale = project.stale_build(&module).unwrap();
                assert_eq!(stale.changed, dir.join("Cargo.lock"));
            }
        }
    }

    #[test]
    fn a_dependency_the_workspace_defines_by_path_is_a_path_dependency() {
        let at = SystemTime::now() - Duration::from_secs(3600);
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().canonicalize().unwrap();
        // The package is the workspace's root too, so its Cargo.toml is all the fast reading sees.
        let workspace = "\n[workspace]\n\n[workspace.dependencies]\n\
                         common = { path = \"common\" }\n";
        let manifest = package("plugin", "common = { workspace = true }\n") + workspace;
        write_at(&dir, "Cargo.toml", &manifest, at);
        write_at(&dir, "src/lib.rs", "", at);
        write_at(&dir, "common/Cargo.toml", &package("common", ""), at);
        write_at(&dir, "common/src/lib.rs", "", at);
        let selector = ProjectSelector {
            manifest_path: Some(dir.join("Cargo.toml")),
            package: None,
        };
        let project = Project::discover_with(&selector, Lookup::PlainCargoTomlFirst).unwrap();
        assert_eq!(project.path_dependencies, vec![dir.join("common")]);
    }

    #[test]
    fn scratch_files_and_dev_dependencies_are_not_sources() {
        let at = SystemTime::now() - Duration::from_secs(3600);
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().canonicalize().unwrap();
        let dev = "\n[dev-dependencies]\nhelper = { path = \"../helper\" }\n";
        write_at(
            &dir,
            "plugin/Cargo.toml",
            &(package("plugin", "") + dev),
            at,
        );
        write_at(&dir, "plugin/src/lib.rs", "", at);
        write_at(&dir, "helper/Cargo.toml", &package("helper", ""), at);
        write_at(&dir, "helper/src/lib.rs", "", at);
        write_at(&dir, "plugin.wasm", "", at + Duration::from_secs(10));
        let selector = ProjectSelector {
            manifest_path: Some(dir.join("plugin/Cargo.toml")),
            package: None,
        };
        let project = Project::discover(&selector).unwrap();
        assert!(project.path_dependencies.is_empty(), "{project:?}");
        let later = at + Duration::from_secs(60);
        touch(&dir.join("helper/src/lib.rs"), later);
        for scratch in ["src/.lib.rs.swp", "src/lib.rs~", "src/.#lib.rs"] {
            write_at(&dir.join("plugin"), scratch, "", later);
        }
        assert_eq!(project.stale_build(&dir.join("plugin.wasm")), None);
    }
}
