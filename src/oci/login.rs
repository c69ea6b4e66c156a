//! `login` and `logout`: check credentials against a registry, then keep them where `push` and
//! `pull` look (see `auth::credentials`), or forget them.

use super::auth::{self, Credential};
use super::reference::ImageRef;
use super::registry::Registry;
use super::transport::Transport;
use super::{OciError, block_on};

/// Who logs in where.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// `host[:port]`, as [`super::reference::parse_registry_host`] gives it.
    pub host: String,
    pub username: String,
    pub password: String,
    pub transport: Transport,
}

/// `wasmctl login`: checks the credentials with the registry, as `docker login` does, then stores
/// them. Returns where they were stored.
pub fn login(options: &LoginOptions) -> crate::Result<String> {
    // Basic auth sends `USER:PASSWORD`: a user name that is empty or holds a colon cannot be
    // read back.
    if options.username.is_empty() || options.username.contains(':') {
        return Err(OciError::BadUsername(options.username.clone()).into());
    }
    if options.password.is_empty() {
        return Err(OciError::EmptyPassword.into());
    }
    // Any repository will do: the check addresses the registry, not an image.
    let probe = ImageRef::parse(&format!("{}/wasmctl-login", options.host))?;
    let credential = Credential::Basic {
        username: options.username.clone(),
        password: options.password.clone(),
    };
    // The password check is one request, never retried: nothing to report.
    let silent = crate::progress::Silent;
    let mut registry = Registry::new(&probe, &options.transport, Some(credential), false, &silent)?;
    block_on(registry.check_password(&options.username, &options.password))?;
    Ok(auth::store(
        &options.host,
        &options.username,
        &options.password,
    )?)
}

/// `wasmctl logout`: forgets the stored credentials of `host`; false when there were none.
pub fn logout(host: &str) -> crate::Result<bool> {
    Ok(auth::remove(host)?)
}
