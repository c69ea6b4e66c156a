//! Logging: what the plugin logs is recorded with the callback it came from.

use super::super::state::LogLevel;
use super::{
    BAD_ARGUMENT, HostCaller, HostFunctions, HostResult, OK, define_all, memory_and_state,
};

pub(super) fn define(host: &mut HostFunctions<'_>) -> wasmtime::Result<()> {
    define_all!(host, "env", [proxy_log, proxy_get_log_level])
}

fn proxy_log(mut c: HostCaller<'_>, level: i32, ptr: i32, len: i32) -> HostResult<i32> {
    let (memory, state) = memory_and_state(&mut c, "proxy_log")?;
    let Some(level) = LogLevel::from_abi(level) else {
        return Ok(BAD_ARGUMENT);
    };
    let message = memory.text(ptr, len)?;
    state.log(level, message);
    Ok(OK)
}

fn proxy_get_log_level(mut c: HostCaller<'_>, ret: i32) -> HostResult<i32> {
    let (mut memory, _) = memory_and_state(&mut c, "proxy_get_log_level")?;
    // Everything is recorded; filtering by level is the reader's choice.
    memory.write_u32(ret, 0)?;
    Ok(OK)
}
