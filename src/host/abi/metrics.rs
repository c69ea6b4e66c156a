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
        let index = match metrics.iter().position(|m| m.name == name && m.kind == kind) {
            Some(i) => i,
            None => {
                let value = 0;
                metrics.push(Metric { name, kind, value });
                metrics.len() - 1
            }
        };
        memory.write_u32(ret_id, id_of(index, kind))?;
        Ok(OK)
    }

    /// A histogram has no value to read, in Envoy.
    fn proxy_get_metric(c, id, ret_value) {
        let (mut memory, state) = memory_and_state(&mut c, "proxy_get_metric")?;
        let value = match metric(state, id) {
            Err(status) => return Ok(status),
            Ok(Metric { kind: MetricKind::Histogram, .. }) => return Ok(BAD_ARGUMENT),
            Ok(metric) => metric.value,
        };
        memory.write_u64(ret_value, value as u64)?;
        Ok(OK)
    }

    /// As Envoy records: a counter adds the value, a gauge takes it, a histogram records it (the
    /// last one stays).
    fn proxy_record_metric(c, id, value: i64) {
        let Ok(metric) = metric(c.data_mut(), id) else {
            return Ok(NOT_FOUND);
        };
        metric.value = match metric.kind {
            MetricKind::Counter => metric.value.saturating_add(value),
            MetricKind::Gauge | MetricKind::Histogram => value,
        };
        Ok(OK)
    }

    /// As Envoy increments: a counter only by a positive delta, a gauge either way, and a
    /// histogram not at all.
    fn proxy_increment_metric(c, id, delta: i64) {
        let metric = match metric(c.data_mut(), id) {
            Ok(metric) => metric,
            Err(status) => return Ok(status),
        };
        match metric.kind {
            MetricKind::Counter if delta <= 0 => return Ok(BAD_ARGUMENT),
            MetricKind::Histogram => return Ok(BAD_ARGUMENT),
            _ => metric.value = metric.value.saturating_add(delta),
        }
        Ok(OK)
    }
}

/// The low two bits of a metric id say its kind (3 is none), as in Envoy.
const KIND_BITS: u32 = 2;

/// The id of the metric at `index` in the state's list.
fn id_of(index: usize, kind: MetricKind) -> u32 {
    let bits = match kind {
        MetricKind::Counter => 0,
        MetricKind::Gauge => 1,
        MetricKind::Histogram => 2,
    };
    ((index as u32 + 1) << KIND_BITS) | bits
}

/// The metric with id `id`, or the status Envoy gives for an id it does not know: not found
/// for a counter's or a gauge's, a bad argument for any other.
fn metric(state: &mut HostState, id: i32) -> Result<&mut Metric, i32> {
    let id = id as u32;
    let unknown = match id & 0b11 {
        0 | 1 => NOT_FOUND,
        _ => BAD_ARGUMENT,
    };
    let index = ((id >> KIND_BITS) as usize).checked_sub(1).ok_or(unknown)?;
    match state.metrics.get_mut(index) {
        Some(metric) if id_of(index, metric.kind) == id => Ok(metric),
        _ => Err(unknown),
    }
}
