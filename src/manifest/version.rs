//! Istio releases and the manifest fields each one understands.

use std::fmt;
use std::str::FromStr;

/// An Istio minor release, e.g. `1.30` (a patch number is accepted and ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IstioVersion {
    pub major: u32,
    pub minor: u32,
}

impl IstioVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        IstioVersion { major, minor }
    }

    /// The newest release whose CRDs wasmctl is checked against (tests/interop.rs). Istio 1.30,
    /// 1.31 and 1.32 have the same WasmPlugin and TrafficExtension schemas and the same
    /// validation; a newer release gets a warning.
    pub const LATEST_KNOWN: IstioVersion = IstioVersion::new(1, 32);
    /// The oldest release Istio's own code checks wasmctl against, and what `manifest` targets
    /// unless told otherwise.
    pub const DEFAULT_TARGET: IstioVersion = IstioVersion::new(1, 30);
    /// WasmPlugin itself.
    pub const WASM_PLUGIN: IstioVersion = IstioVersion::new(1, 12);
    /// `spec.type` (HTTP or NETWORK); earlier releases only run HTTP plugins.
    pub const PLUGIN_TYPE: IstioVersion = IstioVersion::new(1, 20);
    /// `spec.targetRefs` (a list; 1.20 and 1.21 had only a single `targetRef`).
    pub const TARGET_REFS: IstioVersion = IstioVersion::new(1, 22);
    /// `failStrategy: FAIL_RELOAD`.
    pub const FAIL_RELOAD: IstioVersion = IstioVersion::new(1, 27);
    /// The TrafficExtension kind.
    pub const TRAFFIC_EXTENSION: IstioVersion = IstioVersion::new(1, 30);
}

impl Default for IstioVersion {
    fn default() -> Self {
        IstioVersion::LATEST_KNOWN
    }
}

impl fmt::Display for IstioVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for IstioVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid Istio version `{s}`: expected MAJOR.MINOR, e.g. 1.30");
        let trimmed = s.strip_prefix('v').unwrap_or(s);
        let mut parts = trimmed.split('.');
        let major = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let minor = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        // A patch release (1.30.3) has the fields of its minor release.
        match (parts.next(), parts.next()) {
            (None, _) => {}
            (Some(patch), None) if patch.parse::<u32>().is_ok() => {}
            _ => return Err(bad()),
        }
        Ok(IstioVersion { major, minor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_minor_and_patch_releases() {
        assert_eq!("1.30".parse(), Ok(IstioVersion::new(1, 30)));
        assert_eq!("1.19.4".parse(), Ok(IstioVersion::new(1, 19)));
        assert_eq!("v1.27".parse(), Ok(IstioVersion::new(1, 27)));
        assert!("1".parse::<IstioVersion>().is_err());
        assert!("1.x".parse::<IstioVersion>().is_err());
        assert!("1.2.3.4".parse::<IstioVersion>().is_err());
        assert!(IstioVersion::new(1, 9) < IstioVersion::new(1, 12));
    }
}
