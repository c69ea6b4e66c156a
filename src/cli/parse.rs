//! From the process's arguments to a [`Cli`]: the one clap command that parsing, completions and
//! man pages share, and the conventions applied to it.

use clap::{CommandFactory, FromArgMatches};

use super::Cli;

/// The command line as clap sees it, for parsing, completions and man pages alike: enum values
/// are taken in any case (`--type HTTP`, `--format OCI`), as users type them both ways.
pub fn command() -> clap::Command {
    any_case(Cli::command()).subcommand(scenarios_topic())
}

/// `wasmctl help scenarios`: the scenario format as a help topic. clap's `help NAME` shows a
/// subcommand's help, so the topic is a hidden subcommand whose help is the format.
const SCENARIOS: &str = "scenarios";

fn scenarios_topic() -> clap::Command {
    let about = "The format of the scenario files `wasmctl test` runs";
    clap::Command::new(SCENARIOS)
        .hide(true)
        .about(about)
        .before_help(format!("{about}\n\n{}", super::test::scenario_format()))
        .help_template("{before-help}")
}

fn any_case(command: clap::Command) -> clap::Command {
    let enums: Vec<clap::Id> = command
        .get_arguments()
        .filter(|arg| {
            matches!(
                arg.get_action(),
                clap::ArgAction::Set | clap::ArgAction::Append
            )
        })
        .filter(|arg| !arg.get_possible_values().is_empty())
        .map(|arg| arg.get_id().clone())
        .collect();
    let command = enums.iter().fold(command, |command, id| {
        command.mut_arg(id, |arg| arg.ignore_case(true))
    });
    let subcommands: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    subcommands.iter().fold(command, |command, name| {
        command.mut_subcommand(name, any_case)
    })
}

/// Parses the process's arguments; clap's own messages (help, usage errors) follow `--color`
/// too, which clap would read only after it has spoken.
pub fn parse() -> Result<Cli, clap::Error> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let command = command().color(clap_color(&args));
    let matches = command.clone().try_get_matches_from(&args)?;
    if matches.subcommand_name() == Some(SCENARIOS) {
        // The topic on its own (`wasmctl scenarios`) shows what `help scenarios` shows.
        let help = ["wasmctl", "help", SCENARIOS];
        return Err(command.try_get_matches_from(help).unwrap_err());
    }
    Cli::from_arg_matches(&matches)
}

/// The last `--color WHEN` or `--color=WHEN` before any `--`, as clap's own choice.
fn clap_color(args: &[std::ffi::OsString]) -> clap::ColorChoice {
    let mut choice = clap::ColorChoice::Auto;
    let mut words = args.iter().map(|a| a.to_str().unwrap_or_default());
    while let Some(word) = words.next() {
        let value = match word {
            "--" => break,
            "--color" => words.next(),
            _ => word.strip_prefix("--color="),
        };
        choice = match value.map(str::to_ascii_lowercase).as_deref() {
            Some("never") => clap::ColorChoice::Never,
            Some("always") => clap::ColorChoice::Always,
            Some(_) => clap::ColorChoice::Auto,
            None => choice,
        };
    }
    choice
}
