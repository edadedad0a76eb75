//! An agent corrects a classification: the order is re-routed, the correction is published and
//! counted in the correction rate, and the next model learns from it.

use std::time::Duration;

use csm_cli::clients;
use csm_proto::classification::v1::{
    ClassificationCorrected, CorrectClassificationRequest, GetClassificationRequest, GetCorrectionStatisticsRequest,
    Method, TrainTextModelsRequest,
};
use tonic::Code;

use super::labelled;
use crate::support::{TestSystem, complaint, eventually, read_feed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_reroutes_the_order_is_published_counted_and_taught() {
    let system = TestSystem::start().await;
    let mut intake = system.intake();
    let mut names = Vec::new();
    for (phone, text) in [("13800000021", "请尽快回电给我"), ("13800000022", "家里宽带断网三天了")] {
        let order = intake.submit_contact(complaint(phone, text)).await.unwrap().into_inner().work_order.unwrap();
        names.push(format!("{}/classification", order.name));
    }
    let mut admin = system.classification();
    for name in &names {
        eventually("classified", Duration::from_secs(20), || {
            let mut admin = admin.clone();
            let name = name.clone();
            async move { admin.get_classification(GetClassificationRequest { name }).await.ok() }
        })
        .await;
    }
    let before =
        admin.get_classification(GetClassificationRequest { name: names[0].clone() }).await.unwrap().into_inner();
    // A bare request for a call back says nothing of its cause.
    assert_ne!(before.leaf, "system.coverage");

    let mut agent = clients::classification(system.system.addresses.classification, system.token("agent")).unwrap();
    let bad = CorrectClassificationRequest {
        name: names[0].clone(),
        leaf: "complaint.coverage".into(),
        ..Default::default()
    };
    let status = agent.correct_classification(bad).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "a complaint-view leaf is not a routing leaf");
    let request = CorrectClassificationRequest {
        name: names[0].clone(),
        leaf: "system.coverage".into(),
        reason: "customer says there is no signal at home".into(),
        ..Default::default()
    };
    let after = agent.correct_classification(request).await.unwrap().into_inner();
    assert_eq!((after.leaf.as_str(), after.responsible_department.as_str()), ("system.coverage", "network"));
    assert_eq!((after.method(), after.needs_review), (Method::Corrected, false));
    assert_eq!(after.time_limit.unwrap().seconds, 72 * 3600);
    let opened = before.deadline.unwrap().seconds - before.time_limit.unwrap().seconds;
    assert_eq!(after.deadline.unwrap().seconds, opened + 72 * 3600, "the deadline runs from the same opening");
    // Only agents, supervisors and administrators correct.
    let mut department =
        clients::classification(system.system.addresses.classification, system.token("dept-network")).unwrap();
    let denied =
        CorrectClassificationRequest { name: names[1].clone(), leaf: "system.coverage".into(), ..Default::default() };
    assert_eq!(department.correct_classification(denied).await.unwrap_err().code(), Code::PermissionDenied);

    let mut feed = clients::feed(system.system.addresses.classification, system.admin()).unwrap();
    let events = read_feed::<ClassificationCorrected>(&mut feed, 1).await;
    let corrected: ClassificationCorrected = csm_kit::feed::decode(&events[0]).unwrap();
    assert_eq!(corrected.before.unwrap().leaf, before.leaf);
    assert_eq!(corrected.after.unwrap().leaf, "system.coverage");
    assert_eq!(corrected.corrected_by, "agent");

    let statistics =
        admin.get_correction_statistics(GetCorrectionStatisticsRequest::default()).await.unwrap().into_inner();
    assert_eq!((statistics.classifications, statistics.corrected), (2, 1));
    assert!((statistics.correction_rate - 0.5).abs() < 1e-9);
    let method = statistics.by_method.iter().find(|m| m.method() == before.method()).unwrap();
    assert_eq!(method.corrected, 1, "counted against the method that was corrected");

    let request = TrainTextModelsRequest { examples: labelled(3), include_corrections: true, ..Default::default() };
    let models = admin.train_text_models(request).await.unwrap().into_inner().models;
    let cause = models.iter().find(|m| m.view == "cause").unwrap();
    assert_eq!((cause.corrections, cause.examples), (1, 37));
    system.stop().await;
}
