//! The crate's one error type, composed from each module's own errors, and the hints that go
//! with them.
//!
//! Every fallible library entry point returns [`Result`]. A module error becomes an [`Error`] with
//! `?`, and [`Error::hints`] matches every variant: a new module error cannot be returned to the
//! caller until it is listed here, and then it cannot be listed without its hints.

use crate::build::BuildError;
use crate::dev::DevError;
use crate::digest::DigestError;
use crate::envoy::EnvoyError;
use crate::fs::FileError;
use crate::host::HostError;
use crate::manifest::ManifestError;
use crate::module::ModuleError;
use crate::oci::auth::CredentialError;
use crate::oci::layout::LayoutError;
use crate::oci::{OciError, ReferenceError};
use crate::project::ProjectError;
use crate::scaffold::ScaffoldError;
use crate::scenario::ScenarioError;
use crate::serve::ServeError;

/// What the user can do about an error: one line each, most useful first.
pub trait Hint {
    fn hints(&self) -> Vec<String>;
}

/// Any error the library returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Scaffold(#[from] ScaffoldError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Module(#[from] ModuleError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Envoy(#[from] EnvoyError),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Dev(#[from] DevError),
    #[error(transparent)]
    Oci(#[from] OciError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error(transparent)]
    File(#[from] FileError),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Hint for Error {
    fn hints(&self) -> Vec<String> {
        match self {
            Error::Scaffold(e) => e.hints(),
            Error::Build(e) => e.hints(),
            Error::Project(e) => e.hints(),
            Error::Module(e) => e.hints(),
            Error::Manifest(e) => e.hints(),
            Error::Host(e) => e.hints(),
            Error::Envoy(e) => e.hints(),
            Error::Scenario(e) => e.hints(),
            Error::Serve(e) => e.hints(),
            Error::Dev(e) => e.hints(),
            Error::Oci(e) => e.hints(),
            Error::Reference(e) => e.hints(),
            Error::Layout(e) => e.hints(),
            Error::Credential(e) => e.hints(),
            Error::Digest(_) | Error::File(_) => Vec::new(),
        }
    }
}

/// A child process that failed and has already printed its own diagnostics.
///
/// Reported by its exit code only, never a second time as an `error:` line.
#[derive(Debug, thiserror::Error)]
#[error("{program} exited with code {code}")]
pub struct ChildFailed {
    pub program: String,
    pub code: i32,
}
