//! `wasmctl serve --envoy`: the plugin served by a real Envoy (V8), started from the same
//! bootstrap builders `manifest --kind envoy-bootstrap` and `run --envoy` use. wasmctl plays the
//! echo upstream when there is no other, and follows Envoy's access log and its own log to report
//! each request, connection and plugin failure through the [`ServeObserver`], as the built-in
//! server does.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::cluster;
use super::echo::EchoServer;
use super::error::ServeError;
use super::upstream::UpstreamTarget;
use super::{AccessRecord, ConnectionRecord, ServeObserver, ServeOptions, Served, Shutdown};
use crate::envoy::bootstrap::{
    self, Failure, RouteTo, cluster, http_connection_manager, http_wasm_filter, listener,
    network_wasm_filter, socket_address, tcp_proxy, with_access_log,
};
use crate::envoy::{
    EnvoyError, EnvoyListener, EnvoyProcess, Launch, Tail, failure_lines, plugin_lines,
};

/// The listener's name; also the plugin's, its VM id and stat prefix.
const LISTENER: &str = "serve";
const ACCESS_LOG: &str = "access.log";
/// The upstream's cluster, named so that no `--cluster` name takes it.
const UPSTREAM: &str = "wasmctl.upstream";
/// How long after a failure Envoy waits before it reloads the plugin again (FAIL_RELOAD): a
/// request in that time fails too. Envoy's default is 1 s; with 1 ms, Envoy 1.40 crashes (SIGFPE).
const RELOAD_BACKOFF: Duration = Duration::from_millis(10);
/// How long connections in flight may take to finish after the shutdown signal.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Envoy serving the plugin on its listener, live, with the echo upstream when there is no other.
pub struct EnvoyServer {
    envoy: EnvoyProcess,
    _echo: Option<EchoServer>,
    addr: SocketAddr,
    served: Served,
}

/// What the bootstrap is built from: the listener and its plugin, the upstream, the clusters.
struct Topology {
    plugin: EnvoyListener,
    listen: SocketAddr,
    upstream: (String, u16),
    fail_open: bool,
    /// The clusters the plugin's calls go to.
    clusters: Vec<cluster::Cluster>,
}

impl EnvoyServer {
    /// Finds the plugin as `serve` does and starts Envoy (`binary`) with it; a plugin that traps or
    /// rejects its configuration stops Envoy from starting, and the error carries its log.
    pub fn start(options: &ServeOptions, binary: &Path) -> crate::Result<EnvoyServer> {
        let setup = crate::scenario::resolve(&options.plugin)?;
        let target = options.upstreams.target(setup.network)?;
        let clusters = cluster::parse(&options.upstreams.clusters)?;
        check_free(options.listen)?;
        let endpoint = |addr: SocketAddr| (addr.ip().to_string(), addr.port());
        let (echo, upstream) = match &target {
            UpstreamTarget::Echo => {
                let echo = EchoServer::start().map_err(ServeError::Runtime)?;
                let upstream = endpoint(echo.addr());
                (Some(echo), upstream)
            }
            UpstreamTarget::Http(url) => (None, url_endpoint(url)),
            UpstreamTarget::Tcp(addr) => (None, endpoint(*addr)),
        };
        let topology = Topology {
            plugin: EnvoyListener::new(&setup.wasm, &setup.options, setup.network)?,
            listen: options.listen,
            upstream,
            fail_open: options.fail_open,
            clusters,
        };
        let names = [LISTENER.to_string()];
        let launch = Launch {
            binary,
            concurrency: options.workers,
            listeners: &names,
        };
        let envoy = EnvoyProcess::start(&launch, |workdir| bootstrap_for(&topology, workdir))
            .map_err(start_error)?;
        let addr = SocketAddr::new(options.listen.ip(), envoy.port(0)?);
        Ok(EnvoyServer {
            envoy,
            _echo: echo,
            addr,
            served: Served::of(&setup),
        })
    }

    /// The address Envoy listens on (the port it was given, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The plugin it serves.
    pub fn served(&self) -> &Served {
        &self.served
    }

