//! `wasmctl completions SHELL`: the completion script for a shell, on stdout.

use clap::Args;
use clap_complete::Shell;

use crate::cli::output::Printer;

/// Print the shell completion script (bash, zsh, fish, powershell or elvish)
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  wasmctl completions bash > ~/.local/share/bash-completion/completions/wasmctl\n  wasmctl completions zsh > \"${fpath[1]}/_wasmctl\"\n  wasmctl completions fish > ~/.config/fish/completions/wasmctl.fish"
)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run(args: CompletionsArgs, printer: &Printer) -> anyhow::Result<()> {
    let mut command = super::command();
    let name = command.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, name, &mut script);
    printer.result_raw(&String::from_utf8_lossy(&script));
    Ok(())
}
