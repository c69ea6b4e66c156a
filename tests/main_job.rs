//! The main job end to end, as a user runs it inside a new project: new -> build -> test -> run ->
//! push to a real registry -> verify -> manifest pinned to the pushed digest, valid for Istio's CRD.

mod support;

use support::registry::Registry;
use support::{crd, new_project, run_ok, sha256_digest, skopeo, tempdir, wasmctl};

/// The manifest digest skopeo reads back from the registry: the sha256 of the raw manifest bytes.
fn skopeo_manifest_digest(image: &str) -> String {
    sha256_digest(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ]))
}

#[test]
fn new_build_test_run_push_verify_manifest() {
    let registry = Registry::start();
    let dir = tempdir();
    let project = new_project(dir.path(), "main-job", &[]);

    let built = run_ok(wasmctl(&project).arg("build"));
    let module = std::fs::read(built.stdout.trim()).unwrap();

    // The template's own scenarios pass, and one request shows the configured header.
    run_ok(wasmctl(&project).arg("test"));
    let r = run_ok(wasmctl(&project).args(["run", "--config", "config.yaml", "--json"]));
    let run: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(r.stdout.contains("x-greeting"), "{}", r.stdout);
    assert!(run.is_object());

    // Push: stdout is REF@DIGEST, and skopeo sees the same digest.
    let image = format!("{}/team/demo:v1", registry.addr);
    let r = run_ok(wasmctl(&project).args(["push", &image]));
    let (reference, digest) = r.stdout.trim().rsplit_once('@').expect("REF@DIGEST");
    assert_eq!(reference, image);
    assert_eq!(digest, skopeo_manifest_digest(&image));

    // The image is one Istio loads, holding the module we built.
    let r = run_ok(wasmctl(&project).args(["verify", &image]));
    assert!(r.stdout.contains(digest), "{}", r.stdout);
    let pulled = dir.path().join("pulled.wasm");
    run_ok(wasmctl(&project).args(["pull", &image, "-o"]).arg(&pulled));
    assert_eq!(std::fs::read(&pulled).unwrap(), module);

    // The manifest pins exactly that push and passes the CRD's schema and CEL rules.
    let r = run_ok(wasmctl(&project).args([
        "manifest",
        "--selector",
        "app=demo",
        "--config",
        "config.yaml",
        "--env",
        "TRUST_DOMAIN=cluster.local",
    ]));
    let documents = crd::yaml_documents(&r.stdout);
    assert_eq!(documents.len(), 1, "{}", r.stdout);
    let plugin = &documents[0];
    crd::assert_valid(plugin);
    assert_eq!(plugin["kind"], "WasmPlugin");
    assert_eq!(
        plugin["spec"]["url"],
        format!("oci://{}/team/demo@{digest}", registry.addr)
    );
    assert_eq!(
        plugin["spec"]["sha256"],
        digest.trim_start_matches("sha256:")
    );
    assert_eq!(plugin["spec"]["selector"]["matchLabels"]["app"], "demo");
    assert_eq!(
        plugin["spec"]["pluginConfig"]["headers"]["x-greeting"],
        "hello"
    );
    assert_eq!(plugin["spec"]["vmConfig"]["env"][0]["name"], "TRUST_DOMAIN");
    assert_eq!(
        plugin["spec"]["vmConfig"]["env"][0]["value"],
        "cluster.local"
    );
}

#[test]
fn the_readme_job_needs_no_registry() {
    // scripts/demo.sh pushes to an OCI image layout on disk; skopeo can read it back.
    let dir = tempdir();
    let project = new_project(dir.path(), "main-job-layout", &[]);
    run_ok(wasmctl(&project).arg("build"));
    let layout = dir.path().join("layout");
    let r = run_ok(
        wasmctl(&project)
            .arg("push")
            .arg(format!("oci-layout:{}:v1", layout.display())),
    );
    let (_, digest) = r.stdout.trim().rsplit_once('@').expect("REF@DIGEST");
    let raw = skopeo(&["inspect", "--raw", &format!("oci:{}:v1", layout.display())]);
    assert_eq!(digest, sha256_digest(&raw));
    let r = run_ok(wasmctl(&project).arg("manifest"));
    let documents = crd::yaml_documents(&r.stdout);
    crd::assert_valid(&documents[0]);
    // A layout is no url a proxy can fetch: the manifest points at the project's repository, and
    // says the image must be copied there first.
    assert_eq!(
        documents[0]["spec"]["url"],
        format!("oci://localhost:5000/main-job-layout@{digest}")
    );
    assert!(
        r.stderr.contains("copy the image there before applying"),
        "{}",
        r.stderr
    );
}
