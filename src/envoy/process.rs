//! The Envoy process: started from a bootstrap, ready when its admin API says so, stopped when
//! dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::admin::Admin;
use super::bootstrap::{EnvoyListener, bootstrap, listener_name};
use super::logs::{LogFile, plugin_lines};
use super::peer::TcpPeer;
use super::upstream::HttpUpstream;
use super::{EnvoyError, io};
use crate::host::LogRecord;

/// A running Envoy; stopped when dropped.
pub struct Envoy {
    /// Held to stop Envoy on drop; first, so Envoy is gone before its directory is removed.
    _process: Process,
    binary: PathBuf,
    /// Holds the bootstrap and the log until Envoy stops.
    _workdir: tempfile::TempDir,
    pub(super) log: LogFile,
    pub(super) admin: Admin,
    /// The port of each listener, in the order they were given.
    ports: Vec<u16>,
    pub(super) upstream: HttpUpstream,
    pub(super) peer: TcpPeer,
    /// The plugin lines of each listener while Envoy started.
    start_logs: Vec<Vec<LogRecord>>,
}

/// How long Envoy may take to start: V8 compiles every plugin first.
const START_TIMEOUT: Duration = Duration::from_secs(60);

impl Envoy {
    pub fn start(binary: &Path, listeners: &[EnvoyListener]) -> Result<Envoy, EnvoyError> {
        let workdir = tempfile::Builder::new()
            .prefix("wasmctl-envoy-")
            .tempdir()
            .map_err(io("temporary directory"))?;
        let upstream = HttpUpstream::start()?;
        let peer = TcpPeer::start()?;
        let config = workdir.path().join("envoy.json");
        let bootstrap = bootstrap(listeners, upstream.port, peer.port);
        std::fs::write(&config, bootstrap.to_string()).map_err(io("bootstrap"))?;
        let (log, stderr) = LogFile::create(workdir.path().join("envoy.log"))?;
        let admin_address = workdir.path().join("admin-address");
        let mut process = Process::spawn(binary, &config, &admin_address, stderr)?;
        let admin = wait_live(&mut process, &log, &admin_address)?;
        let names: Vec<String> = (0..listeners.len()).map(listener_name).collect();
        let ports = admin.listener_ports(&names)?;
        // Live means every worker has configured its copy of each plugin, so these are complete.
        let text = log.text();
        let start_logs = names
            .iter()
            .map(|name| plugin_lines(&text, Some(name)))
            .collect();
        Ok(Envoy {
            _process: process,
            binary: binary.to_path_buf(),
            _workdir: workdir,
            log,
            admin,
            ports,
            upstream,
            peer,
            start_logs,
        })
    }

    /// The binary this Envoy runs.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// What the plugin on `listener` logged while Envoy started (each worker configures its own
    /// copy).
    pub fn start_logs(&self, listener: usize) -> &[LogRecord] {
        self.start_logs.get(listener).map_or(&[], Vec::as_slice)
    }

    /// Envoy's own log, with the plugin's lines.
    pub fn log_path(&self) -> &Path {
        self.log.path()
    }

    pub(super) fn port(&self, listener: usize) -> Result<u16, EnvoyError> {
        self.ports
            .get(listener)
            .copied()
            .ok_or_else(|| EnvoyError::Io(format!("no listener {listener}")))
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
            let last: Vec<&str> = text.lines().rev().take(3).collect();
            return Err(EnvoyError::Exited {
                reason: format!(
                    "{status}; last log lines: {}",
                    last.into_iter().rev().collect::<Vec<_>>().join(" / ")
                ),
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
pub(super) struct Process {
    child: Child,
}

impl Process {
    fn spawn(
        binary: &Path,
        config: &Path,
        admin_address: &Path,
        stderr: std::fs::File,
    ) -> Result<Process, EnvoyError> {
        let child = Command::new(binary)
            .arg("-c")
            .arg(config)
            .arg("--admin-address-path")
            .arg(admin_address)
            .args(["--concurrency", "1", "--use-dynamic-base-id"])
            .args(["-l", "warning", "--component-log-level", "wasm:debug"])
            .args(["--log-format", "%l|%v"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|source| EnvoyError::Spawn {
                path: binary.to_path_buf(),
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
