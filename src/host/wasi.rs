//! The few `wasi_snapshot_preview1` functions a proxy-wasm plugin built for wasm32-wasip1 uses, as
//! Envoy provides them: stdout/stderr become logs, the environment is the plugin's vmConfig env
//! (never the host's), clocks follow the simulated clock, randomness is real. The benign file
//! descriptor calls answer like Envoy does; anything else fails naming the call.

use std::collections::HashSet;

use rand::RngCore;
use wasmtime::Linker;

use super::abi::{C, R, host, parts, slice, slice_mut, write_u32, write_u64};
use super::state::{HostState, LogLevel};

const SUCCESS: i32 = 0;
const BADF: i32 = 8;
const INVAL: i32 = 28;
const NOSYS: i32 = 52;
const NOTSUP: i32 = 58;

/// The largest random_get request served in one call.
const MAX_RANDOM: usize = 64 << 10;

pub(crate) fn define(
    linker: &mut Linker<HostState>,
    defined: &mut HashSet<(&'static str, &'static str)>,
) -> wasmtime::Result<()> {
    host!(
        linker,
        defined,
        "wasi_snapshot_preview1",
        "fd_write",
        |mut c: C<'_>, fd: i32, iovs: i32, count: i32, ret_written: i32| -> R<i32> {
            let call = "wasi_snapshot_preview1.fd_write";
            let (mem, state) = parts(&mut c, call)?;
            let level = match fd {
                1 => LogLevel::Info,
                2 => LogLevel::Error,
                _ => return Ok(BADF),
            };
            let mut text = Vec::new();
            for i in 0..(count as u32) {
                let entry = slice(mem, iovs.wrapping_add((i * 8) as i32), 8, call)?;
                let ptr = i32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
                let len = i32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
                text.extend_from_slice(slice(mem, ptr, len, call)?);
            }
            let written = text.len() as u32;
            let message = String::from_utf8_lossy(&text);
            let message = message.trim_end_matches('\n');
            if !message.is_empty() {
                state.log(level, message.to_string());
            }
            write_u32(mem, ret_written, written, call)?;
            Ok(SUCCESS)
        }
    );
    host!(
        linker,
        defined,
        "wasi_snapshot_preview1",
        "environ_sizes_get",
        |mut c: C<'_>, ret_count: i32, ret_size: i32| -> R<i32> {
            let call = "wasi_snapshot_preview1.environ_sizes_get";
            let (mem, state) = parts(&mut c, call)?;
            let env = &state.options.env;
            let size: usize = env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
            write_u32(mem, ret_count, env.len() as u32, call)?;
            write_u32(mem, ret_size, size as u32, call)?;
            Ok(SUCCESS)
        }
    );
    host!(
        linker,
        defined,
        "wasi_snapshot_preview1",
        "environ_get",
        |mut c: C<'_>, ret_array: i32, ret_buffer: i32| -> R<i32> {
            let call = "wasi_snapshot_preview1.environ_get";
            let (mem, state) = parts(&mut c, call)?;
            let mut at = ret_buffer as u32;
            for (i, (name, value)) in state.options.env.iter().enumerate() {
                let entry = format!("{name}={value}\0");
                slice_mut(mem, at as i32, entry.len(), call)?.copy_from_slice(entry.as_bytes());
                write_u32(mem, ret_array.wrapping_add((i * 4) as i32), at, call)?;
                at = at.wrapping_add(entry.len() as u32);
            }
            Ok(SUCCESS)
        }
    );
    host!(
        linker,
        defined,
        "wasi_snapshot_preview1",
        "args_sizes_get",
        |mut c: C<'_>, ret_count: i32, ret_size: i32| -> R<i32> {
            let call = "wasi_snapshot_preview1.args_sizes_get";
            let (mem, _) = parts(&mut c, call)?;
            write_u32(mem, ret_count, 0, call)?;
            write_u32(mem, ret_size, 0, call)?;
            Ok(SUCCESS)
        }
    );
    host!(
        linker,
        defined,
        "wasi_snapshot_preview1",
        "args_get",
        |_c: C<'_>, _argv: i32, _buf: i32| -> R<i32> { Ok(SUCCESS) }
    );
    host!(
        linker,
        defined,
        "wasi_snapshot_preview1",
        "clock_time_get",
        |mut c: C<'_>, clock: i32, _precision: i64, ret: i32| -> R<i32> {
            let call = "wasi_snapshot_preview1.clock_time_get";
            let (mem, state) = parts(&mut c, call)?;
            let now = match clock {
                0 => state.clock_ns,
                1 => state.clock_ns - state.start_ns,
                _ => return Ok(NOTSUP),
            };
            write_u64(mem, ret, now, call)?;
            Ok(SUCCESS)
        }
    );
    host!(
        linker,
        defined,
        "wasi_snapshot_preview1",
        "random_get",
        |mut c: C<'_>, buf: i32, len: i32| -> R<i32> {
            let call = "wasi_snapshot_preview1.random_get";
            let (mem, _) = parts(&mut c, call)?;
            let len = len as u32 as usize;
            if len > MAX_RANDOM {
                return Ok(INVAL);
            }
            rand::rng().fill_bytes(slice_mut(mem, buf, len, call)?);
            Ok(SUCCESS)
        }
    );
    host!(
        linker,
        defined,
        "wasi_snapshot_preview1",
        "proc_exit",
        |c: C<'_>, code: i32| -> R<()> {
            Err(super::abi::fault(
                "wasi_snapshot_preview1.proc_exit",
                format!(
                    "the plugin exited with code {code} in {}",
                    c.data().callback
                ),
            ))
        }
    );
    host!(
        linker,
        defined,
        "wasi_snapshot_preview1",
        "sched_yield",
        |_c: C<'_>| -> R<i32> { Ok(SUCCESS) }
    );
    host!(
        linker,
        defined,
        "wasi_snapshot_preview1",
        "fd_close",
        |_c: C<'_>, _fd: i32| -> R<i32> { Ok(SUCCESS) }
    );
    host!(
        linker,
        defined,
        "wasi_snapshot_preview1",
        "fd_read",
        |_c: C<'_>, _fd: i32, _iovs: i32, _count: i32, _ret: i32| -> R<i32> { Ok(NOSYS) }
    );
    host!(
        linker,
        defined,
        "wasi_snapshot_preview1",
        "fd_seek",
        |_c: C<'_>, _fd: i32, _offset: i64, _whence: i32, _ret: i32| -> R<i32> { Ok(NOSYS) }
    );
    host!(
        linker,
        defined,
        "wasi_snapshot_preview1",
        "fd_prestat_get",
        |_c: C<'_>, _fd: i32, _ret: i32| -> R<i32> { Ok(BADF) }
    );
    host!(
        linker,
        defined,
        "wasi_snapshot_preview1",
        "fd_prestat_dir_name",
        |_c: C<'_>, _fd: i32, _ptr: i32, _len: i32| -> R<i32> { Ok(NOSYS) }
    );
    host!(
        linker,
        defined,
        "wasi_snapshot_preview1",
        "fd_fdstat_get",
        |mut c: C<'_>, fd: i32, ret: i32| -> R<i32> {
            let call = "wasi_snapshot_preview1.fd_fdstat_get";
            if !(0..=2).contains(&fd) {
                return Ok(BADF);
            }
            let (mem, _) = parts(&mut c, call)?;
            // fdstat: filetype u8 (2 = character device), flags u16, rights base u64, rights inheriting u64.
            let out = slice_mut(mem, ret, 24, call)?;
            out.fill(0);
            out[0] = 2;
            Ok(SUCCESS)
        }
    );
    Ok(())
}
