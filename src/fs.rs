//! Writing files so that a failure never leaves a half-written one behind.

use std::io::Write;
use std::path::Path;

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
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with(path, bytes, Access::Umask)
}

/// [`write_atomic`] for secrets: the file is readable by its owner alone, the temporary one too.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with(path, bytes, Access::Private)
}

fn write_with(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".wasmctl-").suffix(".tmp");
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
}
