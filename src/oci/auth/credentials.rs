//! Registry credentials, layered: the environment, then an auth file `REGISTRY_AUTH_FILE` names,
//! then the docker config (`auths`, `credsStore`, `credHelpers`), then podman's default auth file,
//! then anonymous.
//!
//! Docker Hub is stored under several keys by different tools (`https://index.docker.io/v1/`,
//! `docker.io`, `index.docker.io`, `registry-1.docker.io`); all of them are tried.
//! Secrets are never logged: `Credential`'s Debug output hides them.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use docker_credential::DockerCredential;

use crate::error::Hint;
use crate::fs::FileError;
use crate::oci::reference::Location;
use crate::progress::Reporter;

/// Environment variables that override every stored credential (for CI).
pub const USERNAME_ENV: &str = "WASMCTL_REGISTRY_USERNAME";
pub const PASSWORD_ENV: &str = "WASMCTL_REGISTRY_PASSWORD";

/// podman's, skopeo's and buildah's way to name their auth file.
const AUTH_FILE_ENV: &str = "REGISTRY_AUTH_FILE";

const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
const DOCKER_HUB_ALIASES: [&str; 4] = [
    DOCKER_HUB_KEY,
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
];

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("`{}` is not valid JSON: {message}", .path.display())]
    Parse { path: PathBuf, message: String },
    #[error("credential helper `docker-credential-{helper}` failed: {message}")]
    Helper { helper: String, message: String },
    #[error("no home directory to keep the docker config in")]
    NoHome,
}

impl Hint for CredentialError {
    fn hints(&self) -> Vec<String> {
        match self {
            CredentialError::Helper { helper, .. } => vec![format!(
                "check that `docker-credential-{helper}` is on PATH, or remove it from the docker config"
            )],
            CredentialError::NoHome => vec!["set DOCKER_CONFIG to a directory".into()],
            CredentialError::Parse { .. } => vec![
                "mend the file, or point DOCKER_CONFIG (or REGISTRY_AUTH_FILE) at another".into(),
            ],
            CredentialError::File(_) => Vec::new(),
        }
    }
}

/// A credential for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (docker's `identitytoken`), traded for access tokens.
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::IdentityToken(_) => write!(f, "IdentityToken(***)"),
        }
    }
}

/// Where a credential was found, for `-v` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Environment,
    DockerConfig(String),
    Podman(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Environment => write!(f, "{USERNAME_ENV}/{PASSWORD_ENV}"),
            Source::DockerConfig(key) => match docker_config_path() {
                Ok(path) => write!(f, "the docker config {} (key `{key}`)", path.display()),
                Err(_) => write!(f, "the docker config (key `{key}`)"),
            },
            Source::Podman(key) => write!(f, "the podman auth file (key `{key}`)"),
        }
    }
}

/// The keys a registry may be stored under.
fn keys_for(registry: &str) -> Vec<String> {
    if DOCKER_HUB_ALIASES.contains(&registry) {
        DOCKER_HUB_ALIASES.iter().map(|k| k.to_string()).collect()
    } else {
        vec![
            registry.to_string(),
            format!("https://{registry}"),
            format!("http://{registry}"),
        ]
    }
}

/// The key `login` writes for a registry (Docker's own choice for Docker Hub), and the one a
/// pull Secret's docker config uses.
pub fn store_key(registry: &str) -> String {
    if DOCKER_HUB_ALIASES.contains(&registry) {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// Finds the credential for `registry` (`host[:port]`), or None for anonymous access.
///
/// The one lookup for every command: `push`, `verify` and `pull` authenticate with it, and
/// `manifest --pull-secret-from-docker-config` copies what it finds.
/// A file it reads that is not valid JSON is an error, as it is to docker and podman, rather than
/// a silent anonymous access.
pub fn lookup(registry: &str) -> Result<Option<(Credential, Source)>, CredentialError> {
    if let (Ok(username), Ok(password)) = (std::env::var(USERNAME_ENV), std::env::var(PASSWORD_ENV))
        && !username.is_empty()
    {
        return Ok(Some((
            Credential::Basic { username, password },
            Source::Environment,
        )));
    }
    for file in searched_files() {
        read_config(&file)?;
    }
    // An auth file named explicitly comes before the default docker config, as podman and skopeo
    // read it.
    let auth_file_named = std::env::var_os(AUTH_FILE_ENV).is_some();
    if auth_file_named && let Some(found) = podman(registry) {
        return Ok(Some(found));
    }
    for key in keys_for(registry) {
        match docker_credential::get_credential(&key) {
            Ok(found) => return Ok(Some((from_docker(found), Source::DockerConfig(key)))),
            Err(e) => tracing::debug!(key, error = ?e, "no docker credential"),
        }
    }
    if auth_file_named {
        Ok(None)
    } else {
        Ok(podman(registry))
    }
}

/// The credential `push`, `verify` and `pull` send to `location`: [`lookup`]'s for its registry,
/// with a note of where it was found; none for an image layout on disk.
pub fn for_location(
    location: &Location,
    reporter: &dyn Reporter,
) -> Result<Option<Credential>, CredentialError> {
    let Location::Registry(image) = location else {
        return Ok(None);
    };
    let Some((credential, source)) = lookup(&image.registry)? else {
        let searched: Vec<String> = searched_files()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        reporter.note(&format!(
            "no credentials for {} in {USERNAME_ENV}/{PASSWORD_ENV} or {}; anonymous access",
            image.registry,
            searched.join(", ")
        ));
        return Ok(None);
    };
    reporter.note(&format!(
        "using credentials for {} from {source}",
        image.registry
    ));
    Ok(Some(credential))
}

fn podman(registry: &str) -> Option<(Credential, Source)> {
    keys_for(registry).into_iter().find_map(|key| {
        docker_credential::get_podman_credential(&key)
            .ok()
            .map(|found| (from_docker(found), Source::Podman(key)))
    })
}

/// The files `lookup` reads, in order, for messages that say where nothing was found.
pub fn searched_files() -> Vec<PathBuf> {
    let auth_file = std::env::var_os(AUTH_FILE_ENV).map(PathBuf::from);
    let podman_default = std::env::var_os("XDG_RUNTIME_DIR")
        .map(|dir| PathBuf::from(dir).join("containers/auth.json"))
        .filter(|_| auth_file.is_none());
    auth_file
        .into_iter()
        .chain(docker_config_path().ok())
        .chain(podman_default)
        .collect()
}

fn from_docker(found: DockerCredential) -> Credential {
    match found {
        DockerCredential::UsernamePassword(username, password) => {
            Credential::Basic { username, password }
        }
        DockerCredential::IdentityToken(token) => Credential::IdentityToken(token),
    }
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Result<PathBuf, CredentialError> {
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").ok_or(CredentialError::NoHome)?).join(".docker")
        }
    };
    Ok(dir.join("config.json"))
}

fn read_config(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>, CredentialError> {
    match crate::fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(serde_json::Map::new()),
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| CredentialError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
        Err(e) if e.is_not_found() => Ok(serde_json::Map::new()),
        Err(e) => Err(e.into()),
    }
}

/// Logins and logouts at once each keep their change: the docker config is read, changed and
/// written by one of them at a time.
fn lock_config(path: &Path) -> Result<crate::fs::DirLock, CredentialError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(crate::fs::lock_dir(dir)?)
}

