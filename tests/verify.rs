//! `wasmctl verify` and `wasmctl pull`: which Istio layout an image matches, or exactly why Istio
//! would reject it. Images are made by wasmctl, converted by skopeo, or written by hand.

mod support;

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use support::registry::Registry;
use support::{
    BuiltProject, build_project, run_err, run_ok, sha256_digest, skopeo, tempdir, wasmctl,
};

/// One plugin project, built once for every test in this file.
fn built() -> &'static BuiltProject {
    static BUILT: OnceLock<BuiltProject> = OnceLock::new();
    BUILT.get_or_init(|| build_project("verify-demo"))
}

fn tar_gz(name: &str, body: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, name, body).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&builder.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

/// Writes an OCI image layout by hand, with one layer of `media_type`, tagged `x`.
fn handmade_layout(dir: &Path, media_type: &str, layer: &[u8]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let digest = sha256_digest(data);
        std::fs::write(blobs.join(&digest[7..]), data).unwrap();
        digest
    };
    let config =
        br#"{"architecture":"wasm","os":"wasip1","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": config.len()},
        "layers": [{"mediaType": media_type, "digest": put(layer), "size": layer.len()}],
    })
    .to_string();
    let digest = put(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
        "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "x"}}]});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
}

#[test]
fn docker_images_are_recognised() {
    let b = built();
    let registry = Registry::start();
    let oci = format!("{}/team/v:oci", registry.addr);
    // Pushed from outside the project: only the next test records a push for it.
    let dir = tempdir();
    run_ok(wasmctl(dir.path()).args(["push", &oci, "--wasm", b.module.to_str().unwrap()]));
    let docker = format!("{}/team/v:docker", registry.addr);
    skopeo(&[
        "copy",
        "--format",
        "v2s2",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{oci}"),
        &format!("docker://{docker}"),
    ]);
    let r = run_ok(wasmctl(dir.path()).args(["verify", &docker, "--json"]));
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["layout"], "docker");
    assert_eq!(json["accepted"], true);
    assert_eq!(json["abi"], "0.2.1");
    let module = std::fs::read(&b.module).unwrap();
    assert_eq!(json["module_sha256"], sha256_digest(&module)[7..]);
}

#[test]
fn verify_defaults_to_the_last_push_pinned_by_digest() {
    let b = built();
    let registry = Registry::start();
    let reference = format!("{}/team/v:last", registry.addr);
    let pushed = run_ok(wasmctl(&b.project).args(["push", &reference]));
    let r = run_ok(wasmctl(&b.project).args(["verify"]));
    assert_eq!(r.stdout.trim(), pushed.stdout.trim());
    assert!(r.stderr.contains("Verified"), "{}", r.stderr);
}

#[test]
fn rejections_say_exactly_why() {
    let registry = Registry::start();
    let dir = tempdir();
    let cases: [(&str, &str, Vec<u8>, &str); 4] = [
        (
            "noplugin",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            tar_gz("other.wasm", b"\0asm\x01\0\0\0"),
            "the layer holds no `plugin.wasm`",
        ),
        (
            "magic",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            tar_gz("plugin.wasm", b"hello"),
            "does not start with the wasm magic bytes",
        ),
        (
            "plain",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            tar_gz("plugin.wasm", b"\0asm\x01\0\0\0"),
            "not a proxy-wasm module",
        ),
        (
            "raw",
            "application/wasm",
            b"\0asm\x01\0\0\0".to_vec(),
            "number of layers must be 2 but got 1",
        ),
    ];
    for (name, media_type, layer, why) in cases {
        let layout = dir.path().join(name);
        handmade_layout(&layout, media_type, &layer);
        // From the layout directly, and after skopeo copies it into a registry.
        let r = run_err(
            wasmctl(dir.path()).args(["verify", &format!("oci-layout:{}:x", layout.display())]),
        );
        assert!(r.stderr.contains(why), "{name}: {}", r.stderr);
        let image = format!("{}/team/bad:{name}", registry.addr);
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:x", layout.display()),
            &format!("docker://{image}"),
        ]);
        let r = run_err(wasmctl(dir.path()).args(["verify", &image]));
        assert!(
            r.stderr.contains("error: Istio would reject"),
            "{name}: {}",
            r.stderr
        );
        assert!(r.stderr.contains(why), "{name}: {}", r.stderr);
        assert!(r.stdout.is_empty());
    }
    // --json still prints the findings, and the exit code still says no.
    let r = run_err(wasmctl(dir.path()).args([
        "verify",
        &format!("{}/team/bad:magic", registry.addr),
        "--json",
    ]));
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["accepted"], false);
    assert_eq!(json["layout"], "compat");
}

#[test]
fn pull_refuses_an_image_without_a_module_and_writes_nothing() {
    let dir = tempdir();
    let layout = dir.path().join("noplugin");
    handmade_layout(
        &layout,
        "application/vnd.oci.image.layer.v1.tar+gzip",
        &tar_gz("other.wasm", b"x"),
    );
    let out = dir.path().join("out.wasm");
    let r = run_err(wasmctl(dir.path()).args([
        "pull",
        &format!("oci-layout:{}:x", layout.display()),
        "-o",
        out.to_str().unwrap(),
    ]));
    assert!(r.stderr.contains("holds no module"), "{}", r.stderr);
    assert!(!out.exists());
}

#[test]
fn a_layer_of_several_gzip_members_is_read_whole_and_one_cut_short_is_refused() {
    let dir = tempdir();
    let module = std::fs::read(&built().module).unwrap();
    let tar = {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_size(module.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "plugin.wasm", &module[..])
            .unwrap();
        builder.into_inner().unwrap()
    };
    let gzip = |bytes: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    };
    let media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
    let image = |name: &str, layer: &[u8]| {
        let layout = dir.path().join(name);
        handmade_layout(&layout, media_type, layer);
        format!("oci-layout:{}:x", layout.display())
    };

    // Two gzip members, as `cat a.gz b.gz` makes: gzip (and Istio's Go reader) read both.
    let half = tar.len() / 2;
    let members = [gzip(&tar[..half]), gzip(&tar[half..])].concat();
    let two = image("two-members", &members);
    run_ok(wasmctl(dir.path()).args(["verify", &two]));
    let out = dir.path().join("two.wasm");
    run_ok(wasmctl(dir.path()).args(["pull", &two, "-o"]).arg(&out));
    assert_eq!(std::fs::read(&out).unwrap(), module);

    // A layer that ends inside the module: refused, and nothing written.
    let short = image("short", &gzip(&tar[..half]));
    let out = dir.path().join("short.wasm");
    let r = run_err(wasmctl(dir.path()).args(["pull", &short, "-o"]).arg(&out));
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("the layer ends inside `plugin.wasm`"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
}
