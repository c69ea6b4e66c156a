//! Reading and writing files: a failure names its file, and a write never leaves a half-written
//! one behind.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A file that could not be read or written; the one error every module gives for it.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("failed to read `{}`", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to write `{}`", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl FileError {
    /// Whether the file was not there to read.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Reads a whole file.
pub fn read(path: &Path) -> Result<Vec<u8>, FileError> {
    std::fs::read(path).map_err(|source| FileError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a whole file as UTF-8 text.
pub fn read_to_string(path: &Path) -> Result<String, FileError> {
    std::fs::read_to_string(path).map_err(|source| FileError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// How the temporary file of a write begins, beside the file it will replace.
pub(crate) const TEMP_PREFIX: &str = ".wasmctl-";

/// Who may read a file once written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// What the umask gives, as for a file any tool writes (modules, manifests, records).
    Umask,
    /// The owner alone (0600), from the moment the file exists: credentials.
    Private,
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it into place. The file
/// gets the mode the umask gives, like a file any tool writes.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    write_with(path, bytes, Access::Umask)
}

/// [`write_atomic`] for secrets: the file is readable by its owner alone, the temporary one too.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    write_with(path, bytes, Access::Private)
}

fn write_with(path: &Path, bytes: &[u8], access: Access) -> Result<(), FileError> {
    replace(path, bytes, access).map_err(|source| FileError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn replace(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    let path = &followed(path);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The mode is passed to open(2), so the umask applies to it as it does for any new file.
        let mode = match access {
            Access::Umask => 0o666,
            Access::Private => 0o600,
        };
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = access;
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Whether a file can be written at `path` later, checked before work whose result it will hold:
/// the nearest directory that exists on the way to it takes a new file. Nothing is left behind.
pub fn check_writable(path: &Path) -> Result<(), FileError> {
    let fail = |source| FileError::Write {
        path: path.to_path_buf(),
        source,
    };
    // Where the write will go: through a link, as `write_atomic` goes.
    let path = &followed(path);
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let existing = parent
        .unwrap_or(Path::new("."))
        .ancestors()
        .find(|dir| dir.exists())
        .unwrap_or(Path::new("."));
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(existing)
        .map(drop)
        .map_err(fail)
}

/// An exclusive lock on a directory, held until dropped, so that writers who read, change and
/// write back a file in it (an image layout's `index.json`, the docker config) take turns instead
/// of losing each other's changes.
#[derive(Debug)]
pub struct DirLock {
    _held: std::fs::File,
}

/// Waits for, then takes, the lock on `dir` (made if missing). The directory itself is locked, as
/// it is never replaced, where a file written by rename would be.
pub fn lock_dir(dir: &Path) -> Result<DirLock, FileError> {
    let fail = |source| FileError::Write {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let held = std::fs::File::open(dir).map_err(fail)?;
    held.lock().map_err(fail)?;
    Ok(DirLock { _held: held })
}

/// Where a write to `path` goes: through the links it is (a few deep), as docker and editors
/// follow them, so the link stays and its target gets the new bytes, even one not there yet.
fn followed(path: &Path) -> PathBuf {
    let mut path = path.to_path_buf();
    for _ in 0..8 {
        let Ok(to) = std::fs::read_link(&path) else {
            break;
        };
        path = match path.parent() {
            Some(dir) => dir.join(to),
            None => to,
        };
    }
    path
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn files_get_the_umask_mode_and_secrets_stay_private() {
        let dir = tempfile::tempdir().unwrap();
        let mode = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        write_atomic(&dir.path().join("module.wasm"), b"x").unwrap();
        std::fs::write(dir.path().join("plain"), b"x").unwrap();
        write_private(&dir.path().join("config.json"), b"secret").unwrap();
        assert_eq!(mode("module.wasm"), mode("plain"), "as std::fs::write does");
        assert_eq!(mode("config.json"), 0o600);
    }

    #[test]
    fn a_write_through_a_link_reaches_its_target_and_the_link_stays() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real").join("config.json");
        let link = dir.path().join("config.json");
        std::os::unix::fs::symlink("real/config.json", &link).unwrap();
        // The target is made where it is missing, then replaced.
        for text in [&b"one"[..], b"two"] {
            write_private(&link, text).unwrap();
            assert!(link.is_symlink());
            assert_eq!(std::fs::read(&target).unwrap(), text);
        }
    }

    #[test]
    fn a_directory_lock_is_held_by_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let locked = dir.path().join("layout");
        let held = lock_dir(&locked).unwrap();
        let other = std::fs::File::open(&locked).unwrap();
        assert!(other.try_lock().is_err(), "held elsewhere");
        drop(held);
        assert!(other.try_lock().is_ok(), "free once dropped");
    }

    #[test]
    fn a_path_is_writable_when_its_nearest_directory_takes_a_file() {
        let dir = tempfile::tempdir().unwrap();
        check_writable(&dir.path().join("new/deeper/report.xml")).unwrap();
        assert!(!dir.path().join("new").exists(), "nothing is made");
        std::fs::write(dir.path().join("file"), b"x").unwrap();
        let err = check_writable(&dir.path().join("file/report.xml")).unwrap_err();
        assert!(err.to_string().contains("file/report.xml"), "{err}");
        assert!(check_writable(Path::new("/proc/nope/report.xml")).is_err());
        // A link is judged by where it leads, as the write goes there.
        std::os::unix::fs::symlink("new/deeper/report.xml", dir.path().join("link")).unwrap();
        check_writable(&dir.path().join("link")).unwrap();
        std::fs::remove_file(dir.path().join("link")).unwrap();
        assert_eq!(names_in(dir.path()), ["file"]);
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_failure_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.txt");
        let err = read(&missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("failed to read `{}`", missing.display())
        );
        assert!(err.is_not_found());

        // A regular file where a directory should be: the write fails and names the target.
        write_atomic(&dir.path().join("file"), b"x").unwrap();
        let inside = dir.path().join("file").join("out.wasm");
        let err = write_atomic(&inside, b"x").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("failed to write `{}`", inside.display())
        );
        assert!(!err.is_not_found());
    }
}
