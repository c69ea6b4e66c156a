use std::process::ExitCode;

use clap::Parser;

mod cli;

use cli::exit::ExitStatus;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(err) => {
            // clap prints help and version to stdout and usage errors to stderr.
            let _ = err.print();
            return if err.use_stderr() {
                ExitStatus::Error
            } else {
                ExitStatus::Success
            }
            .into();
        }
    };
    cli::init_logging(&args.global);
    let printer = args.global.printer(args.command.json());
    match cli::run(args, &printer) {
        Ok(status) => status.into(),
        Err(err) => cli::exit::report(&printer, &err).into(),
    }
}
