//! The manifest annotations of a pushed image: the standard `org.opencontainers.image.*` ones from
//! what is known about the project, then the user's own `--annotation`s over them.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::key_value::KeyValue;
use crate::project::Project;

/// The annotations for the image of the module at `module_path`.
pub fn for_image(
    project: Option<&Project>,
    module_path: &Path,
    user: &[KeyValue],
) -> BTreeMap<String, String> {
    let mut out = standard(project, module_path);
    for KeyValue { key, value } in user {
        out.insert(key.trim().to_string(), value.clone());
    }
    out
}

/// org.opencontainers.image.* annotations: the title (the package, else the module's file name),
/// and for a project its version, source repository and git revision.
fn standard(project: Option<&Project>, module_path: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let key = |k: &str| format!("org.opencontainers.image.{k}");
    let title = project.map(|p| p.name.clone()).or_else(|| {
        module_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
    });
    if let Some(title) = title {
        out.insert(key("title"), title);
    }
    if let Some(project) = project {
        out.insert(key("version"), project.version.clone());
        if let Some(source) = &project.repository_url {
            out.insert(key("source"), source.clone());
        }
        if let Some(revision) = git_revision(&project.root) {
            out.insert(key("revision"), revision);
        }
    }
    out
}

/// The commit the project is at, when it is a git checkout.
fn git_revision(dir: &Path) -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .current_dir(dir)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && text.len() == 40).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_annotations_win_and_keys_are_trimmed() {
        let user: Vec<KeyValue> = [" team=edge", "org.opencontainers.image.title=mine"]
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        let out = for_image(None, Path::new("out/demo.wasm"), &user);
        assert_eq!(out["team"], "edge");
        assert_eq!(out["org.opencontainers.image.title"], "mine");
        let out = for_image(None, Path::new("out/demo.wasm"), &[]);
        assert_eq!(out["org.opencontainers.image.title"], "demo");
    }
}
