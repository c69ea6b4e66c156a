//! The compiled-module cache: wasmtime's serialized modules on disk, so a module compiles once per
//! machine rather than once per `run`.
//!
//! An entry's name is a sha256 over the module's bytes and the engine's compatibility hash, which
//! covers the wasmtime version, the engine configuration, the target and the host CPU features
//! cranelift compiles for. Its content is a magic line, the sha256 of the payload, then the payload
//! that `Module::serialize` wrote. Entries are written atomically; the directory is capped in size
//! and the least recently used entries go first. An entry that fails its checksum or that wasmtime
//! refuses is recompiled and replaced, never trusted.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

/// `WASMCTL_CACHE_DIR` overrides where entries live; the user cache dir otherwise.
pub const CACHE_DIR_ENV: &str = "WASMCTL_CACHE_DIR";

/// The most the cache keeps on disk; past it the least recently used entries are removed.
const MAX_BYTES: u64 = 512 << 20;

/// The first bytes of every entry; a new layout gets a new magic.
const MAGIC: &[u8] = b"wasmctl-cwasm-1\n";
const CHECKSUM_LEN: usize = 32;

static DISABLED: AtomicBool = AtomicBool::new(false);

/// Turns the cache off for this process (`--no-cache`): every module compiles, nothing is written.
pub fn disable() {
    DISABLED.store(true, Ordering::Relaxed);
}

/// The module for `bytes`: from the cache when a sound entry is there, compiled (and cached)
/// otherwise. Cache trouble never fails a load; it only costs a compile.
pub(super) fn module(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Module> {
    let Some(dir) = cache_dir() else {
        tracing::debug!("module cache off: compiling");
        return Module::new(engine, bytes);
    };
    let path = dir.join(format!("{}.cwasm", key(engine, bytes)));
    if let Some(module) = cached(engine, &path) {
        tracing::debug!("module cache hit: {}", path.display());
        return Ok(module);
    }
    let module = Module::new(engine, bytes)?;
    tracing::debug!("module compiled, caching {}", path.display());
    match module.serialize() {
        Ok(payload) => store(&dir, &path, &payload),
        Err(err) => tracing::debug!("module cache: cannot serialize: {err:#}"),
    }
    Ok(module)
}

/// The cache directory, unless the cache is off or no directory can be had.
fn cache_dir() -> Option<PathBuf> {
    if DISABLED.load(Ordering::Relaxed) {
        return None;
    }
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "wasmctl").map(|d| d.cache_dir().join("modules"))
}

/// The entry's name: sha256 over the module and everything that decides the compiled code.
fn key(engine: &Engine, bytes: &[u8]) -> String {
    let mut hasher = ShaHasher(Sha256::new());
    hasher.0.update(Sha256::digest(bytes));
    hasher
        .0
        .update(concat!("wasmctl ", env!("CARGO_PKG_VERSION")).as_bytes());
    // Triple, cranelift flags, ISA (CPU feature) flags, tunables, wasm features and the wasmtime
    // version: what decides whether serialized code runs in this engine.
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(hasher.0.finalize())
}

/// Feeds `Hash` output into sha256, so the key is stable across processes and Rust versions.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        0
    }
}

/// The cached module at `path`, when its entry is whole and wasmtime takes it. A bad entry is
/// removed so that the compile after it replaces it.
fn cached(engine: &Engine, path: &Path) -> Option<Module> {
    let entry = std::fs::read(path).ok()?;
    let Some(payload) = verified_payload(&entry) else {
        tracing::debug!("module cache: {} is corrupt, recompiling", path.display());
        let _ = std::fs::remove_file(path);
        return None;
    };
    match deserialize(engine, payload) {
        Ok(module) => {
            // Touching the entry makes eviction least-recently-used rather than oldest-written.
            let _ = std::fs::File::options()
                .append(true)
                .open(path)
                .and_then(|f| f.set_modified(SystemTime::now()));
            Some(module)
        }
        Err(err) => {
            tracing::debug!("module cache: {} is stale ({err:#})", path.display());
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

/// The payload of an entry whose magic and checksum hold.
fn verified_payload(entry: &[u8]) -> Option<&[u8]> {
    let rest = entry.strip_prefix(MAGIC)?;
    if rest.len() < CHECKSUM_LEN {
        return None;
    }
    let (checksum, payload) = rest.split_at(CHECKSUM_LEN);
    (Sha256::digest(payload).as_slice() == checksum).then_some(payload)
}

/// The one unsafe call in the crate.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, payload: &[u8]) -> wasmtime::Result<Module> {
    // SAFETY: `Module::deserialize` must only see bytes that `Module::serialize` produced. The
    // payload comes from an entry this cache wrote (`store`) under a name derived from the
    // engine's compatibility hash, and `verified_payload` has checked that it is byte for byte
    // what was written (its sha256 matches the one stored before it), so truncation or corruption
    // on disk never reaches wasmtime. wasmtime itself then rejects, safely, an entry made by
    // another version or configuration. The directory is the user's own, as trusted as the binary.
    unsafe { Module::deserialize(engine, payload) }
}

/// Writes an entry atomically, then trims the cache to its cap.
fn store(dir: &Path, path: &Path, payload: &[u8]) {
    let mut entry = Vec::with_capacity(MAGIC.len() + CHECKSUM_LEN + payload.len());
    entry.extend_from_slice(MAGIC);
    entry.extend_from_slice(&Sha256::digest(payload));
    entry.extend_from_slice(payload);
    if let Err(err) = crate::fs::write_atomic(path, &entry) {
        tracing::debug!("module cache: cannot write {}: {err}", path.display());
        return;
    }
    evict(dir, MAX_BYTES);
}

/// Removes the least recently used entries until the directory holds at most `max` bytes.
fn evict(dir: &Path, max: u64) {
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<(SystemTime, u64, PathBuf)> = read
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
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

    #[test]
    fn a_damaged_entry_has_no_payload() {
        let payload = b"compiled code";
        let mut entry = MAGIC.to_vec();
        entry.extend_from_slice(&Sha256::digest(payload));
        entry.extend_from_slice(payload);
        assert_eq!(verified_payload(&entry), Some(&payload[..]));
        assert_eq!(verified_payload(&entry[..entry.len() - 1]), None);
        assert_eq!(verified_payload(&entry[..MAGIC.len() + 4]), None);
        let mut flipped = entry.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(verified_payload(&flipped), None);
        assert_eq!(verified_payload(b"not an entry"), None);
    }

    #[test]
    fn eviction_removes_the_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let base = SystemTime::now() - std::time::Duration::from_secs(100);
        for (i, name) in ["old", "mid", "new"].iter().enumerate() {
            let path = dir.path().join(format!("{name}.cwasm"));
            std::fs::write(&path, [0u8; 10]).unwrap();
            let file = std::fs::File::options().append(true).open(&path).unwrap();
            file.set_modified(base + std::time::Duration::from_secs(i as u64 * 10))
                .unwrap();
        }
        std::fs::write(dir.path().join("other.txt"), [0u8; 100]).unwrap();
        evict(dir.path(), 20);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["mid.cwasm", "new.cwasm", "other.txt"]);
    }
}
