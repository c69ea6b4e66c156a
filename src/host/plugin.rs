//! A compiled plugin: the process-wide wasmtime engine, the module checked by [`crate::module`],
//! and a linker with the host functions its imports name.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::{Config, Engine, Linker, Module};

use super::error::HostError;
use super::options::Limits;
use super::state::HostState;
use crate::module::{self, AbiVersion, ModuleError, ModuleInfo};

/// The proxy-wasm ABIs the host loads, newest first (a module declares one by its
/// `proxy_abi_version_*` export).
pub const SUPPORTED_ABIS: [AbiVersion; 3] =
    [AbiVersion::V0_2_1, AbiVersion::V0_2_0, AbiVersion::V0_1_0];

/// The wasmtime release the host runs plugins on (Cargo.toml pins it exactly).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// A compiled plugin, ready to be instantiated any number of times.
pub struct Plugin {
    pub(super) engine: Engine,
    pub(super) module: Module,
    pub(super) linker: Linker<HostState>,
    pub(super) info: ModuleInfo,
}

impl Plugin {
    /// [`Plugin::load`] of a file; what is wrong with the module is said of the file.
    pub fn from_file(path: &Path) -> Result<Plugin, HostError> {
        let bytes = module::read(path)?;
        let in_file = |e: ModuleError| HostError::Module(e.in_file(path));
        module::check_magic(&bytes).map_err(in_file)?;
        Plugin::load(&bytes).map_err(|e| match e {
            HostError::Module(e) => in_file(e),
            other => other,
        })
    }

    /// Compiles the module (or takes it from the module cache), checks that it is proxy-wasm, and links the host functions its
    /// imports name.
    pub fn load(bytes: &[u8]) -> Result<Plugin, HostError> {
        let engine = engine()?;
        // wasmtime compiles first: it is the judge of what this host can load, and its message
        // says why not.
        let module = super::cache::module(&engine, bytes)
            .map_err(|e| ModuleError::Compile(format!("{e:#}")))?;
        let info = module::declarations(bytes)?;
        let linker = super::abi::linker(&engine, &module)?;
        Ok(Plugin {
            engine,
            module,
            linker,
            info,
        })
    }

    /// The newest proxy-wasm ABI the module declares.
    pub fn abi(&self) -> AbiVersion {
        self.info.abi
    }
}

/// The process-wide engine, with a thread that advances its epoch so callbacks can be timed out.
/// Compiled modules belong to one engine, so every plugin shares it.
fn engine() -> Result<Engine, HostError> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = Config::new();
            config.epoch_interruption(true);
            config.max_wasm_stack(1 << 20);
            let engine = Engine::new(&config).map_err(|e| e.to_string())?;
            let ticker = engine.weak();
            std::thread::Builder::new()
                .name("wasmctl-epoch".into())
                .spawn(move || {
                    while let Some(engine) = ticker.upgrade() {
                        engine.increment_epoch();
                        drop(engine);
                        std::thread::sleep(EPOCH_TICK);
                    }
                })
                .map_err(|e| e.to_string())?;
            Ok(engine)
        })
        .clone()
        .map_err(HostError::Engine)
}

/// How often the epoch advances; the granularity of the callback deadline.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The epoch deadline that gives a callback `limits.callback_time`, rounded up to whole ticks.
pub(super) fn deadline_ticks(limits: Limits) -> u64 {
    (limits.callback_time.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1
}

#[cfg(test)]
mod tests {
    /// The pinned version in Cargo.lock is the one `--version` names.
    #[test]
    fn wasmtime_version_is_the_locked_one() {
        let lock = include_str!("../../Cargo.lock");
        let locked = lock
            .split("[[package]]")
            .find(|p| p.contains("\nname = \"wasmtime\"\n"))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
            .map(|v| v.trim_end_matches('"'));
        assert_eq!(locked, Some(super::WASMTIME_VERSION));
    }
}
