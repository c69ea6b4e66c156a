//! The host functions (`env.proxy_*`) a plugin imports, with the status codes Envoy returns.
//!
//! Guest pointers are checked on every access: a pointer outside the plugin's memory ends the
//! callback with an error naming the host call, rather than returning a status the SDK would turn
//! into an opaque panic. Imports the host does not provide are linked to a function that ends the
//! callback with an error naming the import, so a module that merely imports them still loads.

use std::collections::HashSet;
use std::fmt::Display;

use wasmtime::{Caller, Engine, ExternType, Linker, Module, Val};

use super::error::{GuestFault, HostError};
use super::headers::HeaderMap;
use super::http::LocalReply;
use super::state::{CallRecord, HostState, LogLevel, Metric, MetricKind, PendingCall};
use super::{properties, wasi};

pub(crate) type C<'a> = Caller<'a, HostState>;
pub(crate) type R<T> = wasmtime::Result<T>;

// proxy_status_t
pub(crate) const OK: i32 = 0;
pub(crate) const NOT_FOUND: i32 = 1;
pub(crate) const BAD_ARGUMENT: i32 = 2;
pub(crate) const EMPTY: i32 = 7;
pub(crate) const CAS_MISMATCH: i32 = 8;

pub(crate) fn fault(call: &str, what: impl Display) -> wasmtime::Error {
    wasmtime::Error::new(GuestFault(format!("{call}: {what}")))
}

/// The plugin's memory and the host state, borrowed together.
pub(crate) fn parts<'a>(caller: &'a mut C<'_>, call: &str) -> R<(&'a mut [u8], &'a mut HostState)> {
    let memory = caller
        .data()
        .memory
        .ok_or_else(|| fault(call, "called before the module finished loading"))?;
    Ok(memory.data_and_store_mut(caller))
}

pub(crate) fn slice<'a>(mem: &'a [u8], ptr: i32, len: i32, call: &str) -> R<&'a [u8]> {
    let start = ptr as u32 as usize;
    let len = len as u32 as usize;
    start
        .checked_add(len)
        .and_then(|end| mem.get(start..end))
        .ok_or_else(|| bad_pointer(call, start, len, mem.len()))
}

pub(crate) fn slice_mut<'a>(
    mem: &'a mut [u8],
    ptr: i32,
    len: usize,
    call: &str,
) -> R<&'a mut [u8]> {
    let start = ptr as u32 as usize;
    let size = mem.len();
    start
        .checked_add(len)
        .and_then(|end| mem.get_mut(start..end))
        .ok_or_else(|| bad_pointer(call, start, len, size))
}

fn bad_pointer(call: &str, start: usize, len: usize, size: usize) -> wasmtime::Error {
    fault(
        call,
        format!(
            "the plugin passed a pointer outside its memory ({len} bytes at {start:#x}, memory is {size} bytes)"
        ),
    )
}

pub(crate) fn text(mem: &[u8], ptr: i32, len: i32, call: &str) -> R<String> {
    Ok(String::from_utf8_lossy(slice(mem, ptr, len, call)?).into_owned())
}

pub(crate) fn write_u32(mem: &mut [u8], ptr: i32, value: u32, call: &str) -> R<()> {
    slice_mut(mem, ptr, 4, call)?.copy_from_slice(&value.to_le_bytes());
    Ok(())
}

pub(crate) fn write_u64(mem: &mut [u8], ptr: i32, value: u64, call: &str) -> R<()> {
    slice_mut(mem, ptr, 8, call)?.copy_from_slice(&value.to_le_bytes());
    Ok(())
}

/// Copies `bytes` into memory the plugin allocates, and writes its address and size to the return
/// pointers. Empty values come back as a null pointer, as Envoy returns them.
pub(crate) fn give(
    caller: &mut C<'_>,
    call: &str,
    bytes: &[u8],
    ret_ptr: i32,
    ret_size: i32,
) -> R<()> {
    let mut address = 0;
    if !bytes.is_empty() {
        let alloc = caller
            .data()
            .allocator
            .clone()
            .ok_or_else(|| fault(call, "called before the module finished loading"))?;
        let size = i32::try_from(bytes.len()).map_err(|_| fault(call, "value too large"))?;
        address = alloc.call(&mut *caller, size)?;
        if address == 0 {
            return Err(fault(
                call,
                format!(
                    "the plugin's allocator returned null for {} bytes",
                    bytes.len()
                ),
            ));
        }
        let (mem, _) = parts(caller, call)?;
        slice_mut(mem, address, bytes.len(), call)?.copy_from_slice(bytes);
    }
    let (mem, _) = parts(caller, call)?;
    write_u32(mem, ret_ptr, address as u32, call)?;
    write_u32(mem, ret_size, bytes.len() as u32, call)?;
    Ok(())
}

