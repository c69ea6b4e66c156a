//! `wasmctl manifest`: golden outputs for representative cases, every emitted object checked against
//! Istio 1.30.3's real CRD (schema and CEL rules), and bad input refused with nothing written.

mod support;

use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::crd;
use support::manifest::{DIGEST, assert_golden, forget_push, pushed_project, record_push};
use support::{new_project, plugin_target_dir, run_err, run_ok, tempdir, wasmctl};

/// Parses YAML output, checks every WasmPlugin / TrafficExtension in it against the CRD.
#[track_caller]
fn valid_documents(yaml: &str) -> Vec<Value> {
    let documents = crd::yaml_documents(yaml);
    assert!(!documents.is_empty(), "no documents in {yaml:?}");
    for document in &documents {
        if document["apiVersion"] == "extensions.istio.io/v1alpha1" {
            crd::assert_valid(document);
        }
    }
    documents
}

#[test]
fn after_push_pins_the_digest_and_validates() {
    let tmp = tempdir();
    let project = pushed_project(tmp.path(), "mf-pinned");
    let r = run_ok(wasmctl(&project).args([
        "manifest",
        "--selector",
        "app=demo",
        "--config",
        "config.yaml",
        "--env",
        "TRUST_DOMAIN=cluster.local",
    ]));
    assert_golden("after-push.yaml", &r.stdout);
    assert!(r.stderr.is_empty(), "stderr: {}", r.stderr);
    let documents = valid_documents(&r.stdout);
    let spec = &documents[0]["spec"];
    assert_eq!(
        spec["url"],
        format!("oci://localhost:5000/mf-pinned@sha256:{DIGEST}")
    );
    assert_eq!(spec["sha256"], DIGEST);
    assert_eq!(
        spec["pluginConfig"],
        json!({"headers": {"x-greeting": "hello"}})
    );
}

#[test]
fn defaults_come_from_the_project() {
    let tmp = tempdir();
    let project = pushed_project(tmp.path(), "mf-defaults");
    let r = run_ok(wasmctl(&project).arg("manifest"));
    assert_golden("project-defaults.yaml", &r.stdout);
    let documents = valid_documents(&r.stdout);
    assert_eq!(documents[0]["spec"]["type"], "HTTP");
    // Istio before 1.20 runs only HTTP plugins and has no `type`: the default is left out.
    let r = run_ok(wasmctl(&project).args(["manifest", "--istio-version", "1.19.3"]));
    let documents = valid_documents(&r.stdout);
    assert!(documents[0]["spec"].get("type").is_none(), "{}", r.stdout);
    let r =
        run_err(wasmctl(&project).args(["manifest", "--istio-version", "1.19", "--type", "HTTP"]));
    assert!(
        r.stderr.contains("`type` needs Istio 1.20 or later"),
        "{}",
        r.stderr
    );
}

#[test]
fn every_field() {
    let tmp = tempdir();
    let project = pushed_project(tmp.path(), "mf-every-field");
    let r = run_ok(wasmctl(&project).args([
        "manifest",
        "--name",
        "headers-v2",
        "-n",
        "istio-ingress",
        "--label",
        "app.kubernetes.io/part-of=shop",
        "--annotation",
        "example.com/owner=team a",
        "--target-ref",
        "Gateway/public",
        "--target-ref",
        "Service/api",
        "--image-pull-policy",
        "Always",
        "--image-pull-secret",
        "registry-login",
        "--plugin-name",
        "headers",
        "--phase",
        "AUTHZ",
        "--priority",
        "-20",
        "--fail-strategy",
        "FAIL_RELOAD",
        "--type",
        "HTTP",
        "--env",
        "TRUST_DOMAIN=cluster.local",
        "--env",
        "EMPTY=",
        "--env-from-host",
        "POD_NAME",
        "--match",
        "SERVER:8080,8443",
        "--match",
        "CLIENT",
        "--set",
        "headers.x-mode=on",
        "--set",
        "limits.rps=100",
        "--set",
        "limits.burst=\"20\"",
        "--verification-key",
        "key-1",
    ]));
    assert_golden("every-field.yaml", &r.stdout);
    let documents = valid_documents(&r.stdout);
    let config = &documents[0]["spec"]["pluginConfig"];
    // YAML 1.1 readers (kubectl) would turn a bare `on` into true.
    assert_eq!(config["headers"]["x-mode"], "on");
    assert_eq!(config["limits"], json!({"rps": 100, "burst": "20"}));
}

