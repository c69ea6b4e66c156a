//! wasmctl: build, run, push and deploy proxy-wasm plugins for Envoy and Istio.
//!
//! The library holds every behaviour; the `wasmctl` binary only parses flags and calls it.

pub mod build;
pub mod cache;
pub mod dev;
pub mod digest;
pub mod envoy;
pub mod error;
pub mod fs;
mod go_url;
mod grpc;
pub mod host;
mod http_date;
pub mod key_value;
pub mod manifest;
pub mod module;
pub mod oci;
pub mod progress;
pub mod project;
pub mod scaffold;
pub mod scenario;
pub mod serve;
mod spelling;

pub use error::{Error, Result};
