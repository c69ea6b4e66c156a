//! An Envoy process: started from a bootstrap in a working directory of its own, ready when its
//! admin API says so, drained and stopped on request, killed when dropped. `run --envoy` (the
//! scenario [`Envoy`]) and `serve --envoy` both start Envoy through [`EnvoyProcess::start`].

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::admin::{Admin, PluginMetrics};
use super::bootstrap::{EnvoyListener, bootstrap, listener_name, socket_address};
use super::calls::CallUpstreams;
use super::logs::{LogFile, failure_lines, plugin_lines};
use super::peer::TcpPeer;
use super::upstream::HttpUpstream;
use super::{EnvoyError, io};
use crate::host::{CallAnswer, CallRecord, LogRecord};

/// A running Envoy with the plugins of `run --envoy`, and the upstreams played for them; stopped
/// when dropped.
pub struct Envoy {
    pub(super) process: EnvoyProcess,
    pub(super) upstream: HttpUpstream,
    pub(super) peer: TcpPeer,
    pub(super) calls: CallUpstreams,
}

impl Envoy {
    /// Starts Envoy with `listeners`, and a cluster for each of `call_upstreams` that answers
    /// the plugins' http_calls from a script: `start_answers` while Envoy starts, then those
    /// [`Envoy::script_calls`] gives.
    pub fn start(
        binary: &Path,
        listeners: &[EnvoyListener],
        call_upstreams: &[String],
        start_answers: Vec<CallAnswer>,
    ) -> Result<Envoy, EnvoyError> {
        let upstream = HttpUpstream::start()?;
        let peer = TcpPeer::start()?;
        let calls = CallUpstreams::start(call_upstreams)?;
        calls.script(start_answers);
        let names: Vec<String> = (0..listeners.len()).map(listener_name).collect();
        let launch = Launch {
            binary,
            concurrency: 1,
            listeners: &names,
        };
        let process = EnvoyProcess::start(&launch, |_| {
            bootstrap(listeners, upstream.port, peer.port, calls.clusters())
        })?;
        Ok(Envoy {
            process,
            upstream,
            peer,
            calls,
        })
    }

    /// Adds answers for the plugins' later http_calls, in order.
    pub fn script_calls(&self, answers: Vec<CallAnswer>) {
        self.calls.script(answers);
    }

    /// The http_calls the plugins made so far, as they reached their upstreams.
    pub fn calls_made(&self) -> Vec<CallRecord> {
        self.calls.made()
    }

    /// What the plugin on `listener` logged while Envoy started (each worker configures its own
    /// copy).
    pub fn start_logs(&self, listener: usize) -> &[LogRecord] {
        self.process.start_logs(listener)
    }

    /// The plugins' metrics now, as Envoy's admin API lists them.
    pub fn plugin_metrics(&self) -> Result<PluginMetrics, EnvoyError> {
        self.process.admin.plugin_metrics()
    }

    /// Envoy's own log, with the plugin's lines.
    pub fn log_path(&self) -> &Path {
        self.process.log.path()
    }

    pub(super) fn port(&self, listener: usize) -> Result<u16, EnvoyError> {
        self.process.port(listener)
    }
}

/// How to start Envoy.
pub(crate) struct Launch<'a> {
    pub binary: &'a Path,
    /// Worker threads (`--concurrency`), each with its own copy of every plugin.
    pub concurrency: usize,
    /// The listeners whose ports and start-up plugin logs are read back, by name.
    pub listeners: &'a [String],
}

/// A live Envoy process and its working directory (bootstrap, log, and what the bootstrap writes
/// there); killed when dropped.
pub(crate) struct EnvoyProcess {
    /// First, so Envoy is gone before its directory is removed.
    process: Process,
    workdir: tempfile::TempDir,
    pub(super) log: LogFile,
    pub(super) admin: Admin,
    /// The port of each listener of the launch, in its order.
    ports: Vec<u16>,
    /// The plugin lines of each listener while Envoy started.
    start_logs: Vec<Vec<LogRecord>>,
}

/// How long Envoy may take to start: V8 compiles every plugin first.
const START_TIMEOUT: Duration = Duration::from_secs(60);

