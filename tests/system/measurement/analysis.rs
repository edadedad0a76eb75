//! The satisfaction index of DOMAIN.md's provincial model, driver analysis with known true
//! coefficients, and the linkage of a quality indicator to satisfaction.

use csm_kit::time;
use csm_proto::{
    intake::v1::{QualitySample, SurveyScale, ingest_request::Item, usage_event::Detail},
    measurement::v1::{
        AnalyzeDriversRequest, Dimension, DriverQuadrant, Granularity, LinkIndicatorsRequest, ListIndexModelsRequest,
        ScoreIndexRequest,
    },
};
use tonic::Code;

use super::{WAIT, answer, beijing_noon, close, ingest, introduce, series, usage};
use crate::support::{TestSystem, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provincial_index_weighs_its_areas_and_a_quality_indicator_is_linked_to_satisfaction() {
    let t = TestSystem::start().await;
    let (noon, start, end) = beijing_noon(2);
    let answers: &[(&str, f64)] = &[
        ("network.call_quality", 80.0),
        ("network.coverage", 70.0),
        ("network.border_roaming", 60.0),
        ("network.roaming", 50.0),
        ("hotline.reachability", 90.0),
        ("hotline.agent_attitude", 60.0),
        ("hotline.ivr_convenience", 70.0),
        ("hotline.agent_resolution", 80.0),
        ("store.convenience", 60.0),
        ("store.staff_appearance", 60.0),
        ("store.staff_attitude", 60.0),
        ("store.staff_initiative", 60.0),
        ("store.staff_resolution", 60.0),
        ("store.paperwork_ease", 60.0),
    ];
    let items = answers
        .iter()
        .enumerate()
        .map(|(i, (question, score))| {
            answer(&format!("1360000{i:04}"), SurveyScale::Score100, *score, question, "", noon)
        })
        .collect();
    ingest(&t, items).await;
    let mut measurement = t.measurement();
    let models = measurement.list_index_models(ListIndexModelsRequest {}).await.unwrap().into_inner().models;
    assert!(models.iter().any(|m| m.name == "indexModels/provincial_2010"));
    let request = ScoreIndexRequest {
        model: "indexModels/provincial_2010".into(),
        granularity: Granularity::Day as i32,
        start_time: Some(time::to_timestamp(start)),
        end_time: Some(time::to_timestamp(end)),
        ..Default::default()
    };
    let scores = eventually("every answer in the index", WAIT, || {
        let (mut measurement, request) = (measurement.clone(), request.clone());
        async move {
            let scores = measurement.score_index(request).await.ok()?.into_inner();
            let root = scores.scores.first()?.root.clone()?;
            (root.responses == 14).then_some(scores)
        }
    })
    .await;
    let root = scores.scores[0].root.as_ref().unwrap();
    // Network 0.3*80 + 0.3*70 + 0.2*60 + 0.2*50 = 67; hotline 0.3*90 + 0.2*60 + 0.2*70 + 0.3*80 = 77;
    // stores 60; no answers on new services, so the areas weigh 20:10:10 among themselves.
    let overall = (20.0 * 67.0 + 10.0 * 77.0 + 10.0 * 60.0) / 40.0;
    close(root.score.unwrap(), overall, "overall index");
    let network = root.children.iter().find(|c| c.key == "network").unwrap();
    close(network.score.unwrap(), 67.0, "network");
    close(network.contribution, 0.5 * 67.0, "network contribution");
    let new_services = root.children.iter().find(|c| c.key == "new_services").unwrap();
    assert_eq!((new_services.score, new_services.contribution), (None, 0.0));
    close(root.children.iter().map(|c| c.contribution).sum::<f64>(), overall, "contributions add up");
    let fuzzy = scores.scores[0].fuzzy.as_ref().unwrap();
    close(fuzzy.membership.iter().sum::<f64>(), 1.0, "memberships");
    assert!((1..=5).contains(&fuzzy.grade));

    // 3K linkage: each region's call drop rate against its satisfaction, 100 - 1000 x rate.
    let (noon, start, end) = beijing_noon(3);
    let mut items: Vec<Item> = Vec::new();
    for (i, rate) in [0.01, 0.02, 0.03, 0.04].into_iter().enumerate() {
        let phone = format!("1370000{i:04}");
        items.push(introduce(&phone, &format!("R-{i}"), noon));
        let sample = QualitySample { metric: "call_drop_rate".into(), value: rate, unit: String::new() };
        items.push(usage(&phone, "5G-199", Detail::QualitySample(sample), noon));
        items.push(answer(&phone, SurveyScale::Score100, 100.0 - 1000.0 * rate, "overall", "", noon));
    }
    ingest(&t, items).await;
    eventually("four regions answered", WAIT, || async {
        let s = series(&t, "overall_satisfaction", Granularity::Day, Dimension::Region, (start, end)).await;
        (s.points.len() == 4).then_some(())
    })
    .await;
    let link = measurement
        .link_indicators(LinkIndicatorsRequest {
            driver: "indicators/call_drop_rate".into(),
            outcome: "indicators/overall_satisfaction".into(),
            granularity: Granularity::Day as i32,
            group_by: Dimension::Region as i32,
            start_time: Some(time::to_timestamp(start)),
            end_time: Some(time::to_timestamp(end)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(link.pairs, 4);
    assert!((link.correlation + 1.0).abs() < 1e-9, "{}", link.correlation);
    assert!((link.slope + 1000.0).abs() < 1e-6, "{}", link.slope);
    assert!(link.slope_low <= link.slope && link.slope <= link.slope_high);
    close(link.intercept, 100.0, "intercept");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stepwise_regression_finds_the_true_drivers_of_overall_satisfaction() {
    let t = TestSystem::start().await;
    let (noon, start, end) = beijing_noon(2);
    // overall = 10 + 0.5 network + 0.3 billing + 0 hotline + noise in [-5, 5]; one respondent a phone.
    let mut items = Vec::new();
    let respondents = 150;
    for i in 0..respondents {
        let phone = format!("1350000{i:04}");
        let at = noon - chrono::Duration::seconds(i64::from(i));
        let network = 40.0 + f64::from((i * 37) % 60);
        let billing = 30.0 + f64::from((i * 53) % 70);
        let hotline = 50.0 + f64::from((i * 29) % 50);
        let noise = f64::from((i * 7919) % 11) - 5.0;
        let overall = 10.0 + 0.5 * network + 0.3 * billing + noise;
        for (question, score) in
            [("overall", overall), ("network", network), ("billing", billing), ("hotline", hotline)]
        {
            items.push(answer(&phone, SurveyScale::Score100, score, question, "", at));
        }
    }
    ingest(&t, items).await;
    let request = AnalyzeDriversRequest {
        outcome_question: "overall".into(),
        driver_questions: vec!["network".into(), "billing".into(), "hotline".into()],
        start_time: Some(time::to_timestamp(start)),
        end_time: Some(time::to_timestamp(end)),
        ..Default::default()
    };
    let mut measurement = t.measurement();
    let analysis = eventually("every respondent absorbed", WAIT, || {
        let (mut measurement, request) = (measurement.clone(), request.clone());
        async move {
            let analysis = measurement.analyze_drivers(request).await.ok()?.into_inner();
            (analysis.respondents == i64::from(respondents)).then_some(analysis)
        }
    })
    .await;
    let driver = |q: &str| analysis.drivers.iter().find(|d| d.question == q).unwrap().clone();
    let (network, billing, hotline) = (driver("network"), driver("billing"), driver("hotline"));
    assert!(network.selected && billing.selected && !hotline.selected, "{analysis:?}");
    for (found, truth) in [(&network, 0.5), (&billing, 0.3)] {
        assert!((found.coefficient - truth).abs() < 3.0 * found.standard_error, "{found:?} vs {truth}");
        assert!(found.p_value < 0.001);
    }
    assert!((analysis.intercept - 10.0).abs() < 3.0, "{}", analysis.intercept);
    assert!(analysis.r_squared > 0.8, "{}", analysis.r_squared);
    assert_eq!(analysis.drivers[0].question, "network", "most important first");
    // Network matters most; billing matters and scores lowest, so it is the one to improve first.
    assert_eq!(billing.quadrant, DriverQuadrant::ImproveFirst as i32, "{analysis:?}");
    assert!(analysis.steps[0].starts_with("entered network"), "{:?}", analysis.steps);

    let status = measurement
        .analyze_drivers(AnalyzeDriversRequest {
            outcome_question: String::new(),
            driver_questions: vec!["x".into()],
            ..request
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    for field in ["outcome_question", "driver_questions"] {
        assert!(status.message().contains(field), "{}", status.message());
    }
    t.stop().await;
}
