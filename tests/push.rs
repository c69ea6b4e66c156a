//! `wasmctl push` against a real registry on loopback, cross-checked with skopeo.

mod support;

use std::io::Read;
use std::process::Command;
use std::sync::OnceLock;

use support::registry::{FlakyProxy, Registry};
use support::{
    BuiltProject, build_project, new_project, run, run_err, run_ok, skopeo, tempdir, wasmctl,
};

/// One plugin project, built once for every test in this file.
fn built() -> &'static BuiltProject {
    static BUILT: OnceLock<BuiltProject> = OnceLock::new();
    BUILT.get_or_init(|| build_project("push-demo"))
}

/// skopeo's stdout as text.
fn skopeo_text(args: &[&str]) -> String {
    String::from_utf8(skopeo(args)).expect("skopeo prints UTF-8")
}

fn raw_manifest(addr: &str, image: &str) -> serde_json::Value {
    let text = skopeo_text(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{addr}/{image}"),
    ]);
    serde_json::from_str(&text).unwrap()
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Copies the image to an oci: dir with skopeo and returns the bytes of the blob `digest` there.
fn skopeo_blob(source: &str, digest: &str) -> Vec<u8> {
    let out = tempdir();
    let dest = format!("oci:{}:x", out.path().display());
    skopeo(&["copy", "--src-tls-verify=false", source, &dest]);
    let hex = digest.strip_prefix("sha256:").unwrap();
    std::fs::read(out.path().join("blobs/sha256").join(hex)).unwrap()
}

fn plugin_from_tar_gz(blob: &[u8]) -> Vec<u8> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(blob));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some("plugin.wasm") {
            let mut out = Vec::new();
            entry.read_to_end(&mut out).unwrap();
            return out;
        }
    }
    panic!("no plugin.wasm in the layer");
}

fn blob_uploads(lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|l| l.contains("/blobs/uploads/"))
        .count()
}

#[test]
fn push_compat_is_what_skopeo_sees() {
    let b = built();
    let registry = Registry::start();
    let reference = format!("{}/team/demo:v1", registry.addr);
    let r = run_ok(wasmctl(&b.project).args(["push", &reference]));
    let line = r.stdout.trim();
    let (pushed, digest) = line.split_once('@').expect("REF@DIGEST");
    assert_eq!(pushed, reference);
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{line}"
    );
    assert_eq!(r.stdout.lines().count(), 1, "stdout is the result only");
    assert!(
        !r.stderr.contains("B/s"),
        "no progress bar without a terminal:\n{}",
        r.stderr
    );

    let raw = skopeo_text(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    assert_eq!(format!("sha256:{}", sha256_hex(raw.as_bytes())), digest);
    let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.title"],
        "push-demo"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.version"],
        "0.1.0"
    );

    let layer = skopeo_blob(
        &format!("docker://{reference}"),
        layers[0]["digest"].as_str().unwrap(),
    );
    assert_eq!(
        plugin_from_tar_gz(&layer),
        std::fs::read(&b.module).unwrap()
    );

    // Done when: the pushed image passes verify.
    let v = run_ok(wasmctl(&b.project).args(["verify", &reference]));
    assert_eq!(v.stdout.trim(), line);
    assert!(v.stderr.contains("compat"), "{}", v.stderr);
}

#[test]
fn repush_is_deterministic_and_uploads_no_blob() {
    let b = built();
    let registry = Registry::start();
    let reference = format!("{}/team/again:v1", registry.addr);
    let first = run_ok(wasmctl(&b.project).args(["push", &reference]));
    let before = registry.requests();
    assert_eq!(
        blob_uploads(&before),
        4,
        "POST + PUT for config and layer:\n{before:#?}"
    );

    let second = run_ok(wasmctl(&b.project).args(["push", &reference, "--json"]));
    let after = registry.requests();
    let repush = &after[before.len()..];
    assert_eq!(blob_uploads(repush), 0, "{repush:#?}");
    assert!(repush.len() <= 5, "{repush:#?}");
    let json: serde_json::Value = serde_json::from_str(&second.stdout).unwrap();
    assert_eq!(
        first.stdout.trim(),
        format!(
            "{}@{}",
            json["reference"].as_str().unwrap(),
            json["digest"].as_str().unwrap()
        )
    );
    assert_eq!(json["format"], "compat");
    assert_eq!(json["layers"].as_array().unwrap().len(), 1);
    assert!(json["size"].as_u64().unwrap() > 1000);
}

