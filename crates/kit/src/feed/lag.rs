//! How far a consumer is behind its upstream: the `csm_feed_consumer_lag_*` gauges.

use std::time::Duration;

use csm_proto::feed::v1::Event;
use opentelemetry::KeyValue;

use crate::time;

/// How far a consumer is behind its upstream, for the lag gauges: nothing when it has applied all
/// that was waiting; otherwise the age of the last event applied and the events published after
/// it, the upstream head read at most every two seconds.
pub(super) struct Lag {
    attributes: [KeyValue; 2],
    head: u64,
    head_read: Option<std::time::Instant>,
}

impl Lag {
    pub(super) fn new(service: &'static str, consumer: &str) -> Self {
        Self {
            attributes: [KeyValue::new("service", service), KeyValue::new("consumer", consumer.to_string())],
            head: 0,
            head_read: None,
        }
    }

    pub(super) fn head_is_stale(&self) -> bool {
        self.head_read.is_none_or(|at| at.elapsed() >= Duration::from_secs(2))
    }

    pub(super) fn head_read(&mut self, head: Option<u64>) {
        self.head = head.unwrap_or(self.head);
        self.head_read = Some(std::time::Instant::now());
    }

    pub(super) fn record(&self, busy_after: Option<&Event>, cursor: u64) {
        let metrics = crate::metrics::get();
        let Some(last) = busy_after else {
            metrics.feed_lag_seconds.record(0.0, &self.attributes);
            metrics.feed_lag_events.record(0, &self.attributes);
            return;
        };
        // A time out of range (from a faulty upstream) counts as no age rather than overflowing.
        let occurred = last.occurred_at.as_ref().and_then(time::from_timestamp).map(time::micros);
        let age = occurred.map_or(0, |at| time::now_micros().saturating_sub(at).max(0)) as f64 / 1e6;
        metrics.feed_lag_seconds.record(age, &self.attributes);
        metrics.feed_lag_events.record(self.head.saturating_sub(cursor), &self.attributes);
    }
}