/// Builds the linker for one module: every host function, then a failing stand-in for each import
/// the host does not provide.
pub(crate) fn linker(engine: &Engine, module: &Module) -> Result<Linker<HostState>, HostError> {
    let mut linker = Linker::new(engine);
    let mut defined: HashSet<(&'static str, &'static str)> = HashSet::new();
    let link = |e: wasmtime::Error| HostError::Link(format!("{e:#}"));
    define_env(&mut linker, &mut defined).map_err(link)?;
    wasi::define(&mut linker, &mut defined).map_err(link)?;
    linker.allow_shadowing(true);
    for import in module.imports() {
        let (module_name, name) = (import.module(), import.name());
        if defined.contains(&(module_name, name)) {
            continue;
        }
        let ExternType::Func(ty) = import.ty() else {
            return Err(HostError::Link(format!(
                "it imports `{module_name}.{name}`, which is not a function; proxy-wasm modules \
                 define and export their own memory"
            )));
        };
        let full = format!("{module_name}.{name}");
        match (module_name, name) {
            // ABI 0.1.0 calls whose signature varied between SDKs: accept any.
            (
                "env",
                "proxy_continue_request" | "proxy_continue_response" | "proxy_clear_route_cache",
            ) => {
                let which = name.to_string();
                linker
                    .func_new(
                        module_name,
                        name,
                        ty,
                        move |mut caller, _params, results| {
                            let state = caller.data_mut();
                            if let Some(s) = state.http() {
                                match which.as_str() {
                                    "proxy_continue_request" => s.request_resumed = true,
                                    "proxy_continue_response" => s.response_resumed = true,
                                    _ => {}
                                }
                            }
                            for r in results.iter_mut() {
                                *r = Val::I32(OK);
                            }
                            Ok(())
                        },
                    )
                    .map_err(link)?;
            }
            _ => {
                linker
                    .func_new(module_name, name, ty, move |caller, _params, _results| {
                        Err(wasmtime::Error::new(GuestFault(format!(
                            "the plugin called `{full}` from {}, which wasmctl's host does not implement",
                            caller.data().callback
                        ))))
                    })
                    .map_err(link)?;
            }
        }
    }
    Ok(linker)
}

macro_rules! host {
    ($linker:ident, $defined:ident, $module:literal, $name:literal, $f:expr) => {{
        $defined.insert(($module, $name));
        $linker.func_wrap($module, $name, $f)?;
    }};
}
pub(crate) use host;

