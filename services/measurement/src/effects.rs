//! Effect evaluation (整改效果评估): each indicator over a remediation programme's baseline window
//! against its verification window, with a significance test fitted to the formula:
//! - a ratio of two counts (a rate): the two-proportion z test;
//! - a count: the Poisson rate test, the windows' days as exposure;
//! - anything else: Welch's t test over the daily values.
//!
//! When the programme addresses a root cause, each indicator is taken for that root cause.

use csm_kit::{names, time};
use csm_proto::measurement::v1::{CoreProcess, IndicatorEffect, ProgrammeEffect};
use prost::Message;
use sea_orm::ConnectionTrait;

use crate::{
    analysis::stats,
    calendar::Calendar,
    catalogue::{Catalogue, Entry},
    error::Error,
    formula::{Aggregate, BinOp, Expr},
    observe::Dimension,
    series, store,
};

/// Significance level of the verdicts.
const ALPHA: f64 = 0.05;

/// The programme's windows as recovery announced them.
pub async fn windows(db: &impl ConnectionTrait, programme: &str) -> Result<ProgrammeEffect, Error> {
    let body = store::get_document(db, store::kind::PROGRAMME, programme)
        .await?
        .ok_or_else(|| Error::NotFound(programme.to_string()))?;
    decode(programme, &body)
}

/// A programme's stored windows (or evaluation), decoded.
pub fn decode(programme: &str, body: &[u8]) -> Result<ProgrammeEffect, Error> {
    ProgrammeEffect::decode(body).map_err(|e| Error::Corrupt(format!("{programme}: {e}")))
}

/// The indicators compared by default: those of the complaint-resolution process.
pub fn default_indicators(catalogue: &Catalogue) -> Vec<&Entry> {
    catalogue.entries.iter().filter(|e| e.indicator.process == CoreProcess::ComplaintResolution as i32).collect()
}

pub async fn evaluate(
    db: &impl ConnectionTrait,
    calendar: &Calendar,
    mut effect: ProgrammeEffect,
    indicators: &[&Entry],
    now: i64,
) -> Result<ProgrammeEffect, Error> {
    let micros = |ts: &Option<prost_types::Timestamp>| ts.as_ref().and_then(time::from_timestamp).map(time::micros);
    let (Some(b0), Some(b1), Some(v0), Some(v1)) = (
        micros(&effect.baseline_start),
        micros(&effect.baseline_end),
        micros(&effect.verification_start),
        micros(&effect.verification_end),
    ) else {
        return Err(Error::Corrupt(format!("{} has incomplete windows", effect.programme)));
    };
    let (dimension, only) = if effect.leaf.is_empty() {
        (Dimension::Total, None)
    } else {
        (Dimension::RootCause, Some(effect.leaf.as_str()))
    };
    let mut effects = Vec::with_capacity(indicators.len());
    for entry in indicators {
        let before = series::over_window(db, calendar, entry, dimension, only, (b0, b1)).await?;
        let after = series::over_window(db, calendar, entry, dimension, only, (v0, v1)).await?;
        effects.push(compare(entry, &before, &after));
    }
    effect.effects = effects;
    effect.r#final = v1 <= now;
    Ok(effect)
}

fn daily(window: &series::WindowValue) -> Vec<f64> {
    window.daily.values().copied().collect()
}

fn compare(entry: &Entry, before: &series::WindowValue, after: &series::WindowValue) -> IndicatorEffect {
    let count = |w: &series::WindowValue, i: usize| w.tallies.get(i).map_or(0, |t| t.count.max(0) as u64);
    let test = match &entry.formula.expr {
        Expr::Binary(left, BinOp::Div, right) => match (&**left, &**right) {
            (Expr::Term(Aggregate::Count, a), Expr::Term(Aggregate::Count, b)) => Some((
                "two-proportion z",
                stats::two_proportion_z_test(count(before, *a), count(before, *b), count(after, *a), count(after, *b)),
            )),
            _ => None,
        },
        Expr::Term(Aggregate::Count, a) => Some((
            "poisson rate",
            stats::poisson_rate_test(count(before, *a), before.days as f64, count(after, *a), after.days as f64),
        )),
        _ => None,
    }
    .unwrap_or_else(|| ("welch t", stats::welch_t_test(&daily(before), &daily(after))));
    let (name, result) = test;
    let p_value = result.ok().map(|r| r.p_value).filter(|p| p.is_finite());
    let change = before.value.zip(after.value).map(|(b, a)| a - b);
    let improved = change.is_some_and(|c| if entry.higher_is_better() { c > 0.0 } else { c < 0.0 });
    IndicatorEffect {
        indicator: names::name_of(names::INDICATORS, &entry.indicator.key),
        before: before.value,
        after: after.value,
        change,
        test: if p_value.is_some() { name.to_string() } else { String::new() },
        p_value,
        significant: p_value.is_some_and(|p| p < ALPHA),
        improved,
    }
}
