//! Fitting the dissatisfaction-risk model: a request (with its examples) checked field by field,
//! the fit on the blocking pool, the stored row, and the API form of a stored model.

use std::{collections::HashMap, time::Instant};

use csm_kit::{error::Violations, names, time};
use csm_proto::classification::v1::{
    CustomerFeatures, RiskExample, RiskModel as RiskModelProto, TrainRiskModelRequest,
};

use crate::{
    error::Error,
    model::risk::{Features, RiskModel, RiskSettings},
    store::risk_model,
};

/// A validated request to fit a risk model.
#[derive(Debug)]
pub struct PreparedRisk {
    examples: Vec<(Features, bool)>,
    settings: RiskSettings,
    threshold: f64,
    factor_departments: String,
}

impl PreparedRisk {
    /// A fit of `examples` made by the service itself (retraining from outcomes), not asked for
    /// field by field.
    pub fn new(examples: Vec<(Features, bool)>, threshold: f64, factor_departments: String) -> Self {
        Self { examples, settings: RiskSettings::default(), threshold, factor_departments }
    }
}

/// Checks a request (with the examples sent in parts), field by field.
pub fn prepare_risk(request: &TrainRiskModelRequest, parts: Vec<RiskExample>) -> Result<PreparedRisk, Error> {
    let mut violations = Violations::new();
    let settings = RiskSettings {
        l2: if request.l2 == 0.0 { RiskSettings::default().l2 } else { request.l2 },
        min_level_count: if request.min_level_count == 0 {
            RiskSettings::default().min_level_count
        } else {
            usize::try_from(request.min_level_count).unwrap_or(0)
        },
    };
    if !(settings.l2.is_finite() && settings.l2 > 0.0) {
        violations.add("l2", "must be positive");
    }
    if request.min_level_count < 0 {
        violations.add("min_level_count", "must not be negative");
    }
    let threshold = if request.threshold == 0.0 { 0.5 } else { request.threshold };
    if !(threshold > 0.0 && threshold < 1.0) {
        violations.add("threshold", "must be between 0 and 1");
    }
    let mut given = request.examples.clone();
    given.extend(parts);
    let examples = examples(&given, &mut violations);
    let positives = examples.iter().filter(|(_, y)| *y).count();
    if examples.len() < 10 {
        violations.add("examples", "needs at least 10 examples");
    } else if positives == 0 || positives == examples.len() {
        violations.add("examples", "needs both dissatisfied and satisfied customers");
    }
    violations.into_result()?;
    let factor_departments =
        serde_json::to_string(&request.factor_departments).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(PreparedRisk { examples, settings, threshold, factor_departments })
}

/// Fits the model (CPU work: run it on the blocking pool) and makes its stored row.
pub fn fit_risk(prepared: PreparedRisk) -> Result<risk_model::Model, Error> {
    let started = Instant::now();
    let model = RiskModel::train(&prepared.examples, prepared.settings);
    let positives = prepared.examples.iter().filter(|(_, y)| *y).count();
    Ok(risk_model::Model {
        name: format!("{}{}", names::RISK_MODELS, uuid::Uuid::now_v7()),
        created_at: time::now_micros(),
        active: false,
        examples: prepared.examples.len() as i64,
        positives: positives as i64,
        threshold: prepared.threshold,
        factor_departments: prepared.factor_departments,
        training_seconds: started.elapsed().as_secs_f64(),
        body: postcard::to_allocvec(&model).map_err(|e| Error::Internal(e.to_string()))?,
        // Set by the job that stores it.
        training_job: String::new(),
    })
}

pub fn examples(examples: &[RiskExample], violations: &mut Violations) -> Vec<(Features, bool)> {
    let mut out = Vec::with_capacity(examples.len());
    for (i, example) in examples.iter().enumerate() {
        let Some(given) = &example.features else {
            violations.add(format!("examples[{i}].features"), "required");
            continue;
        };
        if let Some((name, _)) = given.numeric.iter().find(|(_, v)| !v.is_finite()) {
            violations.add(format!("examples[{i}].features.numeric[{name}]"), "must be a finite number");
        }
        out.push((features_from(given), example.dissatisfied));
    }
    out
}

pub fn features_from(given: &CustomerFeatures) -> Features {
    Features {
        numeric: given.numeric.iter().filter(|(_, v)| v.is_finite()).map(|(k, v)| (k.clone(), *v)).collect(),
        categorical: given.categorical.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

pub fn risk_model_proto(row: &risk_model::Model, active: bool) -> RiskModelProto {
    let model: Option<RiskModel> = postcard::from_bytes(&row.body).ok();
    let mut features: Vec<String> =
        model.as_ref().map(|m| m.feature_names().map(str::to_string).collect()).unwrap_or_default();
    features.dedup();
    RiskModelProto {
        name: row.name.clone(),
        create_time: Some(time::timestamp_from_micros(row.created_at)),
        active,
        examples: row.examples,
        positives: row.positives,
        threshold: row.threshold,
        features,
        factor_departments: serde_json::from_str::<HashMap<String, String>>(&row.factor_departments)
            .unwrap_or_default(),
        training_seconds: row.training_seconds,
    }
}
