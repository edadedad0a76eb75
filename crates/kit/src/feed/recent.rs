//! The events this process committed last, kept in memory so that a subscriber following live is
//! served from here instead of reading the outbox after every commit. With several followers on
//! one feed (intake has four), those reads were most of a publishing service's work: each is a read
//! transaction that, after any write, finds the database changed and reloads the pages it needs.
//!
//! The tail is only ever a copy of what is committed, and only used where it is provably
//! complete:
//! - events enter after their transaction committed, never before, so nothing rolled back is
//!   served;
//! - it holds one unbroken run of sequences. Events that do not continue the run (another replica
//!   committed the sequences between) start a new run; events older than the run (two commits of
//!   this process finishing out of order) are left to the database;
//! - a subscription is served from it only when its cursor is inside the run and the run reaches
//!   this process's head; otherwise, after a poll (the way commits of other replicas are seen),
//!   and on a subscription's first read, the outbox is read as before.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use csm_proto::feed::v1::Event;

/// Events the tail keeps at most: a few seconds of a busy service's events, so a follower that
/// fell behind by more reads the outbox.
const MAX_EVENTS: usize = 8_192;
/// Payload bytes the tail keeps at most, whatever the count.
const MAX_BYTES: usize = 16 << 20;

#[derive(Debug, Default)]
struct Run {
    events: VecDeque<Arc<Event>>,
    bytes: usize,
}

impl Run {
    fn first(&self) -> Option<u64> {
        self.events.front().map(|e| e.sequence)
    }

    fn last(&self) -> Option<u64> {
        self.events.back().map(|e| e.sequence)
    }
}

fn size(event: &Event) -> usize {
    event.payload.as_ref().map_or(0, |p| p.value.len()) + event.subject.len() + 64
}

/// The in-memory tail of one publisher's feed; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Recent {
    run: Arc<Mutex<Run>>,
}

impl Recent {
    /// Adds the events of one committed transaction, numbered consecutively.
    pub(crate) fn committed(&self, events: Vec<Event>) {
        let Some(first) = events.first().map(|e| e.sequence) else {
            return;
        };
        let Ok(mut run) = self.run.lock() else {
            return;
        };
        match run.last() {
            Some(last) if first <= last => return,
            Some(last) if first > last + 1 => *run = Run::default(),
            _ => {}
        }
        for event in events {
            run.bytes += size(&event);
            run.events.push_back(Arc::new(event));
        }
        while run.events.len() > MAX_EVENTS || (run.bytes > MAX_BYTES && run.events.len() > 1) {
            if let Some(old) = run.events.pop_front() {
                run.bytes -= size(&old);
            }
        }
    }

    /// Up to `limit` events after `cursor`, of `event_types` (all when empty), when the tail holds
    /// every event after `cursor` up to `head`, this process's last committed sequence; `None` when
    /// only the outbox can answer.
    pub(crate) fn after(&self, cursor: u64, head: u64, limit: u64, event_types: &[String]) -> Option<Vec<Event>> {
        let run = self.run.lock().ok()?;
        let (first, last) = (run.first()?, run.last()?);
        if cursor + 1 < first || last < head || cursor > last {
            return None;
        }
        let skip = usize::try_from(cursor + 1 - first).ok()?;
        let wanted = |e: &&Arc<Event>| {
            event_types.is_empty()
                || e.payload.as_ref().is_some_and(|p| {
                    let name = p.type_url.rsplit('/').next().unwrap_or_default();
                    event_types.iter().any(|t| t == name)
                })
        };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Some(run.events.iter().skip(skip).filter(wanted).take(limit).map(|e| Event::clone(e)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(sequences: std::ops::RangeInclusive<u64>, kind: &str) -> Vec<Event> {
        sequences
            .map(|sequence| Event {
                sequence,
                payload: Some(prost_types::Any { type_url: format!("type.googleapis.com/{kind}"), value: vec![1] }),
                ..Default::default()
            })
            .collect()
    }

    fn sequences(events: Option<Vec<Event>>) -> Option<Vec<u64>> {
        events.map(|e| e.iter().map(|e| e.sequence).collect())
    }

    #[test]
    fn a_follower_inside_the_run_is_served_from_memory_up_to_the_limit() {
        let recent = Recent::default();
        recent.committed(events(1..=3, "a.A"));
        recent.committed(events(4..=5, "a.B"));
        assert_eq!(sequences(recent.after(0, 5, 100, &[])), Some(vec![1, 2, 3, 4, 5]));
        assert_eq!(sequences(recent.after(3, 5, 100, &[])), Some(vec![4, 5]));
        assert_eq!(sequences(recent.after(1, 5, 2, &[])), Some(vec![2, 3]));
        assert_eq!(sequences(recent.after(5, 5, 100, &[])), Some(vec![]), "caught up: nothing to read");
        assert_eq!(sequences(recent.after(0, 5, 100, &["a.B".into()])), Some(vec![4, 5]));
    }

    #[test]
    fn the_outbox_answers_whatever_the_run_does_not_hold_for_certain() {
        let recent = Recent::default();
        assert_eq!(recent.after(0, 0, 100, &[]), None, "empty");
        recent.committed(events(10..=12, "a.A"));
        assert_eq!(recent.after(8, 12, 100, &[]), None, "event 9 is not in memory");
        assert_eq!(recent.after(10, 14, 100, &[]), None, "13 and 14 committed but not added yet");
        assert_eq!(recent.after(13, 12, 100, &[]), None, "a cursor past the run");
        // Another replica committed 13 to 20: a new run starts.
        recent.committed(events(21..=22, "a.A"));
        assert_eq!(recent.after(12, 22, 100, &[]), None);
        assert_eq!(sequences(recent.after(20, 22, 100, &[])), Some(vec![21, 22]));
        // A commit of this process that finished after a later one is left to the outbox.
        recent.committed(events(15..=16, "a.A"));
        assert_eq!(sequences(recent.after(20, 22, 100, &[])), Some(vec![21, 22]));
    }

    #[test]
    fn the_run_keeps_only_the_newest_events() {
        let recent = Recent::default();
        for start in (1..=20_000).step_by(100) {
            recent.committed(events(start..=start + 99, "a.A"));
        }
        assert_eq!(recent.after(1, 20_000, 10, &[]), None);
        let newest = recent.after(20_000 - MAX_EVENTS as u64, 20_000, u64::MAX, &[]);
        assert_eq!(newest.map(|e| e.len()), Some(MAX_EVENTS));
    }
}