#[test]
fn default_reference_is_repository_and_crate_version() {
    let registry = Registry::start();
    let dir = tempdir();
    let project = new_project(
        dir.path(),
        "push-default",
        &["--repository", &format!("{}/team/default", registry.addr)],
    );
    // --build builds first; the module is the one just built.
    let r = run_ok(wasmctl(&project).args(["push", "--build"]));
    let reference = format!("{}/team/default:0.1.0", registry.addr);
    let (pushed, digest) = r.stdout.trim().split_once('@').unwrap();
    assert_eq!(pushed, reference);

    // The project remembers the push for `wasmctl manifest` (only this test pushes this project,
    // so the record is this push's).
    let record = support::plugin_target_dir().join("wasmctl/push-default.push.json");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(record).unwrap()).unwrap();
    assert_eq!(record["reference"], reference);
    assert_eq!(record["digest"], digest);
    assert_eq!(record["format"], "compat");
    let build: serde_json::Value = serde_json::from_slice(
        &std::fs::read(support::plugin_target_dir().join("wasmctl/push-default.build.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(record["module_sha256"], build["sha256"]);
}

#[test]
fn without_a_build_push_says_how_to_get_one() {
    let dir = tempdir();
    let project = new_project(dir.path(), "push-unbuilt", &[]);
    let r = run_err(wasmctl(&project).args(["push", "127.0.0.1:1/x:v1"]));
    assert!(r.stderr.contains("has not been built"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hint: run `wasmctl build` first"),
        "{}",
        r.stderr
    );
}

#[test]
fn oci_and_cncf_formats() {
    let b = built();
    let registry = Registry::start();
    let module = std::fs::read(&b.module).unwrap();

    let oci = format!("{}/team/fmt:oci", registry.addr);
    let r = run_ok(wasmctl(&b.project).args([
        "push",
        &oci,
        "--format",
        "oci",
        "--annotation",
        "team=edge",
    ]));
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    let m = raw_manifest(&registry.addr, "team/fmt:oci");
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.module.wasm.config.v1+json"
    );
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    let content = layers
        .iter()
        .find(|l| l["mediaType"] == "application/vnd.module.wasm.content.layer.v1+wasm")
        .unwrap();
    assert_eq!(m["annotations"]["team"], "edge");
    assert_eq!(
        skopeo_blob(
            &format!("docker://{oci}"),
            content["digest"].as_str().unwrap()
        ),
        module
    );
    run_ok(wasmctl(&b.project).args(["verify", &oci]));

    let cncf = format!("{}/team/fmt:cncf", registry.addr);
    let r = run_ok(wasmctl(&b.project).args(["push", &cncf, "--format", "cncf"]));
    assert!(
        r.stderr.contains("warning: the cncf format"),
        "{}",
        r.stderr
    );
    let m = raw_manifest(&registry.addr, "team/fmt:cncf");
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(m["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(
        skopeo_blob(
            &format!("docker://{cncf}"),
            m["layers"][0]["digest"].as_str().unwrap()
        ),
        module
    );
    // ORAS, an artifact client, pulls it as plugin.wasm.
    let out = tempdir();
    let script = format!(
        "import oras.client\n\
         c = oras.client.OrasClient(hostname='{addr}', insecure=True)\n\
         print(c.pull(target='{cncf}', outdir='{dir}'))\n",
        addr = registry.addr,
        dir = out.path().display()
    );
    run_ok(Command::new("python3").arg("-c").arg(&script));
    assert_eq!(
        std::fs::read(out.path().join("plugin.wasm")).unwrap(),
        module
    );
    // Istio rejects it, and verify says exactly why.
    let v = run_err(wasmctl(&b.project).args(["verify", &cncf]));
    assert!(
        v.stderr.contains("error: Istio would reject"),
        "{}",
        v.stderr
    );
    assert!(
        v.stderr.contains("number of layers must be 2 but got 1"),
        "{}",
        v.stderr
    );
    assert!(v.stdout.is_empty());
}

#[test]
fn oci_layout_destination_reads_with_skopeo() {
    let b = built();
    let dir = tempdir();
    let layout = dir.path().join("image");
    let dest = format!("oci-layout:{}:v3", layout.display());
    let r = run_ok(wasmctl(&b.project).args(["push", &dest]));
    let digest = r.stdout.trim().rsplit_once('@').unwrap().1.to_string();
    // A second tag in the same layout keeps the first.
    run_ok(wasmctl(&b.project).args([
        "push",
        &format!("oci-layout:{}:other", layout.display()),
        "--format",
        "oci",
    ]));

    let raw = skopeo_text(&["inspect", "--raw", &format!("oci:{}:v3", layout.display())]);
    assert_eq!(format!("sha256:{}", sha256_hex(raw.as_bytes())), digest);
    let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let layer = skopeo_blob(
        &format!("oci:{}:v3", layout.display()),
        manifest["layers"][0]["digest"].as_str().unwrap(),
    );
    assert_eq!(
        plugin_from_tar_gz(&layer),
        std::fs::read(&b.module).unwrap()
    );
    run_ok(wasmctl(dir.path()).args(["verify", &format!("oci-layout:{}:other", layout.display())]));

    // The same image pushed to a registry has the same digest.
    let registry = Registry::start();
    let r =
        run_ok(wasmctl(&b.project).args(["push", &format!("{}/team/layout:v3", registry.addr)]));
    assert!(r.stdout.trim().ends_with(&digest), "{}", r.stdout);
}

#[test]
fn pushes_to_one_layout_at_once_each_keep_their_tag() {
    let b = built();
    let dir = tempdir();
    let layout = dir.path().join("image");
    let tags: Vec<String> = (1..=8).map(|i| format!("t{i}")).collect();
    let pushes: Vec<_> = tags
        .iter()
        .map(|tag| {
            let dest = format!("oci-layout:{}:{tag}", layout.display());
            wasmctl(&b.project)
                .args(["push", "-q", &dest])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for push in pushes {
        let out = push.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut found: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    found.sort();
    assert_eq!(found, tags);
}

#[test]
fn a_damaged_blob_in_a_layout_is_written_again_and_a_bad_tag_is_refused() {
    let b = built();
    let dir = tempdir();
    let layout = dir.path().join("image");
    let at = |tag: &str| format!("oci-layout:{}:{tag}", layout.display());
    run_ok(wasmctl(&b.project).args(["push", "--format", "oci", &at("v1")]));
    let module = std::fs::read(&b.module).unwrap();
    let blob = layout.join("blobs/sha256").join(sha256_hex(&module));
    std::fs::write(&blob, b"").unwrap();
    let r = run_ok(wasmctl(&b.project).args(["push", "--format", "oci", &at("v2")]));
    assert!(r.stderr.contains("(1 of 2 blobs written"), "{}", r.stderr);
    assert_eq!(std::fs::read(&blob).unwrap(), module);
    run_ok(wasmctl(dir.path()).args(["verify", &at("v2")]));

    // A tag that is not one is refused, not taken into the directory's name.
    let r = run_err(wasmctl(&b.project).args(["push", &at("v1.0+build")]));
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("bad tag `v1.0+build`"), "{}", r.stderr);
    assert!(!dir.path().join("image:v1.0+build").exists());
}

#[test]
fn a_file_that_is_not_proxy_wasm_is_refused_before_any_upload() {
    let registry = Registry::start();
    let dir = tempdir();
    let plain = dir.path().join("plain.wasm");
    std::fs::write(&plain, b"\0asm\x01\0\0\0").unwrap();
    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, b"hello").unwrap();
    for file in [&plain, &text] {
        let r = run_err(wasmctl(dir.path()).args([
            "push",
            &format!("{}/team/bad:v1", registry.addr),
            "--wasm",
            file.to_str().unwrap(),
        ]));
        // One line that names the file.
        let first = r.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("error: `{}`: ", file.display())),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("caused by"), "{}", r.stderr);
        assert!(r.stdout.is_empty());
    }
    assert!(registry.requests().is_empty(), "{:#?}", registry.requests());
}

#[test]
fn bad_references_are_refused_with_a_hint() {
    let dir = tempdir();
    let module = dir.path().join("m.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
    let r = run_err(wasmctl(dir.path()).args([
        "push",
        "team/demo:v1",
        "--wasm",
        module.to_str().unwrap(),
    ]));
    assert!(r.stderr.contains("names no registry host"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("hint: write the registry first, e.g. `docker.io/team/demo:v1`"),
        "{}",
        r.stderr
    );
    let r = run_err(wasmctl(dir.path()).args([
        "push",
        "localhost:5000/Team/demo",
        "--wasm",
        module.to_str().unwrap(),
    ]));
    assert!(
        r.stderr.contains("bad repository component `Team`"),
        "{}",
        r.stderr
    );
    let b = built();
    let module = b.module.to_str().unwrap();
    let pinned = format!("localhost:5000/team/demo@sha256:{}", "a".repeat(64));
    let r = run_err(wasmctl(dir.path()).args(["push", &pinned, "--wasm", module]));
    assert!(
        r.stderr.contains("cannot push to a digest reference"),
        "{}",
        r.stderr
    );
    let r = run_err(wasmctl(dir.path()).args([
        "push",
        "localhost:5000/x:1",
        "--wasm",
        module,
        "--annotation",
        "novalue",
    ]));
    assert!(
        r.stderr.contains("invalid annotation `novalue`"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_500_is_retried_and_the_push_completes() {
    let b = built();
    let registry = Registry::start();
    // Every first blob upload attempt fails once.
    let proxy = FlakyProxy::start(&registry.addr, "POST", 1);
    let reference = format!("{}/team/flaky:v1", proxy.addr);
    let r = run_ok(wasmctl(&b.project).args(["push", &reference]));
    assert!(r.stdout.starts_with(&reference), "{}", r.stdout);
    assert!(proxy.failed.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    raw_manifest(&registry.addr, "team/flaky:v1");
}

#[test]
fn a_429_with_retry_after_is_waited_out_and_the_push_completes() {
    let b = built();
    let registry = Registry::start();
    let proxy = FlakyProxy::asking_to_wait(&registry.addr, "POST", "429 Too Many Requests", "1");
    let reference = format!("{}/team/busy:v1", proxy.addr);
    let r = run_ok(wasmctl(&b.project).args(["push", &reference, "-vv"]));
    assert!(
        r.stderr
            .contains("retrying upload a blob: waiting 1s as the registry asked (Retry-After)"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.starts_with(&reference), "{}", r.stdout);
    assert!(proxy.failed.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    raw_manifest(&registry.addr, "team/busy:v1");
}

#[test]
fn a_503_with_retry_after_on_the_blob_check_is_waited_out() {
    let b = built();
    let registry = Registry::start();
    let proxy = FlakyProxy::asking_to_wait(&registry.addr, "HEAD", "503 Service Unavailable", "1");
    let reference = format!("{}/team/maintenance:v1", proxy.addr);
    let r = run_ok(
        wasmctl(&b.project)
            .env("WASMCTL_LOG", "debug")
            .args(["push", &reference]),
    );
    assert!(
        r.stderr
            .contains("retrying check a blob: waiting 1s as the registry asked (Retry-After)"),
        "{}",
        r.stderr
    );
    raw_manifest(&registry.addr, "team/maintenance:v1");
}

#[test]
fn a_retry_after_beyond_the_limit_is_an_error_that_says_when_to_try_again() {
    let b = built();
    let registry = Registry::start();
    let proxy = FlakyProxy::asking_to_wait(
        &registry.addr,
        "PUT",
        "503 Service Unavailable",
        "Fri, 31 Dec 2100 23:59:59 GMT",
    );
    let reference = format!("{}/team/closed:v1", proxy.addr);
    let r = run_err(wasmctl(&b.project).args(["push", &reference]));
    assert!(
        r.stderr.contains(&format!(
            "error: {} failed to upload a blob: HTTP 503, and asked to wait",
            proxy.addr
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("wasmctl waits 1m at most"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("hint: run the command again after Fri, 31 Dec 2100 23:59:59 GMT"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
    // Given up at once: the one PUT that was answered 503 is the only one sent.
    assert_eq!(proxy.failed.load(std::sync::atomic::Ordering::SeqCst), 1);
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{}/team/closed:v1", registry.addr),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a manifest exists after giving up");
}

#[test]
fn a_registry_killed_mid_push_gives_a_clear_error_and_a_rerun_completes() {
    let b = built();
    let mut registry = Registry::start();
    let proxy = FlakyProxy::killing_on_blob_put(&registry.addr, registry.pid());
    let reference = format!("{}/team/gone:v1", proxy.addr);
    let r = run_err(wasmctl(&b.project).args(["push", &reference]));
    assert!(
        r.stderr
            .contains(&format!("could not connect to {}", proxy.addr)),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());

    // Back up on the same storage: the tag does not exist, no half image behind it.
    registry.restart();
    let direct = format!("docker://{}/team/gone:v1", registry.addr);
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &direct])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a manifest exists after the crash");

    let r = run_ok(wasmctl(&b.project).args(["push", &reference]));
    let digest = r.stdout.trim().rsplit_once('@').unwrap().1;
    let raw = skopeo_text(&["inspect", "--raw", "--tls-verify=false", &direct]);
    assert_eq!(format!("sha256:{}", sha256_hex(raw.as_bytes())), digest);
    // Every blob the manifest names is there: skopeo copies the whole image.
    let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    skopeo_blob(&direct, manifest["layers"][0]["digest"].as_str().unwrap());
    run_ok(wasmctl(&b.project).args(["verify", &format!("{}/team/gone:v1", registry.addr)]));
}

#[test]
fn a_registry_that_answers_another_digest_is_an_error() {
    let b = built();
    let registry = Registry::start();
    let liar = FlakyProxy::lying_about_manifest_digest(&registry.addr);
    let r = run_err(wasmctl(&b.project).args(["push", &format!("{}/team/liar:v1", liar.addr)]));
    assert!(
        r.stderr
            .contains("stored the manifest as sha256:0000000000"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
}

#[test]
fn a_stopped_registry_gives_a_clear_error() {
    let b = built();
    let mut registry = Registry::start();
    registry.stop();
    let r = run_err(wasmctl(&b.project).args(["push", &format!("{}/team/down:v1", registry.addr)]));
    assert!(
        r.stderr
            .contains(&format!("could not connect to {}", registry.addr)),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("hint: check the registry is running"),
        "{}",
        r.stderr
    );
}

#[test]
fn pull_writes_the_module() {
    let b = built();
    let registry = Registry::start();
    let reference = format!("{}/team/pull:v1", registry.addr);
    run_ok(wasmctl(&b.project).args(["push", &reference]));
    let dir = tempdir();
    let out = dir.path().join("got.wasm");
    let r = run_ok(wasmctl(dir.path()).args(["pull", &reference, "-o", out.to_str().unwrap()]));
    assert_eq!(r.stdout.trim(), out.display().to_string());
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&b.module).unwrap()
    );
    let missing = run_err(wasmctl(dir.path()).args([
        "pull",
        &format!("{}/team/none:v1", registry.addr),
        "-o",
        "x.wasm",
    ]));
    assert!(
        missing.stderr.contains("was not found"),
        "{}",
        missing.stderr
    );
    assert!(!dir.path().join("x.wasm").exists());
}

/// `module` with a custom section of `extra` bytes appended: still a valid proxy-wasm module.
fn padded(module: &[u8], extra: usize) -> Vec<u8> {
    let name = b"padding";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    // Bytes that do not compress, a pattern of 251 copied along (fast in a debug build too).
    let pattern: Vec<u8> = (0..251).map(|i| (i * 31 % 251) as u8).collect();
    let start = payload.len();
    payload.resize(start + extra, 0);
    for chunk in payload[start..].chunks_mut(pattern.len()) {
        chunk.copy_from_slice(&pattern[..chunk.len()]);
    }
    let mut out = module.to_vec();
    out.push(0);
    let mut n = payload.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        out.push(if n == 0 { byte } else { byte | 0x80 });
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&payload);
    out
}

#[test]
fn blobs_over_64_mib_go_up_in_chunks() {
    let b = built();
    let registry = Registry::start();
    let dir = tempdir();
    let big = dir.path().join("big.wasm");
    let module = padded(&std::fs::read(&b.module).unwrap(), 70 << 20);
    std::fs::write(&big, &module).unwrap();
    let reference = format!("{}/team/big:v1", registry.addr);
    run_ok(wasmctl(dir.path()).args([
        "push",
        &reference,
        "--format",
        "oci",
        "--wasm",
        big.to_str().unwrap(),
    ]));
    let requests = registry.requests();
    assert!(
        requests.iter().any(|l| l.contains("\"PATCH ")),
        "no chunk was sent"
    );
    let out = dir.path().join("back.wasm");
    run_ok(wasmctl(dir.path()).args(["pull", &reference, "-o", out.to_str().unwrap()]));
    assert!(
        std::fs::read(&out).unwrap() == module,
        "pulled module differs"
    );
}

#[test]
fn a_module_over_istio_s_size_cap_is_pushed_with_a_warning() {
    let b = built();
    let dir = tempdir();
    let huge = dir.path().join("huge.wasm");
    std::fs::write(&huge, padded(&std::fs::read(&b.module).unwrap(), 257 << 20)).unwrap();
    let layout = format!("oci-layout:{}:v1", dir.path().join("image").display());
    let r = run_ok(
        wasmctl(dir.path())
            .args(["push", "--format", "oci", "--wasm"])
            .arg(&huge)
            .arg(&layout),
    );
    assert!(
        r.stderr.contains("Istio refuses modules over 256 MiB"),
        "{}",
        r.stderr
    );
    // verify says why, with no advice to change the format, which would not help.
    let r = run(wasmctl(dir.path()).args(["verify", &layout]));
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("over Istio's 256 MiB limit"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("--format"), "{}", r.stderr);
}

#[test]
fn after_a_push_to_a_layout_verify_and_pull_read_it_by_default() {
    let b = built();
    let dir = tempdir();
    let layout = dir.path().join("layout");
    let pushed =
        run_ok(wasmctl(&b.project).args(["push", &format!("oci-layout:{}:v1", layout.display())]));
    let pinned = pushed.stdout.trim();
    let digest = pinned.rsplit_once('@').unwrap().1;
    assert_eq!(
        pinned,
        format!("oci-layout:{}:v1@{digest}", layout.display())
    );
    // No REF: the last push, pinned by its digest.
    let r = run_ok(wasmctl(&b.project).arg("verify"));
    assert_eq!(r.stdout.trim(), pinned, "{}", r.stderr);
    let out = dir.path().join("got.wasm");
    run_ok(wasmctl(&b.project).args(["pull", "-o", out.to_str().unwrap()]));
    let module = std::fs::read(&b.module).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), module);
    // A layout pinned by digest alone, as a pinned reference is written.
    let by_digest = format!("oci-layout:{}@{digest}", layout.display());
    let r = run_ok(wasmctl(dir.path()).args(["verify", &by_digest]));
    assert!(r.stdout.trim().ends_with(digest), "{}", r.stdout);
    // `-o -` is stdout: the module's bytes and nothing else, and no file named `-`.
    let got = std::process::Command::new(assert_cmd::cargo::cargo_bin("wasmctl"))
        .args(["pull", &by_digest, "-o", "-"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(got.stdout, module);
    assert!(!dir.path().join("-").exists());
}

#[test]
fn files_wasmctl_writes_get_the_umask_mode() {
    use std::os::unix::fs::PermissionsExt;
    let b = built();
    let dir = tempdir();
    let layout = dir.path().join("layout");
    let dest = format!("oci-layout:{}:v1", layout.display());
    let out = dir.path().join("got.wasm");
    let manifest = dir.path().join("plugin.yaml");
    let bin = assert_cmd::cargo::cargo_bin("wasmctl");
    // Under umask 027, a new file is 0640, as `touch` would make it.
    let script = format!(
        "umask 027 && {bin} push {dest} && {bin} pull {dest} -o {out} && {bin} manifest -o {manifest}",
        bin = bin.display(),
        out = out.display(),
        manifest = manifest.display(),
    );
    let mut sh = std::process::Command::new("sh");
    support::test_env(&mut sh)
        .args(["-c", &script])
        .current_dir(&b.project);
    run_ok(&mut sh);
    let blob = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for file in [out, manifest, layout.join("index.json"), blob] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "{}", file.display());
    }
}

#[test]
fn pushing_a_debug_or_dev_build_is_warned_of() {
    let dir = tempdir();
    let project = support::new_project(dir.path(), "push-debug", &[]);
    let dest = |tag: &str| format!("oci-layout:{}:{tag}", dir.path().join("image").display());
    run_ok(wasmctl(&project).args(["build", "--debug"]));
    let r = run_ok(wasmctl(&project).args(["push", &dest("debug")]));
    assert!(
        r.stderr.contains(
            "warning: the last build is a debug build (`build --debug`): larger and slower than what `wasmctl build` makes"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("hint: run `wasmctl build` first"),
        "{}",
        r.stderr
    );
    // A release build is pushed without a word about it.
    run_ok(wasmctl(&project).arg("build"));
    let r = run_ok(wasmctl(&project).args(["push", &dest("release")]));
    assert!(!r.stderr.contains("the last build is"), "{}", r.stderr);
}