fn define_env(
    linker: &mut Linker<HostState>,
    defined: &mut HashSet<(&'static str, &'static str)>,
) -> wasmtime::Result<()> {
    host!(linker, defined, "env", "proxy_log", |mut c: C<'_>,
                                                level: i32,
                                                ptr: i32,
                                                len: i32|
     -> R<i32> {
        let call = "proxy_log";
        let (mem, state) = parts(&mut c, call)?;
        let Some(level) = LogLevel::from_abi(level) else {
            return Ok(BAD_ARGUMENT);
        };
        let message = text(mem, ptr, len, call)?;
        state.log(level, message);
        Ok(OK)
    });
    host!(linker, defined, "env", "proxy_get_log_level", |mut c: C<
        '_,
    >,
                                                          ret: i32|
     -> R<
        i32,
    > {
        let (mem, _) = parts(&mut c, "proxy_get_log_level")?;
        // Everything is recorded; filtering by level is the reader's choice.
        write_u32(mem, ret, 0, "proxy_get_log_level")?;
        Ok(OK)
    });
    host!(
        linker,
        defined,
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut c: C<'_>, ret: i32| -> R<i32> {
            let call = "proxy_get_current_time_nanoseconds";
            let (mem, state) = parts(&mut c, call)?;
            write_u64(mem, ret, state.clock_ns, call)?;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut c: C<'_>, period: i32| -> R<i32> {
            let state = c.data_mut();
            state.tick_period_ms = period as u32;
            state.since_tick_ns = 0;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_get_configuration",
        |mut c: C<'_>, ret_ptr: i32, ret_size: i32| -> R<i32> {
            let state = c.data();
            let bytes = match state.configuration {
                Some(super::state::ConfigBuffer::Vm) => state.options.vm_config.clone(),
                _ => state.options.plugin_config.clone(),
            };
            give(&mut c, "proxy_get_configuration", &bytes, ret_ptr, ret_size)?;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_get_buffer_bytes",
        |mut c: C<'_>, kind: i32, start: i32, max: i32, ret_ptr: i32, ret_size: i32| -> R<i32> {
            let call = "proxy_get_buffer_bytes";
            let (start, max) = (start as u32 as usize, max as u32 as usize);
            if start.checked_add(max).is_none() {
                return Ok(BAD_ARGUMENT);
            }
            let bytes = match buffer(c.data_mut(), kind) {
                Err(status) => return Ok(status),
                Ok(buffer) => {
                    let end = start.saturating_add(max).min(buffer.len());
                    buffer.get(start..end).unwrap_or_default().to_vec()
                }
            };
            give(&mut c, call, &bytes, ret_ptr, ret_size)?;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_get_buffer_status",
        |mut c: C<'_>, kind: i32, ret_size: i32, ret_flags: i32| -> R<i32> {
            let call = "proxy_get_buffer_status";
            let (mem, state) = parts(&mut c, call)?;
            let size = match buffer(state, kind) {
                Err(status) => return Ok(status),
                Ok(buffer) => buffer.len(),
            };
            write_u32(mem, ret_size, size as u32, call)?;
            write_u32(mem, ret_flags, 0, call)?;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_set_buffer_bytes",
        |mut c: C<'_>, kind: i32, start: i32, size: i32, ptr: i32, len: i32| -> R<i32> {
            let call = "proxy_set_buffer_bytes";
            let (mem, state) = parts(&mut c, call)?;
            let data = slice(mem, ptr, len, call)?;
            if matches!(kind, 4..=8) {
                // Call answers and configurations are read-only.
                return Ok(BAD_ARGUMENT);
            }
            let buffer = match buffer(state, kind) {
                Err(status) => return Ok(status),
                Ok(buffer) => buffer,
            };
            // Envoy's Buffer::copyFrom: replace a prefix, or append at/after the end; nothing else.
            let (start, size) = (start as u32 as usize, size as u32 as usize);
            if start == 0 {
                buffer.drain(..size.min(buffer.len()));
                buffer.splice(0..0, data.iter().copied());
            } else if start >= buffer.len() {
                buffer.extend_from_slice(data);
            } else {
                return Ok(BAD_ARGUMENT);
            }
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_get_header_map_pairs",
        |mut c: C<'_>, kind: i32, ret_ptr: i32, ret_size: i32| -> R<i32> {
            let bytes = match map(c.data_mut(), kind) {
                Ok(map) => map.serialize(),
                Err(status) => return Ok(status),
            };
            give(
                &mut c,
                "proxy_get_header_map_pairs",
                &bytes,
                ret_ptr,
                ret_size,
            )?;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_get_header_map_size",
        |mut c: C<'_>, kind: i32, ret_size: i32| -> R<i32> {
            let call = "proxy_get_header_map_size";
            let (mem, state) = parts(&mut c, call)?;
            let size = match map(state, kind) {
                Ok(map) => map.serialize().len(),
                Err(status) => return Ok(status),
            };
            write_u32(mem, ret_size, size as u32, call)?;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_set_header_map_pairs",
        |mut c: C<'_>, kind: i32, ptr: i32, len: i32| -> R<i32> {
            let call = "proxy_set_header_map_pairs";
            let (mem, state) = parts(&mut c, call)?;
            let Some(new) = HeaderMap::deserialize(slice(mem, ptr, len, call)?) else {
                return Err(fault(call, "the plugin passed a malformed header map"));
            };
            match map(state, kind) {
                Ok(map) => {
                    *map = new;
                    Ok(OK)
                }
                Err(status) => Ok(status),
            }
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_get_header_map_value",
        |mut c: C<'_>, kind: i32, kptr: i32, klen: i32, ret_ptr: i32, ret_size: i32| -> R<i32> {
            let call = "proxy_get_header_map_value";
            let (mem, state) = parts(&mut c, call)?;
            let key = text(mem, kptr, klen, call)?;
            let value = match map(state, kind) {
                Err(status) => return Ok(status),
                // Envoy returns the first value of a repeated header.
                Ok(map) => match map.iter().find(|(n, _)| n.eq_ignore_ascii_case(&key)) {
                    Some((_, v)) => v.to_string(),
                    None => return Ok(NOT_FOUND),
                },
            };
            give(&mut c, call, value.as_bytes(), ret_ptr, ret_size)?;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_add_header_map_value",
        |mut c: C<'_>, kind: i32, kptr: i32, klen: i32, vptr: i32, vlen: i32| -> R<i32> {
            edit_map(
                &mut c,
                "proxy_add_header_map_value",
                kind,
                kptr,
                klen,
                Some((vptr, vlen)),
                |m, k, v| m.add(k, v),
            )
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_replace_header_map_value",
        |mut c: C<'_>, kind: i32, kptr: i32, klen: i32, vptr: i32, vlen: i32| -> R<i32> {
            edit_map(
                &mut c,
                "proxy_replace_header_map_value",
                kind,
                kptr,
                klen,
                Some((vptr, vlen)),
                |m, k, v| m.replace(k, v),
            )
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_remove_header_map_value",
        |mut c: C<'_>, kind: i32, kptr: i32, klen: i32| -> R<i32> {
            edit_map(
                &mut c,
                "proxy_remove_header_map_value",
                kind,
                kptr,
                klen,
                None,
                |m, k, _| m.remove(k),
            )
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_get_property",
        |mut c: C<'_>, pptr: i32, plen: i32, ret_ptr: i32, ret_size: i32| -> R<i32> {
            let call = "proxy_get_property";
            let (mem, state) = parts(&mut c, call)?;
            let path = properties::path_from_abi(slice(mem, pptr, plen, call)?);
            let Some(value) = properties::get(state, &path) else {
                return Ok(NOT_FOUND);
            };
            give(&mut c, call, &value, ret_ptr, ret_size)?;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_set_property",
        |mut c: C<'_>, pptr: i32, plen: i32, vptr: i32, vlen: i32| -> R<i32> {
            let call = "proxy_set_property";
            let (mem, state) = parts(&mut c, call)?;
            let path = properties::path_from_abi(slice(mem, pptr, plen, call)?);
            let value = text(mem, vptr, vlen, call)?;
            state.options.properties.push((path, value));
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_get_shared_data",
        |mut c: C<'_>, kptr: i32, klen: i32, ret_ptr: i32, ret_size: i32, ret_cas: i32| -> R<i32> {
            let call = "proxy_get_shared_data";
            let (mem, state) = parts(&mut c, call)?;
            let key = text(mem, kptr, klen, call)?;
            let Some((value, cas)) = state.shared_data.get(&key).cloned() else {
                return Ok(NOT_FOUND);
            };
            give(&mut c, call, &value, ret_ptr, ret_size)?;
            let (mem, _) = parts(&mut c, call)?;
            write_u32(mem, ret_cas, cas, call)?;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_set_shared_data",
        |mut c: C<'_>, kptr: i32, klen: i32, vptr: i32, vlen: i32, cas: i32| -> R<i32> {
            let call = "proxy_set_shared_data";
            let (mem, state) = parts(&mut c, call)?;
            let key = text(mem, kptr, klen, call)?;
            let value = slice(mem, vptr, vlen, call)?.to_vec();
            let current = state.shared_data.get(&key).map(|(_, cas)| *cas);
            if cas != 0 && current.is_some_and(|c| c != cas as u32) {
                return Ok(CAS_MISMATCH);
            }
            let next = current.unwrap_or(0).wrapping_add(1).max(1);
            state.shared_data.insert(key, (value, next));
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_register_shared_queue",
        |mut c: C<'_>, nptr: i32, nlen: i32, ret_id: i32| -> R<i32> {
            let call = "proxy_register_shared_queue";
            let (mem, state) = parts(&mut c, call)?;
            let name = text(mem, nptr, nlen, call)?;
            let id = match state.queues.iter().position(|(n, _)| *n == name) {
                Some(i) => i + 1,
                None => {
                    state.queues.push((name, Default::default()));
                    state.queues.len()
                }
            };
            write_u32(mem, ret_id, id as u32, call)?;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_resolve_shared_queue",
        |mut c: C<'_>, _vptr: i32, _vlen: i32, nptr: i32, nlen: i32, ret_id: i32| -> R<i32> {
            let call = "proxy_resolve_shared_queue";
            let (mem, state) = parts(&mut c, call)?;
            let name = text(mem, nptr, nlen, call)?;
            match state.queues.iter().position(|(n, _)| *n == name) {
                Some(i) => {
                    write_u32(mem, ret_id, (i + 1) as u32, call)?;
                    Ok(OK)
                }
                None => Ok(NOT_FOUND),
            }
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_enqueue_shared_queue",
        |mut c: C<'_>, id: i32, vptr: i32, vlen: i32| -> R<i32> {
            let call = "proxy_enqueue_shared_queue";
            let (mem, state) = parts(&mut c, call)?;
            let value = slice(mem, vptr, vlen, call)?.to_vec();
            let Some((_, queue)) = (id as u32 as usize)
                .checked_sub(1)
                .and_then(|i| state.queues.get_mut(i))
            else {
                return Ok(NOT_FOUND);
            };
            queue.push_back(value);
            state.ready_queues.push(id as u32);
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_dequeue_shared_queue",
        |mut c: C<'_>, id: i32, ret_ptr: i32, ret_size: i32| -> R<i32> {
            let state = c.data_mut();
            let Some((_, queue)) = (id as u32 as usize)
                .checked_sub(1)
                .and_then(|i| state.queues.get_mut(i))
            else {
                return Ok(NOT_FOUND);
            };
            let Some(value) = queue.pop_front() else {
                return Ok(EMPTY);
            };
            give(
                &mut c,
                "proxy_dequeue_shared_queue",
                &value,
                ret_ptr,
                ret_size,
            )?;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_continue_stream",
        |mut c: C<'_>, kind: i32| -> R<i32> { stream_flag(c.data_mut(), kind, false) }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_close_stream",
        |mut c: C<'_>, kind: i32| -> R<i32> { stream_flag(c.data_mut(), kind, true) }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_send_local_response",
        |mut c: C<'_>,
         status: i32,
         dptr: i32,
         dlen: i32,
         bptr: i32,
         blen: i32,
         hptr: i32,
         hlen: i32,
         _grpc: i32|
         -> R<i32> {
            let call = "proxy_send_local_response";
            let (mem, state) = parts(&mut c, call)?;
            let details = text(mem, dptr, dlen, call)?;
            let body = slice(mem, bptr, blen, call)?.to_vec();
            let Some(headers) = HeaderMap::deserialize(slice(mem, hptr, hlen, call)?) else {
                return Err(fault(call, "the plugin passed a malformed header map"));
            };
            let callback = state.callback;
            let Some(stream) = state.http() else {
                return Ok(BAD_ARGUMENT);
            };
            let reply = LocalReply {
                status: u16::try_from(status).unwrap_or(500),
                details,
                headers,
                body,
                callback,
            };
            if !stream.send_local_reply(reply) {
                // Too late: the response is on its way. Envoy resets the stream.
                stream.closed = true;
            }
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_http_call",
        |mut c: C<'_>,
         uptr: i32,
         ulen: i32,
         hptr: i32,
         hlen: i32,
         bptr: i32,
         blen: i32,
         tptr: i32,
         tlen: i32,
         _timeout: i32,
         ret_token: i32|
         -> R<i32> {
            let call = "proxy_http_call";
            let (mem, state) = parts(&mut c, call)?;
            let upstream = text(mem, uptr, ulen, call)?;
            let Some(headers) = HeaderMap::deserialize(slice(mem, hptr, hlen, call)?) else {
                return Err(fault(call, "the plugin passed a malformed header map"));
            };
            let body = slice(mem, bptr, blen, call)?.to_vec();
            slice(mem, tptr, tlen, call)?;
            if [":method", ":path", ":authority"]
                .iter()
                .any(|h| !headers.contains(h))
            {
                return Ok(BAD_ARGUMENT);
            }
            let method = headers.get(":method").unwrap_or_default();
            let path = headers.get(":path").unwrap_or_default();
            let token = queue_call(state, call, upstream, headers, body, false, method, path)?;
            write_u32(mem, ret_token, token, call)?;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_grpc_call",
        |mut c: C<'_>,
         uptr: i32,
         ulen: i32,
         sptr: i32,
         slen: i32,
         mptr: i32,
         mlen: i32,
         iptr: i32,
         ilen: i32,
         msgptr: i32,
         msglen: i32,
         _timeout: i32,
         ret_token: i32|
         -> R<i32> {
            let call = "proxy_grpc_call";
            let (mem, state) = parts(&mut c, call)?;
            let upstream = text(mem, uptr, ulen, call)?;
            let service = text(mem, sptr, slen, call)?;
            let method = text(mem, mptr, mlen, call)?;
            let metadata =
                HeaderMap::deserialize(slice(mem, iptr, ilen, call)?).unwrap_or_default();
            let message = slice(mem, msgptr, msglen, call)?.to_vec();
            let token = queue_call(
                state,
                call,
                upstream,
                metadata,
                message,
                true,
                "POST".into(),
                format!("/{service}/{method}"),
            )?;
            write_u32(mem, ret_token, token, call)?;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_get_status",
        |mut c: C<'_>, ret_code: i32, ret_ptr: i32, ret_size: i32| -> R<i32> {
            let call = "proxy_get_status";
            let (code, message) = match &c.data().call_response {
                Some(r) => (r.grpc_status, r.grpc_message.clone()),
                None => (0, String::new()),
            };
            let (mem, _) = parts(&mut c, call)?;
            write_u32(mem, ret_code, code, call)?;
            give(&mut c, call, message.as_bytes(), ret_ptr, ret_size)?;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_set_effective_context",
        |mut c: C<'_>, id: i32| -> R<i32> {
            let state = c.data_mut();
            let id = id as u32;
            if id == super::vm::ROOT_CONTEXT
                || (id == state.stream_context
                    && !matches!(state.stream, super::state::Stream::None))
            {
                state.active_context = id;
                Ok(OK)
            } else {
                Ok(BAD_ARGUMENT)
            }
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_done",
        |mut c: C<'_>| -> R<i32> {
            c.data_mut().done_called = true;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_call_foreign_function",
        |_c: C<'_>, _np: i32, _nl: i32, _ap: i32, _al: i32, _rp: i32, _rs: i32| -> R<i32> {
            // No foreign functions are registered, as in a proxy without extensions.
            Ok(NOT_FOUND)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_define_metric",
        |mut c: C<'_>, kind: i32, nptr: i32, nlen: i32, ret_id: i32| -> R<i32> {
            let call = "proxy_define_metric";
            let (mem, state) = parts(&mut c, call)?;
            let kind = match kind {
                0 => MetricKind::Counter,
                1 => MetricKind::Gauge,
                2 => MetricKind::Histogram,
                _ => return Ok(BAD_ARGUMENT),
            };
            let name = text(mem, nptr, nlen, call)?;
            let id = match state
                .metrics
                .iter()
                .position(|m| m.name == name && m.kind == kind)
            {
                Some(i) => i + 1,
                None => {
                    state.metrics.push(Metric {
                        name,
                        kind,
                        value: 0,
                    });
                    state.metrics.len()
                }
            };
            write_u32(mem, ret_id, id as u32, call)?;
            Ok(OK)
        }
    );
    host!(linker, defined, "env", "proxy_get_metric", |mut c: C<
        '_,
    >,
                                                       id: i32,
                                                       ret: i32|
     -> R<i32> {
        let call = "proxy_get_metric";
        let (mem, state) = parts(&mut c, call)?;
        let Some(metric) = metric(state, id) else {
            return Ok(NOT_FOUND);
        };
        let value = metric.value as u64;
        write_u64(mem, ret, value, call)?;
        Ok(OK)
    });
    host!(
        linker,
        defined,
        "env",
        "proxy_record_metric",
        |mut c: C<'_>, id: i32, value: i64| -> R<i32> {
            let Some(metric) = metric(c.data_mut(), id) else {
                return Ok(NOT_FOUND);
            };
            metric.value = value;
            Ok(OK)
        }
    );
    host!(
        linker,
        defined,
        "env",
        "proxy_increment_metric",
        |mut c: C<'_>, id: i32, delta: i64| -> R<i32> {
            let Some(metric) = metric(c.data_mut(), id) else {
                return Ok(NOT_FOUND);
            };
            if metric.kind == MetricKind::Counter && delta < 0 {
                return Ok(BAD_ARGUMENT);
            }
            metric.value = metric.value.saturating_add(delta);
            Ok(OK)
        }
    );
    Ok(())
}

