//! Writing a project all at once or not at all: it is staged beside the destination, then renamed
//! into place, and an existing directory is replaced only once the new one is complete.

use std::path::{Path, PathBuf};

use super::ScaffoldError;

/// Checks the destination before any prompt or write, so a bad one fails fast.
pub fn check_destination(dir: &Path, force: bool) -> Result<(), ScaffoldError> {
    // cargo and the project's records need a path that is text.
    if dir.to_str().is_none() {
        return Err(ScaffoldError::NotUtf8(dir.to_path_buf()));
    }
    match std::fs::symlink_metadata(dir) {
        Err(_) => Ok(()),
        Ok(meta) if !meta.is_dir() => Err(ScaffoldError::NotADirectory(dir.to_path_buf())),
        Ok(_) => {
            let empty = std::fs::read_dir(dir)
                .map(|mut entries| entries.next().is_none())
                .unwrap_or(false);
            match (empty, force) {
                (true, _) => Ok(()),
                (false, false) => Err(ScaffoldError::NotEmpty(dir.to_path_buf())),
                (false, true) => match irreplaceable(dir) {
                    Some(why) => Err(ScaffoldError::Irreplaceable {
                        dir: dir.to_path_buf(),
                        why,
                    }),
                    None => Ok(()),
                },
            }
        }
    }
}

/// Why `--force` must not replace `dir`, if it must not: it holds the current directory or the
/// home directory, or it is a git repository, whose history no new project replaces.
fn irreplaceable(dir: &Path) -> Option<&'static str> {
    let dir = std::fs::canonicalize(dir).ok()?;
    let holds = |other: Option<PathBuf>| {
        other
            .and_then(|p| std::fs::canonicalize(p).ok())
            .is_some_and(|p| p.starts_with(&dir))
    };
    if holds(std::env::current_dir().ok()) {
        Some("it holds the current directory")
    } else if holds(std::env::var_os("HOME").map(PathBuf::from)) {
        Some("it holds the home directory")
    } else if dir.join(".git").exists() {
        Some("it is a git repository")
    } else {
        None
    }
}

/// The names of the entries in `dir`, sorted; empty when it does not exist.
pub(super) fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub(super) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Moves the staged project to `dest`, replacing an existing directory only once the new one is
/// complete.
pub(super) fn replace_dir(staging: tempfile::TempDir, dest: &Path) -> Result<(), ScaffoldError> {
    let err = |source| ScaffoldError::Write {
        path: dest.to_path_buf(),
        source,
    };
    let parent = dest.parent().unwrap_or(Path::new("/"));
    let old = if dest.exists() {
        let holder = tempfile::Builder::new()
            .prefix(".wasmctl-old-")
            .tempdir_in(parent)
            .map_err(err)?;
        let old = holder.path().join("old");
        std::fs::rename(dest, &old).map_err(err)?;
        Some((holder, old))
    } else {
        None
    };
    let staged = staging.keep();
    if let Err(source) = std::fs::rename(&staged, dest) {
        let _ = std::fs::remove_dir_all(&staged);
        if let Some((_, old)) = &old {
            let _ = std::fs::rename(old, dest);
        }
        return Err(err(source));
    }
    // `holder` removes the previous contents when dropped.
    drop(old);
    Ok(())
}
