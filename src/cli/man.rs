//! `wasmctl man [DIR]`: man pages from the same definitions as `--help`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::cli::output::Printer;

/// Print the man page, or write one page per command into DIR
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  wasmctl man | man -l -\n  wasmctl man ~/.local/share/man/man1"
)]
pub struct ManArgs {
    /// Write wasmctl.1 and wasmctl-COMMAND.1 here (created if missing) [default: print wasmctl.1]
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn run(args: ManArgs, printer: &Printer) -> anyhow::Result<()> {
    let command = super::command();
    let Some(dir) = args.dir else {
        printer.result_raw(&String::from_utf8_lossy(&render(&command)?));
        return Ok(());
    };
    // Every page is rendered before the first is written.
    let mut pages = vec![(page_name(&command, None), render(&command)?)];
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let page = sub
            .clone()
            .name(format!("{}-{}", command.get_name(), sub.get_name()));
        pages.push((page_name(&command, Some(sub)), render(&page)?));
    }
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("failed to create `{}`", dir.display()))?;
    for (name, text) in &pages {
        write(&dir.join(name), text)?;
    }
    printer.status(
        "Wrote",
        format!("{} man pages to {}", pages.len(), dir.display()),
    );
    printer.result(dir.display());
    Ok(())
}

fn page_name(command: &clap::Command, sub: Option<&clap::Command>) -> String {
    match sub {
        Some(sub) => format!("{}-{}.1", command.get_name(), sub.get_name()),
        None => format!("{}.1", command.get_name()),
    }
}

fn render(command: &clap::Command) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut out)
        .context("failed to render the man page")?;
    Ok(out)
}

fn write(path: &Path, text: &[u8]) -> anyhow::Result<()> {
    Ok(wasmctl::fs::write_atomic(path, text)?)
}
