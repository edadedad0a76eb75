//! Absorbing the feeds: each batch of events is read into updates as it arrives, then written at
//! once in the batch's transaction: the facts it touches (work orders, closed loops) are read in
//! one query per table, amended in memory, and written back; observations are kept; and the
//! cells move by the summed deltas. The order facts a batch leaves are kept in memory for the
//! next ([`FactCache`]).

mod cache;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
};

use csm_kit::{
    feed::{EventHandler, HandleError, READ_AHEAD_YIELD_EVERY, UnitOfWork},
    metrics::KeyValue,
    time,
};
use csm_proto::{feed::v1::Event, measurement::v1::ProgrammeEffect};
use prost::Message;
use sea_orm::{ConnectionTrait, DbErr};

pub use cache::FactCache;

use crate::{
    calendar::Calendar,
    catalogue,
    cells::{Deltas, MeasureSet},
    facts::{self, Feed, LoopFact, LoopKey, OrderFact, Update},
    store,
};

/// The updates of the batch being applied.
#[derive(Debug, Clone, Default)]
struct Pending(Vec<Update>);

/// Follows one upstream feed into the facts and cells.
pub struct Absorber {
    feed: Feed,
    calendar: Calendar,
    fact_cache: Arc<FactCache>,
    /// The measures last read, kept while the stored set is unchanged.
    measures: Mutex<Option<Arc<MeasureSet>>>,
    /// Each event read ahead of its transaction, by sequence, until handled.
    read_ahead: Mutex<VecDeque<(u64, Result<Update, HandleError>)>>,
}

impl Absorber {
    /// `fact_cache` is shared by the process's three absorbers.
    pub fn new(feed: Feed, calendar: Calendar, fact_cache: Arc<FactCache>) -> Self {
        Self { feed, calendar, fact_cache, measures: Mutex::new(None), read_ahead: Mutex::default() }
    }

    /// What `sequence` was read into ahead of its transaction, if it was: the entries before it
    /// are of events skipped (already applied) and go too.
    fn take_read_ahead(&self, sequence: u64) -> Option<Result<Update, HandleError>> {
        let mut read = self.read_ahead.lock().ok()?;
        while read.front().is_some_and(|(front, _)| *front <= sequence) {
            match read.pop_front() {
                Some((front, update)) if front == sequence => return Some(update),
                _ => {}
            }
        }
        None
    }

    /// The stored measures, read inside the batch's transaction so that a measure added by a
    /// concurrent catalogue change is either counted here or in its own recount, never neither.
    async fn measures(&self, db: &impl ConnectionTrait) -> Result<Arc<MeasureSet>, DbErr> {
        let (count, max_id) = store::measure_summary(db).await?;
        let cached = self.measures.lock().ok().and_then(|guard| guard.clone());
        if let Some(set) = cached.filter(|set| set.len() as i64 == count && set.max_id() == max_id) {
            return Ok(set);
        }
        let set = Arc::new(catalogue::measure_set(db).await?);
        if let Ok(mut guard) = self.measures.lock() {
            *guard = Some(set.clone());
        }
        Ok(set)
    }
}

impl EventHandler for Absorber {
    fn work(&self) -> &'static str {
        "absorb"
    }

    fn event_types(&self) -> Vec<String> {
        facts::event_types(self.feed)
    }

    const READS_AHEAD: bool = true;

    /// Decoding the events needs nothing stored: done here, it runs while the batch before is
    /// written, instead of while the database waits for this batch's statements.
    async fn read_ahead(&self, events: &[Event]) {
        let Some(first) = events.first() else {
            return;
        };
        let mut updates = Vec::with_capacity(events.len());
        for (n, event) in events.iter().enumerate() {
            // More often than the batch's own work (`let_statements_move`): this is off its path.
            if n % READ_AHEAD_YIELD_EVERY == READ_AHEAD_YIELD_EVERY - 1 {
                tokio::task::yield_now().await;
            }
            updates.push((event.sequence, facts::read(event)));
        }
        if let Ok(mut read) = self.read_ahead.lock() {
            // Read for a session that ended before applying them: they come again here.
            while read.back().is_some_and(|(sequence, _)| *sequence >= first.sequence) {
                read.pop_back();
            }
            read.extend(updates);
        }
    }

    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        let update = self.take_read_ahead(event.sequence).unwrap_or_else(|| facts::read(event))?;
        uow.stash::<Pending>().0.push(update);
        Ok(())
    }

    async fn flush(&self, uow: &mut UnitOfWork) -> Result<(), HandleError> {
        let Pending(updates) = uow.take_stash::<Pending>();
        if updates.is_empty() {
            return Ok(());
        }
        store::lock_writers(&**uow).await?;
        let measures = self.measures(&**uow).await?;
        absorb(&**uow, &self.fact_cache, &self.calendar, &measures, updates).await?;
        Ok(())
    }
}