    /// Reports what Envoy does until `shutdown` completes, then drains Envoy's listener and stops
    /// it. Envoy exiting on its own is an error.
    pub fn run(
        mut self,
        observer: Arc<dyn ServeObserver>,
        shutdown: Shutdown,
    ) -> crate::Result<()> {
        let runtime = super::runtime().map_err(ServeError::Runtime)?;
        let mut logs = Logs {
            access: Tail::new(&self.envoy.workdir().join(ACCESS_LOG)),
            envoy: Tail::at_end(self.envoy.log_path()),
        };
        let exited = runtime.block_on(async {
            let mut shutdown = shutdown;
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tokio::select! {
                    () = &mut shutdown => return None,
                    _ = tick.tick() => {
                        logs.report(observer.as_ref());
                        if let Some(status) = self.envoy.exit_status() {
                            return Some(status);
                        }
                    }
                }
            }
        });
        if let Some(status) = exited {
            let text = std::fs::read_to_string(self.envoy.log_path()).unwrap_or_default();
            let why = failure_lines(&text);
            let why = format!("{status}; Envoy says: {}", why.join(" / "));
            return Err(ServeError::EnvoyExited(why).into());
        }
        self.envoy.drain_and_stop(LISTENER, DRAIN_TIME);
        logs.report(observer.as_ref());
        Ok(())
    }
}

/// Envoy's access log and its own log, followed.
struct Logs {
    access: Tail,
    envoy: Tail,
}

impl Logs {
    /// Reports the new access-log lines, and the plugin's failures with what it logged with them.
    fn report(&mut self, observer: &dyn ServeObserver) {
        let text = self.envoy.lines().join("\n");
        let failures = failure_lines(&text);
        if !failures.is_empty() {
            observer.plugin_failed_in_envoy(&failures.join("; "), &plugin_lines(&text, None));
        }
        for line in self.access.lines() {
            match access_record(&line) {
                Some(Record::Request(record)) => observer.request(&record),
                Some(Record::Connection(record)) => observer.connection(&record),
                None => tracing::debug!(line, "unreadable access log line"),
            }
        }
    }
}

/// The host and port Envoy's cluster for an http:// URL connects to.
fn url_endpoint(url: &reqwest::Url) -> (String, u16) {
    let host = url.host_str().unwrap_or_default().to_string();
    (host, url.port_or_known_default().unwrap_or(80))
}

/// Envoy's cluster for a `--cluster`: an `h2c://` one speaks HTTP/2 (as a gRPC service does).
fn call_cluster(given: &cluster::Cluster) -> Value {
    let (host, port) = url_endpoint(&given.url);
    let mut cluster = cluster(&given.name, &host, port, None);
    if given.protocol == cluster::Protocol::H2c {
        cluster["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            },
        });
    }
    cluster
}

/// A port someone listens on already is refused here, with the built-in server's error, rather
/// than in Envoy's log.
fn check_free(listen: SocketAddr) -> Result<(), ServeError> {
    if listen.port() == 0 {
        return Ok(());
    }
    match std::net::TcpListener::bind(listen) {
        Ok(_) => Ok(()),
        Err(source) => Err(ServeError::Bind {
            addr: listen,
            source,
        }),
    }
}

/// Envoy exiting before it was ready because of the plugin is the plugin not starting.
fn start_error(err: EnvoyError) -> crate::Error {
    let plugin = match &err {
        EnvoyError::Exited { reason, logs } => !logs.is_empty() || reason.contains("Wasm"),
        _ => false,
    };
    match plugin {
        true => ServeError::EnvoyStart(err).into(),
        false => err.into(),
    }
}

/// One listener with the plugin in front of the one upstream cluster, access-logged into
/// `workdir`.
fn bootstrap_for(topology: &Topology, workdir: &Path) -> Value {
    let access_log = workdir.join(ACCESS_LOG);
    let mut plugin = bootstrap::plugin(LISTENER, &topology.plugin);
    // As in the built-in server: the failed request fails (or passes, fail-open), and the next
    // one gets a fresh VM.
    if topology.fail_open {
        plugin.failure = Some(Failure::Open);
    } else {
        plugin.failure = Some(Failure::Reload);
        plugin.reload_backoff = Some(RELOAD_BACKOFF);
    }
    let filters = if topology.plugin.network {
        let proxy = tcp_proxy(LISTENER, UPSTREAM);
        vec![
            network_wasm_filter(&plugin),
            with_access_log(proxy, &access_log, connection_fields()),
        ]
    } else {
        let filter = http_wasm_filter(&plugin);
        let manager = http_connection_manager(LISTENER, filter, RouteTo::Stream(UPSTREAM));
        vec![with_access_log(manager, &access_log, request_fields())]
    };
    let address = socket_address(&topology.listen.ip().to_string(), topology.listen.port());
    let (host, port) = &topology.upstream;
    let mut clusters = vec![cluster(UPSTREAM, host, *port, None)];
    clusters.extend(topology.clusters.iter().map(call_cluster));
    json!({"static_resources": {
        "listeners": [listener(LISTENER, address, filters)],
        "clusters": clusters,
    }})
}

