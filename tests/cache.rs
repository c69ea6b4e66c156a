//! The compiled-module cache, through the real binary: the second `run` of a module takes it from
//! the cache, a damaged entry is recompiled and replaced, `--no-cache` leaves the cache alone.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{run_ok, wasmctl};

const COMPILED: &str = "module compiled, caching";
const HIT: &str = "module cache hit";

/// `wasmctl run` of the call-out plugin with `cache` as the cache dir and the debug log on.
fn run(dir: &Path, cache: &Path, extra: &[&str]) -> Command {
    let mut cmd = wasmctl(dir);
    cmd.args(["run", "callout.wasm", "--config", "/dev/null"])
        .args(["--call-response", "200:ok"])
        .args(extra)
        .env("WASMCTL_CACHE_DIR", cache)
        .env("WASMCTL_LOG", "wasmctl=debug");
    cmd
}

fn entries(cache: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(cache) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn the_second_run_takes_the_module_from_the_cache() {
    let dir = support::with_callout_module();
    let cache = dir.path().join("cache");
    let first = run_ok(&mut run(dir.path(), &cache, &[]));
    assert!(first.stderr.contains(COMPILED), "{}", first.stderr);
    let cached = entries(&cache);
    assert_eq!(cached.len(), 1, "one entry: {cached:?}");
    assert!(std::fs::metadata(&cached[0]).unwrap().len() > 1000);

    let second = run_ok(&mut run(dir.path(), &cache, &[]));
    assert!(second.stderr.contains(HIT), "{}", second.stderr);
    assert!(!second.stderr.contains(COMPILED), "{}", second.stderr);
    // The cached module behaves as the compiled one did.
    assert!(
        second.stdout.contains("http_call to `authz`"),
        "{}",
        second.stdout
    );
    // Each run has its own request id and date.
    let per_run = |out: &str| -> String {
        out.lines()
            .filter(|l| !l.contains("x-request-id") && !l.trim_start().starts_with("date: "))
            .collect()
    };
    assert_eq!(per_run(&first.stdout), per_run(&second.stdout));
}

#[test]
fn a_truncated_entry_is_recompiled_and_replaced() {
    let dir = support::with_callout_module();
    let cache = dir.path().join("cache");
    run_ok(&mut run(dir.path(), &cache, &[]));
    let entry = entries(&cache).remove(0);
    let whole = std::fs::read(&entry).unwrap();
    std::fs::write(&entry, &whole[..whole.len() / 2]).unwrap();

    let r = run_ok(&mut run(dir.path(), &cache, &[]));
    assert!(r.stderr.contains("is corrupt, recompiling"), "{}", r.stderr);
    assert!(r.stderr.contains(COMPILED), "{}", r.stderr);
    assert_eq!(
        std::fs::read(&entry).unwrap(),
        whole,
        "the entry is whole again"
    );

    let r = run_ok(&mut run(dir.path(), &cache, &[]));
    assert!(r.stderr.contains(HIT), "{}", r.stderr);
}

#[test]
fn an_entry_wasmtime_refuses_is_recompiled() {
    use sha2::{Digest, Sha256};
    let dir = support::with_callout_module();
    let cache = dir.path().join("cache");
    run_ok(&mut run(dir.path(), &cache, &[]));
    let entry = entries(&cache).remove(0);
    // Whole by its checksum, but not a module wasmtime wrote: as from another wasmtime version.
    let payload = b"\x7fELF not a wasmtime module".to_vec();
    let mut forged = b"wasmctl-cwasm-1\n".to_vec();
    forged.extend_from_slice(&Sha256::digest(&payload));
    forged.extend_from_slice(&payload);
    std::fs::write(&entry, forged).unwrap();

    let r = run_ok(&mut run(dir.path(), &cache, &[]));
    assert!(r.stderr.contains("is stale"), "{}", r.stderr);
    assert!(r.stderr.contains(COMPILED), "{}", r.stderr);
    assert!(r.stdout.contains("http_call to `authz`"), "{}", r.stdout);
}

#[test]
fn no_cache_compiles_and_writes_nothing() {
    let dir = support::with_callout_module();
    let cache = dir.path().join("cache");
    for _ in 0..2 {
        let r = run_ok(&mut run(dir.path(), &cache, &["--no-cache"]));
        assert!(r.stderr.contains("module cache off"), "{}", r.stderr);
        assert!(!r.stderr.contains(HIT), "{}", r.stderr);
    }
    assert!(entries(&cache).is_empty());
    let r = run_ok(run(dir.path(), &cache, &[]).env("WASMCTL_NO_CACHE", "1"));
    assert!(r.stderr.contains("module cache off"), "{}", r.stderr);
    assert!(entries(&cache).is_empty());
}
