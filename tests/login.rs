//! `wasmctl login`/`logout` and credentials, against a real registry with htpasswd over TLS.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use support::registry::{FlakyProxy, Registry};
use support::{
    BuiltProject, Run, build_project, run, run_err, run_ok, sha256_digest, skopeo, tempdir, wasmctl,
};

const USER: &str = "alice";
const PASSWORD: &str = "correct-horse-7";

fn module() -> &'static Path {
    static BUILT: OnceLock<BuiltProject> = OnceLock::new();
    &BUILT.get_or_init(|| build_project("login-demo")).module
}

/// `wasmctl` with its own docker config and no podman or environment credentials.
fn isolated(home: &Path) -> Command {
    let mut cmd = wasmctl(home);
    cmd.env("DOCKER_CONFIG", home.join("docker"))
        .env("REGISTRY_AUTH_FILE", home.join("podman-auth.json"))
        .env_remove("WASMCTL_REGISTRY_USERNAME")
        .env_remove("WASMCTL_REGISTRY_PASSWORD")
        .stdin(Stdio::null());
    cmd
}

fn login(home: &Path, registry: &Registry, password: &str, extra: &[&str]) -> Run {
    let mut cmd = isolated(home);
    cmd.args(["login", &registry.addr, "-u", USER, "--password-stdin"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let r = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !r.stderr.contains(password) && !r.stdout.contains(password),
        "secret leaked"
    );
    r
}

fn ca_args(registry: &Registry) -> Vec<String> {
    vec![
        "--ca-file".into(),
        registry.ca.as_ref().unwrap().display().to_string(),
    ]
}

#[test]
fn login_checks_stores_0600_and_push_uses_it() {
    let registry = Registry::start_tls_htpasswd(USER, PASSWORD);
    let home = tempdir();
    let ca = ca_args(&registry);
    let ca: Vec<&str> = ca.iter().map(String::as_str).collect();

    // A TLS server whose CA is unknown: the error names the fix.
    let r = login(home.path(), &registry, PASSWORD, &[]);
    assert!(!r.success());
    assert!(r.stderr.contains("is not trusted"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hint: pass the private CA") && r.stderr.contains("--ca-file"),
        "{}",
        r.stderr
    );

    // A wrong password is refused, and nothing is stored.
    let r = login(home.path(), &registry, "wrong", &ca);
    assert!(!r.success());
    assert!(
        r.stderr.contains(&format!(
            "error: {} refused the credentials of user `alice`",
            registry.addr
        )),
        "{}",
        r.stderr
    );
    assert!(!home.path().join("docker/config.json").exists());

    // Anonymous push: 401 with a hint to log in.
    let reference = format!("{}/team/secure:v1", registry.addr);
    let r = run_err(
        isolated(home.path())
            .args(["push", &reference, "--wasm", module().to_str().unwrap()])
            .args(&ca),
    );
    assert!(
        r.stderr
            .contains("refused the credentials (anonymous access)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("hint: log in first: `wasmctl login"),
        "{}",
        r.stderr
    );

    let r = login(home.path(), &registry, PASSWORD, &ca);
    assert!(r.success(), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    let config_path = home.path().join("docker/config.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    use base64::Engine;
    let auth = config["auths"][&registry.addr]["auth"].as_str().unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .unwrap();
    assert_eq!(decoded, format!("{USER}:{PASSWORD}").as_bytes());

    // push, verify and pull use the stored credentials, at any verbosity without the secret.
    let r = run_ok(
        isolated(home.path())
            .args([
                "push",
                &reference,
                "-vv",
                "--wasm",
                module().to_str().unwrap(),
            ])
            .args(&ca),
    );
    assert!(
        !r.stderr.contains(PASSWORD) && !r.stderr.contains(auth),
        "secret in logs"
    );
    assert!(r.stderr.contains("using credentials for"), "{}", r.stderr);
    skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &format!("{USER}:{PASSWORD}"),
        &format!("docker://{reference}"),
    ]);
    run_ok(isolated(home.path()).args(["verify", &reference]).args(&ca));

    // logout forgets them.
    let r = run_ok(isolated(home.path()).args(["logout", &registry.addr]));
    assert!(r.stderr.contains("Logged out"), "{}", r.stderr);
    let r = run_err(isolated(home.path()).args(["verify", &reference]).args(&ca));
    assert!(r.stderr.contains("refused the credentials"), "{}", r.stderr);
    let r = run_ok(isolated(home.path()).args(["logout", &registry.addr]));
    assert!(r.stderr.contains("not logged in"), "{}", r.stderr);
}

#[test]
fn environment_and_credential_helpers_supply_credentials() {
    let registry = Registry::start_tls_htpasswd(USER, PASSWORD);
    let home = tempdir();
    let ca = ca_args(&registry);
    let reference = format!("{}/team/env:v1", registry.addr);

    let r = run_ok(
        isolated(home.path())
            .args(["push", &reference, "--wasm", module().to_str().unwrap()])
            .args(&ca)
            .env("WASMCTL_REGISTRY_USERNAME", USER)
            .env("WASMCTL_REGISTRY_PASSWORD", PASSWORD),
    );
    assert!(r.stdout.starts_with(&reference));

    // podman's auth file (REGISTRY_AUTH_FILE), read when the docker config has nothing.
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    std::fs::write(
        home.path().join("podman-auth.json"),
        serde_json::json!({"auths": {registry.addr.clone(): {"auth": encoded}}}).to_string(),
    )
    .unwrap();
    let r = run_ok(
        isolated(home.path())
            .args([
                "push",
                &reference,
                "-v",
                "--wasm",
                module().to_str().unwrap(),
            ])
            .args(&ca),
    );
    assert!(
        r.stderr.contains("from the podman auth file"),
        "{}",
        r.stderr
    );
    std::fs::remove_file(home.path().join("podman-auth.json")).unwrap();

    // A docker credential helper named by credHelpers, speaking the helper protocol on stdio.
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let store = home.path().join("helper-store.json");
    let helper = bin.join("docker-credential-wasmctltest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nset -e\ncase \"$1\" in\n  get) cat >/dev/null; cat '{store}' ;;\n  store) cat > '{store}' ;;\n  erase) cat >/dev/null; rm -f '{store}' ;;\nesac\n",
            store = store.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::create_dir_all(home.path().join("docker")).unwrap();
    std::fs::write(
        home.path().join("docker/config.json"),
        serde_json::json!({"credHelpers": {registry.addr.clone(): "wasmctltest"}}).to_string(),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());

    // login stores through the helper, not in the file.
    let mut cmd = isolated(home.path());
    cmd.env("PATH", &path);
    let r = {
        let mut child = cmd
            .args(["login", &registry.addr, "-u", USER, "--password-stdin"])
            .args(&ca)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(PASSWORD.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&store).unwrap()).unwrap();
    assert_eq!(stored["Username"], USER);
    let config = std::fs::read_to_string(home.path().join("docker/config.json")).unwrap();
    assert!(!config.contains("auths"), "{config}");

    let r = run(isolated(home.path())
        .env("PATH", &path)
        .args(["push", &reference, "--wasm", module().to_str().unwrap()])
        .args(&ca));
    assert!(r.success(), "{}", r.stderr);
}

#[test]
fn forbidden_and_missing_are_told_apart() {
    let registry = Registry::start();
    let forbidden = FlakyProxy::start_with(&registry.addr, "HEAD", usize::MAX, "403 Forbidden");
    let home = tempdir();
    let r = run_err(isolated(home.path()).args([
        "push",
        &format!("{}/team/no:v1", forbidden.addr),
        "--wasm",
        module().to_str().unwrap(),
    ]));
    assert!(
        r.stderr.contains(&format!(
            "error: {} denied access to `team/no`",
            forbidden.addr
        )),
        "{}",
        r.stderr
    );
    let r = run_err(
        isolated(home.path()).args(["verify", &format!("{}/team/absent:v1", registry.addr)]),
    );
    assert!(
        r.stderr.contains("error: `") && r.stderr.contains("was not found"),
        "{}",
        r.stderr
    );
}

#[test]
fn token_auth_registry_like_docker_hub() {
    let registry = Registry::start_token_auth(USER, PASSWORD);
    let home = tempdir();
    let reference = format!("{}/team/token:v1", registry.addr);
    let push = |home: &Path| {
        run(isolated(home).args(["push", &reference, "--wasm", module().to_str().unwrap()]))
    };

    // Anonymous: the token server hands out a token without push rights, the registry says 401.
    let r = push(home.path());
    assert!(!r.success());
    assert!(
        r.stderr
            .contains("refused the credentials (anonymous access)"),
        "{}",
        r.stderr
    );

    let r = login(home.path(), &registry, "wrong", &[]);
    assert!(!r.success());
    assert!(
        r.stderr.contains("refused the credentials of user `alice`"),
        "{}",
        r.stderr
    );

    let r = login(home.path(), &registry, PASSWORD, &[]);
    assert!(r.success(), "{}", r.stderr);
    let r = push(home.path());
    assert!(r.success(), "{}", r.stderr);
    let digest = r.stdout.trim().rsplit_once('@').unwrap().1.to_string();
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &format!("{USER}:{PASSWORD}"),
        &format!("docker://{reference}"),
    ]);
    assert_eq!(sha256_digest(&raw), digest);
    run_ok(isolated(home.path()).args(["verify", &reference]));
}

#[test]
fn identity_tokens_are_traded_for_access_tokens() {
    let registry = Registry::start_token_auth(USER, PASSWORD);
    let home = tempdir();
    let refresh =
        support::registry::identity_token(registry.token_addr.as_ref().unwrap(), USER, PASSWORD);
    let write_config = |token: &str| {
        std::fs::create_dir_all(home.path().join("docker")).unwrap();
        std::fs::write(
            home.path().join("docker/config.json"),
            serde_json::json!({"auths": {registry.addr.clone(): {"auth": "", "identitytoken": token}}}).to_string(),
        )
        .unwrap();
    };
    let reference = format!("{}/team/identity:v1", registry.addr);

    write_config("not-a-refresh-token");
    let r = run_err(isolated(home.path()).args([
        "push",
        &reference,
        "--wasm",
        module().to_str().unwrap(),
    ]));
    assert!(r.stderr.contains("refused the credentials"), "{}", r.stderr);
    assert!(!r.stderr.contains("not-a-refresh-token"), "{}", r.stderr);

    write_config(&refresh);
    let r = run_ok(isolated(home.path()).args([
        "push",
        &reference,
        "-vv",
        "--wasm",
        module().to_str().unwrap(),
    ]));
    assert!(r.stdout.starts_with(&reference));
    assert!(!r.stderr.contains(&refresh), "identity token in logs");
    run_ok(isolated(home.path()).args(["verify", &reference]));
}
