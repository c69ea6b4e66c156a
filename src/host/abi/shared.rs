//! Shared data (a key-value store with compare-and-swap) and shared queues, as one VM sees them.

use std::collections::VecDeque;

use super::super::state::HostState;
use super::{CAS_MISMATCH, EMPTY, NOT_FOUND, OK, hostcalls, memory_and_state, return_bytes};

hostcalls! { "env":
    fn proxy_get_shared_data(c, key_ptr, key_len, ret_ptr, ret_size, ret_cas) {
        let call = "proxy_get_shared_data";
        let (memory, state) = memory_and_state(&mut c, call)?;
        let key = memory.text(key_ptr, key_len)?;
        let Some((value, cas)) = state.shared_data.get(&key).cloned() else {
            return Ok(NOT_FOUND);
        };
        return_bytes(&mut c, call, &value, ret_ptr, ret_size)?;
        let (mut memory, _) = memory_and_state(&mut c, call)?;
        memory.write_u32(ret_cas, cas)?;
        Ok(OK)
    }

    fn proxy_set_shared_data(c, key_ptr, key_len, value_ptr, value_len, cas) {
        let (memory, state) = memory_and_state(&mut c, "proxy_set_shared_data")?;
        let key = memory.text(key_ptr, key_len)?;
        let value = memory.bytes(value_ptr, value_len)?.to_vec();
        let current = state.shared_data.get(&key).map(|(_, cas)| *cas);
        if cas != 0 && current.is_some_and(|c| c != cas as u32) {
            return Ok(CAS_MISMATCH);
        }
        let next = current.unwrap_or(0).wrapping_add(1).max(1);
        state.shared_data.insert(key, (value, next));
        Ok(OK)
    }

    fn proxy_register_shared_queue(c, name_ptr, name_len, ret_id) {
        let (mut memory, state) = memory_and_state(&mut c, "proxy_register_shared_queue")?;
        let name = memory.text(name_ptr, name_len)?;
        let id = match queue_id(state, &name) {
            Some(id) => id,
            None => {
                state.queues.push((name, VecDeque::new()));
                state.queues.len() as u32
            }
        };
        memory.write_u32(ret_id, id)?;
        Ok(OK)
    }

    /// A queue is found by the id of the VM that registered it, as in Envoy: here, this VM's.
    fn proxy_resolve_shared_queue(c, vm_id_ptr, vm_id_len, name_ptr, name_len, ret_id) {
        let (mut memory, state) = memory_and_state(&mut c, "proxy_resolve_shared_queue")?;
        let vm_id = memory.text(vm_id_ptr, vm_id_len)?;
        let name = memory.text(name_ptr, name_len)?;
        let found = (vm_id == state.options.vm_id).then(|| queue_id(state, &name));
        let Some(id) = found.flatten() else {
            return Ok(NOT_FOUND);
        };
        memory.write_u32(ret_id, id)?;
        Ok(OK)
    }

    fn proxy_enqueue_shared_queue(c, id, value_ptr, value_len) {
        let (memory, state) = memory_and_state(&mut c, "proxy_enqueue_shared_queue")?;
        let value = memory.bytes(value_ptr, value_len)?.to_vec();
        let Some(queue) = queue(state, id) else {
            return Ok(NOT_FOUND);
        };
        queue.push_back(value);
        state.ready_queues.push(id as u32);
        Ok(OK)
    }

    fn proxy_dequeue_shared_queue(c, id, ret_ptr, ret_size) {
        let Some(queue) = queue(c.data_mut(), id) else {
            return Ok(NOT_FOUND);
        };
        let Some(value) = queue.pop_front() else {
            return Ok(EMPTY);
        };
        return_bytes(&mut c, "proxy_dequeue_shared_queue", &value, ret_ptr, ret_size)?;
        Ok(OK)
    }
}

/// The id of the queue called `name`: its position, counted from 1.
fn queue_id(state: &HostState, name: &str) -> Option<u32> {
    let index = state.queues.iter().position(|(n, _)| n == name)?;
    Some(index as u32 + 1)
}

/// The queue with id `id`.
fn queue(state: &mut HostState, id: i32) -> Option<&mut VecDeque<Vec<u8>>> {
    let index = (id as u32 as usize).checked_sub(1)?;
    state.queues.get_mut(index).map(|(_, queue)| queue)
}