#[test]
fn traffic_extension_in_yaml_and_json() {
    let tmp = tempdir();
    let project = pushed_project(tmp.path(), "mf-traffic");
    let args = [
        "manifest",
        "--kind",
        "TrafficExtension",
        "--phase",
        "STATS",
        "--fail-strategy",
        "FAIL_OPEN",
        "--match",
        ":9090",
    ];
    let yaml = run_ok(wasmctl(&project).args(args));
    assert_golden("traffic-extension.yaml", &yaml.stdout);
    let documents = valid_documents(&yaml.stdout);
    assert_eq!(documents[0]["kind"], "TrafficExtension");
    assert!(documents[0]["spec"]["wasm"]["url"].is_string());

    let json = run_ok(wasmctl(&project).args(args).arg("--json"));
    assert_golden("traffic-extension.json", &json.stdout);
    let value: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        value, documents[0],
        "--json carries the same object as YAML"
    );
    crd::assert_valid(&value);
}

#[test]
fn network_project_and_version_gates() {
    let tmp = tempdir();
    // A hand-written project: the settings are read from Cargo.toml without `wasmctl new`.
    let project = tmp.path().join("tcp");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(project.join("src/lib.rs"), "").unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"mf_tcp_filter\"\nversion = \"1.2.0\"\nedition = \"2021\"\n\n\
         [package.metadata.wasmctl]\ntype = \"NETWORK\"\nnamespace = \"edge\"\n\
         selector = { app = \"tcp\", tier = \"edge\" }\n",
    )
    .unwrap();
    record_push("mf_tcp_filter", "ghcr.io/acme/tcp-filter:1.2.0");
    let r = run_ok(wasmctl(&project).arg("manifest"));
    assert_golden("network.yaml", &r.stdout);
    let documents = valid_documents(&r.stdout);
    assert_eq!(documents[0]["metadata"]["name"], "mf-tcp-filter");
    assert_eq!(documents[0]["spec"]["type"], "NETWORK");

    // Before 1.20 there is no `type`, so a NETWORK plugin cannot be expressed.
    let r = run_err(wasmctl(&project).args(["manifest", "--istio-version", "1.19"]));
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("`type` needs Istio 1.20 or later"),
        "{}",
        r.stderr
    );
}

#[test]
fn same_inputs_same_bytes_and_output_file() {
    let tmp = tempdir();
    let project = pushed_project(tmp.path(), "mf-stable");
    let args = [
        "manifest", "--set", "b=2", "--set", "a.c=x", "--env", "B=1", "--env", "A=2",
    ];
    let first = run_ok(wasmctl(&project).args(args));
    let second = run_ok(wasmctl(&project).args(args));
    assert_eq!(first.stdout, second.stdout);

    let out = tmp.path().join("out/plugin.yaml");
    let r = run_ok(wasmctl(&project).args(args).arg("-o").arg(&out));
    assert_eq!(r.stdout.trim(), out.display().to_string());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), first.stdout);
    assert!(r.stderr.contains("Wrote"), "{}", r.stderr);
}

