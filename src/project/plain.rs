//! Reading a plain single-package Cargo.toml directly instead of running `cargo metadata` (tens of
//! milliseconds), for commands that must start fast. Anything cargo would have to resolve
//! (workspaces, inherited fields, a configured target dir, path dependencies) is left to cargo.

use std::path::{Path, PathBuf};

use super::settings::{Settings, toml_to_json};
use super::{Project, ProjectError};

/// The project of a Cargo.toml that needs no resolving, or `None` when cargo must be asked.
pub(super) fn read(cargo_manifest: &Path) -> Result<Option<Project>, ProjectError> {
    let Ok(text) = std::fs::read_to_string(cargo_manifest) else {
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
    let root = cargo_manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let root = std::path::absolute(&root).unwrap_or(root);
    if (!doc.contains_key("workspace") && in_parent_workspace(&root)) || may_take_a_path(&doc) {
        return Ok(None);
    }
    let Some(target_dir) = target_dir(&root) else {
        return Ok(None);
    };
    let wasmctl = package
        .get("metadata")
        .and_then(|m| m.get("wasmctl"))
        .map(toml_to_json);
    let cargo_manifest = root.join("Cargo.toml");
    let settings = Settings::from_metadata(wasmctl.as_ref(), &cargo_manifest)?;
    let lib_name = doc
        .get("lib")
        .and_then(|lib| lib.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| name.replace('-', "_"));
    Ok(Some(Project {
        name,
        version,
        cargo_manifest,
        workspace_root: root.clone(),
        path_dependencies: Vec::new(),
        root,
        target_dir,
        settings,
        lib_name: Some(lib_name),
        repository_url: field("repository"),
    }))
}

/// Whether the crate of `cargo_manifest` may take a crate by path: what [`may_take_a_path`] says
/// of it, and true when it cannot be read.
pub(super) fn may_have_path_dependencies(cargo_manifest: &Path) -> bool {
    std::fs::read_to_string(cargo_manifest)
        .ok()
        .and_then(|text| text.parse::<toml_edit::DocumentMut>().ok())
        .is_none_or(|doc| may_take_a_path(&doc))
}

/// Whether a dependency, or a build-dependency (for any target), is a path, or is defined by the
/// workspace (`workspace = true`) as one: cargo finds where it is, and whether it is a workspace
/// member. What a workspace in a parent directory defines is not read here, so such a dependency
/// may be a path.
fn may_take_a_path(doc: &toml_edit::DocumentMut) -> bool {
    // The definitions `workspace = true` takes, when this Cargo.toml is the workspace's.
    let defined = doc.get("workspace").map(|workspace| {
        workspace
            .get("dependencies")
            .and_then(toml_edit::Item::as_table_like)
    });
    let is_path = |name: &str, dep: &dyn toml_edit::TableLike| {
        if dep.contains_key("path") {
            return true;
        }
        if !dep.contains_key("workspace") {
            return false;
        }
        defined.is_none_or(|defined| {
            defined
                .and_then(|deps| deps.get(name)?.as_table_like())
                .is_some_and(|d| d.contains_key("path"))
        })
    };
    let in_table = |t: &dyn toml_edit::TableLike| {
        ["dependencies", "build-dependencies"]
            .iter()
            .filter_map(|name| t.get(name)?.as_table_like())
            .any(|deps| {
                deps.iter()
                    .any(|(name, dep)| dep.as_table_like().is_some_and(|d| is_path(name, d)))
            })
    };
    let targets = doc.get("target").and_then(toml_edit::Item::as_table_like);
    in_table(doc.as_table())
        || targets.is_some_and(|targets| {
            targets
                .iter()
                .filter_map(|(_, cfg)| cfg.as_table_like())
                .any(in_table)
        })
}

/// Whether a parent directory holds a workspace, which decides membership and the target dir.
fn in_parent_workspace(root: &Path) -> bool {
    root.ancestors().skip(1).any(|dir| {
        std::fs::read_to_string(dir.join("Cargo.toml"))
            .is_ok_and(|t| t.lines().any(|l| l.trim_start().starts_with("[workspace")))
    })
}

/// The target dir when no cargo configuration can move it: `CARGO_TARGET_DIR`, else `ROOT/target`.
/// `None` when a cargo config file might set `build.target-dir`.
fn target_dir(root: &Path) -> Option<PathBuf> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn takes_a_path(manifest: &str) -> bool {
        may_take_a_path(&manifest.parse().unwrap())
    }

    #[test]
    fn a_dependency_is_a_path_when_it_or_its_workspace_definition_says_so() {
        let package = "[package]\nname = \"p\"\nversion = \"0.1.0\"\n";
        let cases = [
            ("[dependencies]\nc = { path = \"c\" }\n", true),
            ("[dependencies.c]\npath = \"c\"\n", true),
            (
                "[target.'cfg(unix)'.build-dependencies]\nc = { path = \"c\" }\n",
                true,
            ),
            ("[dependencies]\nc = \"1\"\n", false),
            ("[dev-dependencies]\nc = { path = \"c\" }\n", false),
            // Defined by this file's workspace: by path, or from the registry.
            (
                "[workspace.dependencies]\nc = { path = \"c\" }\n[dependencies]\nc = { workspace = true }\n",
                true,
            ),
            (
                "[workspace.dependencies]\nc = \"1\"\n[dependencies]\nc = { workspace = true }\n",
                false,
            ),
            // Defined by a workspace in a parent directory, which is not read here.
            ("[dependencies]\nc = { workspace = true }\n", true),
        ];
        for (dependencies, expected) in cases {
            let manifest = format!("{package}{dependencies}");
            assert_eq!(takes_a_path(&manifest), expected, "{manifest}");
        }
    }
}
