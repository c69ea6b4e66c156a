//! The plugin type: which filter chain a plugin joins, as Istio's WasmPlugin `type` names it. The
//! project's settings, the templates and the emitted resources all use this one type.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The filter chain a plugin joins.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum PluginType {
    #[default]
    Http,
    Network,
}

impl PluginType {
    pub const ALL: &[PluginType] = &[PluginType::Http, PluginType::Network];

    /// The wire spelling, `HTTP` or `NETWORK`.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginType::Http => "HTTP",
            PluginType::Network => "NETWORK",
        }
    }
}

impl fmt::Display for PluginType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PluginType {
    type Err = String;

    /// Case-insensitive, as the other resource enums parse.
    fn from_str(s: &str) -> Result<Self, String> {
        PluginType::ALL
            .iter()
            .copied()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown plugin type `{s}`: expected one of HTTP, NETWORK"))
    }
}