/// One JSON object a request; `details` says why Envoy answered itself (`wasm_fail_stream`).
fn request_fields() -> Value {
    json!({
        "method": "%REQ(:METHOD)%",
        "path": "%REQ(:PATH)%",
        "status": "%RESPONSE_CODE%",
        "us": "%COMMON_DURATION(DS_RX_BEG:DS_TX_END:us)%",
        "details": "%RESPONSE_CODE_DETAILS%",
    })
}

fn connection_fields() -> Value {
    json!({
        "peer": "%DOWNSTREAM_REMOTE_ADDRESS%",
        "up": "%BYTES_RECEIVED%",
        "down": "%BYTES_SENT%",
        "ms": "%DURATION%",
    })
}

enum Record {
    Request(AccessRecord),
    Connection(ConnectionRecord),
}

/// One access-log line; `None` when it is not one of ours.
fn access_record(line: &str) -> Option<Record> {
    let fields: Value = serde_json::from_str(line).ok()?;
    let number = |name: &str| fields[name].as_u64().unwrap_or(0);
    if let Some(peer) = fields["peer"].as_str() {
        return Some(Record::Connection(ConnectionRecord {
            peer: peer.parse().ok()?,
            to_upstream: number("up"),
            to_downstream: number("down"),
            elapsed: Duration::from_millis(number("ms")),
            closed_by_plugin: false,
        }));
    }
    let details = fields["details"].as_str().unwrap_or_default();
    Some(Record::Request(AccessRecord {
        method: fields["method"].as_str()?.to_string(),
        path: fields["path"].as_str()?.to_string(),
        status: u16::try_from(number("status")).ok()?,
        elapsed: Duration::from_micros(number("us")),
        stalled: details.starts_with("wasm").then(|| details.to_string()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_lines_become_records() {
        let line =
            r#"{"details":"wasm_fail_stream","method":"GET","path":"/boom","status":503,"us":512}"#;
        let Some(Record::Request(r)) = access_record(line) else {
            panic!("a request")
        };
        assert_eq!((r.status, r.path.as_str()), (503, "/boom"));
        assert_eq!(r.elapsed, Duration::from_micros(512));
        assert_eq!(r.stalled.as_deref(), Some("wasm_fail_stream"));
        let line = r#"{"peer":"127.0.0.1:5000","up":5,"down":7,"ms":3}"#;
        let Some(Record::Connection(c)) = access_record(line) else {
            panic!("a connection")
        };
        assert_eq!((c.to_upstream, c.to_downstream), (5, 7));
        assert!(access_record("not json").is_none());
    }

    #[test]
    fn the_failure_policy_and_the_access_log_reach_the_bootstrap() {
        let topology = |fail_open| Topology {
            plugin: EnvoyListener {
                wasm: "/p.wasm".into(),
                plugin_config: Vec::new(),
                vm_config: Vec::new(),
                env: Vec::new(),
                network: false,
            },
            listen: "127.0.0.1:0".parse().unwrap(),
            upstream: ("127.0.0.1".into(), 8080),
            fail_open,
            clusters: cluster::parse(&[
                "authz=http://127.0.0.1:9000".parse().unwrap(),
                "ratelimit=h2c://127.0.0.1:9001".parse().unwrap(),
            ])
            .unwrap(),
        };
        let manager = |fail_open| {
            let document = bootstrap_for(&topology(fail_open), Path::new("/w"));
            document["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
                ["typed_config"]
                .clone()
        };
        let open = manager(true);
        let config = &open["http_filters"][0]["typed_config"]["config"];
        assert_eq!(config["failure_policy"], "FAIL_OPEN");
        let reload = manager(false);
        let config = &reload["http_filters"][0]["typed_config"]["config"];
        assert_eq!(config["failure_policy"], "FAIL_RELOAD");
        assert_eq!(config["reload_config"]["backoff"]["base_interval"], "0.01s");
        let log = &reload["access_log"][0]["typed_config"];
        assert_eq!(log["path"], "/w/access.log");
        // A stream is never cut short, only 30 s of silence.
        let route = &reload["route_config"]["virtual_hosts"][0]["routes"][0]["route"];
        assert_eq!(route["timeout"], "0s");
        assert_eq!(route["idle_timeout"], "30s");
        // An h2c:// cluster speaks HTTP/2, an http:// one HTTP/1.
        let clusters =
            bootstrap_for(&topology(false), Path::new("/w"))["static_resources"]["clusters"]
                .clone();
        let options = |index: usize| {
            clusters[index]["typed_extension_protocol_options"]
                ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["explicit_http_config"]
                .clone()
        };
        assert_eq!(clusters[1]["name"], "authz");
        assert!(options(1).is_null());
        assert_eq!(clusters[2]["name"], "ratelimit");
        assert!(options(2)["http2_protocol_options"].is_object());
    }
}
