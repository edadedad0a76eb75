//! The indicator catalogue as data: each indicator with its formula, target, warning threshold,
//! owner and place in the core processes. Shipped indicators are added at start-up when missing;
//! administrators add their own through the API, and a new indicator's measures are counted
//! over the history already absorbed before it is answered.

mod defaults;

use std::{collections::HashMap, sync::Arc};

use csm_kit::{config::OrganisationSettings, cpu, error::Violations, names, time};
use csm_proto::measurement::v1::{CoreProcess, Direction, Indicator, IndicatorKind};
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};

pub use defaults::defaults;

use crate::{
    calendar::Calendar,
    cells::{Deltas, MeasureSet},
    error::Error,
    facts::{LoopFact, LoopKind, OrderFact},
    formula::{self, Formula},
    observe::{Observation, Source},
    store,
};

/// An indicator with its parsed formula and the stored ids of its measures.
#[derive(Debug, Clone)]
pub struct Entry {
    pub indicator: Indicator,
    pub formula: Formula,
    pub measures: Vec<i64>,
}

impl Entry {
    pub fn higher_is_better(&self) -> bool {
        self.indicator.direction == Direction::HigherIsBetter as i32
    }
}

/// The catalogue as stored, read in one go.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub entries: Vec<Entry>,
}

impl Catalogue {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.indicator.key == key)
    }

    /// The entry named "indicators/{key}".
    pub fn named(&self, name: &str) -> Result<&Entry, Error> {
        let key = name.strip_prefix(names::INDICATORS).unwrap_or(name);
        self.get(key).ok_or_else(|| Error::NotFound(names::name_of(names::INDICATORS, key)))
    }
}

/// Stored measure ids by their canonical spelling.
pub async fn measure_ids(db: &impl ConnectionTrait) -> Result<HashMap<String, i64>, DbErr> {
    Ok(store::load_measures(db).await?.into_iter().map(|(id, text)| (text, id)).collect())
}

/// An entry for `indicator` reading `text`, over measures that must all be stored already.
pub fn resolve(indicator: Indicator, text: &str, ids: &HashMap<String, i64>) -> Result<Entry, Error> {
    let formula = formula::parse(text).map_err(|e| Error::Corrupt(format!("{text:?} does not parse: {e}")))?;
    let measures = formula
        .measures
        .iter()
        .map(|m| ids.get(&m.canonical()).copied())
        .collect::<Option<Vec<i64>>>()
        .ok_or_else(|| Error::Corrupt(format!("{text:?} reads a measure that is not stored")))?;
    Ok(Entry { indicator, formula, measures })
}

pub async fn load(db: &impl ConnectionTrait) -> Result<Catalogue, Error> {
    let ids = measure_ids(db).await?;
    let mut entries = Vec::new();
    for (key, definition) in store::list_documents(db, store::kind::INDICATOR, None).await? {
        let indicator = Indicator::decode(definition.as_slice())
            .map_err(|e| Error::Corrupt(format!("indicator {key} does not decode: {e}")))?;
        let text = indicator.formula.clone();
        entries.push(resolve(indicator, &text, &ids)?);
    }
    Ok(Catalogue { entries })
}

/// Every measure stored, parsed, for absorbing events.
pub async fn measure_set(db: &impl ConnectionTrait) -> Result<MeasureSet, DbErr> {
    let mut measures = Vec::new();
    for (id, text) in store::load_measures(db).await? {
        match formula::parse_measure(&text) {
            Ok(measure) => measures.push((id, measure)),
            Err(error) => tracing::error!(measure = id, %text, "stored measure does not parse, skipped: {error}"),
        }
    }
    Ok(MeasureSet::new(measures))
}

