//! Header maps: the request's and response's headers and trailers, and an http_call answer's, by
//! `proxy_map_type_t`.

use super::super::chunks::Side;
use super::super::headers::HeaderMap;
use super::super::http::{HeaderAccess, HttpStream};
use super::super::state::HostState;
use super::{BAD_ARGUMENT, HostCaller, HostResult, NOT_FOUND, OK};
use super::{hostcalls, memory_and_state, return_bytes};

hostcalls! { "env":
    fn proxy_get_header_map_pairs(c, kind, ret_ptr, ret_size) {
        let call = "proxy_get_header_map_pairs";
        let bytes = match map(c.data_mut(), call, kind, Use::List) {
            Ok(map) if !map.is_empty() => map.serialize(),
            // Envoy lists an empty map, and one it does not give the plugin now, as no bytes at
            // all (a null pointer), not as a count of 0.
            Ok(_) | Err(Refused::NotNow | Refused::Absent) => Vec::new(),
            Err(Refused::Status(status)) => return Ok(status),
        };
        return_bytes(&mut c, call, &bytes, ret_ptr, ret_size)?;
        Ok(OK)
    }

    fn proxy_get_header_map_size(c, kind, ret_size) {
        let call = "proxy_get_header_map_size";
        let (mut memory, state) = memory_and_state(&mut c, call)?;
        let size = match map(state, call, kind, Use::Size) {
            Ok(map) => map.byte_size(),
            Err(refused) => return Ok(refused.status()),
        };
        memory.write_u32(ret_size, size as u32)?;
        Ok(OK)
    }

    fn proxy_set_header_map_pairs(c, kind, map_ptr, map_len) {
        let call = "proxy_set_header_map_pairs";
        let (memory, state) = memory_and_state(&mut c, call)?;
        let new = memory.header_map(map_ptr, map_len)?;
        Ok(edit(state, call, kind, |map| *map = new))
    }

    fn proxy_get_header_map_value(c, kind, key_ptr, key_len, ret_ptr, ret_size) {
        let call = "proxy_get_header_map_value";
        let (memory, state) = memory_and_state(&mut c, call)?;
        let key = memory.text(key_ptr, key_len)?;
        let key = named(kind, &key);
        let value = match map(state, call, kind, Use::Read) {
            Err(refused) => return Ok(refused.status()),
            // Envoy returns the first value of a repeated header.
            Ok(map) => match map.iter().find(|(n, _)| n.eq_ignore_ascii_case(key)) {
                Some((_, v)) => v.to_string(),
                None => return Ok(NOT_FOUND),
            },
        };
        return_bytes(&mut c, call, value.as_bytes(), ret_ptr, ret_size)?;
        Ok(OK)
    }

    fn proxy_add_header_map_value(c, kind, key_ptr, key_len, value_ptr, value_len) {
        let field = ((key_ptr, key_len), (value_ptr, value_len));
        edit_field(&mut c, "proxy_add_header_map_value", kind, field, add)
    }

    fn proxy_replace_header_map_value(c, kind, key_ptr, key_len, value_ptr, value_len) {
        let field = ((key_ptr, key_len), (value_ptr, value_len));
        edit_field(&mut c, "proxy_replace_header_map_value", kind, field, HeaderMap::replace)
    }

    fn proxy_remove_header_map_value(c, kind, key_ptr, key_len) {
        let call = "proxy_remove_header_map_value";
        let (memory, state) = memory_and_state(&mut c, call)?;
        let key = named(kind, memory.utf8(key_ptr, key_len, "header name")?);
        Ok(edit(state, call, kind, |map| map.remove(key)))
    }
}

/// Reads a header name and value, each a (pointer, length), and applies `change` with them to the
/// map `kind` names.
fn edit_field(
    c: &mut HostCaller<'_>,
    call: &'static str,
    kind: i32,
    ((key_ptr, key_len), (value_ptr, value_len)): ((i32, i32), (i32, i32)),
    change: fn(&mut HeaderMap, &str, &str),
) -> HostResult<i32> {
    let (memory, state) = memory_and_state(c, call)?;
    let key = named(kind, memory.utf8(key_ptr, key_len, "header name")?);
    let value = memory.utf8(value_ptr, value_len, "header value")?;
    Ok(edit(state, call, kind, |map| change(map, key, value)))
}

/// The header a plugin's `key` names in the map `kind`: Envoy keeps a request's authority in
/// `:authority` alone, and `host` reaches it there, to read, replace, add to or remove.
fn named(kind: i32, key: &str) -> &str {
    match kind == 0 && key.eq_ignore_ascii_case("host") {
        true => ":authority",
        false => key,
    }
}

/// Adds a value as Envoy does: a second `:authority` joins the first, comma-separated, as one
/// header can hold only one; any other header gets one more field.
fn add(map: &mut HeaderMap, name: &str, value: &str) {
    match (name == ":authority", map.get(name)) {
        (true, Some(first)) => map.replace(name, &format!("{first},{value}")),
        _ => map.add(name, value),
    }
}

