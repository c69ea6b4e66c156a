use std::process::ExitCode;

mod cli;

use cli::exit::ExitStatus;

fn main() -> ExitCode {
    let args = match cli::parse() {
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
    let printer = args.global.printer(args.command.json());
    cli::init_logging(&args.global, printer.color());
    cli::exit::finish(&printer, cli::run(args, &printer)).into()
}
