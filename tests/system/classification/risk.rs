//! Predicted dissatisfaction end to end: a risk model trained on past outcomes through the API,
//! evaluated, then a usage-quality sample from intake makes classification flag the customer and
//! recovery open a care task for the department the top factor names.

use std::{collections::HashMap, time::Duration};

use csm_proto::{
    classification::v1::{
        AtRiskCustomer, CustomerFeatures, EvaluateRiskModelRequest, RiskExample, ScoreCustomerRequest,
        TrainRiskModelRequest,
    },
    intake::v1::CreateUsageEventRequest,
    recovery::v1::ListCareTasksRequest,
};
use tonic::Code;

use crate::support::{TestSystem, eventually, quality_sample, read_feed};

/// Past customers: high call-drop rates and poor-coverage estates made customers dissatisfied.
pub fn outcomes(n: usize, seed: u64) -> Vec<RiskExample> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let drop_rate = next() * 5.0;
            let estate = if next() < 0.3 { "poor_coverage" } else { "good" };
            let z = -3.5 + 1.1 * drop_rate + if estate == "poor_coverage" { 1.0 } else { 0.0 };
            RiskExample {
                features: Some(CustomerFeatures {
                    numeric: HashMap::from([("kqi.call_drop_rate".into(), drop_rate)]),
                    categorical: HashMap::from([("estate".into(), estate.into())]),
                }),
                dissatisfied: next() < 1.0 / (1.0 + (-z).exp()),
            }
        })
        .collect()
}

fn drop_rate_sample(phone: &str, value: f64) -> CreateUsageEventRequest {
    quality_sample(phone, "5G-199", "call_drop_rate", value, "%")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trained_risk_model_flags_customers_from_intake_samples_and_recovery_cares_for_them() {
    let system = TestSystem::start().await;
    let mut classification = system.classification();
    let one_sided: Vec<RiskExample> =
        outcomes(50, 1).into_iter().map(|e| RiskExample { dissatisfied: false, ..e }).collect();
    let status = classification
        .train_risk_model(TrainRiskModelRequest { examples: one_sided, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("both dissatisfied and satisfied"), "{}", status.message());

    let request = TrainRiskModelRequest {
        examples: outcomes(3000, 7),
        threshold: 0.6,
        factor_departments: HashMap::from([("kqi.*".into(), "network".into())]),
        activate: true,
        ..Default::default()
    };
    let model = classification.train_risk_model(request).await.unwrap().into_inner();
    assert!(model.active && model.examples == 3000);
    let evaluation = classification
        .evaluate_risk_model(EvaluateRiskModelRequest { name: String::new(), examples: outcomes(2000, 8) })
        .await
        .unwrap()
        .into_inner();
    assert!(evaluation.roc_auc > 0.8, "{evaluation:?}");
    assert!(evaluation.calibration_error < 0.06, "{evaluation:?}");
    assert!(!evaluation.calibration.is_empty());

    let mut intake = system.intake();
    intake.create_usage_event(drop_rate_sample("13800000041", 0.2)).await.unwrap();
    intake.create_usage_event(drop_rate_sample("13800000042", 4.9)).await.unwrap();

    let mut feed = csm_cli::clients::feed(system.system.addresses.classification, system.admin()).unwrap();
    let flagged = read_feed::<AtRiskCustomer>(&mut feed, 1).await;
    let at_risk: AtRiskCustomer = csm_kit::feed::decode(&flagged[0]).unwrap();
    assert_eq!(at_risk.phone_number, "13800000042");
    assert!(at_risk.score >= 0.6, "{at_risk:?}");
    assert_eq!(at_risk.factors[0], "kqi.call_drop_rate = 4.90");
    assert_eq!((at_risk.department.as_str(), at_risk.model_version.as_str()), ("network", model.name.as_str()));

    let calm = classification
        .score_customer(ScoreCustomerRequest { phone_number: "13800000041".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(!calm.at_risk && calm.score < 0.1, "{calm:?}");

    let mut network = system.recovery_as("dept-network");
    let tasks = eventually("a care task for the network department", Duration::from_secs(20), || {
        let mut network = network.clone();
        async move {
            let tasks = network.list_care_tasks(ListCareTasksRequest::default()).await.ok()?.into_inner().care_tasks;
            (!tasks.is_empty()).then_some(tasks)
        }
    })
    .await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].phone_number, "13800000042");
    let _ = &mut network;
    system.stop().await;
}
