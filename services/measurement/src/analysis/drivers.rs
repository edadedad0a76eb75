//! Driver analysis (满意度驱动因素分析): stepwise multiple regression of overall satisfaction on the
//! process scores, respondent by respondent, and the importance-performance view that names the
//! drivers to act on first: important, and scoring below the others.

use std::collections::{BTreeMap, HashMap};

use csm_kit::error::Violations;
use csm_proto::measurement::v1::{AnalyzeDriversRequest, Driver, DriverAnalysis, DriverQuadrant};
use sea_orm::ConnectionTrait;

use super::stats::{self, StepAction};
use crate::{
    error::Error,
    observe::{FieldValue, Source},
    series, store,
};

const MAX_DRIVERS: usize = 30;

/// One respondent's outcome answer and driver answers (in the order of the drivers).
type Answers = (Option<f64>, Vec<Option<f64>>);
/// Most answers read for one analysis.
const MAX_ANSWERS: usize = 2_000_000;

pub async fn analyze(db: &impl ConnectionTrait, request: &AnalyzeDriversRequest) -> Result<DriverAnalysis, Error> {
    let mut violations = Violations::new();
    if request.outcome_question.is_empty() {
        violations.add("outcome_question", "required, for example \"overall\"");
    }
    let mut drivers: Vec<String> = request.driver_questions.clone();
    drivers.sort();
    drivers.dedup();
    if drivers.len() != request.driver_questions.len() {
        violations.add("driver_questions", "each question once");
    }
    if !(2..=MAX_DRIVERS).contains(&drivers.len()) {
        violations.add("driver_questions", format!("2 to {MAX_DRIVERS} questions"));
    }
    if drivers.contains(&request.outcome_question) {
        violations.add("driver_questions", "the outcome question cannot drive itself");
    }
    let p_enter = if request.p_enter == 0.0 { 0.05 } else { request.p_enter };
    let p_remove = if request.p_remove == 0.0 { 0.10 } else { request.p_remove };
    if !(p_enter > 0.0 && p_enter < 1.0) {
        violations.add("p_enter", "between 0 and 1");
    }
    if !(p_remove >= p_enter && p_remove < 1.0) {
        violations.add("p_remove", "at least p_enter and below 1");
    }
    let range = series::range(request.start_time.as_ref(), request.end_time.as_ref(), false, &mut violations);
    violations.into_result()?;
    let Some(window) = range else {
        return Err(Violations::one("start_time", "required").into());
    };

    // One respondent: a customer's answers given at one moment (one questionnaire).
    let column: HashMap<&str, usize> = drivers.iter().enumerate().map(|(i, q)| (q.as_str(), i)).collect();
    let mut respondents: BTreeMap<(String, i64), Answers> = BTreeMap::new();
    let mut after = 0;
    let mut read = 0;
    loop {
        let rows = store::scan_observations(db, Source::Surveys, after, Some(window), 5_000).await?;
        read += rows.len();
        for row in &rows {
            let (Some(FieldValue::Text(question)), Some(FieldValue::Number(score))) =
                (row.observation.get("question"), row.observation.get("score100"))
            else {
                continue;
            };
            let slot = respondents
                .entry((row.customer.clone(), row.observation.at))
                .or_insert_with(|| (None, vec![None; drivers.len()]));
            if **question == *request.outcome_question {
                slot.0 = Some(*score);
            } else if let Some(cell) = column.get(&**question).and_then(|index| slot.1.get_mut(*index)) {
                *cell = Some(*score);
            }
        }
        match rows.last() {
            Some(row) if rows.len() == 5_000 && read < MAX_ANSWERS => after = row.id,
            _ => break,
        }
    }
    let outcome = request.outcome_question.clone();
    csm_kit::cpu::run("driver analysis", move || fit(outcome, drivers, respondents, (p_enter, p_remove))).await?
}

/// The stepwise regression over the complete respondents, and the drivers it names.
fn fit(
    outcome_question: String,
    drivers: Vec<String>,
    respondents: BTreeMap<(String, i64), Answers>,
    (p_enter, p_remove): (f64, f64),
) -> Result<DriverAnalysis, Error> {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (outcome, scores) in respondents.into_values() {
        if let (Some(outcome), Some(scores)) = (outcome, scores.into_iter().collect::<Option<Vec<f64>>>()) {
            x.push(scores);
            y.push(outcome);
        }
    }
    let stepwise = stats::stepwise(&x, &y, p_enter, p_remove)
        .map_err(|e| Error::Unanswerable(format!("{} complete respondents: {e}", y.len())))?;
    let performance: Vec<f64> = (0..drivers.len())
        .map(|j| stats::mean(&x.iter().filter_map(|row| row.get(j).copied()).collect::<Vec<_>>()).unwrap_or(0.0))
        .collect();
    let mut result: Vec<Driver> = drivers
        .iter()
        .enumerate()
        .map(|(j, question)| {
            let slot = stepwise.selected.iter().position(|s| *s == j);
            let estimate = slot.and_then(|k| stepwise.model.coefficients.get(k));
            Driver {
                question: question.clone(),
                selected: slot.is_some(),
                coefficient: estimate.map_or(0.0, |e| e.estimate),
                standard_error: estimate.map_or(0.0, |e| e.std_error),
                p_value: estimate.map_or(1.0, |e| e.p_value),
                importance: slot.and_then(|k| stepwise.model.standardized.get(k)).copied().unwrap_or(0.0),
                performance: performance.get(j).copied().unwrap_or(0.0),
                quadrant: DriverQuadrant::Unspecified as i32,
            }
        })
        .collect();
    classify(&mut result);
    result.sort_by(|a, b| b.importance.total_cmp(&a.importance).then_with(|| a.question.cmp(&b.question)));
    let steps = stepwise
        .steps
        .iter()
        .map(|step| {
            let verb = if step.action == StepAction::Entered { "entered" } else { "removed" };
            let name = drivers.get(step.predictor).map_or("?", String::as_str);
            format!("{verb} {name} (p={:.4})", step.p_value)
        })
        .collect();
    Ok(DriverAnalysis {
        outcome_question,
        respondents: y.len() as i64,
        r_squared: stepwise.model.r_squared,
        adjusted_r_squared: stepwise.model.adjusted_r_squared,
        intercept: stepwise.model.intercept.estimate,
        drivers: result,
        steps,
    })
}

/// Importance-performance quadrants, split at the medians of the candidates.
fn classify(drivers: &mut [Driver]) {
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        if n == 0 {
            0.0
        } else if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        }
    };
    let importance = median(drivers.iter().map(|d| d.importance).collect());
    let performance = median(drivers.iter().map(|d| d.performance).collect());
    for driver in drivers {
        let important = driver.selected && driver.importance >= importance;
        let weak = driver.performance < performance;
        driver.quadrant = match (important, weak) {
            (true, true) => DriverQuadrant::ImproveFirst,
            (true, false) => DriverQuadrant::Keep,
            (false, true) => DriverQuadrant::LowPriority,
            (false, false) => DriverQuadrant::PossibleOverkill,
        } as i32;
    }
}
