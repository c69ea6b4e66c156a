//! What a scenario file says: the plugin, its configuration, and the traffic to send through it.
//! The expectations are in `expect.rs`.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Deserialize;

use super::expect::{Expect, LogExpect};
use crate::host::{
    CallAnswer, CallResponse, FieldError, HeaderField, HeaderMap, NetworkEvent, Request, Response,
    Status,
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

/// Headers as a map (`name: value`), in order; each one a field a proxy would pass on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(try_from = "IndexMap<String, String>")]
pub struct Headers(Vec<HeaderField>);

impl TryFrom<IndexMap<String, String>> for Headers {
    type Error = String;

    fn try_from(map: IndexMap<String, String>) -> Result<Self, Self::Error> {
        map.iter()
            .map(|(name, value)| {
                HeaderField::new(name, value).map_err(|err| match err {
                    FieldError::Pseudo(_) => format!(
                        "{err}: set it with the request's `method`, `path` and `authority`, or the response's `status`"
                    ),
                    err => err.to_string(),
                })
            })
            .collect::<Result<_, _>>()
            .map(Headers)
    }
}

impl Headers {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &HeaderField> {
        self.0.iter()
    }

    /// The fields as the pairs the hosts take.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|f| (f.name.clone(), f.value.clone()))
            .collect()
    }
}

/// One HTTP request/response through the plugin.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Exchange {
    pub name: Option<String>,
    pub request: RequestSpec,
    /// What the upstream answers; 200 with no body when absent.
    pub response: ResponseSpec,
    /// Answers for the plugin's http_call/grpc_call, in order.
    pub http_calls: Vec<CallSpec>,
    /// Milliseconds of simulated time to pass before this exchange (fires on_tick).
    pub advance_ms: u64,
    pub expect: Expect,
}

/// The request a client sends; a field left out takes its value from `Default`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestSpec {
    pub method: String,
    pub path: String,
    pub authority: String,
    pub headers: Headers,
    pub body: String,
    pub trailers: Headers,
}

/// The host's default request line and authority, so a scenario and `run` send the same request.
impl Default for RequestSpec {
    fn default() -> Self {
        let Request {
            method,
            path,
            authority,
            ..
        } = Request::default();
        RequestSpec {
            method,
            path,
            authority,
            headers: Headers::default(),
            body: String::new(),
            trailers: Headers::default(),
        }
    }
}

/// What the upstream answers: status 200 unless given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseSpec {
    pub status: Status,
    pub headers: Headers,
    pub body: String,
    pub trailers: Headers,
}

/// A scripted answer to an http_call (or grpc_call).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallSpec {
    /// The cluster the call goes to; any when absent.
    pub upstream: Option<String>,
    pub status: Status,
    pub headers: Headers,
    pub body: String,
    pub grpc_status: u32,
}

/// One TCP connection through a network filter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Connection {
    pub name: Option<String>,
    pub events: Vec<EventSpec>,
    pub expect: Expect,
}

/// `{downstream: "bytes"}`, `{upstream: "bytes"}` or `{close: downstream|upstream}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSpec {
    pub downstream: Option<String>,
    pub upstream: Option<String>,
    pub close: Option<Side>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Downstream,
    Upstream,
}

impl RequestSpec {
    /// The request as the hosts take it.
    pub fn to_request(&self) -> Request {
        Request {
            method: self.method.clone(),
            path: self.path.clone(),
            authority: self.authority.clone(),
            headers: self.headers.pairs(),
            body: self.body.clone().into_bytes(),
            trailers: self.trailers.pairs(),
            ..Request::default()
        }
    }
}

impl ResponseSpec {
    /// The upstream's answer as the hosts take it.
    pub fn to_response(&self) -> Response {
        Response {
            status: self.status,
            headers: self.headers.pairs(),
            body: self.body.clone().into_bytes(),
            trailers: self.trailers.pairs(),
        }
    }
}

/// A name-to-value map as the pairs the hosts take.
pub(super) fn pairs(headers: &IndexMap<String, String>) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl CallSpec {
    /// The built-in host's form of a scripted answer.
    pub fn to_call_answer(&self) -> CallAnswer {
        let mut headers = HeaderMap::new();
        headers.add(":status", &self.status.to_string());
        for field in self.headers.iter() {
            headers.add(&field.name, &field.value);
        }
        CallAnswer {
            upstream: self.upstream.clone(),
            response: CallResponse {
                headers,
                body: self.body.clone().into_bytes(),
                trailers: HeaderMap::new(),
                grpc_status: self.grpc_status,
                grpc_message: String::new(),
            },
        }
    }
}

impl EventSpec {
    /// The event as the hosts take it; `validate` made sure exactly one field is given.
    pub fn to_event(&self) -> NetworkEvent {
        if let Some(data) = &self.downstream {
            NetworkEvent::Downstream(data.clone().into_bytes())
        } else if let Some(data) = &self.upstream {
            NetworkEvent::Upstream(data.clone().into_bytes())
        } else if self.close == Some(Side::Upstream) {
            NetworkEvent::CloseUpstream
        } else {
            NetworkEvent::CloseDownstream
        }
    }
}
