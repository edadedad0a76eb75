//! Analyses over the measured data: satisfaction indexes, driver analysis and 3K linkage.

pub mod drivers;
pub mod index;
pub mod index_tree;
pub mod stats;

use std::collections::HashMap;

use csm_kit::{error::Violations, names};
use csm_proto::measurement::v1::{IndicatorLink, LinkIndicatorsRequest, LinkPair};
use sea_orm::ConnectionTrait;

use crate::{calendar::Calendar, catalogue::Catalogue, error::Error, series};

/// 3K linkage: how an indicator the organisation steers (KCI, KQI) moves with one the customer
/// feels (KPI), pair by pair over periods and dimension values.
pub async fn link(
    db: &impl ConnectionTrait,
    calendar: &Calendar,
    catalogue: &Catalogue,
    request: &LinkIndicatorsRequest,
) -> Result<IndicatorLink, Error> {
    let mut violations = Violations::new();
    for (field, value) in [("driver", &request.driver), ("outcome", &request.outcome)] {
        if value.is_empty() {
            violations.add(field, "required: \"indicators/{key}\"");
        }
    }
    let window = series::window(
        request.granularity,
        request.group_by,
        request.cause_level,
        (request.start_time.as_ref(), request.end_time.as_ref()),
        &mut violations,
    );
    violations.into_result()?;
    let (driver, outcome) = (catalogue.named(&request.driver)?, catalogue.named(&request.outcome)?);
    let grain = window.grain;
    let driver_values: HashMap<(i64, String), f64> = series::compute(db, calendar, driver, &window)
        .await?
        .into_iter()
        .map(|v| ((v.period, v.dimension_value), v.value))
        .collect();
    let mut points = Vec::new();
    for value in series::compute(db, calendar, outcome, &window).await? {
        if let Some(x) = driver_values.get(&(value.period, value.dimension_value.clone())) {
            points.push(LinkPair {
                period: calendar.label(grain, value.period),
                dimension_value: value.dimension_value,
                driver: *x,
                outcome: value.value,
            });
        }
    }
    let xs: Vec<f64> = points.iter().map(|p| p.driver).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.outcome).collect();
    let unanswerable = |e: stats::StatsError| Error::Unanswerable(format!("{} pairs: {e}", points.len()));
    let correlation = stats::pearson(&xs, &ys).map_err(unanswerable)?;
    let regression = stats::simple_regression(&xs, &ys).map_err(unanswerable)?;
    Ok(IndicatorLink {
        driver: names::name_of(names::INDICATORS, &driver.indicator.key),
        outcome: names::name_of(names::INDICATORS, &outcome.indicator.key),
        pairs: points.len() as i64,
        correlation: correlation.r,
        correlation_p_value: correlation.p_value,
        slope: regression.slope,
        slope_low: regression.slope_low,
        slope_high: regression.slope_high,
        intercept: regression.intercept,
        r_squared: regression.r_squared,
        points,
    })
}