fn write_config(
    path: &Path,
    config: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), CredentialError> {
    let mut text = serde_json::to_vec_pretty(config).expect("json serializes");
    text.push(b'\n');
    // The temporary file is created 0600, so the secret is never world-readable.
    crate::fs::write_private(path, &text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| FileError::Write {
                path: path.to_path_buf(),
                source,
            },
        )?;
    }
    Ok(())
}

/// The credential helper the config names for `registry`, if any.
fn helper_for(
    config: &serde_json::Map<String, serde_json::Value>,
    registry: &str,
) -> Option<String> {
    let helpers = config.get("credHelpers").and_then(|h| h.as_object());
    keys_for(registry)
        .iter()
        .find_map(|k| helpers.and_then(|h| h.get(k)).and_then(|v| v.as_str()))
        .or_else(|| config.get("credsStore").and_then(|v| v.as_str()))
        .map(str::to_string)
}

fn run_helper(helper: &str, verb: &str, input: &str) -> Result<(), CredentialError> {
    let fail = |message: String| CredentialError::Helper {
        helper: helper.to_string(),
        message,
    };
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        // Helpers print their reason on stdout; it never contains the secret we sent.
        return Err(fail(
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        ));
    }
    Ok(())
}

/// Stores a username and password for `registry`: in the credential helper the docker config
/// names, else base64 in `auths` of the docker config (mode 0600). Returns where it went.
pub fn store(registry: &str, username: &str, password: &str) -> Result<String, CredentialError> {
    let path = docker_config_path()?;
    let _lock = lock_config(&path)?;
    let mut config = read_config(&path)?;
    let key = store_key(registry);
    if let Some(helper) = helper_for(&config, registry) {
        let input = serde_json::json!({"ServerURL": key, "Username": username, "Secret": password});
        run_helper(&helper, "store", &input.to_string())?;
        return Ok(format!("credential helper docker-credential-{helper}"));
    }
    let auths = config
        .entry("auths")
        .or_insert_with(|| serde_json::json!({}));
    if !auths.is_object() {
        *auths = serde_json::json!({});
    }
    let auths = auths.as_object_mut().expect("just made an object");
    for alias in keys_for(registry) {
        auths.remove(&alias);
    }
    let encoded = BASE64.encode(format!("{username}:{password}"));
    auths.insert(key, serde_json::json!({ "auth": encoded }));
    write_config(&path, &config)?;
    Ok(path.display().to_string())
}

/// Removes the stored credential for `registry`; false when there was none.
pub fn remove(registry: &str) -> Result<bool, CredentialError> {
    let path = docker_config_path()?;
    let _lock = lock_config(&path)?;
    let mut config = read_config(&path)?;
    if let Some(helper) = helper_for(&config, registry) {
        run_helper(&helper, "erase", &store_key(registry))?;
        return Ok(true);
    }
    let mut removed = false;
    if let Some(auths) = config.get_mut("auths").and_then(|a| a.as_object_mut()) {
        for alias in keys_for(registry) {
            removed |= auths.remove(&alias).is_some();
        }
    }
    if removed {
        write_config(&path, &config)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_has_aliases() {
        assert_eq!(keys_for("docker.io").len(), 4);
        assert_eq!(store_key("registry-1.docker.io"), DOCKER_HUB_KEY);
        assert_eq!(store_key("ghcr.io"), "ghcr.io");
        assert!(keys_for("ghcr.io").contains(&"https://ghcr.io".to_string()));
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Credential::Basic {
            username: "u".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn helper_prefers_registry_specific() {
        let config: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"credsStore": "desktop", "credHelpers": {"ghcr.io": "gh"}}"#)
                .unwrap();
        assert_eq!(helper_for(&config, "ghcr.io").as_deref(), Some("gh"));
        assert_eq!(helper_for(&config, "quay.io").as_deref(), Some("desktop"));
    }
}
