//! Time and ticks: the clock is simulated, so scenarios can advance it; the tick period is what
//! `Vm::advance` delivers `proxy_on_tick` by.

use super::{OK, hostcalls, memory_and_state};

hostcalls! { "env":
    fn proxy_get_current_time_nanoseconds(c, ret_time) {
        let (mut memory, state) = memory_and_state(&mut c, "proxy_get_current_time_nanoseconds")?;
        memory.write_u64(ret_time, state.clock_ns)?;
        Ok(OK)
    }

    fn proxy_set_tick_period_milliseconds(c, period) {
        let state = c.data_mut();
        state.tick_period_ms = period as u32;
        state.since_tick_ns = 0;
        Ok(OK)
    }
}
