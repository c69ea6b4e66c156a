//! How errors reach the user: a one-line message, its causes, the hints it knows, and an exit code.

use std::error::Error as StdError;
use std::process::ExitCode;

/// An error the user can act on, with the hints that help.
pub trait Hint {
    fn hints(&self) -> Vec<String>;
}

/// Exit codes; a failed child (`cargo build`) passes its own code through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// The command did what was asked.
    Success,
    /// The command failed; the error was printed.
    Failure,
    /// The command line could not be parsed.
    Usage,
    /// A child process failed with this code and already told the user why.
    Child(i32),
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Failure => ExitCode::from(1),
            ExitStatus::Usage => ExitCode::from(2),
            ExitStatus::Child(code) => ExitCode::from(u8::try_from(code).unwrap_or(1).max(1)),
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

/// The hints of every error in the chain, outermost first, without repeats.
pub fn hints_of(err: &anyhow::Error) -> Vec<String> {
    let mut hints: Vec<String> = Vec::new();
    for cause in err.chain() {
        for hint in hints_of_one(cause) {
            if !hints.contains(&hint) {
                hints.push(hint);
            }
        }
    }
    hints
}

fn hints_of_one(err: &(dyn StdError + 'static)) -> Vec<String> {
    macro_rules! try_types {
        ($($ty:ty),* $(,)?) => {
            $(if let Some(e) = err.downcast_ref::<$ty>() {
                return e.hints();
            })*
        };
    }
    try_types!(
        crate::scaffold::ScaffoldError,
        crate::build::BuildError,
        crate::project::ProjectError,
        crate::module::ModuleError,
        crate::manifest::ManifestError,
        crate::host::HostError,
        crate::envoy::EnvoyError,
        crate::scenario::ScenarioError,
        crate::oci::OciError,
        crate::oci::ReferenceError,
        crate::oci::layout::LayoutError,
        crate::oci::auth::CredentialError,
    );
    Vec::new()
}

/// The exit status an error maps to, and whether it should be printed.
pub fn exit_status_of(err: &anyhow::Error) -> ExitStatus {
    match err.chain().find_map(|e| e.downcast_ref::<ChildFailed>()) {
        Some(child) => ExitStatus::Child(child.code),
        None => ExitStatus::Failure,
    }
}
