//! Scenario files: declarative YAML that says how to start a plugin, what traffic to send through
//! it, and what must come out. One driver ([`run_scenario`]) walks a scenario through any
//! [`ScenarioHost`]: the built-in host for `wasmctl test`, a real Envoy for `wasmctl test --envoy`
//! and for the project's own tests that prove the host right. `wasmctl run` sends one request
//! through the same hosts.
//!
//! ```yaml
//! name: adds the greeting
//! config:                      # pluginConfig (or config_file: ../config.yaml)
//!   headers: {x-greeting: hello}
//! env: {TRUST_DOMAIN: cluster.local}
//! exchanges:
//!   - name: plain GET
//!     request: {method: GET, path: /, headers: {accept: text/plain}}
//!     response: {status: 200, body: "hi"}       # what the upstream answers
//!     expect:
//!       response:
//!         status: 200
//!         headers: {x-greeting: hello, x-trust-domain: {regex: "^cluster\\."}}
//!         absent: [x-debug]
//!       logs: ["adding 1 header"]
//! ```

mod bench;
mod builtin;
mod check;
mod config;
mod driver;
mod error;
mod expect;
mod in_envoy;
mod junit;
mod load;
mod metrics;
mod once;
mod project;
mod report;
mod spec;
mod suite;

pub use bench::{BenchReport, bench};
pub use builtin::{BuiltinHost, PluginCache};
pub use config::config_to_json;
pub use driver::{DriveError, ScenarioHost, Started, run_scenario};
pub use error::ScenarioError;
pub use expect::{CallExpect, CaseKind, Expect, LogExpect, MatchRule, Matcher, MessageExpect};
pub use in_envoy::EnvoyHost;
pub use junit::junit_report;
pub use load::{PluginSetup, ScenarioFile, relative_to};
pub use metrics::{MetricsNow, UnreadMetric};
pub(crate) use once::resolve;
pub use once::{RanIn, RunOptions, RunReport, Traffic, run_once};
pub use project::{project_plugin, project_scenarios};
pub use report::{CaseOutcome, CaseReport, ScenarioReport};
pub use spec::{CallSpec, Configure, Connection, Exchange, Scenario};
pub use suite::{TestObserver, TestOptions, TestSummary, run_tests};

/// The scenario format by example: every key, with its default and meaning (docs/run.md shows
/// the same file, and `wasmctl test --help` prints it).
pub const FORMAT: &str = include_str!("format.yaml");
