//! What a scenario file says: the plugin, its configuration, and the traffic to send through it.
//! The expectations are in `expect.rs`.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::expect::{Expect, LogExpect};
use crate::host::{
    CallAnswer, CallResponse, HeaderMap, NetworkEvent, Request, Response, Status, header_pairs,
    text_bytes, text_bytes_list,
};

/// One scenario file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// Shown in reports; defaults to the file name.
    pub name: Option<String>,
    /// The module to run, relative to the scenario file; defaults to the project's last build.
    pub plugin: Option<PathBuf>,
    /// pluginConfig, inline (YAML, sent to the plugin as JSON).
    pub config: Option<serde_yaml::Value>,
    /// pluginConfig from a YAML or JSON file, relative to the scenario file.
    pub config_file: Option<PathBuf>,
    /// vm_config.configuration, as a string.
    pub vm_config: Option<String>,
    /// Environment variables (vmConfig.env).
    pub env: IndexMap<String, String>,
    /// Property overrides, dotted paths.
    pub properties: IndexMap<String, String>,
    /// Whether the plugin must accept its configuration (default) or reject it.
    pub configure: Configure,
    /// Logs expected while the plugin starts (on_vm_start, on_configure).
    pub start_logs: Vec<LogExpect>,
    /// Answers for http_call/grpc_call made while the plugin starts (e.g. fetching keys).
    pub http_calls: Vec<CallSpec>,
    pub exchanges: Vec<Exchange>,
    pub connections: Vec<Connection>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Configure {
    #[default]
    Accepted,
    Rejected,
}

/// One HTTP request/response through the plugin.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Exchange {
    pub name: Option<String>,
    /// The request a client sends; a field left out takes the host's default.
    pub request: Request,
    /// What the upstream answers; 200 with no body when absent.
    pub response: Response,
    /// Answers for the plugin's http_call/grpc_call, in order.
    pub http_calls: Vec<CallSpec>,
    /// Milliseconds of simulated time to pass before this exchange (fires on_tick).
    pub advance_ms: u64,
    pub expect: Expect,
}

/// A scripted answer to an http_call (or grpc_call).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallSpec {
    /// The cluster the call goes to; any when absent.
    pub upstream: Option<String>,
    pub status: Status,
    #[serde(deserialize_with = "header_pairs")]
    pub headers: Vec<(String, String)>,
    #[serde(deserialize_with = "text_bytes")]
    pub body: Vec<u8>,
    #[serde(deserialize_with = "header_pairs")]
    pub trailers: Vec<(String, String)>,
    /// A grpc_call's answer: its status (0 carries `body` as the message) and `grpc-message`.
    pub grpc_status: u32,
    pub grpc_message: String,
    /// A gRPC stream's answer: its messages, sent whatever the status.
    #[serde(deserialize_with = "text_bytes_list")]
    pub messages: Vec<Vec<u8>>,
}

/// One TCP connection through a network filter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Connection {
    pub name: Option<String>,
    #[serde(deserialize_with = "events")]
    pub events: Vec<NetworkEvent>,
    /// Answers for the plugin's http_call/grpc_call, in order.
    pub http_calls: Vec<CallSpec>,
    pub expect: Expect,
}

/// One event as a scenario writes it: `{downstream: "bytes"}`, `{upstream: "bytes"}` or
/// `{close: downstream|upstream}`.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct EventSpec {
    downstream: Option<String>,
    upstream: Option<String>,
    close: Option<Side>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Side {
    Downstream,
    Upstream,
}

/// A connection's events, each given in exactly one of its three forms.
fn events<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<NetworkEvent>, D::Error> {
    let specs = Vec::<EventSpec>::deserialize(deserializer)?;
    specs
        .into_iter()
        .map(|spec| match (spec.downstream, spec.upstream, spec.close) {
            (Some(data), None, None) => Ok(NetworkEvent::Downstream(data.into_bytes())),
            (None, Some(data), None) => Ok(NetworkEvent::Upstream(data.into_bytes())),
            (None, None, Some(Side::Downstream)) => Ok(NetworkEvent::CloseDownstream),
            (None, None, Some(Side::Upstream)) => Ok(NetworkEvent::CloseUpstream),
            _ => Err(D::Error::custom(
                "each event is one of `downstream`, `upstream` or `close`",
            )),
        })
        .collect()
}

/// A name-to-value map as the pairs the hosts take.
pub(super) fn pairs(headers: &IndexMap<String, String>) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The built-in host's form of scripted answers, in order.
pub(crate) fn call_answers(calls: &[CallSpec]) -> Vec<CallAnswer> {
    calls.iter().map(CallSpec::to_call_answer).collect()
}

impl CallSpec {
    /// The built-in host's form of a scripted answer.
    fn to_call_answer(&self) -> CallAnswer {
        let mut headers = HeaderMap::new();
        headers.add(":status", &self.status.to_string());
        for (name, value) in &self.headers {
            headers.add(name, value);
        }
        CallAnswer {
            upstream: self.upstream.clone(),
            response: CallResponse {
                headers,
                body: self.body.clone(),
                trailers: self
                    .trailers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect(),
                grpc_status: self.grpc_status,
                grpc_message: self.grpc_message.clone(),
                messages: self.messages.clone(),
            },
        }
    }
}
