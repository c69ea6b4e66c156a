//! gRPC's length-prefixed message framing, as a unary call carries its one message each way: a
//! compression flag byte (0 here), the length as four big-endian bytes, then the message.

/// `message` framed for the wire, uncompressed.
pub(crate) fn frame(message: &[u8]) -> Vec<u8> {
    let length = u32::try_from(message.len()).unwrap_or(u32::MAX);
    let mut framed = Vec::with_capacity(message.len() + 5);
    framed.push(0);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(message);
    framed
}

/// The first message of a framed body, or the body as it is when it is too short for a frame.
pub(crate) fn unframe(body: &[u8]) -> Vec<u8> {
    match body.get(1..5) {
        Some(length) => {
            let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]);
            let rest = body.get(5..).unwrap_or_default();
            rest.iter().take(length as usize).copied().collect()
        }
        None => body.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_round_trips() {
        assert_eq!(frame(b"ping"), b"\0\0\0\0\x04ping");
        assert_eq!(unframe(&frame(b"ping")), b"ping");
        assert_eq!(unframe(&frame(b"")), b"");
        assert_eq!(unframe(b"x"), b"x");
    }
}