/// A key of the catalogue or of an index model: 1 to 64 lower-case letters, digits or '_'.
pub fn key_ok(key: &str) -> bool {
    !key.is_empty() && key.len() <= 64 && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Checks an indicator given by a caller, field by field; returns its parsed formula. Its owner,
/// when it names one, is a department of the operator's organisation.
pub fn validate(indicator: &Indicator, organisation: &OrganisationSettings) -> Result<Formula, Violations> {
    let mut violations = Violations::new();
    if !indicator.owner_department.is_empty() && !organisation.knows(&indicator.owner_department) {
        violations.add(
            "indicator.owner_department",
            format!("not a department of the organisation (one of {})", organisation.departments.join(", ")),
        );
    }
    if !key_ok(&indicator.key) {
        violations.add("indicator.key", "1 to 64 lower-case letters, digits or '_'");
    }
    if indicator.name_zh.trim().is_empty() && indicator.name_en.trim().is_empty() {
        violations.add("indicator.name_zh", "a Chinese or an English name is required");
    }
    for (field, value, limit) in [
        ("indicator.name_zh", &indicator.name_zh, 100),
        ("indicator.name_en", &indicator.name_en, 100),
        ("indicator.unit", &indicator.unit, 40),
        ("indicator.owner_department", &indicator.owner_department, 64),
        ("indicator.stage", &indicator.stage, 64),
        ("indicator.description", &indicator.description, 1000),
    ] {
        if value.chars().count() > limit {
            violations.add(field, format!("at most {limit} characters"));
        }
    }
    if indicator.unit.trim().is_empty() {
        violations.add("indicator.unit", "required, for example \"ratio\" or \"count\"");
    }
    if !matches!(IndicatorKind::try_from(indicator.kind), Ok(k) if k != IndicatorKind::Unspecified) {
        violations.add("indicator.kind", "KPI, KCI or KQI");
    }
    if !matches!(Direction::try_from(indicator.direction), Ok(d) if d != Direction::Unspecified) {
        violations.add("indicator.direction", "higher or lower is better");
    }
    if !matches!(CoreProcess::try_from(indicator.process), Ok(p) if p != CoreProcess::Unspecified) {
        violations.add("indicator.process", "the core process it is tracked on");
    }
    check_levels(indicator, &mut violations);
    let formula = match formula::parse(&indicator.formula) {
        Ok(formula) => Some(formula),
        Err(error) => {
            violations.add("indicator.formula", error.to_string());
            None
        }
    };
    violations.into_result()?;
    formula.ok_or_else(|| Violations::one("indicator.formula", "required"))
}

/// Target, threshold and importance: finite, and the threshold on the worse side of the target.
pub fn check_levels(indicator: &Indicator, violations: &mut Violations) {
    for (field, value) in
        [("indicator.target", indicator.target), ("indicator.warning_threshold", indicator.warning_threshold)]
    {
        if value.is_some_and(|v| !v.is_finite()) {
            violations.add(field, "must be a finite number");
        }
    }
    if !(indicator.importance.is_finite() && indicator.importance > 0.0 && indicator.importance <= 100.0) {
        violations.add("indicator.importance", "greater than 0 and at most 100");
    }
    if let (Some(target), Some(warning)) = (indicator.target, indicator.warning_threshold) {
        let higher_is_better = indicator.direction == Direction::HigherIsBetter as i32;
        if (higher_is_better && warning > target) || (!higher_is_better && warning < target) {
            violations.add("indicator.warning_threshold", "must lie on the worse side of the target");
        }
    }
}

/// Stores `indicator` with its measures; measures new to the store are counted over the facts
/// and observations already absorbed, in the same transaction. Returns false when the key exists.
pub async fn add(
    db: &DatabaseConnection,
    calendar: &Calendar,
    indicator: &Indicator,
    formula: &Formula,
) -> Result<bool, Error> {
    let txn = db.begin().await?;
    store::lock_writers(&txn).await?;
    let created = add_locked(&txn, calendar, indicator, formula).await?;
    txn.commit().await?;
    Ok(created)
}

/// [`add`] inside the caller's transaction, with the writers locked. An existing key writes
/// nothing.
async fn add_locked(
    db: &impl ConnectionTrait,
    calendar: &Calendar,
    indicator: &Indicator,
    formula: &Formula,
) -> Result<bool, Error> {
    let now = time::now_micros();
    let created =
        store::put_document(db, store::kind::INDICATOR, &indicator.key, indicator.encode_to_vec(), 0, now, true)
            .await?;
    if created {
        ensure_counted(db, calendar, &formula.measures).await?;
    }
    Ok(created)
}

/// The stored ids of `measures`, storing those that are new and counting them over everything
/// absorbed so far. Call it with the writers locked ([`store::lock_writers`]), in a transaction.
pub async fn ensure_counted(
    db: &impl ConnectionTrait,
    calendar: &Calendar,
    measures: &[formula::Measure],
) -> Result<Vec<i64>, Error> {
    let expressions: Vec<String> = measures.iter().map(formula::Measure::canonical).collect();
    let ids = store::ensure_measures(db, &expressions).await?;
    let new: Vec<(i64, formula::Measure)> = ids
        .iter()
        .zip(measures)
        .filter(|((_, is_new), _)| *is_new)
        .map(|((id, _), measure)| (*id, measure.clone()))
        .collect();
    if !new.is_empty() {
        let deltas = recount(db, calendar, MeasureSet::new(new)).await?;
        store::add_to_cells(db, deltas.into_cells()).await?;
    }
    Ok(ids.into_iter().map(|(id, _)| id).collect())
}

/// Counts the observations of one page of facts (work orders or closed loops) into `deltas`, in
/// the kit's CPU pool.
async fn count_page<F: Send + 'static>(
    mut deltas: Deltas,
    facts: Vec<(String, F)>,
    measures: &Arc<MeasureSet>,
    calendar: Calendar,
    observations: fn(&F) -> Vec<Observation>,
) -> Result<Deltas, Error> {
    let measures = measures.clone();
    Ok(cpu::run("recounting measures", move || {
        for (_, fact) in &facts {
            for observation in observations(fact) {
                deltas.add(&measures, &calendar, &observation, 1);
            }
        }
        deltas
    })
    .await?)
}

