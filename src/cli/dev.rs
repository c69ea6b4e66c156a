//! `wasmctl dev`: flags into [`DevOptions`]; the library watches, builds, tests and serves, and this
//! file prints one compact summary per cycle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;
use wasmctl::build::BuildOptions;
use wasmctl::dev::{self, DevEvent, DevObserver, DevOptions};
use wasmctl::error::Hint;
use wasmctl::scenario::{RunOptions, TestSummary};
use wasmctl::serve::ServeOptions;

use super::ProjectArgs;
use super::build::cargo_output;
use super::serve::{AccessLog, UpstreamArgs, print_logs};
use crate::cli::output::Printer;

/// Rebuild, rerun the scenarios and (with --serve) swap the served plugin on every save
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  wasmctl dev\n  wasmctl dev --serve    # then: curl -i localhost:10000/"
)]
pub struct DevArgs {
    /// Keep `wasmctl serve` running with the newest module that built
    #[arg(long)]
    serve: bool,
    /// Address to serve on
    #[arg(long, default_value = "127.0.0.1:10000", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    #[command(flatten)]
    upstreams: UpstreamArgs,
    /// Build exactly as `wasmctl build` does, with the full release profile (LTO) and wasm-opt
    /// (slower); without it a change rebuilds quickly, without LTO or wasm-opt
    #[arg(long)]
    opt: bool,
    /// Changes closer together than this make one rebuild
    #[arg(long, default_value_t = 150, value_name = "MS")]
    debounce_ms: u64,
    #[command(flatten)]
    project: ProjectArgs,
}

pub fn run(args: DevArgs, printer: &Printer) -> anyhow::Result<()> {
    let project = args.project.selector();
    let serve = args.serve.then(|| ServeOptions {
        plugin: RunOptions {
            project: project.clone(),
            ..RunOptions::default()
        },
        listen: args.listen,
        upstreams: args.upstreams.upstreams(),
        fail_open: false,
        workers: 1,
    });
    let options = DevOptions {
        build: BuildOptions {
            project,
            optimize: args.opt,
            quick: !args.opt,
            output: cargo_output(printer),
            ..BuildOptions::default()
        },
        serve,
        debounce: Duration::from_millis(args.debounce_ms),
    };
    let stop = Arc::new(AtomicBool::new(false));
    watch_ctrl_c(stop.clone())?;
    let summary = Summary { printer };
    dev::run(&options, &summary, Arc::new(AccessLog::new(printer)), &stop)?;
    printer.status("Stopped", "bye");
    Ok(())
}

/// Sets `stop` on Ctrl-C or SIGTERM; the loop notices within a tenth of a second of the cycle
/// under way ending. A second signal exits at once.
fn watch_ctrl_c(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("wasmctl-ctrl-c".into())
        .spawn(move || {
            runtime.block_on(super::serve::stop_signal());
            stop.store(true, Ordering::Relaxed);
            // The loop stops once the cycle under way ends; a second signal stops at once.
            runtime.block_on(super::serve::stop_signal());
            std::process::exit(130);
        })?;
    Ok(())
}

struct Summary<'p> {
    printer: &'p Printer,
}

impl DevObserver for Summary<'_> {
    fn event(&self, event: DevEvent<'_>) {
        let p = self.printer;
        match event {
            DevEvent::Watching { root } => p.status("Watching", root.display()),
            DevEvent::Changed { paths } => {
                let names: Vec<String> = paths
                    .iter()
                    .take(3)
                    .map(|p| p.display().to_string())
                    .collect();
                let more = paths.len().saturating_sub(3);
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                p.status("Changed", format!("{}{more}", names.join(", ")));
            }
            DevEvent::Built { output, took } => p.status(
                "Built",
                format!("{} in {took:.2?}", output.record.path.display()),
            ),
            DevEvent::CargoOutput { bytes } => p.child_output(bytes),
            DevEvent::BuildFailed { error, took } => {
                let hints = error.hints();
                p.error(
                    format!("build failed after {took:.2?}: {error}"),
                    &[],
                    &hints,
                );
            }
            DevEvent::Tested { summary, took } => tested(p, summary, took),
            DevEvent::TestsNotRun { error } => p.warn(format!("scenarios not run: {error}")),
            DevEvent::Serving { addr, wasm } => p.status(
                "Listening",
                format!("on http://{addr} with {} (Ctrl-C stops)", wasm.display()),
            ),
            DevEvent::Swapped { wasm } => p.status("Swapped", format!("in {}", wasm.display())),
            DevEvent::ServeFailed { error } => {
                if let wasmctl::Error::Serve(serve) = error {
                    print_logs(p, serve.plugin_logs());
                }
                p.warn(format!("the server keeps the plugin it had: {error}"));
            }
            DevEvent::Done { took } => p.status("Done", format!("in {took:.2?}; watching")),
        }
    }
}

/// Passed, or each failed case with its first difference.
fn tested(p: &Printer, summary: &TestSummary, took: Duration) {
    let (cases, failed) = (summary.cases(), summary.failed());
    let files = summary.scenarios.len();
    if failed == 0 {
        p.status(
            "Passed",
            format!("{cases} case(s) in {files} scenario file(s) in {took:.2?}"),
        );
        return;
    }
    for report in &summary.scenarios {
        for case in report.cases.iter().filter(|c| !c.passed()) {
            let first = case
                .failures
                .first()
                .map_or("", |f| f.lines().next().unwrap_or(""));
            p.error(
                format!("FAILED {} / {}: {first}", report.name, case.name),
                &[],
                &[],
            );
        }
    }
    p.status(
        "Failed",
        format!("{failed} of {cases} case(s) in {files} scenario file(s) in {took:.2?}"),
    );
}
