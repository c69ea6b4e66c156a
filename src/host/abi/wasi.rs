//! The few `wasi_snapshot_preview1` functions a proxy-wasm plugin built for wasm32-wasip1 uses, as
//! Envoy provides them: stdout/stderr become logs, the environment is the plugin's vmConfig env
//! (never the host's), clocks follow the simulated clock, randomness is real. The benign file
//! descriptor calls answer like Envoy does; anything else fails naming the call.

use rand::RngCore;

use super::super::state::LogLevel;
use super::{fault, hostcalls, memory_and_state};

const SUCCESS: i32 = 0;
const BADF: i32 = 8;
const INVAL: i32 = 28;
const NOSYS: i32 = 52;
const NOTSUP: i32 = 58;

/// The largest random_get request served in one call.
const MAX_RANDOM: usize = 64 << 10;

hostcalls! { "wasi_snapshot_preview1":
    /// stdout and stderr, as logs at info and error level.
    fn fd_write(c, fd, iovs, count, ret_written) {
        let (mut memory, state) = memory_and_state(&mut c, "wasi_snapshot_preview1.fd_write")?;
        let level = match fd {
            1 => LogLevel::Info,
            2 => LogLevel::Error,
            _ => return Ok(BADF),
        };
        let mut text = Vec::new();
        for i in 0..(count as u32) {
            let entry = memory.bytes(iovs.wrapping_add((i * 8) as i32), 8)?;
            let ptr = i32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
            let len = i32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
            text.extend_from_slice(memory.bytes(ptr, len)?);
        }
        let written = text.len() as u32;
        let message = String::from_utf8_lossy(&text);
        let message = message.trim_end_matches('\n');
        if !message.is_empty() {
            state.log(level, message.to_string());
        }
        memory.write_u32(ret_written, written)?;
        Ok(SUCCESS)
    }

    fn environ_sizes_get(c, ret_count, ret_size) {
        let call = "wasi_snapshot_preview1.environ_sizes_get";
        let (mut memory, state) = memory_and_state(&mut c, call)?;
        let env = &state.options.env;
        let size: usize = env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        memory.write_u32(ret_count, env.len() as u32)?;
        memory.write_u32(ret_size, size as u32)?;
        Ok(SUCCESS)
    }

    fn environ_get(c, ret_array, ret_buffer) {
        let (mut memory, state) = memory_and_state(&mut c, "wasi_snapshot_preview1.environ_get")?;
        let mut at = ret_buffer as u32;
        for (i, (name, value)) in state.options.env.iter().enumerate() {
            let entry = format!("{name}={value}\0");
            memory.bytes_mut(at as i32, entry.len())?.copy_from_slice(entry.as_bytes());
            memory.write_u32(ret_array.wrapping_add((i * 4) as i32), at)?;
            at = at.wrapping_add(entry.len() as u32);
        }
        Ok(SUCCESS)
    }

    /// A plugin has no arguments.
    fn args_sizes_get(c, ret_count, ret_size) {
        let (mut memory, _) = memory_and_state(&mut c, "wasi_snapshot_preview1.args_sizes_get")?;
        memory.write_u32(ret_count, 0)?;
        memory.write_u32(ret_size, 0)?;
        Ok(SUCCESS)
    }

    fn args_get(_c, _argv, _buffer) {
        Ok(SUCCESS)
    }

    fn clock_time_get(c, clock, _precision: i64, ret_time) {
        let call = "wasi_snapshot_preview1.clock_time_get";
        let (mut memory, state) = memory_and_state(&mut c, call)?;
        let now = match clock {
            0 => state.clock_ns,
            1 => state.clock_ns - state.start_ns,
            _ => return Ok(NOTSUP),
        };
        memory.write_u64(ret_time, now)?;
        Ok(SUCCESS)
    }

    fn random_get(c, buffer, len) {
        let (mut memory, _) = memory_and_state(&mut c, "wasi_snapshot_preview1.random_get")?;
        let len = len as u32 as usize;
        if len > MAX_RANDOM {
            return Ok(INVAL);
        }
        rand::rng().fill_bytes(memory.bytes_mut(buffer, len)?);
        Ok(SUCCESS)
    }

    fn proc_exit(c, code) -> () {
        let callback = c.data().callback;
        Err(fault(
            "wasi_snapshot_preview1.proc_exit",
            format!("the plugin exited with code {code} in {callback}"),
        ))
    }

    fn sched_yield(_c) {
        Ok(SUCCESS)
    }

    fn fd_close(_c, _fd) {
        Ok(SUCCESS)
    }

    fn fd_read(_c, _fd, _iovs, _count, _ret_read) {
        Ok(NOSYS)
    }

    fn fd_seek(_c, _fd, _offset: i64, _whence, _ret_offset) {
        Ok(NOSYS)
    }

    /// No directories are preopened.
    fn fd_prestat_get(_c, _fd, _ret_prestat) {
        Ok(BADF)
    }

    fn fd_prestat_dir_name(_c, _fd, _path_ptr, _path_len) {
        Ok(NOSYS)
    }

    /// stdin, stdout and stderr are character devices; nothing else is open.
    fn fd_fdstat_get(c, fd, ret_stat) {
        if !(0..=2).contains(&fd) {
            return Ok(BADF);
        }
        let (mut memory, _) = memory_and_state(&mut c, "wasi_snapshot_preview1.fd_fdstat_get")?;
        // fdstat: filetype u8 (2 = character device), flags u16, rights base u64, rights
        // inheriting u64.
        let out = memory.bytes_mut(ret_stat, 24)?;
        out.fill(0);
        out[0] = 2;
        Ok(SUCCESS)
    }
}
