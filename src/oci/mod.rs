//! OCI images for proxy-wasm modules: references, credentials, the image formats, and pushing to,
//! pulling from and verifying against registries and on-disk image layouts.
//!
//! The commands are `push::publish`, `pull::pull`, `verify::verify`, `login::login` and
//! `login::logout`; each takes its options and a [`crate::progress::Reporter`].

mod annotations;
pub(crate) mod auth;
pub(crate) mod classify;
pub(crate) mod go_name;
pub(crate) mod image;
pub(crate) mod istio;
pub(crate) mod layout;
pub mod login;
mod probe;
pub mod pull;
pub mod push;
pub mod reference;
mod registry;
pub(crate) mod retry;
mod transfer;
pub(crate) mod transport;
mod upload;
pub mod verify;

use std::path::PathBuf;

use crate::error::Hint;
use crate::fs::FileError;

pub use image::Format;
pub use reference::{ImageRef, Location, ReferenceError};
pub use transport::Transport;

/// What can go wrong talking to a registry, phrased for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("{registry} refused the credentials{}", user_suffix(.user))]
    Unauthorized {
        registry: String,
        user: Option<String>,
    },
    #[error("{registry} denied access to `{repository}`")]
    Denied {
        registry: String,
        repository: String,
        /// Whether a push was refused (else a pull).
        push: bool,
    },
    #[error("`{0}` was not found")]
    NotFound(String),
    #[error("the TLS certificate of {registry} is not trusted: {message}")]
    UnknownCa { registry: String, message: String },
    #[error("{registry} does not speak TLS: {message}")]
    NotTls { registry: String, message: String },
    #[error("could not connect to {registry}: {message}")]
    Connect { registry: String, message: String },
    #[error("could not find the registry {registry}: {message}")]
    UnknownHost { registry: String, message: String },
    #[error("{registry} failed to {action}: {message}")]
    Registry {
        registry: String,
        action: String,
        message: String,
    },
    #[error("{error}, and asked to wait {wait} before trying again; wasmctl waits {cap} at most")]
    RetryLater {
        error: Box<OciError>,
        wait: String,
        cap: String,
        /// When the wait is over, as an HTTP-date; None if beyond what the clock can name.
        until: Option<String>,
    },
    #[error("{registry} stored the manifest as {actual}, but its content hashes to {expected}")]
    DigestMismatch {
        registry: String,
        expected: String,
        actual: String,
    },
    #[error("cannot push to a digest reference `{0}`: a push names a tag")]
    PushToDigest(String),
    #[error("failed to read CA file `{}`", .path.display())]
    CaFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The module is not proxy-wasm; the error names the file, on one line.
    #[error(transparent)]
    Module(crate::module::ModuleError),
    #[error(transparent)]
    Layout(#[from] layout::LayoutError),
    #[error("no module to push: the project has not been built")]
    NoBuild,
    #[error("no destination: pass REF, or set `repository` in [package.metadata.wasmctl]")]
    NoReference,
    #[error("no image: this project has not been pushed yet")]
    NotPushed,
    #[error("Istio would reject `{reference}`")]
    Rejected {
        reference: String,
        reasons: Vec<String>,
        /// Whether Istio would read the image's layout at all: when not, pushing it again in a
        /// format Istio reads mends it.
        format_known: bool,
    },
    #[error(transparent)]
    File(#[from] FileError),
    #[error("`repository` in {} is not valid", .manifest_path.display())]
    BadRepositorySetting {
        manifest_path: PathBuf,
        #[source]
        source: ReferenceError,
    },
    #[error("the password is empty")]
    EmptyPassword,
    #[error("invalid user name `{0}`: it is empty or holds a `:`")]
    BadUsername(String),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Credential(#[from] auth::CredentialError),
    #[error(transparent)]
    Project(#[from] crate::project::ProjectError),
}

fn user_suffix(user: &Option<String>) -> String {
    user.as_ref()
        .map(|u| format!(" of user `{u}`"))
        .unwrap_or_else(|| " (anonymous access)".into())
}

fn plain_http_hint(registry: &str) -> String {
    format!("for a registry that speaks plain HTTP, pass `--insecure {registry}`")
}

/// Each reason Istio would reject an image for; when its layout is not one Istio reads, how to
/// push it in one.
fn rejection_hints(reasons: &[String], format_known: bool) -> Vec<String> {
    let mut hints: Vec<String> = reasons.iter().map(|r| format!("rejected: {r}")).collect();
    if !format_known {
        hints.push("push it again with `wasmctl push --format compat`".into());
    }
    hints
}

impl Hint for OciError {
    fn hints(&self) -> Vec<String> {
        match self {
            OciError::Unauthorized { registry, user } => match user {
                None => vec![format!(
                    "log in first: `wasmctl login {registry} -u USER --password-stdin`"
                )],
                Some(_) => vec![format!(
                    "check the user and password, then `wasmctl login {registry} -u USER --password-stdin`"
                )],
            },
            OciError::Denied { push, .. } => vec![format!(
                "the account may lack {} rights on this repository",
                if *push { "push" } else { "pull" }
            )],
            OciError::UnknownCa { .. } => vec![
                "pass the private CA that signed the registry's certificate with `--ca-file CA.pem`"
                    .into(),
            ],
            OciError::Connect { registry, .. } => {
                let mut hints =
                    vec!["check the registry is running and the host and port are right".into()];
                // A loopback host is already tried over plain HTTP.
                if !reference::is_loopback(registry) {
                    hints.push(plain_http_hint(registry));
                }
                hints
            }
            OciError::UnknownHost { registry, .. } => vec![format!(
                "check the host name in `{registry}` (and that this machine's DNS can resolve it)"
            )],
            OciError::NotTls { registry, .. } => vec![plain_http_hint(registry)],
            OciError::RetryLater { until, .. } => vec![match until {
                Some(until) => format!("run the command again after {until}"),
                None => "the registry is not taking requests for now".into(),
            }],
            OciError::PushToDigest(_) => {
                vec!["push to a tag: `HOST/REPO:TAG` or `oci-layout:DIR:TAG`".into()]
            }
            // Transparent variants keep their inner error out of the source chain: forward its hints.
            OciError::Layout(e) => e.hints(),
            OciError::Reference(e) => e.hints(),
            OciError::Credential(e) => e.hints(),
            OciError::Project(e) => e.hints(),
            OciError::Module(e) => e.hints(),
            OciError::NoBuild => vec![
                "run `wasmctl build` first, pass `--build`, or name a module with `--wasm FILE`"
                    .into(),
            ],
            OciError::NotPushed => {
                vec!["pass REF (HOST/REPO:TAG or oci-layout:DIR:TAG), or push first with `wasmctl push`".into()]
            }
            OciError::NoReference => {
                vec!["e.g. `wasmctl push localhost:5000/team/demo:v1`".into()]
            }
            OciError::Rejected {
                reasons,
                format_known,
                ..
            } => rejection_hints(reasons, *format_known),
            OciError::CaFile { .. } => vec![
                "--ca-file takes a PEM file of CA certificates (-----BEGIN CERTIFICATE-----)"
                    .into(),
            ],
            OciError::BadUsername(_) => {
                vec![
                    "pass the account's user name with -u (a token's, for a registry token)".into(),
                ]
            }
            OciError::NotFound(_)
            | OciError::Registry { .. }
            | OciError::DigestMismatch { .. }
            | OciError::File(_)
            | OciError::BadRepositorySetting { .. }
            | OciError::EmptyPassword => Vec::new(),
        }
    }
}

/// Runs one registry operation to completion on a runtime built for it: each command makes one
/// sequence of requests, so a current-thread runtime per operation is all the OCI client needs.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime starts")
        .block_on(future)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_advises_another_format_only_when_the_layout_is_not_istio_s() {
        let rejected = |format_known| OciError::Rejected {
            reference: "r".into(),
            reasons: vec!["why".into()],
            format_known,
        };
        let compat = |e: OciError| e.hints().iter().any(|h| h.contains("--format compat"));
        assert!(compat(rejected(false)));
        // A module over Istio's size cap, say: another format would not mend it.
        assert!(!compat(rejected(true)));
        assert_eq!(rejected(true).hints(), vec!["rejected: why".to_string()]);
    }
}
