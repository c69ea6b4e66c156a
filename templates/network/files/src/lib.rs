//! {{name}}: a proxy-wasm network (TCP) filter that counts the bytes of each connection in both
//! directions and logs them when the connection is done.
//!
//! pluginConfig, as the proxy delivers it (JSON), is optional:
//!
//! ```json
//! {"log_prefix": "tcp-bytes"}
//! ```
//!
//! The proxy-wasm callbacks below only move data between the proxy and [`Config`] / [`Traffic`];
//! the parsing and the log line are plain functions, which is what the unit tests exercise on the
//! host.

mod json;

use std::rc::Rc;

use proxy_wasm::traits::{Context, RootContext, StreamContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, PeerType};

use json::Value;

proxy_wasm::main! {{
    // Hand every record to the proxy, which filters by its own level
    // (Envoy: `--component-log-level wasm:debug`).
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Plugin::default()) });
}}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Starts every log line, to tell this plugin's lines apart (and find them with grep).
    pub log_prefix: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            log_prefix: env!("CARGO_PKG_NAME").to_string(),
        }
    }
}

impl Config {
    /// Parses `{"log_prefix": "..."}`. Empty input (no pluginConfig) gives the defaults; other keys
    /// are ignored, so the pluginConfig can carry settings for other tools.
    pub fn parse(plugin_config: &[u8]) -> Result<Config, String> {
        if plugin_config.iter().all(u8::is_ascii_whitespace) {
            return Ok(Config::default());
        }
        let root = json::parse(plugin_config).map_err(|err| err.to_string())?;
        if !matches!(root, Value::Object(_)) {
            return Err(format!(
                "pluginConfig must be an object, not {}",
                root.kind()
            ));
        }
        match root.get("log_prefix") {
            None | Some(Value::Null) => Ok(Config::default()),
            // Control characters would let the prefix forge or break log lines.
            Some(Value::String(prefix)) if prefix.chars().any(char::is_control) => {
                Err("`log_prefix` must not contain control characters".into())
            }
            Some(Value::String(prefix)) => Ok(Config {
                log_prefix: prefix.clone(),
            }),
            Some(other) => Err(format!(
                "`log_prefix` must be a string, not {}",
                other.kind()
            )),
        }
    }
}

/// One side of a proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client, which connected to the proxy.
    Downstream,
    /// The server the proxy connected to.
    Upstream,
}

/// What one connection carried.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes the client sent (towards the upstream).
    pub downstream_bytes: u64,
    /// Bytes the upstream sent (towards the client).
    pub upstream_bytes: u64,
    /// The side whose connection closed first, once one has.
    pub closed_first: Option<Side>,
}

impl Traffic {
    pub fn received(&mut self, from: Side, bytes: usize) {
        let counter = match from {
            Side::Downstream => &mut self.downstream_bytes,
            Side::Upstream => &mut self.upstream_bytes,
        };
        *counter += bytes as u64;
    }

    pub fn closed(&mut self, side: Side) {
        self.closed_first.get_or_insert(side);
    }

    /// The log line for a finished connection.
    pub fn summary(&self, prefix: &str, connection: u32) -> String {
        let closed = match self.closed_first {
            Some(Side::Downstream) => ", downstream closed first",
            Some(Side::Upstream) => ", upstream closed first",
            None => "",
        };
        format!(
            "{prefix}: connection {connection}: {} bytes from downstream, {} bytes from upstream{closed}",
            self.downstream_bytes, self.upstream_bytes
        )
    }
}

/// Who closed a connection, for the debug log: the proxy itself (local) or the peer (remote).
fn describe(peer: PeerType) -> &'static str {
    match peer {
        PeerType::Local => "closed by the proxy",
        PeerType::Remote => "closed by the peer",
        _ => "closed",
    }
}

/// The root context: owns the configuration and creates one [`CountBytes`] per connection.
#[derive(Default)]
struct Plugin {
    /// Shared with the connection contexts; a new configuration applies to new connections.
    config: Rc<Config>,
}

impl Context for Plugin {}

