//! What a proxy-wasm module is: wasm that exports `memory`, a `proxy_abi_version_*` function and an
//! allocator the host can call. Shared by `build`, `push`, `verify` and the host behind `run` and
//! `test`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use wasmparser::{ExternalKind, Parser, Payload};

use crate::error::Hint;
use crate::fs::FileError;

/// The wasm binary magic and version 1.
pub const WASM_MAGIC: [u8; 4] = *b"\0asm";

#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("not a wasm module: the file is empty")]
    Empty,
    #[error("not a wasm module: the file does not start with the wasm magic bytes")]
    BadMagic,
    #[error("invalid wasm module: {0}")]
    Invalid(String),
    /// The runtime (wasmtime, for `run` and `test`) refused to compile the module.
    #[error("not a loadable wasm module: {0}")]
    Compile(String),
    #[error("not a proxy-wasm module: it does not export {0}")]
    NotProxyWasm(&'static str),
    #[error("export `{name}` has the wrong signature for ABI {abi}: {found}")]
    ExportSignature {
        name: &'static str,
        abi: AbiVersion,
        found: String,
    },
    /// Any of the above, for the file it was read from; one line, so the file is named once.
    #[error("`{}`: {reason}", .path.display())]
    InFile {
        path: PathBuf,
        reason: Box<ModuleError>,
    },
}

impl ModuleError {
    /// This error, naming the file the module came from.
    pub fn in_file(self, path: &Path) -> ModuleError {
        match self {
            // Read errors name their file already.
            ModuleError::File(_) | ModuleError::InFile { .. } => self,
            reason => ModuleError::InFile {
                path: path.to_path_buf(),
                reason: Box::new(reason),
            },
        }
    }
}

impl Hint for ModuleError {
    fn hints(&self) -> Vec<String> {
        match self {
            ModuleError::NotProxyWasm(_) => vec![
                "a proxy-wasm plugin uses the proxy-wasm SDK and sets its root context with `proxy_wasm::main!`"
                    .into(),
            ],
            ModuleError::Empty | ModuleError::BadMagic => {
                vec!["pass the .wasm file `wasmctl build` writes (its path is what it prints)".into()]
            }
            ModuleError::InFile { reason, .. } => reason.hints(),
            ModuleError::File(_) | ModuleError::Invalid(_) | ModuleError::Compile(_) | ModuleError::ExportSignature { .. } => Vec::new(),
        }
    }
}

/// The proxy-wasm ABI versions a module can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum AbiVersion {
    #[serde(rename = "0.1.0")]
    V0_1_0,
    #[serde(rename = "0.2.0")]
    V0_2_0,
    #[serde(rename = "0.2.1")]
    V0_2_1,
}

impl AbiVersion {
    fn from_export(name: &str) -> Option<AbiVersion> {
        match name {
            "proxy_abi_version_0_1_0" => Some(AbiVersion::V0_1_0),
            "proxy_abi_version_0_2_0" => Some(AbiVersion::V0_2_0),
            "proxy_abi_version_0_2_1" => Some(AbiVersion::V0_2_1),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AbiVersion::V0_1_0 => "0.1.0",
            AbiVersion::V0_2_0 => "0.2.0",
            AbiVersion::V0_2_1 => "0.2.1",
        }
    }
}

impl fmt::Display for AbiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the checks learnt about a valid proxy-wasm module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// The newest ABI version the module declares.
    pub abi: AbiVersion,
    /// The allocator export the host will call.
    pub allocator: &'static str,
}

/// Reads a module file.
pub fn read(path: &Path) -> Result<Vec<u8>, ModuleError> {
    Ok(crate::fs::read(path)?)
}

/// Checks that `bytes` start as a wasm module does: the cheap check before any parser's message.
pub fn check_magic(bytes: &[u8]) -> Result<(), ModuleError> {
    if bytes.is_empty() {
        return Err(ModuleError::Empty);
    }
    if !bytes.starts_with(&WASM_MAGIC) {
        return Err(ModuleError::BadMagic);
    }
    Ok(())
}

/// Checks that `bytes` is a valid proxy-wasm module and reports what it declares.
pub fn inspect(bytes: &[u8]) -> Result<ModuleInfo, ModuleError> {
    check_magic(bytes)?;
    let mut validator = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
    validator
        .validate_all(bytes)
        .map_err(|e| ModuleError::Invalid(e.to_string()))?;
    declarations(bytes)
}

