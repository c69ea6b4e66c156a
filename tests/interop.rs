//! wasmctl held to Istio's own code (the Go harness in tests/interop/): what `push` publishes is
//! what Istio's agent fetches, `verify` accepts exactly the images the agent loads, and `manifest`
//! accepts exactly the resources the API server and Istio's webhook accept.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use base64::Engine;
use serde_json::{Value, json};
use support::interop::{Harness, Istio, harness};
use support::registry::Registry;
use support::{built_template, run, run_ok, sha256_digest, skopeo, tempdir, wasmctl};

const USER: &str = "istio-puller";
const PASSWORD: &str = "pull-me-9Qx";
/// A basic auth realm Istio's agent accepts: an https url on a public name.
const REALM: &str = "https://registry.wasmctl.test/";

/// A docker config in `dir` with a login for `addr`, as `docker login` leaves it.
fn docker_config(dir: &Path, addr: &str) -> PathBuf {
    let config = dir.join("docker");
    std::fs::create_dir_all(&config).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let text = json!({"auths": {addr: {"auth": auth}}}).to_string();
    std::fs::write(config.join("config.json"), text).unwrap();
    config
}

/// The WasmPlugin document among `manifest`'s output.
fn wasm_plugin(yaml: &str) -> Value {
    support::crd::yaml_documents(yaml)
        .into_iter()
        .find(|d| d["kind"] == "WasmPlugin")
        .expect("manifest printed a WasmPlugin")
}

