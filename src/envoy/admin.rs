//! Envoy's admin API: whether the server is live, which ports its listeners got, how many
//! connections a listener still holds, and the plugins' metrics. Asking it opens no connection a
//! plugin would see.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use super::http1::read_message;
use super::{EnvoyError, io};
use crate::host::{Metric, MetricKind};

/// The gauge of V8 VMs alive: for each plugin, two on the main thread and one per worker.
const V8_ACTIVE: &str = "wasm.envoy.wasm.runtime.v8.active";

/// The plugins' own metrics, as Envoy's admin API lists them.
#[derive(Debug, Clone, Default)]
pub struct PluginMetrics {
    /// Counters and gauges: each the sum or last value over every VM.
    pub values: Vec<Metric>,
    /// Histograms, by name: Envoy gives their values only as quantiles.
    pub histograms: Vec<String>,
    /// The plugin VMs Envoy runs, each of which ran the plugin's start.
    pub vms: u64,
}

/// The admin API of one Envoy, at the address it wrote to `--admin-address-path`.
pub(super) struct Admin {
    address: String,
}

impl Admin {
    /// The admin API once Envoy has written its address; `None` before.
    pub fn from_address_file(path: &Path) -> Option<Admin> {
        let address = std::fs::read_to_string(path).ok()?.trim().to_string();
        (!address.is_empty()).then_some(Admin { address })
    }

    /// Whether the server is live: listeners bound and every worker running its plugins.
    pub fn live(&self) -> bool {
        matches!(self.get("/ready"), Ok((200, _)))
    }

    /// The port each named listener is bound to, in the order of `names`.
    pub fn listener_ports(&self, names: &[String]) -> Result<Vec<u16>, EnvoyError> {
        let (_, body) = self.get("/listeners?format=json")?;
        let listing: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| EnvoyError::Io(format!("admin /listeners: {e}")))?;
        let statuses = listing["listener_statuses"].as_array();
        names
            .iter()
            .map(|name| {
                statuses
                    .into_iter()
                    .flatten()
                    .find(|status| status["name"] == name.as_str())
                    .and_then(|status| {
                        status["local_address"]["socket_address"]["port_value"].as_u64()
                    })
                    .and_then(|port| u16::try_from(port).ok())
                    .ok_or_else(|| EnvoyError::Io(format!("admin lists no port for `{name}`")))
            })
            .collect()
    }

    /// The downstream connections listener `name` has open. Envoy counts one off only after the
    /// plugin's last callback for it has run, so zero means every log line is written.
    pub fn active_connections(&self, name: &str) -> Result<u64, EnvoyError> {
        let stat = format!("listener.{name}.downstream_cx_active");
        let stats = self.stats(&format!("filter=^{stat}$"))?;
        stat_value(&stats, &stat)
    }

    /// The requests on their way to `clusters` or back: sent or waiting for a connection.
    pub fn requests_in_flight<'a>(
        &self,
        clusters: impl Iterator<Item = &'a str>,
    ) -> Result<u64, EnvoyError> {
        let mut total = 0;
        for cluster in clusters {
            for stat in ["upstream_rq_active", "upstream_rq_pending_active"] {
                let name = format!("cluster.{cluster}.{stat}");
                let stats = self.stats(&format!("filter=^{}$", name.replace('.', "[.]")))?;
                total += stat_value(&stats, &name).unwrap_or(0);
            }
        }
        Ok(total)
    }

    /// The metrics the plugins defined (`wasmcustom.NAME`, shared by every plugin and VM in this
    /// Envoy), and how many plugin VMs run.
    pub fn plugin_metrics(&self) -> Result<PluginMetrics, EnvoyError> {
        let custom = "filter=^wasmcustom[.]";
        let mut values = Vec::new();
        for (kind, type_) in [
            (MetricKind::Counter, "Counters"),
            (MetricKind::Gauge, "Gauges"),
        ] {
            for stat in self.stats(&format!("type={type_}&{custom}"))? {
                if let (Some(name), Some(value)) =
                    (custom_name(&stat["name"]), stat["value"].as_i64())
                {
                    values.push(Metric { name, kind, value });
                }
            }
        }
        // Histograms come as quantiles only, once Envoy flushes them: their names are all.
        let histograms = self
            .stats(&format!("type=Histograms&{custom}"))?
            .iter()
            .flat_map(|stat| stat["histograms"]["computed_quantiles"].as_array().cloned())
            .flatten()
            .filter_map(|histogram| custom_name(&histogram["name"]))
            .collect();
        let vms = self.stats(&format!("type=Gauges&filter=^{V8_ACTIVE}$"))?;
        Ok(PluginMetrics {
            values,
            histograms,
            vms: stat_value(&vms, V8_ACTIVE)?,
        })
    }

    /// The `stats` of `/stats?format=json&QUERY`.
    fn stats(&self, query: &str) -> Result<Vec<serde_json::Value>, EnvoyError> {
        let (_, body) = self.get(&format!("/stats?format=json&{query}"))?;
        let mut listing: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| EnvoyError::Io(format!("admin /stats: {e}")))?;
        Ok(match listing["stats"].take() {
            serde_json::Value::Array(stats) => stats,
            _ => Vec::new(),
        })
    }

    /// An admin command (`/drain_listeners`, `/quitquitquit`); its status.
    pub fn post(&self, path: &str) -> Result<u16, EnvoyError> {
        Ok(self.request("POST", path)?.0)
    }

    fn get(&self, path: &str) -> Result<(u16, Vec<u8>), EnvoyError> {
        self.request("GET", path)
    }

    fn request(&self, method: &str, path: &str) -> Result<(u16, Vec<u8>), EnvoyError> {
        let stream =
            TcpStream::connect(&self.address).map_err(io("connecting to the admin API"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(io("socket"))?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: admin\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        (&stream)
            .write_all(request.as_bytes())
            .map_err(io("asking the admin API"))?;
        let message = read_message(&mut BufReader::new(stream))
            .ok_or_else(|| EnvoyError::Io(format!("admin {path}: no response")))?;
        let status = message
            .status()
            .ok_or_else(|| EnvoyError::Io(format!("admin {path}: `{}`", message.start_line)))?;
        Ok((status, message.body))
    }
}

/// The value of the stat `name` in a `/stats` listing.
fn stat_value(stats: &[serde_json::Value], name: &str) -> Result<u64, EnvoyError> {
    stats
        .iter()
        .find(|s| s["name"] == name)
        .and_then(|s| s["value"].as_u64())
        .ok_or_else(|| EnvoyError::Io(format!("admin has no stat `{name}`")))
}

/// A plugin metric's own name, from its stat's name.
fn custom_name(name: &serde_json::Value) -> Option<String> {
    Some(name.as_str()?.strip_prefix("wasmcustom.")?.to_string())
}
