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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cargo_metadata::{Metadata, MetadataCommand, Package};
use serde::{Deserialize, Serialize};

use crate::diagnostic::Hint;

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("could not find Cargo.toml in `{}` or any parent directory", .0.display())]
    NotFound(PathBuf),
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
    #[error("failed to write `{}`", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
            _ => Vec::new(),
        }
    }
}

/// The plugin type a project builds, as Istio's WasmPlugin `type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum PluginType {
    #[default]
    Http,
    Network,
}

impl PluginType {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginType::Http => "HTTP",
            PluginType::Network => "NETWORK",
        }
    }
}

/// The defaults in `[package.metadata.wasmctl]`; every field is optional and every one has a flag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub plugin_type: Option<PluginType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PathBuf>,
    /// A JSON Schema file the pluginConfig must satisfy.
    #[serde(
        default,
        rename = "config-schema",
        skip_serializing_if = "Option::is_none"
    )]
    pub config_schema: Option<PathBuf>,
}

impl Settings {
    /// Reads `[package.metadata.wasmctl]` (as JSON, the form cargo metadata gives it); the one place
    /// settings are parsed, whichever way the manifest was read.
    fn from_metadata(
        value: Option<&serde_json::Value>,
        manifest_path: &Path,
    ) -> Result<Settings, ProjectError> {
        match value {
            Some(value) => {
                serde_json::from_value(value.clone()).map_err(|e| ProjectError::BadSettings {
                    path: manifest_path.to_path_buf(),
                    message: e.to_string(),
                })
            }
            None => Ok(Settings::default()),
        }
    }

    /// Renders the settings as the `[package.metadata.wasmctl]` table of a new project.
    pub fn to_toml_table(&self) -> String {
        let mut doc = toml_edit::DocumentMut::new();
        let mut table = toml_edit::Table::new();
        if let Some(template) = &self.template {
            table["template"] = toml_edit::value(template.as_str());
        }
        if let Some(kind) = self.plugin_type {
            table["type"] = toml_edit::value(kind.as_str());
        }
        if let Some(repository) = &self.repository {
            table["repository"] = toml_edit::value(repository.as_str());
        }
        if let Some(namespace) = &self.namespace {
            table["namespace"] = toml_edit::value(namespace.as_str());
        }
        if !self.selector.is_empty() {
            let mut inline = toml_edit::InlineTable::new();
            for (k, v) in &self.selector {
                inline.insert(k, v.as_str().into());
            }
            table["selector"] = toml_edit::value(inline);
        }
        if let Some(config) = &self.config {
            table["config"] = toml_edit::value(config.to_string_lossy().as_ref());
        }
        if let Some(schema) = &self.config_schema {
            table["config-schema"] = toml_edit::value(schema.to_string_lossy().as_ref());
        }
        let mut package = toml_edit::Table::new();
        package.set_implicit(true);
        let mut metadata = toml_edit::Table::new();
        metadata.set_implicit(true);
        metadata["wasmctl"] = toml_edit::Item::Table(table);
        package["metadata"] = toml_edit::Item::Table(metadata);
        doc["package"] = toml_edit::Item::Table(package);
        doc.to_string()
    }
}

/// Where to look for the project, and which package of a workspace.
#[derive(Debug, Clone, Default)]
pub struct ProjectSelector {
    pub manifest_path: Option<PathBuf>,
    pub package: Option<String>,
}

/// One cargo package that builds a plugin.
#[derive(Debug, Clone)]
pub struct Project {
    /// The package name as cargo knows it.
    pub name: String,
    pub version: String,
    /// The package's Cargo.toml.
    pub manifest_path: PathBuf,
    /// The directory holding Cargo.toml.
    pub root: PathBuf,
    /// Cargo's target directory (honours CARGO_TARGET_DIR and .cargo/config.toml).
    pub target_dir: PathBuf,
    /// The workspace's root manifest, for `cargo build --manifest-path`.
    pub workspace_manifest: PathBuf,
    pub settings: Settings,
    /// The package's lib target name (what cargo names the .wasm file).
    pub lib_name: Option<String>,
    pub repository_url: Option<String>,
}

