//! The order facts this process last read or wrote, kept between batches so that a batch reads
//! from the database only the facts it has not seen. An order is usually classified and given a
//! case within seconds of being opened, each change arriving on a feed of its own, so most
//! batches of the classification and recovery feeds find every fact they touch here.
//!
//! What is kept is true only while no one else writes facts. Every batch that changes facts
//! stamps the store with a token of its own, in its transaction and under the writers' lock
//! ([`crate::store::lock_writers`]), and the next batch reads the stamp before anything else:
//! - the stamp of this process's last batch: that batch committed, and what it left is kept;
//! - the stamp that batch found: it was rolled back, and what it took out is forgotten;
//! - any other: another process (a replica) wrote facts, and everything is forgotten.
//!
//! Each feed has a lease of its own, so after a failover two replicas may share the three feeds;
//! then each batch finds the other's stamp and reads every fact, as before there was a cache
//! (`csm_measurement_facts_read_total` by `from` shows it).

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use crate::facts::OrderFact;

/// Facts kept at most, in two generations of half as many each (about 35 MiB when full), besides
/// the one batch's facts waiting for their stamp to be found.
const CAPACITY: usize = 32_768;

/// Shared by the three feeds' consumers of one process, whose batches the writers' lock takes
/// one at a time.
#[derive(Debug, Default)]
pub struct FactCache {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The stored stamp the kept facts are true at (`None` before the first batch).
    stamp: Option<i64>,
    /// The facts a batch left and the stamp it wrote: kept once a later batch finds that stamp
    /// stored, forgotten otherwise.
    pending: Option<(i64, Vec<(String, OrderFact)>)>,
    /// The newer generation; when it fills it becomes the older, and the older is dropped.
    recent: HashMap<String, OrderFact>,
    /// The generation before, still looked in: an order not touched since is dropped with it.
    older: HashMap<String, OrderFact>,
}

impl State {
    fn keep(&mut self, id: String, fact: OrderFact) {
        if self.recent.len() >= CAPACITY / 2 {
            self.older = std::mem::take(&mut self.recent);
        }
        self.recent.insert(id, fact);
    }

    fn forget(&mut self) {
        self.recent.clear();
        self.older.clear();
        self.pending = None;
    }
}

impl FactCache {
    /// A cache that has seen nothing (one per process: two would forget each other's facts at
    /// every batch).
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change to the state is a few map operations that cannot panic; should one have,
        // nothing kept is trusted.
        self.state.lock().unwrap_or_else(|poisoned| {
            self.state.clear_poison();
            let mut state = poisoned.into_inner();
            state.forget();
            state.stamp = None;
            state
        })
    }

    /// Settles what is kept against the stamp stored now; the first step of a batch, under the
    /// writers' lock.
    pub(super) fn settle(&self, stored: i64) {
        let mut state = self.state();
        if let Some((stamp, facts)) = state.pending.take()
            && stamp == stored
        {
            state.stamp = Some(stamp);
            for (id, fact) in facts {
                state.keep(id, fact);
            }
        }
        if state.stamp != Some(stored) {
            state.forget();
            state.stamp = Some(stored);
        }
    }

    /// Takes out the kept facts of `ids`; returns them and the ids to read from the database.
    pub(super) fn take(&self, ids: Vec<String>) -> (HashMap<String, OrderFact>, Vec<String>) {
        let mut state = self.state();
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match state.recent.remove(&id).or_else(|| state.older.remove(&id)) {
                Some(fact) => {
                    found.insert(id, fact);
                }
                None => missing.push(id),
            }
        }
        (found, missing)
    }

    /// Keeps the facts a batch leaves: at once when it changed none (`stamp` is `None`, and the
    /// facts are as stored), or once a later batch finds `stamp` stored.
    pub(super) fn leave(&self, stamp: Option<i64>, facts: Vec<(String, OrderFact)>) {
        let mut state = self.state();
        match stamp {
            Some(stamp) => state.pending = Some((stamp, facts)),
            None => facts.into_iter().for_each(|(id, fact)| state.keep(id, fact)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(channel: &str) -> OrderFact {
        OrderFact { channel: channel.into(), ..OrderFact::default() }
    }

    fn kept(cache: &FactCache, id: &str) -> Option<OrderFact> {
        let (mut found, _) = cache.take(vec![id.to_string()]);
        let fact = found.remove(id);
        if let Some(fact) = &fact {
            cache.leave(None, vec![(id.to_string(), fact.clone())]);
        }
        fact
    }

    #[test]
    fn a_batch_is_kept_once_its_stamp_is_found_and_forgotten_when_rolled_back() {
        let cache = FactCache::new();
        cache.settle(0);
        cache.leave(Some(7), vec![("a".into(), fact("wechat"))]);
        cache.settle(7);
        assert_eq!(kept(&cache, "a"), Some(fact("wechat")));

        // Rolled back: the stamp stayed 7, and the batch's facts are not kept; those it did not
        // take are.
        cache.leave(None, vec![("b".into(), fact("app"))]);
        let (taken, _) = cache.take(vec!["a".into()]);
        cache.leave(Some(9), vec![("a".into(), fact("hotline"))]);
        cache.settle(7);
        assert!(taken.contains_key("a"));
        assert_eq!(kept(&cache, "a"), None);
        assert_eq!(kept(&cache, "b"), Some(fact("app")));
    }

    #[test]
    fn another_writer_s_stamp_forgets_everything() {
        let cache = FactCache::new();
        cache.settle(0);
        cache.leave(None, vec![("a".into(), fact("wechat"))]);
        cache.leave(Some(7), vec![("b".into(), fact("app"))]);
        cache.settle(10);
        assert_eq!(kept(&cache, "a"), None);
        assert_eq!(kept(&cache, "b"), None);
    }

    #[test]
    fn holds_at_most_its_capacity() {
        let cache = FactCache::new();
        cache.settle(0);
        let facts = (0..CAPACITY * 2).map(|n| (n.to_string(), fact("wechat"))).collect();
        cache.leave(None, facts);
        let state = cache.state();
        assert!(state.recent.len() + state.older.len() <= CAPACITY);
        assert!(state.recent.contains_key(&(CAPACITY * 2 - 1).to_string()));
    }
}