fn metric(state: &mut HostState, id: i32) -> Option<&mut Metric> {
    (id as u32 as usize)
        .checked_sub(1)
        .and_then(|i| state.metrics.get_mut(i))
}

#[allow(clippy::too_many_arguments)]
fn queue_call(
    state: &mut HostState,
    call: &str,
    upstream: String,
    headers: HeaderMap,
    body: Vec<u8>,
    grpc: bool,
    method: String,
    path: String,
) -> R<u32> {
    let Some(response) = state.take_scripted(&upstream) else {
        return Err(fault(
            call,
            format!(
                "no response scripted for the call to upstream `{upstream}` ({method} {path}); \
                 script one (scenario `http_calls`, or `wasmctl run --call-response`)"
            ),
        ));
    };
    let token = state.next_token;
    state.next_token = state.next_token.wrapping_add(1).max(1);
    state.call_log.push(CallRecord {
        upstream: upstream.clone(),
        headers,
        body,
        grpc,
    });
    state.pending_calls.push_back(PendingCall {
        token,
        upstream,
        method,
        path,
        callback: state.callback,
        grpc,
        response: Some(response),
    });
    Ok(token)
}

fn stream_flag(state: &mut HostState, kind: i32, close: bool) -> R<i32> {
    match kind {
        0 | 1 => {
            let Some(s) = state.http() else {
                return Ok(BAD_ARGUMENT);
            };
            if close {
                s.closed = true;
            } else if kind == 0 {
                s.request_resumed = true;
            } else {
                s.response_resumed = true;
            }
            Ok(OK)
        }
        2 | 3 => {
            let Some(s) = state.network() else {
                return Ok(BAD_ARGUMENT);
            };
            if close {
                s.closed = true;
            } else if kind == 2 {
                s.downstream_resumed = true;
            } else {
                s.upstream_resumed = true;
            }
            Ok(OK)
        }
        _ => Ok(BAD_ARGUMENT),
    }
}