impl Project {
    /// Finds the project from the selector, or from the current directory upwards.
    pub fn discover(selector: &ProjectSelector) -> Result<Project, ProjectError> {
        let manifest_path = match &selector.manifest_path {
            Some(path) => path.clone(),
            None => {
                let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
                find_manifest(&cwd).ok_or(ProjectError::NotFound(cwd))?
            }
        };
        if !manifest_path.is_file() {
            return Err(ProjectError::NotFound(manifest_path));
        }
        let metadata = MetadataCommand::new()
            .manifest_path(&manifest_path)
            .no_deps()
            .exec()
            .map_err(|source| ProjectError::Metadata {
                path: manifest_path.clone(),
                source,
            })?;
        let package = pick_package(&metadata, &manifest_path, selector.package.as_deref())?;
        Project::from_package(&metadata, package)
    }

    /// Like [`Project::discover`], but reads a plain single-package Cargo.toml directly instead of
    /// running `cargo metadata` (tens of milliseconds), for commands that must start fast. Anything
    /// cargo would have to resolve (workspaces, inherited fields, `-p`, a configured target dir)
    /// goes the full way.
    pub fn discover_fast(selector: &ProjectSelector) -> Result<Project, ProjectError> {
        let manifest_path = match &selector.manifest_path {
            Some(path) => path.clone(),
            None => {
                let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
                find_manifest(&cwd).ok_or(ProjectError::NotFound(cwd))?
            }
        };
        if selector.package.is_none()
            && let Some(project) = Project::from_plain_manifest(&manifest_path)?
        {
            return Ok(project);
        }
        Project::discover(selector)
    }