#[test]
fn pull_secret_from_docker_config() {
    let tmp = tempdir();
    let project = pushed_project(tmp.path(), "mf-secret");
    let docker = tmp.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    std::fs::write(
        docker.join("config.json"),
        json!({"auths": {
            "https://localhost:5000": {"auth": b64("alice:s3cret-pass")},
            "ghcr.io": {"auth": b64("bob:not-for-this-image")},
        }})
        .to_string(),
    )
    .unwrap();
    let r = run_ok(
        wasmctl(&project)
            .args(["manifest", "--pull-secret-from-docker-config"])
            .env("DOCKER_CONFIG", &docker)
            .env_remove("REGISTRY_AUTH_FILE"),
    );
    assert!(!r.stderr.contains("s3cret"), "secrets stay out of stderr");
    let documents = valid_documents(&r.stdout);
    assert_eq!(documents.len(), 2);
    assert_eq!(
        documents[0]["spec"]["imagePullSecret"],
        "mf-secret-pull-secret"
    );
    let secret = &documents[1];
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    assert_eq!(
        secret["metadata"],
        json!({"name": "mf-secret-pull-secret", "namespace": "default"})
    );
    let config = base64::engine::general_purpose::STANDARD
        .decode(secret["data"][".dockerconfigjson"].as_str().unwrap())
        .unwrap();
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(
        config,
        json!({"auths": {"localhost:5000": {
            "username": "alice",
            "password": "s3cret-pass",
            "auth": b64("alice:s3cret-pass"),
        }}}),
        "only the image's registry is copied"
    );
    // Without asking, no Secret.
    let r = run_ok(
        wasmctl(&project)
            .arg("manifest")
            .env("DOCKER_CONFIG", &docker),
    );
    assert_eq!(crd::yaml_documents(&r.stdout).len(), 1);
    assert!(!r.stdout.contains("dockerconfigjson"));

    // A credential helper named by the docker config is asked, over its stdin/stdout protocol.
    let helper_dir = tmp.path().join("bin");
    std::fs::create_dir_all(&helper_dir).unwrap();
    let helper = helper_dir.join("docker-credential-wasmctl-test");
    std::fs::write(
        &helper,
        "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n\
         printf '{\"ServerURL\":\"%s\",\"Username\":\"carol\",\"Secret\":\"from-helper\"}' \"$server\"\n",
    )
    .unwrap();
    let executable = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755);
    std::fs::set_permissions(&helper, executable).unwrap();
    let with_helper = tmp.path().join("with-helper");
    std::fs::create_dir_all(&with_helper).unwrap();
    std::fs::write(
        with_helper.join("config.json"),
        json!({"credHelpers": {"localhost:5000": "wasmctl-test"}}).to_string(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        helper_dir.display(),
        std::env::var("PATH").unwrap()
    );
    let r = run_ok(
        wasmctl(&project)
            .args([
                "manifest",
                "--pull-secret-from-docker-config",
                "--image-pull-secret",
                "regcred",
            ])
            .env("DOCKER_CONFIG", &with_helper)
            .env("PATH", &path)
            .env_remove("REGISTRY_AUTH_FILE"),
    );
    let documents = valid_documents(&r.stdout);
    assert_eq!(documents[0]["spec"]["imagePullSecret"], "regcred");
    assert_eq!(documents[1]["metadata"]["name"], "regcred");
    let config = base64::engine::general_purpose::STANDARD
        .decode(documents[1]["data"][".dockerconfigjson"].as_str().unwrap())
        .unwrap();
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["auths"]["localhost:5000"]["username"], "carol");
    assert_eq!(config["auths"]["localhost:5000"]["password"], "from-helper");

    // REGISTRY_AUTH_FILE (podman, skopeo) is read before the docker config.
    let auth_file = tmp.path().join("auth.json");
    std::fs::write(
        &auth_file,
        json!({"auths": {"localhost:5000": {"auth": b64("dave:from-auth-file")}}}).to_string(),
    )
    .unwrap();
    let r = run_ok(
        wasmctl(&project)
            .args(["manifest", "--pull-secret-from-docker-config", "--json"])
            .env("DOCKER_CONFIG", &docker)
            .env("REGISTRY_AUTH_FILE", &auth_file),
    );
    let list: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    crd::assert_valid(&list["items"][0]);
    let config = base64::engine::general_purpose::STANDARD
        .decode(
            list["items"][1]["data"][".dockerconfigjson"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["auths"]["localhost:5000"]["username"], "dave");

    // No login for the registry: refused, nothing printed.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("config.json"), r#"{"auths": {}}"#).unwrap();
    let r = run_err(
        wasmctl(&project)
            .args(["manifest", "--pull-secret-from-docker-config"])
            .env("DOCKER_CONFIG", &empty)
            .env_remove("REGISTRY_AUTH_FILE"),
    );
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr
            .starts_with("error: no login for registry `localhost:5000`"),
        "{}",
        r.stderr
    );

    // A docker config that is not JSON is said to be so, not taken for no login.
    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    let text = json!({"auths": {"localhost:5000": {"auth": b64("erin:broken-pass")}}}).to_string();
    std::fs::write(broken.join("config.json"), &text[..text.len() - 1]).unwrap();
    let r = run_err(
        wasmctl(&project)
            .args(["manifest", "--pull-secret-from-docker-config"])
            .env("DOCKER_CONFIG", &broken)
            .env_remove("REGISTRY_AUTH_FILE"),
    );
    assert_eq!(r.code, Some(2));
    assert!(r.stdout.is_empty());
    let config = broken.join("config.json");
    assert!(
        r.stderr
            .starts_with(&format!("error: `{}` is not valid JSON", config.display())),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("broken-pass"), "{}", r.stderr);

    // Written to a file, the Secret is its owner's alone.
    let out = tmp.path().join("with-secret.yaml");
    run_ok(
        wasmctl(&project)
            .args(["manifest", "--pull-secret-from-docker-config", "-o"])
            .arg(&out)
            .env("DOCKER_CONFIG", &docker)
            .env_remove("REGISTRY_AUTH_FILE"),
    );
    let mode = std::fs::metadata(&out).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    assert_eq!(
        valid_documents(&std::fs::read_to_string(&out).unwrap()).len(),
        2
    );
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let tmp = tempdir();
    let project = pushed_project(tmp.path(), "mf-bad");
    let unpushed = new_project(tmp.path(), "mf-unpushed", &[]);
    forget_push("mf-unpushed");
    std::fs::write(project.join("bad.yaml"), "headers:\n  x-a: b\n x-c: [\n").unwrap();
    let bad_yaml = project.join("bad.yaml").display().to_string();
    let cases: &[(&Path, &[&str], &str)] = &[
        (
            &project,
            &["--label", "team_=a"],
            "invalid --label `team_=a`",
        ),
        (
            &project,
            &["--selector", "app*=x"],
            "invalid --selector `app*=x`",
        ),
        (
            &project,
            &["--selector", "app=x", "--target-ref", "Gateway/gw"],
            "only one of targetRefs or selector can be set",
        ),
        (
            &project,
            &["--env", "TRUST_DOMAIN"],
            "invalid --env `TRUST_DOMAIN`: no value",
        ),
        (
            &project,
            &["--env", "A=1", "--env", "A=2"],
            "duplicate environment variable `A`",
        ),
        (&project, &["--phase", "EARLY"], "unknown phase `EARLY`"),
        (
            &project,
            &["--priority", "2147483648"],
            "2147483648 is out of range",
        ),
        (
            &project,
            &["--config", "bad.yaml"],
            &format!("invalid YAML in `{}` at line 3", "bad.yaml"),
        ),
        (&unpushed, &[], "no url for the module"),
        (
            &project,
            &["--fail-strategy", "FAIL_RELOAD", "--istio-version", "1.26"],
            "FAIL_RELOAD needs Istio 1.27 or later (chosen: 1.26)",
        ),
        (
            &project,
            &["--kind", "TrafficExtension", "--istio-version", "1.29"],
            "TrafficExtension needs Istio 1.30 or later",
        ),
        (
            &project,
            &["--url", "ftp://example.com/x.wasm"],
            "url must have schema one of [http, https, file, oci]",
        ),
        (
            &project,
            &["--url", "localhost:5000/x:1"],
            "url must have schema one of [http, https, file, oci]",
        ),
        (
            &project,
            &["--sha256", "ABC"],
            "is not 64 lower-case hex digits",
        ),
        (
            &project,
            &["--name", "My_Plugin"],
            "metadata.name: `My_Plugin`",
        ),
        (
            &project,
            &["--match", "SERVER:70000"],
            "port 70000 is not in 1..65535",
        ),
        (
            &project,
            &["--set", "headers.x-greeting.deep=1"],
            "`headers.x-greeting` is a string",
        ),
    ];
    let out = tmp.path().join("never.yaml");
    for (dir, args, expected) in cases {
        let r = run_err(wasmctl(dir).arg("manifest").args(*args).arg("-o").arg(&out));
        let first = r.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: "), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(expected),
            "{args:?}: expected {expected:?} in\n{}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{args:?}: stdout {}", r.stdout);
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
    // The YAML error names the file by the path given and the line.
    let r = run_err(wasmctl(&project).args(["manifest", "--config", &bad_yaml]));
    let root = tmp.path().display().to_string();
    assert_golden("invalid-config.stderr", &r.stderr.replace(&root, "[ROOT]"));
    // An existing output file is left as it was.
    std::fs::write(&out, "previous\n").unwrap();
    run_err(
        wasmctl(&project)
            .args(["manifest", "--phase", "NONE", "-o"])
            .arg(&out),
    );
    run_err(
        wasmctl(&project)
            .args(["manifest", "--priority", "9999999999", "-o"])
            .arg(&out),
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous\n");
    // The hint for an unpushed project says what to do.
    let r = run_err(wasmctl(&unpushed).arg("manifest"));
    assert!(
        r.stderr
            .contains("hint: publish it first with `wasmctl push`"),
        "{}",
        r.stderr
    );
}

