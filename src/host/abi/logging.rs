//! Logging: what the plugin logs is recorded with the callback it came from.

use super::super::state::LogLevel;
use super::{BAD_ARGUMENT, OK, hostcalls, memory_and_state};

hostcalls! { "env":
    fn proxy_log(c, level, message_ptr, message_len) {
        let (memory, state) = memory_and_state(&mut c, "proxy_log")?;
        let Some(level) = LogLevel::from_abi(level) else {
            return Ok(BAD_ARGUMENT);
        };
        let message = memory.text(message_ptr, message_len)?;
        state.log(level, message);
        Ok(OK)
    }

    fn proxy_get_log_level(c, ret_level) {
        let (mut memory, _) = memory_and_state(&mut c, "proxy_get_log_level")?;
        // Everything is recorded; filtering by level is the reader's choice.
        memory.write_u32(ret_level, 0)?;
        Ok(OK)
    }
}
