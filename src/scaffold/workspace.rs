//! A new project inside a cargo workspace. cargo takes the first `[workspace]` above a package as
//! its workspace: a package the workspace does not list does not build ("believes it's in a
//! workspace when it's not"), and a member's `[profile.release]` is ignored for the root's.

use std::path::{Path, PathBuf};

/// The workspace above a new project, if any, and whether it lists the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Enclosing {
    None,
    /// The workspace at `root` lists the project among its members.
    Member {
        root: PathBuf,
    },
    /// The workspace at `root` does not list it: the project becomes a workspace of its own.
    Outside {
        root: PathBuf,
    },
}

/// The workspace `dest` (an absolute path) would be in, as cargo finds it: the first Cargo.toml
/// with a `[workspace]` table above it; a member when a `members` pattern matches its path and no
/// `exclude` entry holds it.
pub(super) fn enclosing(dest: &Path) -> Enclosing {
    for dir in dest.ancestors().skip(1) {
        let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let Ok(manifest) = text.parse::<toml_edit::DocumentMut>() else {
            continue;
        };
        let Some(workspace) = manifest.get("workspace").and_then(|w| w.as_table_like()) else {
            continue;
        };
        let Ok(relative) = dest.strip_prefix(dir) else {
            return Enclosing::None;
        };
        let list = |key: &str| -> Vec<String> {
            let strings = workspace.get(key).and_then(|v| v.as_array());
            (strings.into_iter().flatten())
                .filter_map(|v| v.as_str().map(|s| s.trim_end_matches('/').to_string()))
                .collect()
        };
        // cargo expands the patterns over directories: a `*` stays within one.
        let options = glob::MatchOptions {
            require_literal_separator: true,
            ..glob::MatchOptions::new()
        };
        let listed = list("members").iter().any(|pattern| {
            glob::Pattern::new(pattern).is_ok_and(|p| p.matches_path_with(relative, options))
                || Path::new(pattern) == relative
        });
        let excluded = list("exclude")
            .iter()
            .any(|path| relative.starts_with(path));
        let root = dir.to_path_buf();
        return match listed && !excluded {
            true => Enclosing::Member { root },
            false => Enclosing::Outside { root },
        };
    }
    Enclosing::None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_workspace_and_whether_it_lists_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("Cargo.toml"),
            "[workspace]\nmembers = [\"plugins/*\", \"tools/cli\"]\nexclude = [\"plugins/old\"]\n",
        )
        .unwrap();
        let member = Enclosing::Member {
            root: root.to_path_buf(),
        };
        let outside = Enclosing::Outside {
            root: root.to_path_buf(),
        };
        assert_eq!(enclosing(&root.join("plugins/demo")), member);
        assert_eq!(enclosing(&root.join("tools/cli")), member);
        assert_eq!(enclosing(&root.join("plugins/old")), outside);
        assert_eq!(enclosing(&root.join("demo")), outside);
        assert_eq!(enclosing(&root.join("plugins/a/b")), outside);
        // A package's own Cargo.toml on the way up is passed over.
        std::fs::create_dir_all(root.join("crates/lib")).unwrap();
        std::fs::write(
            root.join("crates/lib/Cargo.toml"),
            "[package]\nname = \"lib\"\n",
        )
        .unwrap();
        assert_eq!(enclosing(&root.join("crates/lib/demo")), outside);
        let none = tempfile::tempdir().unwrap();
        assert_eq!(enclosing(&none.path().join("demo")), Enclosing::None);
    }
}
