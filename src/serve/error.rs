//! What can stop `wasmctl serve` from serving.

use std::net::SocketAddr;

use crate::error::Hint;
use crate::host::HostError;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid --upstream `{given}`: {why}")]
    Upstream { given: String, why: String },
    #[error("invalid --cluster `{given}`: {why}")]
    Cluster { given: String, why: String },
    #[error("the server's runtime failed")]
    Runtime(#[source] std::io::Error),
    /// The plugin failed to start: it trapped or rejected its configuration.
    #[error("the plugin did not start")]
    Start(#[source] HostError),
    /// The plugin failed to start in Envoy, which exited.
    #[error("the plugin did not start in Envoy")]
    EnvoyStart(#[source] crate::envoy::EnvoyError),
    #[error("envoy exited while serving: {0}")]
    EnvoyExited(String),
    #[error("the new module was not swapped in")]
    Swap(#[source] HostError),
    /// The project's plugin type changed while it was served: a listener serves one kind.
    #[error("the plugin is now {} plugin; the server serves the other kind", if *network { "a network" } else { "an HTTP" })]
    KindChanged { network: bool },
    #[error("the server has stopped")]
    Stopped,
}

impl ServeError {
    /// What the plugin logged before it failed to start, for whoever wants to show it.
    pub fn plugin_logs(&self) -> &[crate::host::LogRecord] {
        match self {
            ServeError::Start(err) | ServeError::Swap(err) => err.logs(),
            ServeError::EnvoyStart(err) => err.plugin_logs(),
            _ => &[],
        }
    }
}

impl Hint for ServeError {
    fn hints(&self) -> Vec<String> {
        match self {
            ServeError::Bind { .. } => {
                vec!["another process may listen there; pick another address with --listen".into()]
            }
            ServeError::Upstream { .. } => vec![
                "an HTTP plugin's upstream is a URL (http://127.0.0.1:8080), a network plugin's HOST:PORT"
                    .into(),
            ],
            ServeError::Cluster { .. } => vec![
                "name the cluster as the plugin's call does: --cluster authz=http://127.0.0.1:9000 \
                 (h2c://HOST:PORT for a gRPC service)"
                    .into(),
            ],
            ServeError::Start(err) | ServeError::Swap(err) => err.hints(),
            ServeError::EnvoyStart(err) => err.hints(),
            ServeError::KindChanged { .. } => {
                vec!["restart `wasmctl dev --serve` to serve the new kind".into()]
            }
            ServeError::EnvoyExited(_) | ServeError::Runtime(_) | ServeError::Stopped => Vec::new(),
        }
    }
}
