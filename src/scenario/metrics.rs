//! The plugin's metrics as a host can read them. The built-in host reads all of them. Envoy's
//! admin API gives counters and gauges, summed or last-set over every VM that runs the plugin,
//! and histograms only as quantiles: what it cannot say is listed as unread, with why.

use serde::Serialize;

use crate::envoy::PluginMetrics;
use crate::host::{Metric, MetricKind};

/// The plugin's metrics now.
#[derive(Debug, Clone, Default)]
pub struct MetricsNow {
    /// Each metric whose value this host can read.
    pub read: Vec<Metric>,
    /// Each metric the plugin defined whose value this host cannot read.
    pub unread: Vec<UnreadMetric>,
    /// Why no metric can be read here, where none can.
    pub unreadable: Option<String>,
}

/// A metric the plugin defined whose value the host cannot read, and why.
#[derive(Debug, Clone, Serialize)]
pub struct UnreadMetric {
    pub name: String,
    pub why: String,
}

impl MetricsNow {
    /// Every metric read.
    pub fn all(read: Vec<Metric>) -> MetricsNow {
        MetricsNow {
            read,
            ..MetricsNow::default()
        }
    }

    /// None can be read, for `why`.
    pub fn unreadable(why: String) -> MetricsNow {
        MetricsNow {
            unreadable: Some(why),
            ..MetricsNow::default()
        }
    }

    /// Why metric `name` has no value here, when it has none for a reason.
    pub fn why_unread(&self, name: &str) -> Option<&str> {
        self.unreadable.as_deref().or_else(|| {
            self.unread
                .iter()
                .find(|m| m.name == name)
                .map(|m| m.why.as_str())
        })
    }

    /// The metrics of one plugin in Envoy, as one VM of the built-in host would hold them.
    /// Every VM Envoy runs (the main thread's two and one per worker) ran the plugin's start, so
    /// a counter holds what `at_start` shows once per VM: all but one share of that is taken off.
    /// A gauge is as Envoy holds it.
    pub fn from_envoy(at_start: &PluginMetrics, now: &PluginMetrics) -> MetricsNow {
        let vms = i64::try_from(now.vms.max(1)).unwrap_or(i64::MAX);
        let mut metrics = MetricsNow::default();
        for metric in &now.values {
            let started = at_start
                .values
                .iter()
                .find(|m| m.name == metric.name)
                .map_or(0, |m| m.value);
            if metric.kind != MetricKind::Counter || started == 0 {
                metrics.read.push(metric.clone());
            } else if started % vms == 0 {
                let value = metric.value - started + started / vms;
                metrics.read.push(Metric {
                    value,
                    ..metric.clone()
                });
            } else {
                metrics.unread.push(UnreadMetric {
                    name: metric.name.clone(),
                    why: format!(
                        "Envoy's {vms} VMs counted {started} between them at start, not the same \
                         count each"
                    ),
                });
            }
        }
        metrics
            .unread
            .extend(now.histograms.iter().map(|name| UnreadMetric {
                name: name.clone(),
                why: "Envoy gives a histogram only as quantiles".into(),
            }));
        metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str, kind: MetricKind, value: i64) -> Metric {
        Metric {
            name: name.into(),
            kind,
            value,
        }
    }

    #[test]
    fn a_counter_keeps_one_vms_start() {
        let at_start = PluginMetrics {
            values: vec![
                metric("configured", MetricKind::Counter, 3),
                metric("odd", MetricKind::Counter, 4),
                metric("version", MetricKind::Gauge, 7),
            ],
            histograms: Vec::new(),
            vms: 3,
        };
        let now = PluginMetrics {
            values: vec![
                metric("configured", MetricKind::Counter, 5),
                metric("odd", MetricKind::Counter, 4),
                metric("version", MetricKind::Gauge, 7),
                metric("requests", MetricKind::Counter, 2),
            ],
            histograms: vec!["latency".into()],
            vms: 3,
        };
        let metrics = MetricsNow::from_envoy(&at_start, &now);
        let values: Vec<(&str, i64)> = metrics
            .read
            .iter()
            .map(|m| (m.name.as_str(), m.value))
            .collect();
        assert_eq!(values, [("configured", 3), ("version", 7), ("requests", 2)]);
        assert!(metrics.why_unread("odd").unwrap().contains("3 VMs"));
        assert!(metrics.why_unread("latency").unwrap().contains("quantiles"));
        assert_eq!(metrics.why_unread("requests"), None);
    }
}
