//! Metrics: counters, gauges and histograms, by the id `proxy_define_metric` hands out.

use super::super::state::{HostState, Metric, MetricKind};
use super::{BAD_ARGUMENT, NOT_FOUND, OK, hostcalls, memory_and_state};

hostcalls! { "env":
    fn proxy_define_metric(c, kind, name_ptr, name_len, ret_id) {
        let (mut memory, state) = memory_and_state(&mut c, "proxy_define_metric")?;
        let Some(kind) = MetricKind::from_abi(kind) else {
            return Ok(BAD_ARGUMENT);
        };
        let name = memory.text(name_ptr, name_len)?;
        let metrics = &mut state.metrics;
        let id = match metrics.iter().position(|m| m.name == name && m.kind == kind) {
            Some(i) => i + 1,
            None => {
                let value = 0;
                metrics.push(Metric { name, kind, value });
                metrics.len()
            }
        };
        memory.write_u32(ret_id, id as u32)?;
        Ok(OK)
    }

    fn proxy_get_metric(c, id, ret_value) {
        let (mut memory, state) = memory_and_state(&mut c, "proxy_get_metric")?;
        let Some(metric) = metric(state, id) else {
            return Ok(NOT_FOUND);
        };
        memory.write_u64(ret_value, metric.value as u64)?;
        Ok(OK)
    }

    fn proxy_record_metric(c, id, value: i64) {
        let Some(metric) = metric(c.data_mut(), id) else {
            return Ok(NOT_FOUND);
        };
        metric.value = value;
        Ok(OK)
    }

    fn proxy_increment_metric(c, id, delta: i64) {
        let Some(metric) = metric(c.data_mut(), id) else {
            return Ok(NOT_FOUND);
        };
        if metric.kind == MetricKind::Counter && delta < 0 {
            return Ok(BAD_ARGUMENT);
        }
        metric.value = metric.value.saturating_add(delta);
        Ok(OK)
    }
}

/// The metric with id `id`.
fn metric(state: &mut HostState, id: i32) -> Option<&mut Metric> {
    let index = (id as u32 as usize).checked_sub(1)?;
    state.metrics.get_mut(index)
}
