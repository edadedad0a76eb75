//! Absorbing the feeds: each batch of events is read into updates as it arrives, then written at
//! once in the batch's transaction: the facts it touches (work orders, closed loops) are read in
//! one query per table, amended in memory, and written back; observations are kept; and the
//! cells move by the summed deltas.

use std::sync::{Arc, Mutex};

use csm_kit::{
    feed::{EventHandler, HandleError, UnitOfWork},
    time,
};
use csm_proto::{feed::v1::Event, measurement::v1::ProgrammeEffect};
use prost::Message;
use sea_orm::{ConnectionTrait, DbErr};

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
    /// The measures last read, kept while the stored set is unchanged.
    measures: Mutex<Option<Arc<MeasureSet>>>,
}

impl Absorber {
    pub fn new(feed: Feed, calendar: Calendar) -> Self {
        Self { feed, calendar, measures: Mutex::new(None) }
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

    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        let update = facts::read(event)?;
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
        absorb(&**uow, &self.calendar, &measures, updates).await?;
        Ok(())
    }
}

/// Applies updates in order to the stored facts and cells.
pub async fn absorb(
    db: &impl ConnectionTrait,
    calendar: &Calendar,
    measures: &MeasureSet,
    updates: Vec<Update>,
) -> Result<(), DbErr> {
    let mut ids: Vec<String> = updates
        .iter()
        .filter_map(|u| match u {
            Update::Order { work_order_id, .. } => Some(work_order_id.clone()),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut facts = store::load_facts(db, &ids).await?;
    let loop_keys: Vec<LoopKey> = updates
        .iter()
        .filter_map(|u| match u {
            Update::Loop { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect();
    let mut loops = store::load_loop_facts(db, &loop_keys).await?;
    let mut changed = std::collections::HashSet::new();
    let mut changed_loops = std::collections::BTreeSet::new();
    let mut deltas = Deltas::default();
    let mut kept = Vec::new();
    for update in updates {
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
                let fact = facts.entry(work_order_id.clone()).or_insert_with(OrderFact::default);
                let before = fact.clone();
                for change in &changes {
                    fact.apply(change);
                }
                if *fact == before {
                    continue;
                }
                let (old, new) = (before.observations(), fact.observations());
                if old != new {
                    for observation in &old {
                        deltas.add(measures, calendar, observation, -1);
                    }
                    for observation in &new {
                        deltas.add(measures, calendar, observation, 1);
                    }
                }
                changed.insert(work_order_id);
            }
            Update::Observe { observation, customer } => {
                deltas.add(measures, calendar, &observation, 1);
                kept.push((observation, customer));
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
            Update::Nothing => {}
        }
    }
    let mut dirty: Vec<(&String, &OrderFact)> = facts.iter().filter(|(id, _)| changed.contains(*id)).collect();
    dirty.sort_unstable_by(|a, b| a.0.cmp(b.0));
    // Which department answers for each leaf, for the report's Pareto (cells are split by one
    // dimension at a time, so they cannot tell).
    let departments: std::collections::BTreeMap<&str, &str> = dirty
        .iter()
        .filter_map(|(_, fact)| Some((fact.path.last()?.as_str(), fact.department.as_str())))
        .filter(|(_, department)| !department.is_empty())
        .collect();
    for (leaf, department) in departments {
        store::put_document(db, store::kind::LEAF_DEPARTMENT, leaf, department.as_bytes().to_vec(), 0, 0, false)
            .await?;
    }
    store::save_facts(db, &dirty).await?;
    let dirty_loops: Vec<(&LoopKey, &LoopFact)> =
        changed_loops.iter().filter_map(|key| Some((key, loops.get(key)?))).collect();
    store::save_loop_facts(db, &dirty_loops).await?;
    store::insert_observations(db, &kept).await?;
    store::add_to_cells(db, deltas.into_cells()).await?;
    Ok(())
}
