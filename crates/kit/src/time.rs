//! Times are stored as microseconds since the Unix epoch (UTC) in BIGINT columns: the same on
//! SQLite and PostgreSQL, exact, and fast to compare and bucket. These convert between that form,
//! chrono and protobuf timestamps.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use chrono::{DateTime, TimeZone, Utc};
use prost_types::Timestamp;

/// Microseconds since the epoch.
pub fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub fn from_micros(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// One day in microseconds, the unit stored times are kept in.
pub const DAY_MICROS: i64 = 86_400 * 1_000_000;

pub fn now_micros() -> i64 {
    micros(Utc::now())
}

/// A span as stored: microseconds, saturating for spans beyond about 292,000 years.
pub fn duration_micros(span: std::time::Duration) -> i64 {
    i64::try_from(span.as_micros()).unwrap_or(i64::MAX)
}

/// The service's idea of now, for rules that run on deadlines (handling time limits, callbacks,
/// escalation). In production it is the system clock; a test runs the service with an adjustable
/// clock and moves it forward by days to watch deadlines pass, without waiting for them.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Microseconds added to the system clock; `None` for the plain system clock.
    offset: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that runs with the system clock but can be moved forward with [`Clock::advance`].
    pub fn adjustable() -> Self {
        Self { offset: Some(Arc::new(AtomicI64::new(0))) }
    }

    pub fn now_micros(&self) -> i64 {
        let offset = self.offset.as_ref().map_or(0, |offset| offset.load(Ordering::Relaxed));
        now_micros().saturating_add(offset)
    }

    /// Moves an adjustable clock (and every copy of it) forward; the system clock ignores this.
    pub fn advance(&self, by: std::time::Duration) {
        if let Some(offset) = &self.offset {
            offset.fetch_add(duration_micros(by), Ordering::Relaxed);
        }
    }
}

/// A protobuf timestamp as chrono, or `None` when it is out of range (negative nanos, ...).
pub fn from_timestamp(ts: &Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(ts.nanos).ok().filter(|n| *n < 1_000_000_000)?;
    DateTime::from_timestamp(ts.seconds, nanos)
}

/// A protobuf duration as a span, or `None` when it is negative or malformed (nanos out of
/// range or of the other sign). Callers' durations come through here: prost's own conversion
/// negates the seconds of a negative duration, which overflows for `i64::MIN`.
pub fn duration_from_proto(d: &prost_types::Duration) -> Option<std::time::Duration> {
    let seconds = u64::try_from(d.seconds).ok()?;
    let nanos = u32::try_from(d.nanos).ok().filter(|n| *n < 1_000_000_000)?;
    Some(std::time::Duration::new(seconds, nanos))
}

/// A span as a protobuf duration (saturating beyond `i64::MAX` seconds).
pub fn duration_to_proto(span: std::time::Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(span.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(span.subsec_nanos()).unwrap_or(0),
    }
}

pub fn to_timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp { seconds: at.timestamp(), nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0) }
}

/// A stored time as a protobuf timestamp.
pub fn timestamp_from_micros(us: i64) -> Timestamp {
    Timestamp { seconds: us.div_euclid(1_000_000), nanos: i32::try_from(us.rem_euclid(1_000_000) * 1_000).unwrap_or(0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_at_the_edges_convert_or_are_refused_without_a_panic() {
        let d = |seconds, nanos| duration_from_proto(&prost_types::Duration { seconds, nanos });
        assert_eq!(d(i64::MIN, 0), None);
        assert_eq!(d(-1, 0), None);
        assert_eq!(d(0, -1), None);
        assert_eq!(d(1, 1_000_000_000), None);
        assert_eq!(d(i64::MAX, 999_999_999), Some(std::time::Duration::new(i64::MAX as u64, 999_999_999)));
        assert_eq!(d(90, 5), Some(std::time::Duration::new(90, 5)));
    }

    #[test]
    fn micros_round_trip_through_timestamps() {
        let us = 1_764_000_000_123_456;
        let ts = timestamp_from_micros(us);
        assert_eq!(micros(from_timestamp(&ts).unwrap()), us);
        let before_epoch = timestamp_from_micros(-1);
        assert_eq!((before_epoch.seconds, before_epoch.nanos), (-1, 999_999_000));
    }

    #[test]
    fn out_of_range_timestamps_are_refused() {
        assert!(from_timestamp(&Timestamp { seconds: 0, nanos: -1 }).is_none());
        assert!(from_timestamp(&Timestamp { seconds: i64::MAX, nanos: 0 }).is_none());
    }
}