/// What a module already known to be valid wasm declares, and whether that makes it proxy-wasm.
/// The host calls this after wasmtime has compiled (and so validated) the bytes, rather than
/// validating them a second time.
pub fn declarations(bytes: &[u8]) -> Result<ModuleInfo, ModuleError> {
    let mut has_memory = false;
    let mut abi = None;
    let mut allocator = None;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| ModuleError::Invalid(e.to_string()))?;
        let Payload::ExportSection(reader) = payload else {
            continue;
        };
        for export in reader {
            let export = export.map_err(|e| ModuleError::Invalid(e.to_string()))?;
            match export.kind {
                ExternalKind::Memory if export.name == "memory" => has_memory = true,
                ExternalKind::Func => {
                    if let Some(version) = AbiVersion::from_export(export.name) {
                        abi = abi.max(Some(version));
                    }
                    match export.name {
                        "proxy_on_memory_allocate" => allocator = Some("proxy_on_memory_allocate"),
                        "malloc" if allocator.is_none() => allocator = Some("malloc"),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }
    if !has_memory {
        return Err(ModuleError::NotProxyWasm("`memory`"));
    }
    let abi = abi.ok_or(ModuleError::NotProxyWasm(
        "a `proxy_abi_version_*` function",
    ))?;
    let allocator = allocator.ok_or(ModuleError::NotProxyWasm(
        "`proxy_on_memory_allocate` or `malloc`",
    ))?;
    Ok(ModuleInfo { abi, allocator })
}

/// Removes custom sections that nothing reads at run time (names, producers, debug info,
/// target features), keeping every other section byte for byte.
pub fn strip_custom_sections(bytes: &[u8]) -> Result<Vec<u8>, ModuleError> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut kept_any = false;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| ModuleError::Invalid(e.to_string()))?;
        match payload {
            Payload::Version { range, .. } => out.extend_from_slice(&bytes[..to_usize(range.end)]),
            Payload::CustomSection(reader) if removable(reader.name()) => {}
            Payload::End(_) => {}
            other => {
                // Copy whole sections: the id byte, the size and the contents, as they were.
                if let Some((id, range)) = other.as_section() {
                    let header_start = section_header_start(bytes, to_usize(range.start), id);
                    out.extend_from_slice(&bytes[header_start..to_usize(range.end)]);
                    kept_any = true;
                }
            }
        }
    }
    if !kept_any {
        return Err(ModuleError::Invalid("module has no sections".into()));
    }
    Ok(out)
}

fn to_usize(offset: u64) -> usize {
    usize::try_from(offset).expect("offsets within an in-memory module fit in usize")
}

fn removable(name: &str) -> bool {
    matches!(
        name,
        "name" | "producers" | "target_features" | "sourceMappingURL" | "external_debug_info"
    ) || name.starts_with(".debug_")
}

/// Finds where a section's header starts, given where its contents start: the id byte, then a
/// LEB128 size whose last byte is the only one without the continuation bit.
fn section_header_start(bytes: &[u8], contents_start: usize, id: u8) -> usize {
    let mut size_start = contents_start - 1;
    while bytes[size_start - 1] & 0x80 != 0 {
        size_start -= 1;
    }
    debug_assert_eq!(bytes[size_start - 1], id);
    size_start - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(id: u8, contents: &[u8]) -> Vec<u8> {
        let mut s = vec![id, contents.len() as u8];
        s.extend_from_slice(contents);
        s
    }

    fn custom(name: &str, data: &[u8]) -> Vec<u8> {
        let mut contents = vec![name.len() as u8];
        contents.extend_from_slice(name.as_bytes());
        contents.extend_from_slice(data);
        section(0, &contents)
    }

    fn header() -> Vec<u8> {
        vec![0, b'a', b's', b'm', 1, 0, 0, 0]
    }

    #[test]
    fn rejects_bad_magic() {
        assert!(matches!(
            inspect(b"not wasm at all"),
            Err(ModuleError::BadMagic)
        ));
        assert!(matches!(inspect(b""), Err(ModuleError::Empty)));
        let named = inspect(b"text")
            .unwrap_err()
            .in_file(Path::new("notes.txt"));
        assert_eq!(
            named.to_string(),
            "`notes.txt`: not a wasm module: the file does not start with the wasm magic bytes"
        );
    }

    #[test]
    fn module_without_exports_is_not_proxy_wasm() {
        let mut m = header();
        m.extend(section(5, &[1, 0, 1])); // memory section: one memory, min 1
        assert!(matches!(inspect(&m), Err(ModuleError::NotProxyWasm(_))));
    }

    #[test]
    fn strips_only_removable_custom_sections() {
        let mut m = header();
        m.extend(custom("producers", b"xyz"));
        m.extend(section(5, &[1, 0, 1]));
        m.extend(custom("keep-me", b"1"));
        m.extend(custom(".debug_info", b"dbg"));
        let stripped = strip_custom_sections(&m).unwrap();
        let mut want = header();
        want.extend(section(5, &[1, 0, 1]));
        want.extend(custom("keep-me", b"1"));
        assert_eq!(stripped, want);
    }
}
