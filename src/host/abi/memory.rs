//! The plugin's linear memory as host functions see it: every pointer checked, every fault naming
//! the host call that met it.

use super::super::exports::Guest;
use super::super::headers::HeaderMap;
use super::super::state::HostState;
use super::{HostCaller, HostResult, fault};

/// The plugin's memory, borrowed by one host call.
pub(super) struct GuestMemory<'a> {
    bytes: &'a mut [u8],
    /// The host call, named in faults.
    call: &'static str,
}

/// The plugin's memory and the host state, borrowed together for host call `call`.
pub(super) fn memory_and_state<'a>(
    caller: &'a mut HostCaller<'_>,
    call: &'static str,
) -> HostResult<(GuestMemory<'a>, &'a mut HostState)> {
    let memory = guest(caller, call)?.memory;
    let (bytes, state) = memory.data_and_store_mut(caller);
    Ok((GuestMemory { bytes, call }, state))
}

/// The instance's memory and allocator, which a host call made from a start function finds
/// not there yet.
fn guest<'a>(caller: &'a HostCaller<'_>, call: &'static str) -> HostResult<&'a Guest> {
    caller
        .data()
        .guest
        .as_ref()
        .ok_or_else(|| fault(call, "called before the module finished loading"))
}

impl GuestMemory<'_> {
    /// The `len` bytes at `ptr`.
    pub fn bytes(&self, ptr: i32, len: i32) -> HostResult<&[u8]> {
        let start = ptr as u32 as usize;
        let len = len as u32 as usize;
        start
            .checked_add(len)
            .and_then(|end| self.bytes.get(start..end))
            .ok_or_else(|| bad_pointer(self.call, start, len, self.bytes.len()))
    }

    /// The `len` bytes at `ptr`, to write into.
    pub fn bytes_mut(&mut self, ptr: i32, len: usize) -> HostResult<&mut [u8]> {
        let start = ptr as u32 as usize;
        let (call, size) = (self.call, self.bytes.len());
        start
            .checked_add(len)
            .and_then(|end| self.bytes.get_mut(start..end))
            .ok_or_else(|| bad_pointer(call, start, len, size))
    }

    /// The bytes at `ptr` as text, invalid UTF-8 replaced.
    pub fn text(&self, ptr: i32, len: i32) -> HostResult<String> {
        Ok(String::from_utf8_lossy(self.bytes(ptr, len)?).into_owned())
    }

    /// The bytes at `ptr` as UTF-8 text; `what` names them in the fault when they are not.
    pub fn utf8(&self, ptr: i32, len: i32, what: &str) -> HostResult<&str> {
        std::str::from_utf8(self.bytes(ptr, len)?)
            .map_err(|_| fault(self.call, format!("{what} is not UTF-8")))
    }

    /// The serialized header map at `ptr`.
    pub fn header_map(&self, ptr: i32, len: i32) -> HostResult<HeaderMap> {
        HeaderMap::deserialize(self.bytes(ptr, len)?)
            .ok_or_else(|| fault(self.call, "the plugin passed a malformed header map"))
    }

    pub fn write_u32(&mut self, ptr: i32, value: u32) -> HostResult<()> {
        self.bytes_mut(ptr, 4)?
            .copy_from_slice(&value.to_le_bytes());
        Ok(())
    }

    pub fn write_u64(&mut self, ptr: i32, value: u64) -> HostResult<()> {
        self.bytes_mut(ptr, 8)?
            .copy_from_slice(&value.to_le_bytes());
        Ok(())
    }
}

fn bad_pointer(call: &str, start: usize, len: usize, size: usize) -> wasmtime::Error {
    fault(
        call,
        format!(
            "the plugin passed a pointer outside its memory ({len} bytes at {start:#x}, memory is {size} bytes)"
        ),
    )
}

/// Returns `bytes` to the plugin as proxy-wasm does: copies them into memory the plugin allocates
/// and writes their address and size to the return pointers. Empty values come back as a null
/// pointer, as Envoy returns them.
pub(super) fn return_bytes(
    caller: &mut HostCaller<'_>,
    call: &'static str,
    bytes: &[u8],
    ret_ptr: i32,
    ret_size: i32,
) -> HostResult<()> {
    let address = if bytes.is_empty() {
        0
    } else {
        let address = allocate(caller, call, bytes.len())?;
        let (mut memory, _) = memory_and_state(caller, call)?;
        memory
            .bytes_mut(address, bytes.len())?
            .copy_from_slice(bytes);
        address
    };
    let (mut memory, _) = memory_and_state(caller, call)?;
    memory.write_u32(ret_ptr, address as u32)?;
    memory.write_u32(ret_size, bytes.len() as u32)
}

/// `size` bytes from the plugin's own allocator.
fn allocate(caller: &mut HostCaller<'_>, call: &'static str, size: usize) -> HostResult<i32> {
    let alloc = guest(caller, call)?.allocator.clone();
    let wasm_size = i32::try_from(size).map_err(|_| fault(call, "value too large"))?;
    let address = alloc.call(&mut *caller, wasm_size)?;
    if address == 0 {
        return Err(fault(
            call,
            format!("the plugin's allocator returned null for {size} bytes"),
        ));
    }
    Ok(address)
}
