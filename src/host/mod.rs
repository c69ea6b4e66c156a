//! A proxy-wasm host of wasmctl's own, on wasmtime: it loads a plugin the way Envoy does (ABI 0.2.1,
//! 0.2.0 and 0.1.0), drives HTTP and TCP streams through it, and records what it did.
//!
//! The module is compiled once ([`Plugin`]); each [`Vm`] is one instance with its root context
//! configured, and serves any number of HTTP exchanges or connections, as one Envoy worker would.
//!
//! Limits keep a broken plugin from hanging or exhausting the machine: every callback runs under a
//! wall-clock deadline (epoch interruption) and the instance's memory is capped. Whatever the guest
//! does, the host answers with a [`HostError`] naming the callback, never a panic.

mod abi;
mod answers;
pub(crate) mod cache;
mod chunks;
mod error;
mod exports;
mod field;
mod grpc_streams;
mod headers;
mod http;
mod network;
mod options;
mod peers;
mod plugin;
mod state;
#[cfg(test)]
mod tests;
mod vm;

pub(crate) use chunks::Side;
pub use error::HostError;
pub use field::{FieldError, HeaderField, Status, StatusError};
pub(crate) use field::{header_pairs, text_bytes, text_bytes_list};
pub use headers::HeaderMap;
pub use http::{FinalResponse, ForwardedRequest, HttpOutcome, LocalReply, Request, Response};
pub(crate) use http::{HTTP_CLUSTER, TCP_CLUSTER, VIRTUAL_HOST, bodiless, is_grpc};
pub use network::{NetworkEvent, NetworkOutcome};
pub use options::{Limits, VmOptions};
pub(crate) use peers::{BodyPart, HttpPeers, ResponseHead};
pub use plugin::{Plugin, SUPPORTED_ABIS, WASMTIME_VERSION};
pub use state::{
    CallAnswer, CallRecord, CallRequest, CallResponse, Caller, LogLevel, LogRecord, Metric,
    MetricKind,
};
pub use vm::Vm;
