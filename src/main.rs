use std::process::ExitCode;

use clap::Parser;
use wasmctl::diagnostic::{ChildFailed, ExitStatus, exit_status_of, hints_of};
use wasmctl::output::Printer;

mod cli;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(err) => {
            // clap prints help and version to stdout and usage errors to stderr.
            let _ = err.print();
            return if err.use_stderr() {
                ExitStatus::Usage
            } else {
                ExitStatus::Success
            }
            .into();
        }
    };
    cli::init_logging(&args.global);
    let printer = args.global.printer(args.command.json());
    match cli::run(args, &printer) {
        Ok(()) => ExitStatus::Success.into(),
        Err(err) => report(&printer, &err).into(),
    }
}

/// Prints the error once (children that failed already spoke) and picks the exit code.
fn report(printer: &Printer, err: &anyhow::Error) -> ExitStatus {
    let status = exit_status_of(err);
    if err.chain().any(|e| e.is::<ChildFailed>()) {
        return status;
    }
    let causes: Vec<String> = err.chain().skip(1).map(ToString::to_string).collect();
    printer.error(err, &causes, &hints_of(err));
    status
}