    /// The project of a Cargo.toml that needs no resolving, or `None` when cargo must be asked.
    fn from_plain_manifest(manifest_path: &Path) -> Result<Option<Project>, ProjectError> {
        let Ok(text) = std::fs::read_to_string(manifest_path) else {
            return Ok(None);
        };
        let Ok(doc) = text.parse::<toml_edit::DocumentMut>() else {
            return Ok(None);
        };
        let Some(package) = doc.get("package").and_then(toml_edit::Item::as_table_like) else {
            return Ok(None);
        };
        let field = |key: &str| {
            package
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let (Some(name), Some(version)) = (field("name"), field("version")) else {
            return Ok(None);
        };
        let root = manifest_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let root = std::path::absolute(&root).unwrap_or(root);
        // A parent workspace decides membership and the target dir: leave that to cargo.
        let in_parent_workspace = !doc.contains_key("workspace")
            && root.ancestors().skip(1).any(|dir| {
                std::fs::read_to_string(dir.join("Cargo.toml"))
                    .is_ok_and(|t| t.lines().any(|l| l.trim_start().starts_with("[workspace")))
            });
        if in_parent_workspace {
            return Ok(None);
        }
        let Some(target_dir) = plain_target_dir(&root) else {
            return Ok(None);
        };
        let wasmctl = package
            .get("metadata")
            .and_then(|m| m.get("wasmctl"))
            .map(toml_to_json);
        let manifest_path = root.join("Cargo.toml");
        let settings = Settings::from_metadata(wasmctl.as_ref(), &manifest_path)?;
        let lib_name = doc
            .get("lib")
            .and_then(|lib| lib.get("name"))
            .and_then(|n| n.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| name.replace('-', "_"));
        Ok(Some(Project {
            name,
            version,
            workspace_manifest: manifest_path.clone(),
            manifest_path,
            root,
            target_dir,
            settings,
            lib_name: Some(lib_name),
            repository_url: field("repository"),
        }))
    }

    fn from_package(metadata: &Metadata, package: &Package) -> Result<Project, ProjectError> {
        let manifest_path = package.manifest_path.clone().into_std_path_buf();
        let settings = Settings::from_metadata(package.metadata.get("wasmctl"), &manifest_path)?;
        let lib_name = package
            .targets
            .iter()
            .find(|t| t.is_cdylib() || t.is_lib())
            .map(|t| t.name.replace('-', "_"));
        Ok(Project {
            name: package.name.to_string(),
            version: package.version.to_string(),
            root: manifest_path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            manifest_path,
            target_dir: metadata.target_directory.clone().into_std_path_buf(),
            workspace_manifest: metadata
                .workspace_root
                .join("Cargo.toml")
                .into_std_path_buf(),
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
        read_record(&self.record_path("build"))
    }

    pub fn save_build(&self, record: &BuildRecord) -> Result<(), ProjectError> {
        write_record(&self.record_path("build"), record)
    }

    /// The record of the last `wasmctl push`, if any.
    pub fn last_push(&self) -> Option<PushRecord> {
        read_record(&self.record_path("push"))
    }

    pub fn save_push(&self, record: &PushRecord) -> Result<(), ProjectError> {
        write_record(&self.record_path("push"), record)
    }

    fn record_path(&self, what: &str) -> PathBuf {
        self.state_dir().join(format!("{}.{what}.json", self.name))
    }
}

/// What `wasmctl build` produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub abi: String,
    pub target: String,
}

/// What `wasmctl push` published, so `wasmctl manifest` can pin it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRecord {
    /// The reference as pushed, e.g. `localhost:5000/team/demo:v1`.
    pub reference: String,
    /// The image manifest digest, `sha256:...`.
    pub digest: String,
    /// The image format (`compat`, `oci`, `cncf`).
    pub format: String,
    /// sha256 of the module itself.
    #[serde(default)]
    pub module_sha256: Option<String>,
}

impl PushRecord {
    /// The `oci-layout:DIR[:TAG]` the image was written to, when it went to disk, not a registry.
    pub fn layout_reference(&self) -> Option<&str> {
        self.reference
            .starts_with("oci-layout:")
            .then_some(self.reference.as_str())
    }
}

fn read_record<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_record<T: Serialize>(path: &Path, record: &T) -> Result<(), ProjectError> {
    let text = serde_json::to_vec_pretty(record).expect("records serialize");
    crate::fs::write_atomic(path, &text).map_err(|source| ProjectError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The target dir when no cargo configuration can move it: `CARGO_TARGET_DIR`, else `ROOT/target`.
/// `None` when a cargo config file might set `build.target-dir`.
fn plain_target_dir(root: &Path) -> Option<PathBuf> {
    for var in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"] {
        if let Some(dir) = std::env::var_os(var).filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            return Some(std::path::absolute(&dir).unwrap_or(dir));
        }
    }
    let cwd = std::env::current_dir().ok()?;
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let config_dirs = cwd
        .ancestors()
        .chain(root.ancestors())
        .map(|dir| dir.join(".cargo"))
        .chain(cargo_home);
    for dir in config_dirs {
        for file in ["config.toml", "config"] {
            if std::fs::read_to_string(dir.join(file)).is_ok_and(|t| t.contains("target-dir")) {
                return None;
            }
        }
    }
    Some(root.join("target"))
}

/// A TOML value as JSON, for the settings parser that also reads cargo metadata's JSON.
fn toml_to_json(item: &toml_edit::Item) -> serde_json::Value {
    use serde_json::Value as Json;
    fn value(v: &toml_edit::Value) -> Json {
        match v {
            toml_edit::Value::String(s) => Json::String(s.value().clone()),
            toml_edit::Value::Integer(i) => Json::from(*i.value()),
            toml_edit::Value::Float(f) => Json::from(*f.value()),
            toml_edit::Value::Boolean(b) => Json::Bool(*b.value()),
            toml_edit::Value::Datetime(d) => Json::String(d.value().to_string()),
            toml_edit::Value::Array(a) => Json::Array(a.iter().map(value).collect()),
            toml_edit::Value::InlineTable(t) => {
                Json::Object(t.iter().map(|(k, v)| (k.to_string(), value(v))).collect())
            }
        }
    }
    match item {
        toml_edit::Item::None => Json::Null,
        toml_edit::Item::Value(v) => value(v),
        toml_edit::Item::Table(t) => Json::Object(
            t.iter()
                .map(|(k, v)| (k.to_string(), toml_to_json(v)))
                .collect(),
        ),
        toml_edit::Item::ArrayOfTables(a) => Json::Array(
            a.iter()
                .map(|t| toml_to_json(&toml_edit::Item::Table(t.clone())))
                .collect(),
        ),
    }
}

fn find_manifest(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join("Cargo.toml"))
        .find(|candidate| candidate.is_file())
}

fn pick_package<'a>(
    metadata: &'a Metadata,
    manifest_path: &Path,
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
        return members
            .iter()
            .find(|p| p.name.as_str() == wanted)
            .copied()
            .ok_or_else(|| ProjectError::UnknownPackage(wanted.to_string(), names()));
    }
    let manifest = manifest_path
        .canonicalize()
        .unwrap_or_else(|_| manifest_path.to_path_buf());
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
            manifest_path.to_path_buf(),
            names(),
        )),
    }
}
