//! Compiled modules in wasmctl's cache ([`crate::cache`]): wasmtime's serialized modules, so a
//! module compiles once per machine rather than once per `run`.
//!
//! An entry's name is a sha256 over the module's bytes and the engine's compatibility hash, which
//! covers the wasmtime version, the engine configuration, the target and the host CPU features
//! cranelift compiles for. An entry that fails its checksum or that wasmtime refuses is recompiled
//! and replaced, never trusted.

use std::hash::{Hash, Hasher};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

use crate::cache::{self, Kind, Lookup};

/// Compiled modules: what `Module::serialize` wrote.
pub(crate) const COMPILED: Kind = Kind {
    magic: b"wasmctl-cwasm-1\n",
    extension: "cwasm",
};

/// The module for `bytes`: from the cache when a sound entry is there, compiled (and cached)
/// otherwise. Cache trouble never fails a load; it only costs a compile.
pub(super) fn module(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Module> {
    let Some(dir) = cache::dir() else {
        tracing::debug!("module cache off: compiling");
        return Module::new(engine, bytes);
    };
    let path = cache::path(&dir, &COMPILED, &key(engine, bytes));
    match cache::read(&COMPILED, &path) {
        Lookup::Hit(payload) => match deserialize(engine, &payload) {
            Ok(module) => {
                tracing::debug!("module cache hit: {}", path.display());
                return Ok(module);
            }
            Err(err) => {
                tracing::debug!("module cache: {} is stale ({err:#})", path.display());
                cache::remove(&path);
            }
        },
        Lookup::Corrupt => {
            tracing::debug!("module cache: {} is corrupt, recompiling", path.display());
        }
        Lookup::Miss => {}
    }
    let module = Module::new(engine, bytes)?;
    tracing::debug!("module compiled, caching {}", path.display());
    match module.serialize() {
        Ok(payload) => cache::write(&COMPILED, &path, &payload),
        Err(err) => tracing::debug!("module cache: cannot serialize: {err:#}"),
    }
    Ok(module)
}

/// The entry's name: sha256 over the module and everything that decides the compiled code.
fn key(engine: &Engine, bytes: &[u8]) -> String {
    // Triple, cranelift flags, ISA (CPU feature) flags, tunables, wasm features and the wasmtime
    // version: what decides whether serialized code runs in this engine.
    let mut compatibility = ShaHasher(Sha256::new());
    engine
        .precompile_compatibility_hash()
        .hash(&mut compatibility);
    let compatibility = compatibility.0.finalize();
    cache::key([Sha256::digest(bytes).as_slice(), compatibility.as_slice()])
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

/// The one unsafe call in the crate.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, payload: &[u8]) -> wasmtime::Result<Module> {
    // SAFETY: `Module::deserialize` must only see bytes that `Module::serialize` produced. The
    // payload comes from an entry this cache wrote (`cache::write`) under a name derived from the
    // engine's compatibility hash, and `cache::read` has checked that it is byte for byte what
    // was written (its sha256 matches the one stored before it), so truncation or corruption on
    // disk never reaches wasmtime. wasmtime itself then rejects, safely, an entry made by another
    // version or configuration. The directory is the user's own, as trusted as the binary.
    unsafe { Module::deserialize(engine, payload) }
}