/// Counts `measures` from scratch over every stored fact (work orders, closed loops) and
/// observation, each page read counted in the kit's CPU pool.
pub async fn recount(db: &impl ConnectionTrait, calendar: &Calendar, measures: MeasureSet) -> Result<Deltas, Error> {
    const PAGE: u64 = 2_000;
    let (measures, calendar) = (Arc::new(measures), *calendar);
    let mut deltas = Deltas::default();
    let mut after = String::new();
    loop {
        let facts = store::scan_facts(db, &after, PAGE).await?;
        let next = facts.last().filter(|_| facts.len() as u64 == PAGE).map(|(id, _)| id.clone());
        if !facts.is_empty() {
            deltas = count_page(deltas, facts, &measures, calendar, OrderFact::observations).await?;
        }
        match next {
            Some(id) => after = id,
            None => break,
        }
    }
    for kind in LoopKind::ALL {
        let mut after = String::new();
        loop {
            let facts = store::scan_loop_facts(db, kind, &after, PAGE).await?;
            let next = facts.last().filter(|_| facts.len() as u64 == PAGE).map(|(key, _)| key.clone());
            if !facts.is_empty() {
                deltas = count_page(deltas, facts, &measures, calendar, LoopFact::observations).await?;
            }
            match next {
                Some(key) => after = key,
                None => break,
            }
        }
    }
    for source in [Source::Surveys, Source::Usage, Source::HighFrequency] {
        let mut after = 0;
        loop {
            let rows = store::scan_observations(db, source, after, None, PAGE).await?;
            let next = rows.last().filter(|_| rows.len() as u64 == PAGE).map(|row| row.id);
            if !rows.is_empty() {
                let measures = measures.clone();
                deltas = cpu::run("recounting measures", move || {
                    for row in &rows {
                        deltas.add(&measures, &calendar, &row.observation, 1);
                    }
                    deltas
                })
                .await?;
            }
            match next {
                Some(id) => after = id,
                None => break,
            }
        }
    }
    Ok(deltas)
}

/// Adds the shipped indicators that are not stored yet.
pub async fn seed(db: &DatabaseConnection, calendar: &Calendar) -> Result<(), Error> {
    // One transaction for the whole catalogue: every start runs this, and usually finds every
    // indicator stored already.
    let txn = db.begin().await?;
    store::lock_writers(&txn).await?;
    for indicator in defaults() {
        let formula = formula::parse(&indicator.formula)
            .map_err(|e| Error::Corrupt(format!("shipped indicator {} does not parse: {e}", indicator.key)))?;
        add_locked(&txn, calendar, &indicator, &formula).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Replaces a stored indicator's definition (the formula is never changed).
pub async fn replace(db: &impl ConnectionTrait, indicator: &Indicator) -> Result<(), Error> {
    let now = time::now_micros();
    store::put_document(db, store::kind::INDICATOR, &indicator.key, indicator.encode_to_vec(), 0, now, false).await?;
    Ok(())
}
