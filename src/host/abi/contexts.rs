//! Contexts: which one later host calls act on, and a plugin finishing one it kept open.

use super::super::state::Stream;
use super::super::vm::ROOT_CONTEXT;
use super::{BAD_ARGUMENT, NOT_FOUND, OK, hostcalls};

hostcalls! { "env":
    fn proxy_set_effective_context(c, id) {
        let state = c.data_mut();
        let id = id as u32;
        let stream_open = !matches!(state.stream, Stream::None);
        if id == ROOT_CONTEXT || (id == state.stream_context && stream_open) {
            state.active_context = id;
            Ok(OK)
        } else {
            Ok(BAD_ARGUMENT)
        }
    }

    /// Envoy waits for proxy_done only from a root context whose proxy_on_done asked for time
    /// as the proxy shuts down, which never happens here; to any other call it answers NotFound
    /// (measured).
    fn proxy_done(_c) {
        Ok(NOT_FOUND)
    }
}
