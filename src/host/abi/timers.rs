//! Time and ticks: the clock is simulated, so scenarios can advance it; the tick period is what
//! `Vm::advance` delivers `proxy_on_tick` by.

use super::{HostCaller, HostFunctions, HostResult, OK, define_all, memory_and_state};

pub(super) fn define(host: &mut HostFunctions<'_>) -> wasmtime::Result<()> {
    define_all!(
        host,
        "env",
        [
            proxy_get_current_time_nanoseconds,
            proxy_set_tick_period_milliseconds,
        ]
    )
}

fn proxy_get_current_time_nanoseconds(mut c: HostCaller<'_>, ret: i32) -> HostResult<i32> {
    let (mut memory, state) = memory_and_state(&mut c, "proxy_get_current_time_nanoseconds")?;
    memory.write_u64(ret, state.clock_ns)?;
    Ok(OK)
}

fn proxy_set_tick_period_milliseconds(mut c: HostCaller<'_>, period: i32) -> HostResult<i32> {
    let state = c.data_mut();
    state.tick_period_ms = period as u32;
    state.since_tick_ns = 0;
    Ok(OK)
}
