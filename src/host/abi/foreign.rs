//! Foreign functions: the extra calls a proxy registers under a name, reached through
//! proxy_call_foreign_function. The built-in host has those of Envoy 1.40 that need nothing but
//! the plugin's own request: `clear_route_cache`, `compress` and `uncompress` (zlib).

use std::io::Write;

use flate2::write::ZlibEncoder;
use flate2::{Compression, Decompress, FlushDecompress, Status};

use super::super::state::HostState;
use super::{NOT_FOUND, OK, SERIALIZATION_FAILURE};
use super::{hostcalls, memory_and_state, return_bytes};

/// Envoy 1.40's other foreign functions, which need its filter state, CEL or crypto: the
/// built-in host returns NotFound for them, as for a name no proxy registers, and says why.
const ENVOY_ONLY: [&str; 7] = [
    "declare_property",
    "set_envoy_filter_state",
    "expr_create",
    "expr_evaluate",
    "expr_delete",
    "sign",
    "verify_signature",
];

hostcalls! { "env":
    /// Runs the foreign function `name` on the arguments; its result, if it gives one, comes from
    /// the plugin's allocator. As in Envoy, the result's address and size are written whatever
    /// the status (0 and 0 for none), and not at all where the plugin passes 0 for them.
    fn proxy_call_foreign_function(
        c, name_ptr, name_len, args_ptr, args_len, ret_ptr, ret_size,
    ) {
        let call = "proxy_call_foreign_function";
        let (memory, state) = memory_and_state(&mut c, call)?;
        let name = memory.text(name_ptr, name_len)?;
        let args = memory.bytes(args_ptr, args_len)?;
        let Some((status, result)) = run(&name, args, state) else {
            return Ok(NOT_FOUND);
        };
        if ret_ptr != 0 && ret_size != 0 {
            return_bytes(&mut c, call, &result, ret_ptr, ret_size)?;
        }
        Ok(status)
    }
}

/// The status and result of foreign function `name`, or None when there is no such function
/// here.
fn run(name: &str, args: &[u8], state: &mut HostState) -> Option<(i32, Vec<u8>)> {
    let done = match name {
        "clear_route_cache" => Some(Vec::new()),
        "compress" => compress(args),
        "uncompress" => uncompress(args),
        _ => {
            if ENVOY_ONLY.contains(&name) {
                state.refused = Some(format!(
                    "proxy_call_foreign_function: Envoy 1.40 has the foreign function `{name}`, \
                     the built-in host does not (NotFound); run with --envoy"
                ));
            }
            return None;
        }
    };
    Some(match done {
        Some(result) => (OK, result),
        None => (SERIALIZATION_FAILURE, Vec::new()),
    })
}

/// zlib's `compress`: the zlib format at the default level.
fn compress(data: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).ok()?;
    encoder.finish().ok()
}

/// zlib's `uncompress`: `data` must hold a whole zlib stream; what follows it is left alone.
fn uncompress(data: &[u8]) -> Option<Vec<u8>> {
    let mut inflate = Decompress::new(true);
    let mut out = Vec::with_capacity(data.len() * 2 + 2);
    loop {
        let read = inflate.total_in() as usize;
        let written = out.len();
        let status = inflate.decompress_vec(&data[read..], &mut out, FlushDecompress::None);
        if status.ok()? == Status::StreamEnd {
            return Some(out);
        }
        if out.len() == out.capacity() {
            out.reserve(out.capacity());
        } else if (inflate.total_in() as usize, out.len()) == (read, written) {
            // Room for more, yet nothing moved: the data ended before the stream did.
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_data_comes_back_and_anything_else_is_refused() {
        let data = b"hello hello hello hello hello".repeat(200);
        let packed = compress(&data).unwrap();
        assert!(packed.len() < data.len());
        assert_eq!(uncompress(&packed).unwrap(), data);
        // What follows the stream is left alone, as zlib's uncompress leaves it.
        let mut trailing = packed.clone();
        trailing.push(0);
        assert_eq!(uncompress(&trailing).unwrap(), data);
        assert_eq!(uncompress(&compress(b"").unwrap()).unwrap(), b"");
        assert!(uncompress(&packed[..packed.len() - 1]).is_none());
        assert!(uncompress(b"garbage!").is_none());
        assert!(uncompress(b"").is_none());
    }
}
