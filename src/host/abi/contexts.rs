//! Contexts: which one later host calls act on, and a plugin finishing one it kept open.

use super::super::state::Stream;
use super::super::vm::ROOT_CONTEXT;
use super::{BAD_ARGUMENT, OK, hostcalls};

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

    /// The host ends every context itself once its stream is over, so a plugin finishing one
    /// it kept open changes nothing here.
    fn proxy_done(_c) {
        Ok(OK)
    }
}
