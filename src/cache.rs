//! wasmctl's on-disk cache: work that is costly and always gives the same bytes for the same
//! input, kept once per machine. Two kinds of entry share it: wasmtime's compiled modules
//! (`host::cache`) and wasm-opt's shrunk modules ([`crate::build`]).
//!
//! An entry's name is a sha256 over everything that decides its content, so an entry is never
//! updated, only written or removed. Its content is the kind's magic line, the sha256 of the
//! payload, then the payload. Entries are written atomically; the directory is capped in size and
//! the least recently used entries go first, of either kind. An entry that fails its checksum is
//! removed, never trusted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

/// `WASMCTL_CACHE_DIR` overrides where entries live; the user cache dir otherwise.
pub const CACHE_DIR_ENV: &str = "WASMCTL_CACHE_DIR";

/// The most the cache keeps on disk; past it the least recently used entries are removed.
const MAX_BYTES: u64 = 512 << 20;

const CHECKSUM_LEN: usize = 32;

static DISABLED: AtomicBool = AtomicBool::new(false);

/// Turns the cache off for this process (`--no-cache`): nothing is read, nothing is written.
pub fn disable() {
    DISABLED.store(true, Ordering::Relaxed);
}

/// One kind of entry: the first bytes of each (a new layout gets a new magic) and its file
/// extension.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kind {
    pub magic: &'static [u8],
    pub extension: &'static str,
}

/// Every kind the directory holds, so that eviction weighs them all.
const KINDS: [&Kind; 2] = [&crate::host::cache::COMPILED, &crate::build::SHRUNK];

/// What a lookup found.
pub(crate) enum Lookup {
    /// A whole entry; its payload.
    Hit(Vec<u8>),
    /// No entry by that name.
    Miss,
    /// An entry that failed its checksum; it has been removed.
    Corrupt,
}

/// The cache directory, unless the cache is off or no directory can be had.
pub(crate) fn dir() -> Option<PathBuf> {
    if DISABLED.load(Ordering::Relaxed) {
        return None;
    }
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "wasmctl").map(|d| d.cache_dir().join("modules"))
}

/// The sha256 hex that names an entry, over the parts that decide its content.
pub(crate) fn key<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(concat!("wasmctl ", env!("CARGO_PKG_VERSION")).as_bytes());
    for part in parts {
        // Each part's length first, so that no two lists of parts hash alike.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// Where the entry `key` of `kind` lives in `dir`.
pub(crate) fn path(dir: &Path, kind: &Kind, key: &str) -> PathBuf {
    dir.join(format!("{key}.{}", kind.extension))
}

/// The payload of the entry at `path`, when it is whole. Reading an entry makes it the most
/// recently used.
pub(crate) fn read(kind: &Kind, path: &Path) -> Lookup {
    let Ok(entry) = std::fs::read(path) else {
        return Lookup::Miss;
    };
    let Some(payload) = verified_payload(kind, &entry) else {
        let _ = std::fs::remove_file(path);
        return Lookup::Corrupt;
    };
    // Touching the entry makes eviction least-recently-used rather than oldest-written.
    let _ = std::fs::File::options()
        .append(true)
        .open(path)
        .and_then(|f| f.set_modified(SystemTime::now()));
    Lookup::Hit(payload.to_vec())
}

/// Removes an entry its user found unfit (a compiled module wasmtime refuses, say).
pub(crate) fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// The payload of an entry whose magic and checksum hold.
fn verified_payload<'a>(kind: &Kind, entry: &'a [u8]) -> Option<&'a [u8]> {
    let rest = entry.strip_prefix(kind.magic)?;
    if rest.len() < CHECKSUM_LEN {
        return None;
    }
    let (checksum, payload) = rest.split_at(CHECKSUM_LEN);
    (Sha256::digest(payload).as_slice() == checksum).then_some(payload)
}

