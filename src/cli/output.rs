//! The one place that writes to the terminal.
//!
//! Results (a path, a digest, YAML, JSON) go to stdout; everything else — status, warnings, progress —
//! goes to stderr, so `wasmctl manifest | kubectl apply -f -` and `$(wasmctl build)` always work.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, OnceLock};

use console::Style;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// How much the user asked to hear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// `--color` as the user gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Resolves `auto` against NO_COLOR and whether stderr is a terminal.
    fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stderr().is_terminal()
            }
        }
    }
}

/// Writes results to stdout and everything else to stderr, following `-q`, `-v`, `--json` and `--color`.
#[derive(Debug, Clone)]
pub struct Printer {
    verbosity: Verbosity,
    color: bool,
    json: bool,
    stderr_tty: bool,
    /// The first failure to write a result (a full disk behind `> FILE`), which the command's
    /// exit reports; shared by the clones that threads hold.
    stdout_failure: Arc<OnceLock<std::io::Error>>,
}

impl Printer {
    pub fn new(verbosity: Verbosity, color: ColorChoice, json: bool) -> Self {
        let color = color.enabled();
        console::set_colors_enabled(color);
        console::set_colors_enabled_stderr(color);
        Printer {
            verbosity,
            color,
            json,
            stderr_tty: std::io::stderr().is_terminal(),
            stdout_failure: Arc::default(),
        }
    }

    /// Why a result could not be written to stdout, if one could not: the command's output is
    /// then lost, so it fails. A closed pipe (`wasmctl build | head -0`) is not such a failure:
    /// the reader wanted no more.
    pub fn stdout_failure(&self) -> Option<&std::io::Error> {
        self.stdout_failure.get()
    }

    fn wrote(&self, result: std::io::Result<()>) {
        if let Err(err) = result
            && err.kind() != std::io::ErrorKind::BrokenPipe
        {
            let _ = self.stdout_failure.set(err);
        }
    }

    pub fn json(&self) -> bool {
        self.json
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    pub fn color(&self) -> bool {
        self.color
    }

    /// True when a human can answer a prompt: stdin and stderr are terminals.
    pub fn interactive(&self) -> bool {
        std::io::stdin().is_terminal() && self.stderr_tty
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            style.apply_to(text).to_string()
        } else {
            text.to_string()
        }
    }

    /// A cargo-style status line: `   Compiling demo v0.1.0`.
    pub fn status(&self, verb: &str, message: impl Display) {
        if self.verbosity >= Verbosity::Normal {
            let verb = self.paint(Style::new().green().bold(), &format!("{verb:>12}"));
            eprintln!("{verb} {message}");
        }
    }

    /// Extra detail shown only with `-v`.
    pub fn verbose(&self, message: impl Display) {
        if self.verbosity >= Verbosity::Verbose {
            let label = self.paint(Style::new().cyan().bold(), "note");
            eprintln!("{label}: {message}");
        }
    }

    /// A warning; shown unless `-q`.
    pub fn warn(&self, message: impl Display) {
        if self.verbosity >= Verbosity::Normal {
            let label = self.paint(Style::new().yellow().bold(), "warning");
            eprintln!("{label}: {message}");
        }
    }

    /// A warning and what to do about it; shown unless `-q`.
    pub fn warn_with_hint(&self, message: impl Display, hint: &str) {
        if self.verbosity >= Verbosity::Normal {
            self.warn(message);
            self.hints(&[hint.to_string()]);
        }
    }

    /// An error with its causes and hints; always shown, whatever the verbosity.
    pub fn error(&self, message: impl Display, causes: &[String], hints: &[String]) {
        let label = self.paint(Style::new().red().bold(), "error");
        eprintln!("{label}: {message}");
        for cause in causes {
            eprintln!("  caused by: {cause}");
        }
        self.hints(hints);
    }

    /// `hint:` lines alone, for an error a child process already reported.
    pub fn hints(&self, hints: &[String]) {
        let label = self.paint(Style::new().cyan().bold(), "hint");
        for hint in hints {
            eprintln!("{label}: {hint}");
        }
    }

    /// A child process's own stderr (cargo's diagnostics), passed through as it is.
    pub fn child_output(&self, bytes: &[u8]) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(bytes);
        let _ = err.flush();
    }

    /// The terminal's width when progress is drawn (so a child may draw its own), else None.
    pub fn progress_width(&self) -> Option<u16> {
        if self.progress_target().is_hidden() {
            return None;
        }
        console::Term::stderr()
            .size_checked()
            .map(|(_, width)| width)
    }

    /// Writes a result line to stdout.
    pub fn result(&self, line: impl Display) {
        let mut out = std::io::stdout().lock();
        self.wrote(writeln!(out, "{line}").and_then(|()| out.flush()));
    }

    /// Writes a result as raw text (YAML documents) to stdout, without adding a newline.
    pub fn result_raw(&self, text: &str) {
        self.result_bytes(text.as_bytes());
    }

    /// Writes a result of raw bytes (a module) to stdout.
    pub fn result_bytes(&self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        self.wrote(out.write_all(bytes).and_then(|()| out.flush()));
    }

    /// Writes a result as pretty JSON to stdout.
    pub fn result_json<T: Serialize>(&self, value: &T) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        self.result(text);
        Ok(())
    }

    /// A byte-count progress bar on stderr; hidden under -q, --json or a non-terminal stderr.
    pub fn progress_bytes(&self, total: u64, message: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(total), self.progress_target());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>12.green.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .expect("progress template is valid")
            .progress_chars("=> "),
        );
        bar.set_message(message.to_string());
        bar
    }

    /// A spinner on stderr for work of unknown length; hidden like `progress_bytes`.
    pub fn spinner(&self, message: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(None, self.progress_target());
        bar.set_style(
            ProgressStyle::with_template("{spinner:.green} {msg}")
                .expect("spinner template is valid"),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }

    fn progress_target(&self) -> ProgressDrawTarget {
        if self.verbosity == Verbosity::Quiet || self.json || !self.stderr_tty {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        }
    }
}