impl EnvoyProcess {
    /// Starts Envoy on the bootstrap `bootstrap` builds, given the working directory (for files
    /// Envoy should write there); the admin API is added here. Returns once Envoy is live.
    pub(crate) fn start(
        launch: &Launch,
        bootstrap: impl FnOnce(&Path) -> Value,
    ) -> Result<EnvoyProcess, EnvoyError> {
        let workdir = tempfile::Builder::new()
            .prefix("wasmctl-envoy-")
            .tempdir()
            .map_err(io("temporary directory"))?;
        let config = workdir.path().join("envoy.json");
        let mut document = bootstrap(workdir.path());
        document["admin"] = serde_json::json!({"address": socket_address("127.0.0.1", 0)});
        std::fs::write(&config, document.to_string()).map_err(io("bootstrap"))?;
        let (log, stderr) = LogFile::create(workdir.path().join("envoy.log"))?;
        let admin_address = workdir.path().join("admin-address");
        let mut process = Process::spawn(launch, &config, &admin_address, stderr)?;
        let admin = wait_live(&mut process, &log, &admin_address)?;
        let ports = admin.listener_ports(launch.listeners)?;
        // Live means every worker has configured its copy of each plugin, so these are complete.
        let text = log.text();
        let start_logs = launch
            .listeners
            .iter()
            .map(|name| plugin_lines(&text, Some(name)))
            .collect();
        Ok(EnvoyProcess {
            process,
            workdir,
            log,
            admin,
            ports,
            start_logs,
        })
    }

    pub(crate) fn workdir(&self) -> &Path {
        self.workdir.path()
    }

    pub(crate) fn log_path(&self) -> &Path {
        self.log.path()
    }

    /// The port listener `index` of the launch is bound to.
    pub(crate) fn port(&self, index: usize) -> Result<u16, EnvoyError> {
        self.ports
            .get(index)
            .copied()
            .ok_or_else(|| EnvoyError::Io(format!("no listener {index}")))
    }

    /// What the plugin on listener `index` logged while Envoy started.
    pub(crate) fn start_logs(&self, index: usize) -> &[LogRecord] {
        self.start_logs.get(index).map_or(&[], Vec::as_slice)
    }

    /// How Envoy ended, once it has.
    pub(crate) fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.process.exit_status()
    }

    /// Stops taking connections on every listener, waits (up to `drain`) until `listener` holds
    /// none, then has Envoy exit, which writes out its access logs.
    pub(crate) fn drain_and_stop(&mut self, listener: &str, drain: Duration) {
        let deadline = Instant::now() + drain;
        if self.admin.post("/drain_listeners?graceful").is_ok() {
            while self.admin.active_connections(listener).unwrap_or(0) > 0
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.admin.post("/quitquitquit");
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.exit_status().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Waits until the admin API reports the server live, or Envoy exits, or time runs out.
fn wait_live(
    process: &mut Process,
    log: &LogFile,
    admin_address: &Path,
) -> Result<Admin, EnvoyError> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = process.exit_status() {
            let text = log.text();
            let mut why = failure_lines(&text);
            if why.is_empty() {
                why = text.lines().rev().take(3).map(str::to_string).collect();
                why.reverse();
            }
            return Err(EnvoyError::Exited {
                reason: format!("{status}; Envoy says: {}", why.join(" / ")),
                logs: plugin_lines(&text, None),
            });
        }
        if let Some(admin) = Admin::from_address_file(admin_address)
            && admin.live()
        {
            return Ok(admin);
        }
        if Instant::now() > deadline {
            return Err(EnvoyError::NotReady(START_TIMEOUT.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The envoy child process, killed when dropped (also when it never became ready).
struct Process {
    child: Child,
}

impl Process {
    fn spawn(
        launch: &Launch,
        config: &Path,
        admin_address: &Path,
        stderr: std::fs::File,
    ) -> Result<Process, EnvoyError> {
        let child = Command::new(launch.binary)
            .arg("-c")
            .arg(config)
            .arg("--admin-address-path")
            .arg(admin_address)
            .args(["--concurrency", &launch.concurrency.max(1).to_string()])
            .arg("--use-dynamic-base-id")
            .args(["-l", "warning", "--component-log-level", "wasm:trace"])
            .args(["--log-format", "%l|%v"])
            // Access logs reach their files within 100 ms, not Envoy's default 10 s.
            .args(["--file-flush-interval-msec", "100"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|source| EnvoyError::Spawn {
                path: launch.binary.to_path_buf(),
                source,
            })?;
        Ok(Process { child })
    }

    fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