/// Writes an entry atomically, then trims the cache to its cap. Cache trouble never fails the
/// work it would have saved; it is only logged.
pub(crate) fn write(kind: &Kind, path: &Path, payload: &[u8]) {
    let mut entry = Vec::with_capacity(kind.magic.len() + CHECKSUM_LEN + payload.len());
    entry.extend_from_slice(kind.magic);
    entry.extend_from_slice(&Sha256::digest(payload));
    entry.extend_from_slice(payload);
    if let Err(err) = crate::fs::write_atomic(path, &entry) {
        tracing::debug!("cache: cannot write {}: {err}", path.display());
        return;
    }
    if let Some(dir) = path.parent() {
        evict(dir, MAX_BYTES);
    }
}

/// Removes the least recently used entries until the directory holds at most `max` bytes.
fn evict(dir: &Path, max: u64) {
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    let ours = |path: &Path| {
        path.extension()
            .is_some_and(|x| KINDS.iter().any(|k| x == k.extension))
    };
    let mut entries: Vec<(SystemTime, u64, PathBuf)> = read
        .filter_map(|e| e.ok())
        .filter(|e| ours(&e.path()))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((meta.modified().ok()?, meta.len(), e.path()))
        })
        .collect();
    let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
    entries.sort();
    for (_, len, path) in entries {
        if total <= max {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: Kind = Kind {
        magic: b"wasmctl-test-1\n",
        extension: "cwasm",
    };

    #[test]
    fn a_damaged_entry_has_no_payload() {
        let payload = b"compiled code";
        let mut entry = TEST.magic.to_vec();
        entry.extend_from_slice(&Sha256::digest(payload));
        entry.extend_from_slice(payload);
        assert_eq!(verified_payload(&TEST, &entry), Some(&payload[..]));
        assert_eq!(verified_payload(&TEST, &entry[..entry.len() - 1]), None);
        assert_eq!(
            verified_payload(&TEST, &entry[..TEST.magic.len() + 4]),
            None
        );
        let mut flipped = entry.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(verified_payload(&TEST, &flipped), None);
        assert_eq!(verified_payload(&TEST, b"not an entry"), None);
        let other = Kind {
            magic: b"wasmctl-other-1\n",
            ..TEST
        };
        assert_eq!(
            verified_payload(&other, &entry),
            None,
            "another kind's magic"
        );
    }

    #[test]
    fn a_written_entry_reads_back_and_a_truncated_one_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = path(dir.path(), &TEST, &key([&b"module"[..]]));
        assert!(matches!(read(&TEST, &path), Lookup::Miss));
        write(&TEST, &path, b"payload");
        assert!(matches!(read(&TEST, &path), Lookup::Hit(p) if p == b"payload"));
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 2]).unwrap();
        assert!(matches!(read(&TEST, &path), Lookup::Corrupt));
        assert!(!path.exists());
    }

    #[test]
    fn keys_tell_apart_the_same_bytes_split_differently() {
        assert_ne!(key([&b"ab"[..], b"c"]), key([&b"a"[..], b"bc"]));
        assert_eq!(key([&b"ab"[..], b"c"]), key([&b"ab"[..], b"c"]));
    }

    #[test]
    fn eviction_removes_the_least_recently_used_first_of_any_kind() {
        let dir = tempfile::tempdir().unwrap();
        let base = SystemTime::now() - std::time::Duration::from_secs(100);
        for (i, name) in ["old.cwasm", "mid.wasm", "new.cwasm"].iter().enumerate() {
            let path = dir.path().join(name);
            std::fs::write(&path, [0u8; 10]).unwrap();
            let file = std::fs::File::options().append(true).open(&path).unwrap();
            file.set_modified(base + std::time::Duration::from_secs(i as u64 * 10))
                .unwrap();
        }
        std::fs::write(dir.path().join("other.txt"), [0u8; 100]).unwrap();
        evict(dir.path(), 10);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["new.cwasm", "other.txt"]);
    }
}
