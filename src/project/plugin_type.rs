//! The plugin type: which filter chain a plugin joins, as Istio's WasmPlugin `type` names it. The
//! project's settings, the templates and the emitted resources all use this one type.

use serde::{Deserialize, Serialize};

use crate::spelling::spelling;

spelling! {
    /// The filter chain a plugin joins; spelled `HTTP` or `NETWORK` on the wire.
    #[derive(
        Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
    )]
    #[serde(rename_all = "UPPERCASE")]
    pub enum PluginType {
        #[default]
        Http => "HTTP",
        Network => "NETWORK",
    }
    from_str: "plugin type"
}
