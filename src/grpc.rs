//! gRPC's length-prefixed message framing, as a call carries its messages each way (a unary
//! call one): a compression flag byte (0 here), the length as four big-endian bytes, then the
//! message.

/// `message` framed for the wire, uncompressed.
pub(crate) fn frame(message: &[u8]) -> Vec<u8> {
    let length = u32::try_from(message.len()).unwrap_or(u32::MAX);
    let mut framed = Vec::with_capacity(message.len() + 5);
    framed.push(0);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(message);
    framed
}

/// The messages of a framed body, one after another (a unary call's one message); a body too
/// short for a frame is taken as it is, and a frame cut short gives what it holds.
pub(crate) fn unframe(body: &[u8]) -> Vec<u8> {
    if body.len() < 5 {
        return body.to_vec();
    }
    messages(body).concat()
}

/// Each message of a framed body; a frame cut short gives what it holds.
pub(crate) fn messages(body: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut rest = body;
    while let Some(length) = rest.get(1..5) {
        let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
        let frame = &rest[5..];
        let taken = length.min(frame.len());
        messages.push(frame[..taken].to_vec());
        rest = &frame[taken..];
    }
    messages
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
        let stream = [frame(b"one"), frame(b""), frame(b"two")].concat();
        assert_eq!(unframe(&stream), b"onetwo");
        assert_eq!(
            messages(&stream),
            [b"one".to_vec(), vec![], b"two".to_vec()]
        );
    }
}
