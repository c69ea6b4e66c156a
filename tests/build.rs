//! `wasmctl build`: real cargo builds to wasm, module checks, shrinking, and the errors users meet.

mod support;

use std::path::Path;

use support::{
    entries, exports, new_project, plugin_target_dir, run_err, run_ok, tempdir, wasmctl,
};

fn artifact(name: &str) -> std::path::PathBuf {
    plugin_target_dir()
        .join("wasmctl")
        .join(format!("{name}.wasm"))
}

#[test]
fn builds_a_small_valid_module_and_reports_it() {
    let dir = tempdir();
    let root = new_project(dir.path(), "build-json", &[]);
    let r = run_ok(wasmctl(&root).args(["build", "--json"]));
    let out: serde_json::Value = serde_json::from_str(&r.stdout).expect("stdout is JSON only");
    let path = Path::new(out["path"].as_str().unwrap());
    assert_eq!(path, artifact("build-json"));
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(out["size"].as_u64(), Some(bytes.len() as u64));
    assert_eq!(out["abi"], "0.2.1");
    assert_eq!(out["target"], "wasm32-wasip1");
    use sha2::Digest;
    assert_eq!(
        out["sha256"].as_str().unwrap(),
        hex::encode(sha2::Sha256::digest(&bytes))
    );
    let names = exports(&bytes);
    for want in [
        "memory",
        "proxy_abi_version_0_2_1",
        "proxy_on_memory_allocate",
        "proxy_on_context_create",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "missing export {want}: {names:?}"
        );
    }
    // Custom sections that nothing reads at run time are gone.
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        if let Ok(wasmparser::Payload::CustomSection(c)) = payload {
            assert!(
                !matches!(c.name(), "name" | "producers") && !c.name().starts_with(".debug"),
                "kept {}",
                c.name()
            );
        }
    }
    // One summary line on stderr with sizes and the digest.
    let summary = r
        .stderr
        .lines()
        .find(|l| l.contains("Built"))
        .expect("summary line");
    assert!(
        summary.contains(out["sha256"].as_str().unwrap()),
        "{summary}"
    );
    assert!(summary.contains("bytes"), "{summary}");

    // Plain output: the path alone.
    let r = run_ok(wasmctl(&root).arg("build"));
    assert_eq!(r.stdout, format!("{}\n", path.display()));
}

#[test]
fn builds_for_wasm32_unknown_unknown_which_exports_malloc() {
    let dir = tempdir();
    let root = new_project(dir.path(), "build-unknown", &[]);
    let r = run_ok(wasmctl(&root).args([
        "build",
        "--target",
        "wasm32-unknown-unknown",
        "--no-opt",
        "--json",
    ]));
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["target"], "wasm32-unknown-unknown");
    let names = exports(&std::fs::read(out["path"].as_str().unwrap()).unwrap());
    assert!(names.iter().any(|n| n == "malloc"), "{names:?}");
}

#[test]
fn manifest_path_builds_from_elsewhere() {
    let dir = tempdir();
    let root = new_project(dir.path(), "build-elsewhere", &[]);
    let r = run_ok(
        wasmctl(dir.path())
            .args(["build", "--manifest-path"])
            .arg(root.join("Cargo.toml")),
    );
    assert_eq!(
        r.stdout.trim(),
        artifact("build-elsewhere").display().to_string()
    );
    // The directory holding the Cargo.toml names it too.
    let r = run_ok(
        wasmctl(dir.path())
            .args(["build", "--manifest-path"])
            .arg(&root),
    );
    assert_eq!(
        r.stdout.trim(),
        artifact("build-elsewhere").display().to_string()
    );
}

