//! What `wasmctl --version` says: the release, and what it speaks with the outside world.

use std::sync::LazyLock;

use wasmctl::host::{SUPPORTED_ABIS, WASMTIME_VERSION};
use wasmctl::manifest::IstioVersion;

/// `--version`: the release, the proxy-wasm ABIs the host loads, the Istio releases whose CRD
/// rules are built in, and the wasmtime it runs plugins on. (`-V` prints the release alone.)
pub fn long_version() -> &'static str {
    static TEXT: LazyLock<String> = LazyLock::new(|| {
        let abis: Vec<&str> = SUPPORTED_ABIS.iter().map(|abi| abi.as_str()).collect();
        format!(
            "{}\nproxy-wasm ABI: {}\nIstio rules: {} to {} (WasmPlugin, TrafficExtension)\nwasmtime: {WASMTIME_VERSION}",
            env!("CARGO_PKG_VERSION"),
            abis.join(", "),
            IstioVersion::DEFAULT_TARGET,
            IstioVersion::LATEST_KNOWN,
        )
    });
    &TEXT
}
