//! What `wasmctl manifest --kind` emits: Istio's resources, Envoy Gateway's policy, Higress's
//! plugin, or plain Envoy configuration.

use std::str::FromStr;

use super::ManifestError;
use crate::spelling::spelling;

spelling! {
    /// One `--kind`, spelled as its users write it; parsed case-insensitively.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum Target {
        #[default]
        WasmPlugin => "WasmPlugin",
        TrafficExtension => "TrafficExtension",
        /// `gateway.envoyproxy.io/v1alpha1` EnvoyExtensionPolicy (Envoy Gateway).
        EnvoyExtensionPolicy => "EnvoyExtensionPolicy",
        /// `extensions.higress.io/v1alpha1` WasmPlugin (Higress).
        HigressWasmPlugin => "HigressWasmPlugin",
        /// A complete static Envoy bootstrap.
        EnvoyBootstrap => "envoy-bootstrap",
        /// Only the Wasm filter entry of an Envoy configuration.
        EnvoyFilter => "envoy-filter",
    }
}

impl Target {
    /// Plain Envoy configuration rather than a Kubernetes resource.
    pub fn is_envoy_config(self) -> bool {
        matches!(self, Target::EnvoyBootstrap | Target::EnvoyFilter)
    }

    /// Every kind, for hints.
    pub fn list() -> String {
        Target::spellings()
    }
}

impl FromStr for Target {
    type Err = ManifestError;
    fn from_str(s: &str) -> Result<Self, ManifestError> {
        Target::from_spelling(s).ok_or_else(|| ManifestError::UnknownKind(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_case_insensitively() {
        assert_eq!(
            "envoyextensionpolicy".parse::<Target>().unwrap(),
            Target::EnvoyExtensionPolicy
        );
        assert_eq!(
            "Envoy-Bootstrap".parse::<Target>().unwrap(),
            Target::EnvoyBootstrap
        );
        assert_eq!("WASMPLUGIN".parse::<Target>().unwrap(), Target::WasmPlugin);
        assert!("Gateway".parse::<Target>().is_err());
        for &target in Target::ALL {
            assert_eq!(target.as_str().parse::<Target>().unwrap(), target);
        }
    }
}