#[test]
fn a_directory_that_is_not_a_cargo_project_is_refused() {
    let dir = tempdir();
    let r = run_err(wasmctl(dir.path()).arg("build"));
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr.starts_with("error: could not find Cargo.toml in"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("hint: create a project with `wasmctl new NAME`"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_missing_target_names_the_rustup_command() {
    let dir = tempdir();
    let root = new_project(dir.path(), "build-notarget", &[]);
    // wasm32v1-none is a real wasm target that no toolchain here has installed.
    let r = run_err(wasmctl(&root).args(["build", "--target", "wasm32v1-none"]));
    assert_eq!(
        r.stderr.lines().next(),
        Some("error: the Rust target wasm32v1-none is not installed"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("hint: rustup target add wasm32v1-none"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_compile_error_passes_cargos_exit_code_through_and_writes_nothing() {
    let dir = tempdir();
    let root = new_project(dir.path(), "build-broken", &[]);
    std::fs::write(root.join("src/lib.rs"), "fn broken( {}\n").unwrap();
    let r = run_err(wasmctl(&root).arg("build"));
    assert_eq!(r.code, Some(101), "cargo's own exit code: {}", r.stderr);
    assert!(
        r.stderr.contains("error"),
        "cargo's diagnostics reach the user: {}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("error: cargo build exited"),
        "reported twice: {}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
    assert!(!artifact("build-broken").exists());
}

#[test]
fn a_cdylib_that_is_not_a_proxy_wasm_plugin_is_refused() {
    let dir = tempdir();
    let root = dir.path().join("plain-cdylib");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"plain-cdylib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[lib]\ncrate-type = [\"cdylib\"]\n",
    )
    .unwrap();
    std::fs::write(
        root.join("src/lib.rs"),
        "#[no_mangle]\npub extern \"C\" fn add(a: i32, b: i32) -> i32 { a + b }\n",
    )
    .unwrap();
    let r = run_err(wasmctl(&root).arg("build"));
    assert_eq!(r.code, Some(2));
    let first = r
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert!(first.contains("is not a proxy-wasm plugin"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("caused by: not a proxy-wasm module: it does not export"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: "), "{}", r.stderr);
    assert!(!artifact("plain-cdylib").exists());
}

#[test]
fn a_failing_build_keeps_the_previous_artifact_untouched() {
    let dir = tempdir();
    let root = new_project(dir.path(), "build-keep", &[]);
    let first = run_ok(wasmctl(&root).arg("build"));
    let path = first.stdout.trim().to_string();
    let before = std::fs::read(&path).unwrap();
    std::fs::write(root.join("src/lib.rs"), "this is not rust\n").unwrap();
    run_err(wasmctl(&root).arg("build"));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let leftovers: Vec<String> = entries(&plugin_target_dir().join("wasmctl"))
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_workspace_needs_a_package_and_builds_the_one_named() {
    let dir = tempdir();
    let ws = dir.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    std::fs::write(
        ws.join("Cargo.toml"),
        "[workspace]\nresolver = \"2\"\nmembers = [\"ws-one\", \"ws-two\"]\n",
    )
    .unwrap();
    new_project(&ws, "ws-one", &[]);
    new_project(&ws, "ws-two", &["--template", "network"]);

    let r = run_err(wasmctl(&ws).arg("build"));
    assert!(
        r.stderr.contains("is a workspace with several packages"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("hint: pick one with -p/--package: ws-one, ws-two"),
        "{}",
        r.stderr
    );

    let r = run_ok(wasmctl(&ws).args(["build", "-p", "ws-two"]));
    assert_eq!(r.stdout.trim(), artifact("ws-two").display().to_string());
    assert!(
        exports(&std::fs::read(artifact("ws-two")).unwrap())
            .iter()
            .any(|n| n == "proxy_on_downstream_data")
    );

    // A package id spec as cargo takes it: with a version, or as a url.
    let spec = format!("path+file://{}#0.1.0", ws.join("ws-two").display());
    for spec in ["ws-two@0.1.0", spec.as_str()] {
        let r = run_ok(wasmctl(&ws).args(["build", "-p", spec]));
        assert_eq!(r.stdout.trim(), artifact("ws-two").display().to_string());
    }
    let r = run_err(wasmctl(&ws).args(["build", "-p", "ws-two@9"]));
    assert!(
        r.stderr
            .starts_with("error: package `ws-two@9` is not a member of the workspace"),
        "{}",
        r.stderr
    );

    let r = run_err(wasmctl(&ws).args(["build", "-p", "nope"]));
    assert!(
        r.stderr
            .starts_with("error: package `nope` is not a member of the workspace"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_proxy_wasm_link_failure_of_rust_1_96_is_explained_and_both_ways_out_work() {
    let dir = tempdir();
    let root = new_project(dir.path(), "build-old-sdk", &[]);
    // proxy-wasm before 0.2.5 declares its host imports in a way Rust 1.96's linker refuses.
    run_ok(support::cargo(&root).args(["update", "-p", "proxy-wasm", "--precise", "0.2.4"]));
    // The plugin target dir outlives a test run: an earlier run's module must not count.
    let _ = std::fs::remove_file(artifact("build-old-sdk"));
    let r = run_err(wasmctl(&root).arg("build"));
    assert_eq!(r.code, Some(101), "cargo's own exit code: {}", r.stderr);
    assert!(
        r.stderr.contains("undefined symbol: proxy_"),
        "cargo's output passes through: {}",
        r.stderr
    );
    let hints: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("hint: "))
        .collect();
    assert_eq!(hints.len(), 2, "{}", r.stderr);
    assert!(
        hints[0].contains("`cargo update -p proxy-wasm`"),
        "{hints:?}"
    );
    assert!(hints[0].contains("0.2.5"), "{hints:?}");
    assert!(
        hints[1].contains("-C link-arg=--allow-undefined"),
        "{hints:?}"
    );
    assert!(
        !r.stderr
            .lines()
            .any(|l| l.starts_with("error: cargo build")),
        "wasmctl does not repeat cargo's error: {}",
        r.stderr
    );
    assert!(!artifact("build-old-sdk").exists());

    // The rustflag links the old SDK...
    run_ok(
        wasmctl(&root)
            .arg("build")
            .env("RUSTFLAGS", "-C link-arg=--allow-undefined"),
    );
    // ...and the update needs no flag.
    run_ok(support::cargo(&root).args(["update", "-p", "proxy-wasm"]));
    let r = run_ok(wasmctl(&root).arg("build"));
    assert!(!r.stderr.contains("hint:"), "{}", r.stderr);
}

#[test]
fn without_wasm_opt_the_build_says_once_what_it_would_save() {
    let dir = tempdir();
    let root = new_project(dir.path(), "build-no-opt", &[]);
    // PATH as it is, but each directory holding a wasm-opt replaced by a copy of it without one.
    let shadows = tempdir();
    let mut dirs = Vec::new();
    for (i, dir) in std::env::split_paths(&std::env::var_os("PATH").unwrap()).enumerate() {
        if !dir.join("wasm-opt").exists() {
            dirs.push(dir);
            continue;
        }
        let shadow = shadows.path().join(i.to_string());
        std::fs::create_dir(&shadow).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.file_name() != "wasm-opt" {
                std::os::unix::fs::symlink(entry.path(), shadow.join(entry.file_name())).unwrap();
            }
        }
        dirs.push(shadow);
    }
    let path = std::env::join_paths(dirs).unwrap();
    let r = run_ok(wasmctl(&root).args(["build", "--json"]).env("PATH", &path));
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let size = out["size"].as_u64().unwrap();
    let hints: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("hint: "))
        .collect();
    assert_eq!(hints.len(), 1, "said once: {}", r.stderr);
    assert!(hints[0].contains("wasm-opt is not on PATH"), "{hints:?}");
    assert!(
        hints[0].contains("an estimate"),
        "says it is an estimate: {hints:?}"
    );
    let saved: u64 = hints[0]
        .split("about ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a byte count");
    assert!(saved > 0 && saved < size, "{saved} of {size}");
    // Under -q the hint is not shown.
    let r = run_ok(wasmctl(&root).args(["-q", "build"]).env("PATH", &path));
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}

#[test]
fn an_unchanged_module_is_shrunk_once() {
    const SHRUNK: &str = "module shrunk, caching";
    const HIT: &str = "shrink cache hit";
    let dir = tempdir();
    let root = new_project(dir.path(), "build-shrink-cache", &[]);
    let cache = dir.path().join("cache");
    let build = |extra: &[&str]| {
        let r = run_ok(
            wasmctl(&root)
                .arg("build")
                .args(extra)
                .env("WASMCTL_CACHE_DIR", &cache)
                .env("WASMCTL_LOG", "wasmctl=debug"),
        );
        let module = std::fs::read(r.stdout.trim()).unwrap();
        (r.stderr, module)
    };
    let summary = |stderr: &str| -> String {
        stderr
            .lines()
            .find(|l| l.contains("Built"))
            .unwrap_or_default()
            .to_string()
    };

    let (first, shrunk) = build(&[]);
    assert!(
        first.contains(SHRUNK),
        "wasm-opt runs (it must be on PATH): {first}"
    );
    assert!(summary(&first).contains(", wasm-opt)"), "{first}");
    let (second, again) = build(&[]);
    assert!(second.contains(HIT), "{second}");
    assert!(!second.contains(SHRUNK), "{second}");
    assert!(summary(&second).contains("wasm-opt (cached)"), "{second}");
    assert_eq!(again, shrunk, "the cache gives what wasm-opt gave");

    // --no-cache runs wasm-opt and leaves the cache as it was.
    let before = entries(&cache);
    let (fresh, module) = build(&["--no-cache"]);
    assert!(fresh.contains("shrink cache off"), "{fresh}");
    assert!(!fresh.contains(HIT), "{fresh}");
    assert_eq!(module, shrunk);
    assert_eq!(entries(&cache), before);

    // A damaged entry is shrunk afresh and replaced.
    let entry = before
        .iter()
        .find(|name| name.ends_with(".wasm"))
        .map(|name| cache.join(name))
        .expect("a shrunk module in the cache");
    let whole = std::fs::read(&entry).unwrap();
    std::fs::write(&entry, &whole[..whole.len() / 2]).unwrap();
    let (repaired, module) = build(&[]);
    assert!(repaired.contains("is corrupt, shrinking"), "{repaired}");
    assert!(repaired.contains(SHRUNK), "{repaired}");
    assert_eq!(module, shrunk);
    assert_eq!(std::fs::read(&entry).unwrap(), whole);

    // A changed module is a new entry: wasm-opt runs on it.
    let lib = root.join("src/lib.rs");
    let mut source = std::fs::read_to_string(&lib).unwrap();
    source.push_str("\n#[unsafe(no_mangle)]\npub extern \"C\" fn build_shrink_cache_marker() -> i32 {\n    7\n}\n");
    std::fs::write(&lib, source).unwrap();
    let (changed, module) = build(&[]);
    assert!(changed.contains(SHRUNK), "{changed}");
    assert!(!changed.contains(HIT), "{changed}");
    assert_ne!(module, shrunk);
    assert!(
        exports(&module)
            .iter()
            .any(|e| e == "build_shrink_cache_marker")
    );
}

/// A directory holding an executable `wasm-opt` that runs `script` (sh), first on PATH.
fn fake_wasm_opt(dir: &std::path::Path, script: &str) -> std::ffi::OsString {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let bin = dir.join("wasm-opt");
    std::fs::write(&bin, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap()));
    std::env::join_paths(dirs).unwrap()
}

#[test]
fn a_wasm_opt_that_is_stopped_stops_the_build_and_one_that_writes_garbage_is_passed_over() {
    let dir = tempdir();
    let root = new_project(dir.path(), "build-opt-stopped", &[]);
    let cache = dir.path().join("cache");
    let first = run_ok(wasmctl(&root).arg("build"));
    let path = first.stdout.trim().to_string();
    let before = std::fs::read(&path).unwrap();
    // A change, so that the next build has a new module to shrink.
    let lib = root.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        format!("{source}\n// changed\npub fn changed() -> u32 {{ 7 }}\n"),
    )
    .unwrap();

    // Stopped (a CI's cancel reaches wasm-opt): the build stops, exit 143, the last module stays.
    let stopped = fake_wasm_opt(&dir.path().join("stopped"), "kill -TERM $$");
    let r = run_err(
        wasmctl(&root)
            .arg("build")
            .env("PATH", &stopped)
            .env("WASMCTL_CACHE_DIR", &cache),
    );
    assert_eq!(r.code, Some(143), "{}", r.stderr);
    assert!(
        (r.stderr.lines())
            .any(|l| l == "error: wasm-opt was stopped by signal 15; nothing was written"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);

    // Exit 0 with something that is no module: passed over, as a failing wasm-opt is.
    let garbage = fake_wasm_opt(
        &dir.path().join("garbage"),
        r#"while [ "$1" != "-o" ]; do shift; done; echo garbage > "$2""#,
    );
    let r = run_ok(
        wasmctl(&root)
            .args(["build", "--json"])
            .env("PATH", &garbage)
            .env("WASMCTL_CACHE_DIR", &cache),
    );
    assert!(
        r.stderr.contains(
            "warning: wasm-opt failed, keeping the unoptimized module: its output is not a proxy-wasm module"
        ),
        "{}",
        r.stderr
    );
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let module = std::fs::read(out["path"].as_str().unwrap()).unwrap();
    assert!(
        exports(&module)
            .iter()
            .any(|e| e == "proxy_on_memory_allocate" || e == "proxy_abi_version_0_2_1"),
        "the unoptimized module, still a plugin"
    );
    assert!(
        !entries(&cache).iter().any(|n| n.ends_with(".wasm")),
        "garbage is not cached"
    );
}

#[test]
fn a_target_after_the_double_dash_is_refused() {
    let dir = tempdir();
    let root = new_project(dir.path(), "build-target-args", &[]);
    for args in [
        &["build", "--", "--target", "wasm32-unknown-unknown"][..],
        &["build", "--", "--target=wasm32-unknown-unknown"],
    ] {
        let r = run_err(wasmctl(&root).args(args));
        assert_eq!(r.code, Some(2), "{}", r.stderr);
        assert!(
            r.stderr.starts_with("error: `--target")
                && r.stderr.contains("would change what wasmctl builds"),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("wasmctl build --target TRIPLE"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn cargo_runs_in_the_project_so_its_toolchain_file_applies_from_elsewhere() {
    // Meaningful where only a named toolchain builds wasm (as here): the project's
    // rust-toolchain.toml names it, and nothing else does.
    let Ok(toolchain) = std::env::var("WASMCTL_TEST_TOOLCHAIN") else {
        return;
    };
    let dir = tempdir();
    let root = new_project(dir.path(), "build-toolchain-file", &[]);
    std::fs::write(
        root.join("rust-toolchain.toml"),
        format!("[toolchain]\nchannel = \"{toolchain}\"\n"),
    )
    .unwrap();
    let r = run_ok(
        wasmctl(dir.path())
            .args(["build", "--manifest-path"])
            .arg(&root)
            .env_remove("RUSTUP_TOOLCHAIN"),
    );
    assert!(
        r.stdout.trim().ends_with("build_toolchain_file.wasm")
            || r.stdout.trim().ends_with("build-toolchain-file.wasm"),
        "{}",
        r.stdout
    );
}