/// Applies updates in order to the stored facts and cells, with the writers' lock held (or
/// SQLite's one writer), which also keeps `cache`'s batches one at a time.
///
/// The database and this service would otherwise take turns, each idle while the other works.
/// So what needs nothing stored is done while a statement runs: the observations' cells and rows
/// while the facts are read, and the changed facts' cells while the facts are written (then the
/// observations). An order's cells move once per batch, from the fact as stored to the fact as
/// left by the batch's last change (the moves in between cancel out).
pub async fn absorb(
    db: &impl ConnectionTrait,
    cache: &FactCache,
    calendar: &Calendar,
    measures: &MeasureSet,
    updates: Vec<Update>,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let mut kept = Vec::new();
    let mut rest = Vec::with_capacity(updates.len());
    for update in updates {
        match update {
            Update::Observe { observation, customer } => kept.push((observation, customer)),
            other => rest.push(other),
        }
    }
    let mut ids: Vec<String> = rest
        .iter()
        .filter_map(|u| match u {
            Update::Order { work_order_id, .. } => Some(work_order_id.clone()),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let loop_keys: Vec<LoopKey> = rest
        .iter()
        .filter_map(|u| match u {
            Update::Loop { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect();
    // A batch with no orders' changes leaves the cache alone (the next one settles it).
    if !ids.is_empty() {
        cache.settle(store::fact_stamp(db).await?);
    }
    let (mut facts, unknown) = cache.take(ids);
    let read = async {
        Ok::<_, DbErr>((store::load_facts(db, &unknown).await?, store::load_loop_facts(db, &loop_keys).await?))
    };
    let mut deltas = Deltas::default();
    let observe = async {
        for (n, (observation, _)) in kept.iter().enumerate() {
            let_statements_move(n).await;
            deltas.add(measures, calendar, observation, 1);
        }
        store::observation_writes(backend, &kept)
    };
    let (stored, observation_writes) = tokio::join!(biased; read, observe);
    let (read_facts, mut loops) = stored?;
    let metrics = csm_kit::metrics::get();
    metrics.facts_read.add(facts.len() as u64, &[KeyValue::new("from", "memory")]);
    metrics.facts_read.add(read_facts.len() as u64, &[KeyValue::new("from", "database")]);
    facts.extend(read_facts);
    // Orders with no stored fact: one left as it was found is not stored after the batch either.
    let absent: HashSet<&str> = unknown.iter().map(String::as_str).filter(|id| !facts.contains_key(*id)).collect();
    // Each changed order as stored before the batch.
    let mut initial: HashMap<String, OrderFact> = HashMap::new();
    let mut changed_loops = BTreeSet::new();
    for update in rest {
        match update {
            Update::Loop { key, fact } => {
                if !fact.supersedes(loops.get(&key)) {
                    continue;
                }
                let old = loops.get(&key).map(LoopFact::observations).unwrap_or_default();
                for observation in &old {
                    deltas.add(measures, calendar, observation, -1);
                }
                for observation in &fact.observations() {
                    deltas.add(measures, calendar, observation, 1);
                }
                loops.insert(key.clone(), fact);
                changed_loops.insert(key);
            }
            Update::Order { work_order_id, changes } => {
                let fact = facts.entry(work_order_id.clone()).or_default();
                if initial.contains_key(&work_order_id) {
                    changes.iter().for_each(|change| fact.apply(change));
                    continue;
                }
                let before = fact.clone();
                changes.iter().for_each(|change| fact.apply(change));
                if *fact != before {
                    initial.insert(work_order_id, before);
                }
            }
            Update::Programme(windows) => {
                let effect = ProgrammeEffect {
                    programme: windows.programme.clone(),
                    title: windows.title,
                    leaf: windows.leaf,
                    baseline_start: Some(time::timestamp_from_micros(windows.baseline.0)),
                    baseline_end: Some(time::timestamp_from_micros(windows.baseline.1)),
                    verification_start: Some(time::timestamp_from_micros(windows.verification.0)),
                    verification_end: Some(time::timestamp_from_micros(windows.verification.1)),
                    ..ProgrammeEffect::default()
                };
                let at = windows.verification.1;
                store::put_document(
                    db,
                    store::kind::PROGRAMME,
                    &windows.programme,
                    effect.encode_to_vec(),
                    at,
                    at,
                    false,
                )
                .await?;
            }
            Update::Taxonomy(taxonomy) => {
                for node in &taxonomy.nodes {
                    let body = node.encode_to_vec();
                    store::put_document(db, store::kind::LEAF_NAME, &node.key, body, 0, 0, false).await?;
                    if !node.responsible_department.is_empty() {
                        let department = node.responsible_department.as_bytes().to_vec();
                        store::put_document(db, store::kind::LEAF_DEPARTMENT, &node.key, department, 0, 0, false)
                            .await?;
                    }
                }
                if !taxonomy.fallback_leaf.is_empty() {
                    store::put_document(db, store::kind::REVIEW_LEAF, &taxonomy.fallback_leaf, Vec::new(), 0, 0, false)
                        .await?;
                }
            }
            // Observations were counted above.
            Update::Observe { .. } | Update::Nothing => {}
        }
    }
    // Each changed order as stored before the batch, and as the batch leaves it.
    let mut dirty: Vec<(&String, &OrderFact, &OrderFact)> = initial
        .iter()
        .filter_map(|(id, before)| facts.get_key_value(id).map(|(id, after)| (id, before, after)))
        .collect();
    dirty.sort_unstable_by(|a, b| a.0.cmp(b.0));
    // Which department answers for each leaf, for the report's Pareto (cells are split by one
    // dimension at a time, so they cannot tell).
    let departments: BTreeMap<&str, &str> = dirty
        .iter()
        .filter_map(|(_, _, fact)| Some((fact.path.last()?.as_str(), fact.department.as_str())))
        .filter(|(_, department)| !department.is_empty())
        .collect();
    for (leaf, department) in departments {
        store::put_document(db, store::kind::LEAF_DEPARTMENT, leaf, department.as_bytes().to_vec(), 0, 0, false)
            .await?;
    }
    let dirty_loops: Vec<(&LoopKey, &LoopFact)> =
        changed_loops.iter().filter_map(|key| Some((key, loops.get(key)?))).collect();
    store::save_loop_facts(db, &dirty_loops).await?;
    let changed: Vec<(&String, &OrderFact)> = dirty.iter().map(|&(id, _, after)| (id, after)).collect();
    let fact_writes = store::fact_writes(backend, &changed);
    // Odd, where the PostgreSQL trigger's are even: another writer's token is never taken for ours.
    let stamp = (!dirty.is_empty()).then(|| rand::random::<i64>() | 1);
    // The facts' upsert, the longest, goes first, so that the cells are worked out while it runs.
    let write = async {
        fact_writes.run(db).await?;
        if let Some(token) = stamp {
            store::stamp_write(backend, token).run(db).await?;
        }
        observation_writes.run(db).await
    };
    let count = async {
        // In key order, so that sums of fractional values come out the same in every run.
        for (n, (_, before, after)) in dirty.iter().enumerate() {
            let_statements_move(n).await;
            let (old, new) = (before.observations(), after.observations());
            if old != new {
                for observation in &old {
                    deltas.add(measures, calendar, observation, -1);
                }
                for observation in &new {
                    deltas.add(measures, calendar, observation, 1);
                }
            }
        }
        store::cell_writes(backend, &deltas.into_cells())
    };
    let (written, cell_writes) = tokio::join!(biased; write, count);
    written?;
    cell_writes.run(db).await?;
    let left = facts.into_iter().filter(|(id, _)| initial.contains_key(id) || !absent.contains(id.as_str()));
    cache.leave(
        stamp,
        left.map(|(id, mut fact)| {
            store::path_as_stored(&mut fact.path);
            (id, fact)
        })
        .collect(),
    );
    Ok(())
}

/// Yields now and then to the statements running beside the work (the database's branch of the
/// `join!` is polled first), so that when one ends the next is sent at once, not after the work.
async fn let_statements_move(done: usize) {
    if done % 256 == 255 {
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use csm_proto::{intake::v1::WorkOrderOpened, recovery::v1::CaseResolved};
    use prost::Name;

    use super::*;

    /// An event of type `M` that does not decode: its rejection names the type.
    fn event<M: Name>(sequence: u64) -> Event {
        let payload = prost_types::Any { type_url: M::type_url(), value: vec![0xff, 0xff] };
        Event { sequence, payload: Some(payload), ..Event::default() }
    }

    /// The type named by what was read ahead, if anything was.
    fn type_read(read: Option<Result<Update, HandleError>>) -> Option<&'static str> {
        let rejection = read?.err()?.to_string();
        Some(if rejection.contains("WorkOrderOpened") { "opened" } else { "resolved" })
    }

    #[tokio::test]
    async fn what_was_read_ahead_is_taken_by_sequence_and_read_again_for_a_new_session() {
        let calendar = Calendar::new("Asia/Shanghai").unwrap();
        let absorber = Absorber::new(Feed::Intake, calendar, Arc::new(FactCache::new()));
        let opened = [event::<WorkOrderOpened>(1), event::<WorkOrderOpened>(2), event::<WorkOrderOpened>(3)];
        absorber.read_ahead(&opened).await;
        // Event 1 was skipped (already applied): it goes with 2.
        assert_eq!(type_read(absorber.take_read_ahead(2)), Some("opened"));
        assert_eq!(type_read(absorber.take_read_ahead(1)), None);
        // A new session sends 3 again (here as another event): the first reading of 3 goes.
        absorber.read_ahead(&[event::<CaseResolved>(3), event::<CaseResolved>(4)]).await;
        assert_eq!(type_read(absorber.take_read_ahead(3)), Some("resolved"));
        // A dead letter's replay handles 3 again, and reads it itself.
        assert_eq!(type_read(absorber.take_read_ahead(3)), None);
        assert_eq!(type_read(absorber.take_read_ahead(5)), None);
        assert_eq!(type_read(absorber.take_read_ahead(4)), None);
        assert!(absorber.read_ahead.lock().unwrap().is_empty());
    }
}