/// Pushes the http-headers module in `format`, emits its WasmPlugin (with a pull secret when the
/// registry wants a login), and has Istio's agent fetch it as that WasmPlugin says.
fn push_and_fetch(h: &Harness, registry: &Registry, format: &str) -> Value {
    let plugin = built_template("http-headers");
    let home = tempdir();
    let config = docker_config(home.path(), &registry.addr);
    let ca: Vec<String> = registry
        .ca
        .iter()
        .flat_map(|ca| ["--ca-file".to_string(), ca.display().to_string()])
        .collect();
    let env = |cmd: &mut Command| {
        cmd.env("DOCKER_CONFIG", &config)
            .env_remove("REGISTRY_AUTH_FILE");
    };
    let reference = format!("{}/istio/headers:{format}", registry.addr);
    // `manifest` reads the project's last push: one push and manifest at a time.
    static PROJECT: Mutex<()> = Mutex::new(());
    let guard = PROJECT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut push = wasmctl(&plugin.project);
    push.args(["push", &reference, "--format", format])
        .args(&ca);
    env(&mut push);
    let pushed = run_ok(&mut push).stdout;
    let digest = pushed.trim().rsplit_once('@').unwrap().1.to_string();

    let mut manifest = wasmctl(&plugin.project);
    manifest.arg("manifest");
    if registry.ca.is_some() {
        manifest.arg("--pull-secret-from-docker-config");
    }
    env(&mut manifest);
    let yaml = run_ok(&mut manifest).stdout;
    drop(guard);
    let resource = wasm_plugin(&yaml);
    let url = resource["spec"]["url"].as_str().unwrap().to_string();
    let sha = resource["spec"]["sha256"].as_str().unwrap().to_string();
    assert_eq!(
        format!("sha256:{sha}"),
        digest,
        "manifest pins the pushed digest"
    );
    assert_eq!(
        url,
        format!("oci://{}/istio/headers@{digest}", registry.addr)
    );

    let secret = home.path().join("manifest.yaml");
    std::fs::write(&secret, &yaml).unwrap();
    // What manifest emitted is what the cluster admits.
    let verdicts = h.validate(None, &[&secret]);
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    assert_eq!(verdicts[0]["accepted"], true, "{}", verdicts[0]);
    let out = home.path().join("fetched.wasm");
    let mut args = vec![
        "--sha256".to_string(),
        sha.clone(),
        "--out".into(),
        out.display().to_string(),
    ];
    if let Some(ca) = &registry.ca {
        args.extend(["--pull-secret".into(), secret.display().to_string()]);
        args.extend(["--ca".into(), ca.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let verdict = h.fetch(&url, &args);
    if verdict["accepted"] == true {
        let module = std::fs::read(&plugin.module).unwrap();
        assert_eq!(
            std::fs::read(&out).unwrap(),
            module,
            "Istio hands over the build"
        );
        assert_eq!(verdict["module_sha256"], sha256_digest(&module)[7..]);
        assert_eq!(verdict["checksum"], sha, "Istio checked the pinned digest");
    }
    verdict
}

fn expect_formats(h: &Harness, registry: &Registry) {
    for format in ["compat", "oci"] {
        let verdict = push_and_fetch(h, registry, format);
        assert_eq!(verdict["accepted"], true, "{format}: {verdict}");
    }
    let verdict = push_and_fetch(h, registry, "cncf");
    assert_eq!(verdict["accepted"], false, "{verdict}");
    let error = verdict["error"].as_str().unwrap();
    assert!(error.contains("invalid format"), "{error}");
}

#[test]
fn istio_fetches_what_push_published_over_plain_http() {
    let Some(h) = harness(Istio::Newest) else {
        return;
    };
    let registry = Registry::start();
    expect_formats(&h, &registry);
    // The agent refuses a module whose digest is not the one the WasmPlugin pins.
    let url = format!("oci://{}/istio/headers:compat", registry.addr);
    let verdict = h.fetch(&url, &["--sha256", &"0".repeat(64)]);
    assert_eq!(verdict["accepted"], false);
    assert!(
        verdict["error"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{verdict}"
    );
}

#[test]
fn istio_fetches_with_the_pull_secret_over_tls_with_a_private_ca() {
    let Some(h) = harness(Istio::Newest) else {
        return;
    };
    // Istio's agent refuses a registry whose challenge names a realm that is not a public http(s)
    // url, even for basic auth (docs/manifest.md): this realm is one it takes.
    let registry = Registry::start_tls_htpasswd_realm(USER, PASSWORD, REALM);
    expect_formats(&h, &registry);
    let url = format!("oci://{}/istio/headers:compat", registry.addr);
    let ca = registry.ca.as_ref().unwrap().display().to_string();
    // Without the pull secret the registry refuses the agent.
    let verdict = h.fetch(&url, &["--ca", &ca]);
    assert_eq!(verdict["accepted"], false);
    assert!(
        verdict["error"].as_str().unwrap().contains("UNAUTHORIZED"),
        "{verdict}"
    );
    // Without the CA in its trust store the agent refuses the registry's certificate.
    let verdict = h.fetch(&url, &[]);
    assert!(
        verdict["error"]
            .as_str()
            .unwrap()
            .contains("certificate signed by unknown authority"),
        "{verdict}"
    );
}

#[test]
fn istio_refuses_a_basic_auth_realm_that_is_not_a_url() {
    let Some(h) = harness(Istio::Newest) else {
        return;
    };
    let registry = Registry::start_tls_htpasswd(USER, PASSWORD);
    let ca = registry.ca.as_ref().unwrap().display().to_string();
    let url = format!("oci://{}/istio/headers:compat", registry.addr);
    let verdict = h.fetch(&url, &["--ca", &ca]);
    assert!(
        verdict["error"]
            .as_str()
            .unwrap()
            .contains("rejected unsafe bearer realm"),
        "{verdict}"
    );
}

/// A blob of an image under construction: media type and bytes.
struct Blob<'a>(&'a str, Vec<u8>);

fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, body) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *body).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&builder.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const WASM_CONTENT: &str = "application/vnd.module.wasm.content.layer.v1+wasm";

/// Writes an OCI image layout by hand, tagged `x`: one image of `layers`, or (with `platform`)
/// an index naming that image for the platform.
fn handmade_layout(dir: &Path, layers: &[Blob], platform: Option<Value>) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let digest = sha256_digest(data);
        std::fs::write(blobs.join(&digest[7..]), data).unwrap();
        json!({"digest": digest, "size": data.len()})
    };
    let descriptor = |media_type: &str, data: &[u8]| {
        let mut d = put(data);
        d["mediaType"] = media_type.into();
        d
    };
    let config =
        br#"{"architecture":"wasm","os":"wasip1","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": layers.iter().map(|Blob(mt, data)| descriptor(mt, data)).collect::<Vec<_>>(),
    })
    .to_string();
    let mut top = descriptor(OCI_MANIFEST, manifest.as_bytes());
    if let Some(platform) = platform {
        let mut child = top;
        child["platform"] = platform;
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child]});
        top = descriptor(OCI_INDEX, index.to_string().as_bytes());
    }
    top["annotations"] = json!({"org.opencontainers.image.ref.name": "x"});
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [top]});
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
}

/// Copies a layout into the registry with skopeo (every image of an index, unchanged).
fn skopeo_push_layout(layout: &Path, image: &str) {
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &format!("oci:{}:x", layout.display()),
        &format!("docker://{image}"),
    ]);
}

/// Pushes `files` (`PATH:MEDIA_TYPE`) with ORAS, the artifact client.
fn oras_push(addr: &str, image: &str, dir: &Path, files: &[&str]) {
    let script = format!(
        "import oras.client\n\
         c = oras.client.OrasClient(hostname='{addr}', insecure=True)\n\
         c.push(target='{image}', files={files:?}, disable_path_validation=True)\n",
    );
    run_ok(
        Command::new("python3")
            .arg("-c")
            .arg(&script)
            .current_dir(dir),
    );
}

/// One image of the agreement corpus, pushed to the registry, and whether Istio loads it.
struct Case {
    name: &'static str,
    image: String,
    istio_loads: bool,
}