impl RootContext for Plugin {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let plugin_config = self.get_plugin_configuration().unwrap_or_default();
        match Config::parse(&plugin_config) {
            Ok(config) => {
                log::info!(
                    "counting connection bytes, logging as `{}`",
                    config.log_prefix
                );
                self.config = Rc::new(config);
                true
            }
            Err(err) => {
                // Returning false makes the proxy reject this configuration.
                log::error!("invalid pluginConfig: {err}");
                false
            }
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::StreamContext)
    }

    fn create_stream_context(&self, context_id: u32) -> Option<Box<dyn StreamContext>> {
        Some(Box::new(CountBytes {
            config: Rc::clone(&self.config),
            connection: context_id,
            traffic: Traffic::default(),
        }))
    }
}

/// One downstream connection and its upstream.
struct CountBytes {
    config: Rc<Config>,
    /// The context id, unique per connection while it lasts: ties the log lines together.
    connection: u32,
    traffic: Traffic,
}

impl Context for CountBytes {}

impl StreamContext for CountBytes {
    // `data_size` is the size of the chunk just read: data flows on (Action::Continue), so
    // nothing accumulates in the proxy's buffer between calls.
    fn on_downstream_data(&mut self, data_size: usize, _end_of_stream: bool) -> Action {
        self.traffic.received(Side::Downstream, data_size);
        Action::Continue
    }

    fn on_upstream_data(&mut self, data_size: usize, _end_of_stream: bool) -> Action {
        self.traffic.received(Side::Upstream, data_size);
        Action::Continue
    }

    fn on_downstream_close(&mut self, peer_type: PeerType) {
        self.traffic.closed(Side::Downstream);
        log::debug!(
            "{}: connection {}: downstream {}",
            self.config.log_prefix,
            self.connection,
            describe(peer_type)
        );
    }

    fn on_upstream_close(&mut self, peer_type: PeerType) {
        self.traffic.closed(Side::Upstream);
        log::debug!(
            "{}: connection {}: upstream {}",
            self.config.log_prefix,
            self.connection,
            describe(peer_type)
        );
    }

    // Called once the connection is done, after the close callbacks.
    fn on_log(&mut self) {
        log::info!(
            "{}",
            self.traffic
                .summary(&self.config.log_prefix, self.connection)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_example_config() {
        let config = Config::parse(br#"{"log_prefix": "tcp-bytes"}"#).unwrap();
        assert_eq!(config.log_prefix, "tcp-bytes");
    }

    #[test]
    fn defaults_without_config() {
        for input in [
            &b""[..],
            b" \n",
            b"{}",
            br#"{"log_prefix": null}"#,
            br#"{"x": 1}"#,
        ] {
            assert_eq!(Config::parse(input), Ok(Config::default()));
        }
        assert_eq!(Config::default().log_prefix, env!("CARGO_PKG_NAME"));
    }

    #[test]
    fn rejects_invalid_configs() {
        for input in [
            &b"not json"[..],
            b"[]",
            b"\"tcp\"",
            br#"{"log_prefix": 1}"#,
            br#"{"log_prefix": ["a"]}"#,
            br#"{"log_prefix": "two\nlines"}"#,
        ] {
            assert!(
                Config::parse(input).is_err(),
                "accepted {}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn counts_each_direction() {
        let mut traffic = Traffic::default();
        traffic.received(Side::Downstream, 10);
        traffic.received(Side::Upstream, 1000);
        traffic.received(Side::Downstream, 5);
        assert_eq!(traffic.downstream_bytes, 15);
        assert_eq!(traffic.upstream_bytes, 1000);
    }

    #[test]
    fn remembers_the_first_side_to_close() {
        let mut traffic = Traffic::default();
        traffic.closed(Side::Upstream);
        traffic.closed(Side::Downstream);
        assert_eq!(traffic.closed_first, Some(Side::Upstream));
    }

    #[test]
    fn summarizes_a_connection() {
        let mut traffic = Traffic::default();
        assert_eq!(
            traffic.summary("tcp", 7),
            "tcp: connection 7: 0 bytes from downstream, 0 bytes from upstream"
        );
        traffic.received(Side::Downstream, 3);
        traffic.received(Side::Upstream, 4);
        traffic.closed(Side::Downstream);
        assert_eq!(
            traffic.summary("tcp", 7),
            "tcp: connection 7: 3 bytes from downstream, 4 bytes from upstream, downstream closed first"
        );
    }
}