#[test]
fn config_schema_of_the_project_is_checked() {
    let tmp = tempdir();
    let project = pushed_project(tmp.path(), "mf-schema");
    let cargo_toml = project.join("Cargo.toml");
    let text = std::fs::read_to_string(&cargo_toml).unwrap();
    let text = text.replace(
        "config = \"config.yaml\"",
        "config = \"config.yaml\"\nconfig-schema = \"config.schema.json\"",
    );
    std::fs::write(&cargo_toml, text).unwrap();
    std::fs::write(
        project.join("config.schema.json"),
        json!({
            "type": "object",
            "required": ["headers"],
            "properties": {"headers": {"type": "object", "additionalProperties": {"type": "string"}}}
        })
        .to_string(),
    )
    .unwrap();
    run_ok(wasmctl(&project).args(["manifest", "--set", "headers.x-b=two"]));
    let r = run_err(wasmctl(&project).args(["manifest", "--set", "headers.x-b=2"]));
    assert!(
        r.stderr.contains("pluginConfig does not match `"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("/headers/x-b"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[test]
fn urls_given_on_the_command_line() {
    let tmp = tempdir();
    // Outside any project, --url and --name are enough.
    let r = run_ok(wasmctl(tmp.path()).args([
        "manifest",
        "--name",
        "external",
        "--url",
        &format!("oci://ghcr.io/acme/auth@sha256:{DIGEST}"),
    ]));
    assert_golden("external-url.yaml", &r.stdout);
    let documents = valid_documents(&r.stdout);
    assert_eq!(
        documents[0]["spec"]["sha256"], DIGEST,
        "the pinned digest is the checksum"
    );

    let r = run_ok(wasmctl(tmp.path()).args([
        "manifest",
        "--name",
        "from-file",
        "--url",
        "file:///var/local/wasm/plugin.wasm",
    ]));
    let documents = valid_documents(&r.stdout);
    assert!(documents[0]["spec"].get("sha256").is_none());

    // A checksum that contradicts the pinned digest would make the proxy refuse the image.
    let r = run_err(wasmctl(tmp.path()).args([
        "manifest",
        "--name",
        "x",
        "--url",
        &format!("oci://ghcr.io/acme/auth@sha256:{DIGEST}"),
        "--sha256",
        &"0".repeat(64),
    ]));
    assert!(
        r.stderr.contains("differs from the digest the url pins"),
        "{}",
        r.stderr
    );
}

#[test]
fn http_url_carries_the_hash_of_the_built_module() {
    let tmp = tempdir();
    let project = new_project(tmp.path(), "mf-http", &[]);
    let url = "https://example.com/plugins/mf-http.wasm";
    let artifact = plugin_target_dir().join("wasmctl/mf-http.wasm");
    let _ = std::fs::remove_file(&artifact);
    let r = run_err(wasmctl(&project).args(["manifest", "--url", url]));
    assert!(r.stderr.contains("no local module to hash"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("hint: build the module with `wasmctl build`"),
        "{}",
        r.stderr
    );

    run_ok(wasmctl(&project).arg("build"));
    let module = std::fs::read(&artifact).expect("build leaves the module");
    let r = run_ok(wasmctl(&project).args(["manifest", "--url", url]));
    let documents = valid_documents(&r.stdout);
    assert_eq!(documents[0]["spec"]["url"], url);
    assert_eq!(
        documents[0]["spec"]["sha256"],
        hex::encode(Sha256::digest(&module)),
        "sha256 of the local module"
    );
}

#[test]
fn fast_project_discovery_agrees_with_cargo_metadata() {
    let tmp = tempdir();
    let project = new_project(tmp.path(), "mf-discovery", &[]);
    let selector = wasmctl::project::ProjectSelector {
        manifest_path: Some(project.join("Cargo.toml")),
        package: None,
    };
    // cargo metadata honours CARGO_TARGET_DIR from the environment, as the fast path does.
    let fast = wasmctl::project::Project::discover_with(
        &selector,
        wasmctl::project::Lookup::PlainCargoTomlFirst,
    )
    .unwrap();
    let full = wasmctl::project::Project::discover(&selector).unwrap();
    assert_eq!(fast.name, full.name);
    assert_eq!(fast.version, full.version);
    assert_eq!(fast.settings, full.settings);
    assert_eq!(
        fast.root.canonicalize().unwrap(),
        full.root.canonicalize().unwrap()
    );
    assert_eq!(fast.target_dir, full.target_dir);
    assert_eq!(fast.lib_name, full.lib_name);
}

/// The CRD checks themselves must be able to fail: each object here breaks one rule.
#[test]
fn crd_validation_catches_what_istio_refuses() {
    if !crd::available() {
        return;
    }
    let base = json!({
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": {"name": "x"},
        "spec": {"url": "oci://ghcr.io/a/b:1"}
    });
    crd::assert_valid(&base);
    // The url rule as the API server evaluates it: a missing scheme is read as http://.
    for url in [
        "oci://ghcr.io/a/b@sha256:00",
        "OCI://ghcr.io/a/b:1",
        "ghcr.io/a/b:1",
        "https://example.com/x.wasm",
        "file:///opt/x.wasm",
    ] {
        let mut object = base.clone();
        object["spec"]["url"] = json!(url);
        crd::assert_valid(&object);
    }
    let broken: &[(&str, Value, &str)] = &[
        (
            "/spec/selector",
            json!({"selector": {"matchLabels": {"a": "b"}}, "targetRefs": [{"kind": "Gateway", "name": "g"}]}),
            "only one of targetRefs or selector",
        ),
        (
            "/spec/vmConfig",
            json!({"vmConfig": {"env": [{"name": "A", "valueFrom": "HOST", "value": "x"}]}}),
            "value may only be set when valueFrom is INLINE",
        ),
        (
            "/spec/url",
            json!({"url": "ftp://x/y"}),
            "url must have schema one of",
        ),
        (
            "/spec/url",
            json!({"url": "localhost:5000/x"}),
            "url must have schema one of",
        ),
        (
            "/spec/priority",
            json!({"priority": 2147483648i64}),
            "schema",
        ),
        ("/spec/sha256", json!({"sha256": "ABC"}), "schema"),
        ("/spec/phase", json!({"phase": "EARLY"}), "schema"),
        (
            "/spec/match",
            json!({"match": [{"ports": [{"number": 0}]}]}),
            "schema",
        ),
        (
            "/spec/selector",
            json!({"selector": {"matchLabels": {"a*": "b"}}}),
            "wildcard not allowed in label key match",
        ),
        (
            "/spec/selector",
            json!({"selector": {"matchLabels": {"a": "b*"}}}),
            "wildcard not allowed in label value match",
        ),
        (
            "/spec/targetRefs",
            json!({"targetRefs": [{"kind": "Gateway", "name": "g", "namespace": "other"}]}),
            "cross namespace referencing",
        ),
        ("/spec/pluginConfg", json!({"pluginConfg": {}}), "schema"),
    ];
    for (what, patch, expected) in broken {
        let mut object = base.clone();
        for (key, value) in patch.as_object().unwrap() {
            object["spec"][key] = value.clone();
        }
        let found = crd::violations(&object);
        assert!(
            found.iter().any(|v| v.contains(expected)),
            "{what}: expected {expected:?} among {found:?}"
        );
    }
    // TrafficExtension's own rule: exactly one of wasm or lua.
    let both = json!({
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "TrafficExtension",
        "metadata": {"name": "x"},
        "spec": {"wasm": {"url": "oci://a/b"}, "lua": {"inlineCode": "x"}}
    });
    assert!(
        crd::violations(&both)
            .iter()
            .any(|v| v.contains("exactly one of wasm or lua"))
    );
}