/// The corpus: images from wasmctl, skopeo, ORAS and by hand, loadable and not.
fn corpus(registry: &Registry, dir: &Path) -> Vec<Case> {
    let addr = &registry.addr;
    let module = std::fs::read(&built_template("http-headers").module).unwrap();
    let mut loads = client_images(addr, dir, &module);
    loads.extend(handmade_images(addr, dir, &module));
    loads
        .into_iter()
        .map(|(name, istio_loads)| Case {
            name,
            image: corpus_image(addr, name),
            istio_loads,
        })
        .collect()
}

fn corpus_image(addr: &str, name: &str) -> String {
    format!("{addr}/corpus/{name}:x")
}

/// Images pushed by wasmctl, converted by skopeo, pushed by ORAS; whether Istio loads each.
fn client_images(addr: &str, dir: &Path, module: &[u8]) -> Vec<(&'static str, bool)> {
    let image = |name: &str| corpus_image(addr, name);
    let mut cases = Vec::new();
    for (format, loads) in [("compat", true), ("oci", true), ("cncf", false)] {
        let wasm = built_template("http-headers").module.display().to_string();
        let reference = image(format);
        run_ok(wasmctl(dir).args(["push", &reference, "--format", format, "--wasm", &wasm]));
        cases.push((format, loads));
    }
    skopeo(&[
        "copy",
        "--format",
        "v2s2",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{}", image("compat")),
        &format!("docker://{}", image("docker")),
    ]);
    cases.push(("docker", true));

    std::fs::write(dir.join("plugin.wasm"), module).unwrap();
    std::fs::write(dir.join("README.md"), "a module").unwrap();
    std::fs::write(dir.join("plugin.tgz"), tar_gz(&[("plugin.wasm", module)])).unwrap();
    let oras = |name: &str, files: &[&str]| oras_push(addr, &image(name), dir, files);
    oras("oras-wasm", &["plugin.wasm:application/wasm"]);
    cases.push(("oras-wasm", false));
    oras(
        "oras-variant",
        &[
            &format!("plugin.wasm:{WASM_CONTENT}"),
            "README.md:text/markdown",
        ],
    );
    cases.push(("oras-variant", true));
    oras("oras-tgz", &[&format!("plugin.tgz:{TAR_GZIP}")]);
    cases.push(("oras-tgz", true));

    cases
}

/// Image layouts written by hand and copied in by skopeo; whether Istio loads each.
fn handmade_images(addr: &str, dir: &Path, module: &[u8]) -> Vec<(&'static str, bool)> {
    let plugin_tgz = || Blob(TAR_GZIP, tar_gz(&[("plugin.wasm", module)]));
    let other_tgz = || Blob(TAR_GZIP, tar_gz(&[("README.md", b"no module")]));
    let by_hand: Vec<(&'static str, Vec<Blob>, bool)> = vec![
        (
            "raw-wasm-layer",
            vec![Blob(WASM_CONTENT, module.to_vec())],
            false,
        ),
        (
            "three-layers",
            vec![other_tgz(), other_tgz(), plugin_tgz()],
            true,
        ),
        (
            "three-with-raw",
            vec![
                Blob(WASM_CONTENT, module.to_vec()),
                other_tgz(),
                other_tgz(),
            ],
            false,
        ),
        (
            "wrong-last-media-type",
            vec![
                plugin_tgz(),
                Blob("application/octet-stream", b"x".to_vec()),
            ],
            false,
        ),
        (
            "tar-layer",
            vec![Blob(
                "application/vnd.oci.image.layer.v1.tar",
                module.to_vec(),
            )],
            false,
        ),
        ("no-plugin-wasm", vec![other_tgz()], false),
        (
            "not-wasm",
            vec![Blob(TAR_GZIP, tar_gz(&[("plugin.wasm", b"hello, wasm")]))],
            false,
        ),
        (
            "nested-plugin",
            vec![Blob(TAR_GZIP, tar_gz(&[("dist/plugin.wasm", module)]))],
            true,
        ),
        (
            "raw-then-tar-without-plugin",
            vec![Blob(WASM_CONTENT, module.to_vec()), other_tgz()],
            true,
        ),
    ];
    let images = by_hand
        .into_iter()
        .map(|(name, layers, loads)| (name, layers, None, loads));
    let indexes = index_platforms()
        .map(|(name, platform, loads)| (name, vec![plugin_tgz()], Some(platform), loads));
    images
        .chain(indexes)
        .map(|(name, layers, platform, loads)| {
            let layout = dir.join(name);
            handmade_layout(&layout, &layers, platform);
            skopeo_push_layout(&layout, &corpus_image(addr, name));
            (name, loads)
        })
        .collect()
}