fn edit_map(
    c: &mut C<'_>,
    call: &str,
    kind: i32,
    kptr: i32,
    klen: i32,
    value: Option<(i32, i32)>,
    edit: impl FnOnce(&mut HeaderMap, &str, &str),
) -> R<i32> {
    let (mem, state) = parts(c, call)?;
    let key = std::str::from_utf8(slice(mem, kptr, klen, call)?)
        .map_err(|_| fault(call, "header name is not UTF-8"))?;
    let value = match value {
        Some((ptr, len)) => std::str::from_utf8(slice(mem, ptr, len, call)?)
            .map_err(|_| fault(call, "header value is not UTF-8"))?,
        None => "",
    };
    match map(state, kind) {
        Ok(map) => {
            edit(map, key, value);
            Ok(OK)
        }
        Err(status) => Ok(status),
    }
}

/// The header map `kind` names, or the status to return when it is not available.
fn map(state: &mut HostState, kind: i32) -> Result<&mut HeaderMap, i32> {
    match kind {
        0..=3 => {
            let s = state.http().ok_or(BAD_ARGUMENT)?;
            Ok(match kind {
                0 => &mut s.request_headers,
                1 => &mut s.request_trailers,
                2 => &mut s.response_headers,
                _ => &mut s.response_trailers,
            })
        }
        4 | 6 => state
            .call_response
            .as_mut()
            .map(|r| &mut r.headers)
            .ok_or(BAD_ARGUMENT),
        5 | 7 => state
            .call_response
            .as_mut()
            .map(|r| &mut r.trailers)
            .ok_or(BAD_ARGUMENT),
        _ => Err(BAD_ARGUMENT),
    }
}

/// The buffer `kind` names, or the status to return when it is not available.
fn buffer(state: &mut HostState, kind: i32) -> Result<&mut Vec<u8>, i32> {
    match kind {
        0 | 1 => {
            let s = state.http().ok_or(NOT_FOUND)?;
            Ok(if kind == 0 {
                &mut s.request_body
            } else {
                &mut s.response_body
            })
        }
        2 | 3 => {
            let s = state.network().ok_or(NOT_FOUND)?;
            Ok(if kind == 2 {
                &mut s.downstream_data
            } else {
                &mut s.upstream_data
            })
        }
        4 | 5 => state
            .call_response
            .as_mut()
            .map(|r| &mut r.body)
            .ok_or(NOT_FOUND),
        6 => Ok(&mut state.options.vm_config),
        7 => Ok(&mut state.options.plugin_config),
        8 => Err(NOT_FOUND),
        _ => Err(BAD_ARGUMENT),
    }
}
