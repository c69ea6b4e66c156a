//! Metrics: counters, gauges and histograms, by the id `proxy_define_metric` hands out.

use super::super::state::{HostState, Metric, MetricKind};
use super::{
    BAD_ARGUMENT, HostCaller, HostFunctions, HostResult, NOT_FOUND, OK, define_all,
    memory_and_state,
};

pub(super) fn define(host: &mut HostFunctions<'_>) -> wasmtime::Result<()> {
    define_all!(
        host,
        "env",
        [
            proxy_define_metric,
            proxy_get_metric,
            proxy_record_metric,
            proxy_increment_metric,
        ]
    )
}

fn proxy_define_metric(
    mut c: HostCaller<'_>,
    kind: i32,
    name_ptr: i32,
    name_len: i32,
    ret_id: i32,
) -> HostResult<i32> {
    let (mut memory, state) = memory_and_state(&mut c, "proxy_define_metric")?;
    let kind = match kind {
        0 => MetricKind::Counter,
        1 => MetricKind::Gauge,
        2 => MetricKind::Histogram,
        _ => return Ok(BAD_ARGUMENT),
    };
    let name = memory.text(name_ptr, name_len)?;
    let metrics = &mut state.metrics;
    let id = match metrics
        .iter()
        .position(|m| m.name == name && m.kind == kind)
    {
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

fn proxy_get_metric(mut c: HostCaller<'_>, id: i32, ret: i32) -> HostResult<i32> {
    let (mut memory, state) = memory_and_state(&mut c, "proxy_get_metric")?;
    let Some(metric) = metric(state, id) else {
        return Ok(NOT_FOUND);
    };
    memory.write_u64(ret, metric.value as u64)?;
    Ok(OK)
}

fn proxy_record_metric(mut c: HostCaller<'_>, id: i32, value: i64) -> HostResult<i32> {
    let Some(metric) = metric(c.data_mut(), id) else {
        return Ok(NOT_FOUND);
    };
    metric.value = value;
    Ok(OK)
}

fn proxy_increment_metric(mut c: HostCaller<'_>, id: i32, delta: i64) -> HostResult<i32> {
    let Some(metric) = metric(c.data_mut(), id) else {
        return Ok(NOT_FOUND);
    };
    if metric.kind == MetricKind::Counter && delta < 0 {
        return Ok(BAD_ARGUMENT);
    }
    metric.value = metric.value.saturating_add(delta);
    Ok(OK)
}

/// The metric with id `id`.
fn metric(state: &mut HostState, id: i32) -> Option<&mut Metric> {
    let index = (id as u32 as usize).checked_sub(1)?;
    state.metrics.get_mut(index)
}
