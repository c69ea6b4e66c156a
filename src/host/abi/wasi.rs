//! The few `wasi_snapshot_preview1` functions a proxy-wasm plugin built for wasm32-wasip1 uses, as
//! Envoy provides them: stdout/stderr become logs, the environment is the plugin's vmConfig env
//! (never the host's), clocks follow the simulated clock, randomness is real. The benign file
//! descriptor calls answer like Envoy does; anything else fails naming the call.

use rand::RngCore;

use super::super::state::LogLevel;
use super::{HostCaller, HostFunctions, HostResult, define_all, fault, memory_and_state};

const SUCCESS: i32 = 0;
const BADF: i32 = 8;
const INVAL: i32 = 28;
const NOSYS: i32 = 52;
const NOTSUP: i32 = 58;

/// The largest random_get request served in one call.
const MAX_RANDOM: usize = 64 << 10;

pub(super) fn define(host: &mut HostFunctions<'_>) -> wasmtime::Result<()> {
    define_all!(
        host,
        "wasi_snapshot_preview1",
        [
            fd_write,
            environ_sizes_get,
            environ_get,
            args_sizes_get,
            args_get,
            clock_time_get,
            random_get,
            proc_exit,
            sched_yield,
            fd_close,
            fd_read,
            fd_seek,
            fd_prestat_get,
            fd_prestat_dir_name,
            fd_fdstat_get,
        ]
    )
}

/// stdout and stderr, as logs at info and error level.
fn fd_write(
    mut c: HostCaller<'_>,
    fd: i32,
    iovs: i32,
    count: i32,
    ret_written: i32,
) -> HostResult<i32> {
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

fn environ_sizes_get(mut c: HostCaller<'_>, ret_count: i32, ret_size: i32) -> HostResult<i32> {
    let call = "wasi_snapshot_preview1.environ_sizes_get";
    let (mut memory, state) = memory_and_state(&mut c, call)?;
    let env = &state.options.env;
    let size: usize = env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    memory.write_u32(ret_count, env.len() as u32)?;
    memory.write_u32(ret_size, size as u32)?;
    Ok(SUCCESS)
}

fn environ_get(mut c: HostCaller<'_>, ret_array: i32, ret_buffer: i32) -> HostResult<i32> {
    let (mut memory, state) = memory_and_state(&mut c, "wasi_snapshot_preview1.environ_get")?;
    let mut at = ret_buffer as u32;
    for (i, (name, value)) in state.options.env.iter().enumerate() {
        let entry = format!("{name}={value}\0");
        memory
            .bytes_mut(at as i32, entry.len())?
            .copy_from_slice(entry.as_bytes());
        memory.write_u32(ret_array.wrapping_add((i * 4) as i32), at)?;
        at = at.wrapping_add(entry.len() as u32);
    }
    Ok(SUCCESS)
}

/// A plugin has no arguments.
fn args_sizes_get(mut c: HostCaller<'_>, ret_count: i32, ret_size: i32) -> HostResult<i32> {
    let (mut memory, _) = memory_and_state(&mut c, "wasi_snapshot_preview1.args_sizes_get")?;
    memory.write_u32(ret_count, 0)?;
    memory.write_u32(ret_size, 0)?;
    Ok(SUCCESS)
}

fn args_get(_c: HostCaller<'_>, _argv: i32, _buf: i32) -> HostResult<i32> {
    Ok(SUCCESS)
}

fn clock_time_get(mut c: HostCaller<'_>, clock: i32, _precision: i64, ret: i32) -> HostResult<i32> {
    let (mut memory, state) = memory_and_state(&mut c, "wasi_snapshot_preview1.clock_time_get")?;
    let now = match clock {
        0 => state.clock_ns,
        1 => state.clock_ns - state.start_ns,
        _ => return Ok(NOTSUP),
    };
    memory.write_u64(ret, now)?;
    Ok(SUCCESS)
}

fn random_get(mut c: HostCaller<'_>, buf: i32, len: i32) -> HostResult<i32> {
    let (mut memory, _) = memory_and_state(&mut c, "wasi_snapshot_preview1.random_get")?;
    let len = len as u32 as usize;
    if len > MAX_RANDOM {
        return Ok(INVAL);
    }
    rand::rng().fill_bytes(memory.bytes_mut(buf, len)?);
    Ok(SUCCESS)
}

fn proc_exit(c: HostCaller<'_>, code: i32) -> HostResult<()> {
    let callback = c.data().callback;
    Err(fault(
        "wasi_snapshot_preview1.proc_exit",
        format!("the plugin exited with code {code} in {callback}"),
    ))
}

fn sched_yield(_c: HostCaller<'_>) -> HostResult<i32> {
    Ok(SUCCESS)
}

fn fd_close(_c: HostCaller<'_>, _fd: i32) -> HostResult<i32> {
    Ok(SUCCESS)
}

fn fd_read(_c: HostCaller<'_>, _fd: i32, _iovs: i32, _count: i32, _ret: i32) -> HostResult<i32> {
    Ok(NOSYS)
}

fn fd_seek(_c: HostCaller<'_>, _fd: i32, _offset: i64, _whence: i32, _ret: i32) -> HostResult<i32> {
    Ok(NOSYS)
}

/// No directories are preopened.
fn fd_prestat_get(_c: HostCaller<'_>, _fd: i32, _ret: i32) -> HostResult<i32> {
    Ok(BADF)
}

fn fd_prestat_dir_name(_c: HostCaller<'_>, _fd: i32, _ptr: i32, _len: i32) -> HostResult<i32> {
    Ok(NOSYS)
}

/// stdin, stdout and stderr are character devices; nothing else is open.
fn fd_fdstat_get(mut c: HostCaller<'_>, fd: i32, ret: i32) -> HostResult<i32> {
    if !(0..=2).contains(&fd) {
        return Ok(BADF);
    }
    let (mut memory, _) = memory_and_state(&mut c, "wasi_snapshot_preview1.fd_fdstat_get")?;
    // fdstat: filetype u8 (2 = character device), flags u16, rights base u64, rights inheriting u64.
    let out = memory.bytes_mut(ret, 24)?;
    out.fill(0);
    out[0] = 2;
    Ok(SUCCESS)
}