/// Applies `change` to the map `kind` names; the status to return.
fn edit(
    state: &mut HostState,
    call: &'static str,
    kind: i32,
    change: impl FnOnce(&mut HeaderMap),
) -> i32 {
    match map(state, call, kind, Use::Write) {
        Ok(map) => {
            change(map);
            OK
        }
        Err(refused) => refused.status(),
    }
}

/// What a host call does with a header map.
#[derive(Clone, Copy)]
enum Use {
    Read,
    List,
    Size,
    Write,
}

/// Why a header map is not available.
enum Refused {
    /// There is no such map here: the status to return.
    Status(i32),
    /// The map exists, but Envoy does not give it to the plugin now (see [`HeaderAccess`]).
    NotNow,
    /// Envoy reads no map here: a value is not found, and the list is empty.
    Absent,
}

impl Refused {
    fn status(&self) -> i32 {
        match self {
            Refused::Status(status) => *status,
            Refused::NotNow => BAD_ARGUMENT,
            Refused::Absent => NOT_FOUND,
        }
    }
}

/// The header map `kind` names, if the plugin may `want` it now.
fn map<'s>(
    state: &'s mut HostState,
    call: &'static str,
    kind: i32,
    want: Use,
) -> Result<&'s mut HeaderMap, Refused> {
    if let 0..=3 = kind {
        // A context without a request (the root's, a connection's) has no such map: Envoy lists
        // it as empty and refuses the rest.
        let callback = state.callback;
        let s = state.http().ok_or(Refused::NotNow)?;
        let access = match kind {
            0 => s.request.access,
            2 => s.response.access,
            1 => trailers_access(s, Side::Request, want, callback)?,
            _ => trailers_access(s, Side::Response, want, callback)?,
        };
        let allowed = matches!(
            (access, want),
            (HeaderAccess::Open, _) | (HeaderAccess::ReadOnly, Use::Read | Use::List)
        );
        if !allowed {
            if !matches!(want, Use::List) {
                state.refused = Some(refusal(call, kind, access, callback));
            }
            return Err(Refused::NotNow);
        }
        let s = state.http().ok_or(Refused::Status(BAD_ARGUMENT))?;
        return Ok(match kind {
            0 => &mut s.request.headers,
            1 => &mut s.request.trailers,
            2 => &mut s.response.headers,
            _ => &mut s.response.trailers,
        });
    }
    // Outside a call's answer, Envoy lists maps 4 to 7 as empty and refuses the rest.
    let answer = match state.call_response.as_mut() {
        Some(answer) => answer,
        None if (4..=7).contains(&kind) => return Err(Refused::NotNow),
        None => return Err(Refused::Status(BAD_ARGUMENT)),
    };
    // An http_call's response is maps 6 and 7. Maps 4 and 5 hold a gRPC stream's metadata, each
    // in its own callback; a grpc_call's (unary) answer gives none, as in Envoy: they are empty.
    if let Some((given, map)) = &mut answer.metadata
        && *given == kind
    {
        return Ok(map);
    }
    match (kind, answer.grpc) {
        (6, false) => Ok(&mut answer.response.headers),
        (7, false) => Ok(&mut answer.response.trailers),
        (4..=7, _) => Err(Refused::Absent),
        _ => Err(Refused::Status(BAD_ARGUMENT)),
    }
}

/// How far the plugin may use `side`'s trailers for `want`, as Envoy 1.40 lets it: while they are
/// its (see `Half::trailers_access`; proxy_on_log may read the response's); in
/// the last body callback of a body without them, changing them adds them; proxy_on_log finds no
/// request trailers.
fn trailers_access(
    s: &mut HttpStream,
    side: Side,
    want: Use,
    callback: &str,
) -> Result<HeaderAccess, Refused> {
    let reading = matches!(want, Use::Read | Use::List);
    let access = s.side(side).trailers_access;
    match (reading, callback == "proxy_on_log", side) {
        (true, true, Side::Request) => Err(Refused::Absent),
        (false, _, _) if s.last_body_call == Some(side) => {
            s.side(side).trailers_access = HeaderAccess::Open;
            Ok(HeaderAccess::Open)
        }
        _ => Ok(access),
    }
}

/// Why Envoy refuses `call` on the headers `kind` names in `callback`, for the plugin's author.
fn refusal(call: &str, kind: i32, access: HeaderAccess, callback: &str) -> String {
    let (map, own) = match kind {
        0 => ("request headers", "proxy_on_request_headers"),
        1 => ("request trailers", "proxy_on_request_trailers"),
        2 => ("response headers", "proxy_on_response_headers"),
        _ => ("response trailers", "proxy_on_response_trailers"),
    };
    let rule = match (access, kind) {
        (HeaderAccess::ReadOnly, _) => format!("proxy_on_log may read the {map}, not change them"),
        (_, 1 | 3) => format!(
            "a plugin has the {map} from {own} until it lets them go on (returns Continue or \
             resumes the stream), or adds them in the last body callback of a body without them"
        ),
        _ => format!(
            "a plugin has the {map} from {own} until it lets them go on (returns Continue or \
             resumes the stream)"
        ),
    };
    format!("Envoy refuses {call} on the {map} in {callback} (BadArgument): {rule}")
}
