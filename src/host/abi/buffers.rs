//! Buffers: bodies, connection data, call answers and the configurations, by `proxy_buffer_type_t`.

use super::super::state::{ConfigBuffer, HostState};
use super::{BAD_ARGUMENT, NOT_FOUND, OK, hostcalls, memory_and_state, return_bytes};

hostcalls! { "env":
    /// ABI 0.1.0's way to read the configuration being delivered.
    fn proxy_get_configuration(c, ret_ptr, ret_size) {
        let state = c.data();
        let bytes = match state.configuration {
            Some(ConfigBuffer::Vm) => state.options.vm_config.clone(),
            _ => state.options.plugin_config.clone(),
        };
        return_bytes(&mut c, "proxy_get_configuration", &bytes, ret_ptr, ret_size)?;
        Ok(OK)
    }

    fn proxy_get_buffer_bytes(c, kind, start, max, ret_ptr, ret_size) {
        let (start, max) = (start as u32 as usize, max as u32 as usize);
        if start.checked_add(max).is_none() {
            return Ok(BAD_ARGUMENT);
        }
        let bytes = match readable(c.data_mut(), kind) {
            Err(status) => return Ok(status),
            Ok(buffer) => {
                let end = start.saturating_add(max).min(buffer.len());
                buffer.get(start..end).unwrap_or_default().to_vec()
            }
        };
        return_bytes(&mut c, "proxy_get_buffer_bytes", &bytes, ret_ptr, ret_size)?;
        Ok(OK)
    }

    fn proxy_get_buffer_status(c, kind, ret_size, ret_flags) {
        let (mut memory, state) = memory_and_state(&mut c, "proxy_get_buffer_status")?;
        let size = match readable(state, kind) {
            Err(status) => return Ok(status),
            Ok(buffer) => buffer.len(),
        };
        memory.write_u32(ret_size, size as u32)?;
        memory.write_u32(ret_flags, 0)?;
        Ok(OK)
    }

    fn proxy_set_buffer_bytes(c, kind, start, size, data_ptr, data_len) {
        let (memory, state) = memory_and_state(&mut c, "proxy_set_buffer_bytes")?;
        let data = memory.bytes(data_ptr, data_len)?;
        if matches!(kind, 4..=8) {
            // Call answers and configurations are read-only.
            return Ok(BAD_ARGUMENT);
        }
        if let Some(refusal) = body_not_settable(state, kind) {
            state.refused = Some(refusal);
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
}

/// Why Envoy refuses to change the body or data `kind` names now, when it does: a plugin changes
/// an HTTP body in its body callback, or while it holds the body paused, and a connection's data
/// in its data callback.
fn body_not_settable(state: &mut HostState, kind: i32) -> Option<String> {
    let callback = state.callback;
    let (body, own, held) = match kind {
        0 | 1 => {
            let s = state.http()?;
            match kind {
                0 => ("request body", "proxy_on_request_body", s.request.body_held),
                _ => (
                    "response body",
                    "proxy_on_response_body",
                    s.response.body_held,
                ),
            }
        }
        2 | 3 => {
            state.network()?;
            match kind {
                2 => ("client's data", "proxy_on_downstream_data", false),
                _ => ("upstream's data", "proxy_on_upstream_data", false),
            }
        }
        _ => return None,
    };
    (callback != own && !held).then(|| {
        format!(
            "Envoy refuses proxy_set_buffer_bytes on the {body} in {callback} (BadArgument): \
             a plugin changes it in {own}{}",
            if kind < 2 {
                ", or while it holds it paused"
            } else {
                ""
            }
        )
    })
}

/// The buffer `kind` names, or the status to return when it is not available. The plugin's
/// configuration is there only in proxy_on_configure, as in Envoy.
fn buffer(state: &mut HostState, kind: i32) -> Result<&mut Vec<u8>, i32> {
    match kind {
        0 => Ok(&mut state.http().ok_or(NOT_FOUND)?.request.body),
        1 => Ok(&mut state.http().ok_or(NOT_FOUND)?.response.body),
        2 => Ok(&mut state.network().ok_or(NOT_FOUND)?.downstream.data),
        3 => Ok(&mut state.network().ok_or(NOT_FOUND)?.upstream.data),
        4 | 5 => Ok(&mut state.call_response.as_mut().ok_or(NOT_FOUND)?.response.body),
        6 => Ok(&mut state.options.vm_config),
        7 if state.configuration == Some(ConfigBuffer::Plugin) => {
            Ok(&mut state.options.plugin_config)
        }
        7 | 8 => Err(NOT_FOUND),
        _ => Err(BAD_ARGUMENT),
    }
}

/// The buffer `kind` names, to read. As Envoy 1.40 answers: a body, connection data, a gRPC
/// message or call data that is not there now reads as empty; the call answer's body and the
/// plugin's configuration outside proxy_on_configure are not found.
fn readable(state: &mut HostState, kind: i32) -> Result<&[u8], i32> {
    match buffer(state, kind) {
        Ok(buffer) => Ok(buffer),
        Err(NOT_FOUND) if matches!(kind, 0..=3 | 5 | 8) => Ok(&[]),
        Err(status) => Err(status),
    }
}
