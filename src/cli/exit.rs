//! Exit codes, and how an error reaches the user: a one-line message, its causes, its hints.

use std::process::ExitCode;

use wasmctl::build::BuildError;
use wasmctl::error::{ChildFailed, Error, Hint};

use super::output::Printer;

/// The exit codes of every command.
///
/// 0: success. 1: the command ran and found failures (scenarios failed; `verify` says Istio would
/// reject the image). 2: bad usage or bad input, or anything else that stopped the command. A
/// failed child (`cargo build`) passes its own code through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// The command did what was asked.
    Success,
    /// The command ran and found failures; they were printed.
    Findings,
    /// The command could not do what was asked; the error was printed.
    Error,
    /// A child process failed with this code and already told the user why.
    Child(i32),
    /// A child was stopped by this signal; the command stopped with it, as a shell reports one.
    Signal(i32),
}

/// What `--help` says about exit codes.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  the command ran and found failures (scenarios failed; verify: Istio would reject the image)
  2  bad usage or bad input, or another error that stopped the command
  N  a failed cargo build passes cargo's own exit code through
  130  stopped by Ctrl-C: serve or dev at once by a second one (or SIGTERM), new at a prompt,
       build while wasm-opt ran (143: by SIGTERM)";

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Findings => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
            ExitStatus::Child(code) => ExitCode::from(u8::try_from(code).unwrap_or(1).max(1)),
            ExitStatus::Signal(signal) => ExitCode::from(u8::try_from(128 + signal).unwrap_or(2)),
        }
    }
}

/// The hints of every library error in the chain, outermost first, without repeats.
pub fn hints_of(err: &anyhow::Error) -> Vec<String> {
    let mut hints: Vec<String> = Vec::new();
    for cause in err.chain() {
        if let Some(error) = cause.downcast_ref::<Error>() {
            for hint in error.hints() {
                if !hints.contains(&hint) {
                    hints.push(hint);
                }
            }
        }
    }
    hints
}

/// The exit status an error maps to.
pub fn exit_status_of(err: &anyhow::Error) -> ExitStatus {
    if let Some(child) = err.chain().find_map(|e| e.downcast_ref::<ChildFailed>()) {
        return ExitStatus::Child(child.code);
    }
    let stopped = err.chain().find_map(|e| match e.downcast_ref::<Error>() {
        Some(Error::Build(BuildError::Stopped { signal, .. })) => Some(*signal),
        _ => None,
    });
    if let Some(signal) = stopped {
        return ExitStatus::Signal(signal);
    }
    ExitStatus::Error
}

/// The exit status of a command that ran: its error reported, or, when its result could not be
/// written to stdout, that failure (the output is lost, so the command did not do its job).
pub fn finish(printer: &Printer, ran: anyhow::Result<ExitStatus>) -> ExitStatus {
    let status = match ran {
        Ok(status) => status,
        Err(err) => return report(printer, &err),
    };
    match printer.stdout_failure() {
        Some(failure) => report(
            printer,
            &anyhow::anyhow!("failed to write the result to stdout: {failure}"),
        ),
        None => status,
    }
}

/// Prints the error once (children that failed already spoke) and picks the exit code.
pub fn report(printer: &Printer, err: &anyhow::Error) -> ExitStatus {
    let status = exit_status_of(err);
    if matches!(status, ExitStatus::Child(_)) {
        // The child printed its own diagnostics; add only what wasmctl knows about them.
        printer.hints(&hints_of(err));
        return status;
    }
    let causes: Vec<String> = err.chain().skip(1).map(ToString::to_string).collect();
    printer.error(err, &causes, &hints_of(err));
    status
}