/// The indexes of the corpus: the platform of their one image, and whether Istio loads it.
fn index_platforms() -> [(&'static str, Value, bool); 2] {
    [
        (
            "index-wasm-platform",
            json!({"os": "wasip1", "architecture": "wasm"}),
            false,
        ),
        (
            "index-linux-amd64",
            json!({"os": "linux", "architecture": "amd64"}),
            true,
        ),
    ]
}

#[test]
fn verify_agrees_with_istios_fetcher_on_every_image() {
    let Some(h) = harness(Istio::Newest) else {
        return;
    };
    let registry = Registry::start();
    let dir = tempdir();
    let cases = corpus(&registry, dir.path());
    let mut disagreements = Vec::new();
    for case in &cases {
        let istio = h.fetch(&format!("oci://{}", case.image), &[]);
        let verify = run(wasmctl(dir.path()).args(["verify", &case.image, "--json"]));
        let ours: Value = serde_json::from_str(&verify.stdout)
            .unwrap_or_else(|_| json!({"accepted": false, "error": verify.stderr}));
        if istio["accepted"] == true && ours["accepted"] == true {
            // The same module, checked against the same digest.
            assert_eq!(
                istio["module_sha256"], ours["module_sha256"],
                "{}",
                case.name
            );
            assert_eq!(
                format!("sha256:{}", istio["checksum"].as_str().unwrap()),
                ours["digest"].as_str().unwrap(),
                "{}",
                case.name
            );
        }
        let (theirs, ours) = (istio["accepted"] == true, ours["accepted"] == true);
        assert_eq!(
            theirs, case.istio_loads,
            "{}: Istio's verdict changed: {istio}",
            case.name
        );
        if theirs != ours {
            disagreements.push(format!("{}: Istio {istio}, wasmctl {ours}", case.name));
        }
    }
    assert!(cases.len() >= 10);
    assert!(
        disagreements.is_empty(),
        "{} of {} images judged differently:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.join("\n")
    );
}

/// RFC 7386 merge: `patch`'s members replace `doc`'s, `null` removes one.
fn merge(doc: &mut Value, patch: &Value) {
    match (doc, patch) {
        (Value::Object(doc), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    doc.remove(key);
                } else {
                    merge(doc.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (doc, patch) => *doc = patch.clone(),
    }
}

/// One manifest of the agreement corpus: `manifest` flags beyond the base ones, and the change
/// they make to the base resource (what the resource would be if wasmctl emitted it).
struct ManifestCase {
    name: String,
    kind: &'static str,
    flags: Vec<String>,
    patch: Value,
}

fn mcase(name: &str, flags: &[&str], patch: Value) -> ManifestCase {
    ManifestCase {
        name: name.into(),
        kind: "WasmPlugin",
        flags: flags.iter().map(|f| f.to_string()).collect(),
        patch,
    }
}

/// The same case for a TrafficExtension, whose module fields sit under `spec.wasm`.
fn traffic(mut case: ManifestCase) -> ManifestCase {
    case.name = format!("traffic-extension/{}", case.name);
    case.kind = "TrafficExtension";
    let spec = case.patch["spec"].take();
    let mut placement = serde_json::Map::new();
    let mut wasm = serde_json::Map::new();
    for (key, value) in spec.as_object().cloned().unwrap_or_default() {
        let into = match key.as_str() {
            "selector" | "targetRefs" | "match" | "phase" | "priority" => &mut placement,
            _ => &mut wasm,
        };
        into.insert(key, value);
    }
    if !wasm.is_empty() {
        placement.insert("wasm".into(), Value::Object(wasm));
    }
    case.patch["spec"] = Value::Object(placement);
    case
}

fn long(n: usize) -> String {
    "a".repeat(n)
}

fn target_refs(n: usize) -> (Vec<String>, Value) {
    let flags = (0..n).flat_map(|i| ["--target-ref".into(), format!("Service/s{i}")]);
    let refs: Vec<Value> = (0..n)
        .map(|i| json!({"group": "", "kind": "Service", "name": format!("s{i}")}))
        .collect();
    (flags.collect(), json!({"spec": {"targetRefs": refs}}))
}

/// Where the plugin applies: selector, targetRefs.
fn placement_cases() -> Vec<ManifestCase> {
    vec![
        mcase("base", &[], json!({})),
        mcase(
            "selector",
            &["--selector", "app=api"],
            json!({"spec": {"selector": {"matchLabels": {"app": "api"}}}}),
        ),
        mcase(
            "selector-and-target-ref",
            &["--selector", "app=api", "--target-ref", "Service/api"],
            json!({"spec": {"selector": {"matchLabels": {"app": "api"}}, "targetRefs": [{"group": "", "kind": "Service", "name": "api"}]}}),
        ),
        mcase(
            "selector-wildcard-value",
            &["--selector", "app=*"],
            json!({"spec": {"selector": {"matchLabels": {"app": "*"}}}}),
        ),
        mcase(
            "selector-wildcard-key",
            &["--selector", "a*=x"],
            json!({"spec": {"selector": {"matchLabels": {"a*": "x"}}}}),
        ),
        mcase(
            "gateway",
            &["--target-ref", "Gateway/gw"],
            json!({"spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw"}]}}),
        ),
        mcase(
            "target-ref-bad-kind",
            &["--target-ref", "example.com/1Widget/x"],
            json!({"spec": {"targetRefs": [{"group": "example.com", "kind": "1Widget", "name": "x"}]}}),
        ),
        mcase(
            "target-ref-bad-group",
            &["--target-ref", "Example.COM/Widget/x"],
            json!({"spec": {"targetRefs": [{"group": "Example.COM", "kind": "Widget", "name": "x"}]}}),
        ),
        mcase(
            "target-ref-httproute",
            &["--target-ref", "gateway.networking.k8s.io/HTTPRoute/r"],
            json!({"spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "r"}]}}),
        ),
        mcase(
            "target-ref-service-entry",
            &["--target-ref", "networking.istio.io/ServiceEntry/se"],
            json!({"spec": {"targetRefs": [{"group": "networking.istio.io", "kind": "ServiceEntry", "name": "se"}]}}),
        ),
        mcase(
            "target-ref-core-service",
            &["--target-ref", "core/Service/s"],
            json!({"spec": {"targetRefs": [{"group": "core", "kind": "Service", "name": "s"}]}}),
        ),
        mcase(
            "target-ref-long-name",
            &["--target-ref", &format!("Service/{}", long(254))],
            json!({"spec": {"targetRefs": [{"group": "", "kind": "Service", "name": long(254)}]}}),
        ),
    ]
}

/// The VM environment.
fn env_cases() -> Vec<ManifestCase> {
    vec![
        mcase(
            "env",
            &["--env", "A=1", "--env-from-host", "POD_NAME"],
            json!({"spec": {"vmConfig": {"env": [{"name": "A", "value": "1"}, {"name": "POD_NAME", "valueFrom": "HOST"}]}}}),
        ),
        mcase(
            "env-duplicate",
            &["--env", "A=1", "--env", "A=2"],
            json!({"spec": {"vmConfig": {"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}}}),
        ),
        mcase(
            "env-duplicate-host",
            &["--env", "A=1", "--env-from-host", "A"],
            json!({"spec": {"vmConfig": {"env": [{"name": "A", "value": "1"}, {"name": "A", "valueFrom": "HOST"}]}}}),
        ),
        mcase(
            "env-long-value",
            &["--env", &format!("A={}", long(2049))],
            json!({"spec": {"vmConfig": {"env": [{"name": "A", "value": long(2049)}]}}}),
        ),
        mcase(
            "env-long-name",
            &["--env", &format!("{}=1", long(257))],
            json!({"spec": {"vmConfig": {"env": [{"name": long(257), "value": "1"}]}}}),
        ),
        mcase(
            "env-empty-value",
            &["--env", "A="],
            json!({"spec": {"vmConfig": {"env": [{"name": "A", "value": ""}]}}}),
        ),
    ]
}

/// Traffic matches, and where the module comes from.
fn source_cases() -> Vec<ManifestCase> {
    let hex = "0123456789abcdef".repeat(4);
    vec![
        mcase(
            "ports",
            &["--match", "SERVER:8080,8443"],
            json!({"spec": {"match": [{"mode": "SERVER", "ports": [{"number": 8080}, {"number": 8443}]}]}}),
        ),
        mcase(
            "port-zero",
            &["--match", "SERVER:0"],
            json!({"spec": {"match": [{"mode": "SERVER", "ports": [{"number": 0}]}]}}),
        ),
        mcase(
            "port-too-big",
            &["--match", ":65536"],
            json!({"spec": {"match": [{"ports": [{"number": 65536}]}]}}),
        ),
        mcase(
            "port-duplicate",
            &["--match", ":8080,8080"],
            json!({"spec": {"match": [{"ports": [{"number": 8080}, {"number": 8080}]}]}}),
        ),
        mcase(
            "url-ftp",
            &["--url", "ftp://registry.example/p.wasm"],
            json!({"spec": {"url": "ftp://registry.example/p.wasm"}}),
        ),
        mcase(
            "url-no-scheme",
            &["--url", "registry.example/team/plugin:v1"],
            json!({"spec": {"url": "registry.example/team/plugin:v1"}}),
        ),
        mcase(
            "url-host-port-no-scheme",
            &["--url", "localhost:5000/team/plugin:v1"],
            json!({"spec": {"url": "localhost:5000/team/plugin:v1"}}),
        ),
        mcase(
            "url-upper-case-scheme",
            &["--url", "HTTPS://example.com/p.wasm", "--sha256", &hex],
            json!({"spec": {"url": "HTTPS://example.com/p.wasm", "sha256": hex}}),
        ),
        mcase(
            "url-file",
            &["--url", "file:///opt/plugins/p.wasm"],
            json!({"spec": {"url": "file:///opt/plugins/p.wasm"}}),
        ),
        // What Go's url parser (the CEL's isURL) refuses. With a scheme, most of it is read
        // again after `http://`, as a host `https:` and a path, which passes.
        mcase(
            "url-bad-escape",
            &["--url", "https://example.com/p%zz.wasm", "--sha256", &hex],
            json!({"spec": {"url": "https://example.com/p%zz.wasm", "sha256": hex}}),
        ),
        mcase(
            "url-bad-port",
            &["--url", "https://example.com:80x/p.wasm", "--sha256", &hex],
            json!({"spec": {"url": "https://example.com:80x/p.wasm", "sha256": hex}}),
        ),
        mcase(
            "url-space-in-host",
            &["--url", "https://exa mple.com/p.wasm", "--sha256", &hex],
            json!({"spec": {"url": "https://exa mple.com/p.wasm", "sha256": hex}}),
        ),
        mcase(
            "url-leading-space",
            &["--url", " registry.example/team/plugin:v1"],
            json!({"spec": {"url": " registry.example/team/plugin:v1"}}),
        ),
        mcase(
            "url-ipv4-in-brackets",
            &["--url", "https://[10.0.0.1]/p.wasm", "--sha256", &hex],
            json!({"spec": {"url": "https://[10.0.0.1]/p.wasm", "sha256": hex}}),
        ),
        // Image references Istio's agent cannot parse (go-containerregistry): admitted, never
        // fetched.
        mcase(
            "url-unparsable-tag",
            &["--url", "oci://registry.example/team/plugin:bad tag"],
            json!({"spec": {"url": "oci://registry.example/team/plugin:bad tag"}}),
        ),
        mcase(
            "url-unparsable-upper-case-repository",
            &["--url", "oci://registry.example/Team/Plugin:v1"],
            json!({"spec": {"url": "oci://registry.example/Team/Plugin:v1"}}),
        ),
        mcase(
            "url-unparsable-sha512-digest",
            &["--url", "registry.example/team/plugin@sha512:abc"],
            json!({"spec": {"url": "registry.example/team/plugin@sha512:abc"}}),
        ),
        // And what it reads: a space in the path, an IPv6 host.
        mcase(
            "url-space-in-path",
            &[
                "--url",
                "https://example.com/my plugin.wasm",
                "--sha256",
                &hex,
            ],
            json!({"spec": {"url": "https://example.com/my plugin.wasm", "sha256": hex}}),
        ),
        mcase(
            "url-ipv6-host",
            &["--url", "https://[fd00::1]:8443/p.wasm", "--sha256", &hex],
            json!({"spec": {"url": "https://[fd00::1]:8443/p.wasm", "sha256": hex}}),
        ),
    ]
}

/// The checksum, the pull secret and the plugin name.
fn checksum_cases() -> Vec<ManifestCase> {
    let hex = "0123456789abcdef".repeat(4);
    let pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----";
    vec![
        mcase(
            "verification-key-pem",
            &["--verification-key", pem],
            json!({"spec": {"verificationKey": pem}}),
        ),
        mcase(
            "sha256",
            &["--sha256", &hex],
            json!({"spec": {"sha256": hex}}),
        ),
        mcase(
            "sha256-upper-case",
            &["--sha256", &hex.to_uppercase()],
            json!({"spec": {"sha256": hex.to_uppercase()}}),
        ),
        mcase(
            "sha256-short",
            &["--sha256", &hex[1..]],
            json!({"spec": {"sha256": &hex[1..]}}),
        ),
        mcase(
            "pull-secret",
            &["--image-pull-secret", "registry-login"],
            json!({"spec": {"imagePullSecret": "registry-login"}}),
        ),
        mcase(
            "pull-secret-invalid",
            &["--image-pull-secret", "Bad_Name"],
            json!({"spec": {"imagePullSecret": "Bad_Name"}}),
        ),
        mcase(
            "pinned-url-other-sha256",
            &[
                "--url",
                &format!("oci://registry.example/team/plugin@sha256:{hex}"),
                "--sha256",
                &"f".repeat(64),
            ],
            json!({"spec": {"url": format!("oci://registry.example/team/plugin@sha256:{hex}"), "sha256": "f".repeat(64)}}),
        ),
        mcase(
            "pull-secret-long",
            &["--image-pull-secret", &long(254)],
            json!({"spec": {"imagePullSecret": long(254)}}),
        ),
        mcase(
            "plugin-name-long",
            &["--plugin-name", &long(257)],
            json!({"spec": {"pluginName": long(257)}}),
        ),
    ]
}

/// Enums, priority, pluginConfig, and the object metadata.
fn metadata_cases() -> Vec<ManifestCase> {
    vec![
        mcase(
            "every-enum",
            &[
                "--phase",
                "AUTHN",
                "--priority",
                "-5",
                "--fail-strategy",
                "FAIL_RELOAD",
                "--type",
                "NETWORK",
                "--image-pull-policy",
                "Always",
            ],
            json!({"spec": {"phase": "AUTHN", "priority": -5, "failStrategy": "FAIL_RELOAD", "type": "NETWORK", "imagePullPolicy": "Always"}}),
        ),
        mcase(
            "priority-over-int32",
            &["--priority", "3000000000"],
            json!({"spec": {"priority": 3_000_000_000_i64}}),
        ),
        mcase(
            "plugin-config",
            &["--set", "headers.x-greeting=hello"],
            json!({"spec": {"pluginConfig": {"headers": {"x-greeting": "hello"}}}}),
        ),
        mcase(
            "name-invalid",
            &["--name", "Bad_Name"],
            json!({"metadata": {"name": "Bad_Name"}}),
        ),
        mcase(
            "name-long",
            &["--name", &long(254)],
            json!({"metadata": {"name": long(254)}}),
        ),
        mcase(
            "name-long-part",
            &["--name", &format!("{}.b", long(64))],
            json!({"metadata": {"name": format!("{}.b", long(64))}}),
        ),
        mcase(
            "annotation-upper-case-prefix",
            &["--annotation", "Example.com/x=1"],
            json!({"metadata": {"annotations": {"Example.com/x": "1"}}}),
        ),
        mcase(
            "plugin-name-many-bytes",
            &["--plugin-name", &"é".repeat(129)],
            json!({"spec": {"pluginName": "é".repeat(129)}}),
        ),
        mcase(
            "namespace-invalid",
            &["--namespace", "Team.A"],
            json!({"metadata": {"namespace": "Team.A"}}),
        ),
        mcase(
            "label",
            &["--label", "app.kubernetes.io/name=demo"],
            json!({"metadata": {"labels": {"app.kubernetes.io/name": "demo"}}}),
        ),
        mcase(
            "label-bad-value",
            &["--label", &format!("a={}", long(64))],
            json!({"metadata": {"labels": {"a": long(64)}}}),
        ),
        mcase(
            "annotation-bad-key",
            &["--annotation", "bad key=1"],
            json!({"metadata": {"annotations": {"bad key": "1"}}}),
        ),
    ]
}

fn manifest_corpus() -> Vec<ManifestCase> {
    let mut cases: Vec<ManifestCase> = [
        placement_cases(),
        env_cases(),
        source_cases(),
        checksum_cases(),
        metadata_cases(),
    ]
    .into_iter()
    .flatten()
    .collect();
    for n in [16, 17] {
        let (flags, patch) = target_refs(n);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        cases.push(mcase(&format!("target-refs-{n}"), &flags, patch));
    }
    let shared = [
        "base",
        "selector-and-target-ref",
        "env-duplicate",
        "port-zero",
        "url-ftp",
        "sha256-short",
        "target-refs-17",
        "every-enum",
    ];
    let more: Vec<ManifestCase> = manifest_corpus_subset(&cases, &shared);
    cases.extend(more);
    cases
}

fn manifest_corpus_subset(cases: &[ManifestCase], names: &[&str]) -> Vec<ManifestCase> {
    cases
        .iter()
        .filter(|c| names.contains(&c.name.as_str()))
        .map(|c| {
            let mut flags = c.flags.clone();
            flags.extend(["--kind".into(), "TrafficExtension".into()]);
            traffic(ManifestCase {
                name: c.name.clone(),
                kind: c.kind,
                flags,
                patch: c.patch.clone(),
            })
        })
        .collect()
}

/// wasmctl's verdict on one case, and the resource to give the cluster: what wasmctl emitted, or
/// what it would have emitted.
fn wasmctl_verdict(dir: &Path, case: &ManifestCase) -> (bool, Value) {
    // The base flags, each unless the case gives its own (clap refuses a flag given twice).
    let base = [
        ["--name", "corpus"],
        ["--namespace", "default"],
        ["--url", "oci://registry.example/team/plugin:v1"],
    ];
    let kind = ["--kind", case.kind];
    let emit = |flags: &[String]| {
        let mut cmd = wasmctl(dir);
        cmd.arg("manifest");
        for [flag, value] in base {
            if !flags.iter().any(|f| f == flag) {
                cmd.args([flag, value]);
            }
        }
        run(cmd.args(flags))
    };
    let base_run = emit(&kind.map(String::from));
    assert!(base_run.success(), "{}", base_run.stderr);
    let mut expected = support::crd::yaml_documents(&base_run.stdout).remove(0);
    merge(&mut expected, &case.patch);
    let r = emit(&case.flags);
    if r.success() {
        let emitted = support::crd::yaml_documents(&r.stdout).remove(0);
        assert_eq!(
            emitted, expected,
            "{}: the case's patch says what the flags do",
            case.name
        );
        (true, emitted)
    } else {
        assert_eq!(r.code, Some(2), "{}: {}", case.name, r.stderr);
        assert!(
            r.stderr.starts_with("error:"),
            "{}: {}",
            case.name,
            r.stderr
        );
        (false, expected)
    }
}

/// Where wasmctl refuses, on purpose, what the cluster admits: the resource could never work.
/// docs/manifest.md explains each. Istio's own fetcher judges the `url-unparsable-` cases.
const STRICTER: [(&str, &str); 5] = [
    (
        "pull-secret-invalid",
        "no Secret can have that name, so the proxy never gets the login",
    ),
    (
        "pinned-url-other-sha256",
        "the agent checks the sha256 against the digest it fetched, which the url pins",
    ),
    (
        "url-unparsable-tag",
        "the agent cannot parse the image reference",
    ),
    (
        "url-unparsable-upper-case-repository",
        "the agent cannot parse the image reference",
    ),
    (
        "url-unparsable-sha512-digest",
        "the agent cannot parse the image reference",
    ),
];

/// Every corpus case and Istio golden file, written to `dir`, with wasmctl's verdict. (The other
/// kinds' golden files are checked against their own CRDs in tests/manifest_targets.rs.)
fn judged_by_wasmctl(dir: &Path) -> Vec<(String, bool, PathBuf)> {
    let mut judged = Vec::new();
    for (i, case) in manifest_corpus().iter().enumerate() {
        let (accepted, resource) = wasmctl_verdict(dir, case);
        let file = dir.join(format!("case-{i}.json"));
        std::fs::write(&file, resource.to_string()).unwrap();
        judged.push((case.name.clone(), accepted, file));
    }
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/manifest");
    for entry in std::fs::read_dir(golden).unwrap() {
        let path = entry.unwrap().path();
        let istio =
            std::fs::read_to_string(&path).is_ok_and(|text| text.contains("extensions.istio.io/"));
        if istio
            && matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "json")
            )
        {
            let name = format!("golden/{}", path.file_name().unwrap().to_string_lossy());
            judged.push((name, true, path));
        }
    }
    judged
}

/// Compares wasmctl's verdicts with the cluster's (`crds` against the harness's Istio).
fn assert_manifest_agreement(h: &Harness, crds: Option<&Path>) {
    let dir = tempdir();
    let judged = judged_by_wasmctl(dir.path());
    let files: Vec<&Path> = judged.iter().map(|(_, _, f)| f.as_path()).collect();
    let verdicts = h.validate(crds, &files);
    assert_eq!(verdicts.len(), judged.len(), "{verdicts:?}");
    let mut disagreements = Vec::new();
    for ((name, ours, file), theirs) in judged.iter().zip(&verdicts) {
        let cluster = theirs["accepted"] == true;
        let stricter = STRICTER.iter().any(|(case, _)| case == name);
        if stricter {
            assert!(
                cluster && !ours,
                "{name}: no longer a known difference: {theirs}"
            );
            if name.starts_with("url-unparsable-") {
                let resource: Value =
                    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
                let url = resource["spec"]["url"].as_str().unwrap();
                // istiod gives the agent a url without a scheme as oci://.
                let url = match url.contains("://") {
                    true => url.to_string(),
                    false => format!("oci://{url}"),
                };
                let fetched = h.fetch(&url, &[]);
                assert!(
                    fetched["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("could not parse reference")),
                    "{name}: Istio's agent reads the reference: {fetched}"
                );
            }
        } else if cluster != *ours {
            disagreements.push(format!("{name}: wasmctl {ours}, cluster {theirs}"));
        }
    }
    assert!(judged.len() >= 30);
    assert!(
        disagreements.is_empty(),
        "{} of {} manifests judged differently:\n{}",
        disagreements.len(),
        judged.len(),
        disagreements.join("\n")
    );
}

#[test]
fn manifest_agrees_with_the_api_server_and_istios_webhook() {
    let Some(h) = harness(Istio::Newest) else {
        return;
    };
    assert_manifest_agreement(&h, None);
}

#[test]
fn istio_1_30_fetches_and_validates_the_same() {
    let Some(h) = harness(Istio::Release130) else {
        return;
    };
    let versions = h.versions();
    assert_eq!(versions["istio.io/api"], "v1.30.8", "{versions}");
    let registry = Registry::start();
    expect_formats(&h, &registry);
    assert_manifest_agreement(&h, None);
}

#[test]
fn the_harness_runs_the_newest_istio_the_module_proxy_serves() {
    let Some(h) = harness(Istio::Newest) else {
        return;
    };
    let versions = h.versions();
    assert_eq!(versions["istio.io/api"], "v1.32.0", "{versions}");
    assert_eq!(
        versions["istio.io/istio"], "v0.0.0-20260827124520-eed52ebb66ad",
        "{versions}"
    );
    // wasmctl knows that release: no warning that it is newer.
    let dir = tempdir();
    let r = run_ok(wasmctl(dir.path()).args([
        "manifest",
        "--name",
        "p",
        "--url",
        "oci://registry.example/p:v1",
        "--istio-version",
        "1.32",
    ]));
    assert!(!r.stderr.contains("newer than"), "{}", r.stderr);
    let r = run_ok(wasmctl(dir.path()).args([
        "manifest",
        "--name",
        "p",
        "--url",
        "oci://registry.example/p:v1",
        "--istio-version",
        "1.33",
    ]));
    assert!(r.stderr.contains("newer than 1.32"), "{}", r.stderr);
}
