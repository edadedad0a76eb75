//! Routing out of the box and as operators change it: the starter model on complaints it has
//! never seen, whole routing decisions scored by EvaluateRouting, the branch back-off, a staged
//! taxonomy that comes into force (and rolls back) with its models, and retraining from
//! corrections that refuses a worse model.

use std::{collections::HashMap, time::Duration};

use csm_proto::classification::v1::{
    ActivateTaxonomyRequest, ClassifyRequest, CorrectClassificationRequest, CreateTrainingJobRequest,
    EvaluateRoutingRequest, GetClassificationRequest, GetTaxonomyRequest, LabelledText, Method, PublishTaxonomyRequest,
    RetrainFromCorrectionsRequest, TrainTextModelsRequest, TrainingJobState, create_training_job_request::Training,
};
use tonic::Code;

use super::labelled;
use crate::support::{TestSystem, complaint, eventually};

fn classify(text: &str) -> ClassifyRequest {
    ClassifyRequest { text: text.into(), ..Default::default() }
}

fn routing_examples(language: &str) -> Vec<LabelledText> {
    csm_classification::starter::evaluation().unwrap()[language]
        .iter()
        .map(|e| LabelledText { text: e.text.clone(), leaves: HashMap::from([("cause".into(), e.cause.clone())]) })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_starter_model_routes_complaints_it_has_never_seen_in_both_languages() {
    let system = TestSystem::start().await;
    let mut client = system.classification();
    for (text, leaf, department) in [
        ("信号很差", "system.coverage", "network"),
        ("打电话老是断断续续的，对方听不清", "system.call_quality", "network"),
        ("宽代又断了，光猫红灯一直闪", "system.broadband_fault", "operations_maintenance"),
        ("用户来电反映本月账单多出一笔38元的不明费用，要求核实退还", "system.billing_error", "billing"),
        ("出差去了趟泰国回来多了三百块钱流量费", "business.roaming_rules", "marketing"),
        ("Internet speed", "system.broadband_fault", "operations_maintenance"),
        ("Comcast data caps", "business.package_rules", "marketing"),
        ("billing dispute", "system.billing_error", "billing"),
        ("Robocalls all day long from fake IRS agents", "system.spam_harassment", "information_security"),
        ("The rep was rude and laughed at me", "service.attitude", "service_centre"),
    ] {
        let routed = client.classify(classify(text)).await.unwrap().into_inner();
        assert_eq!(
            (routed.leaf.as_str(), routed.responsible_department.as_str()),
            (leaf, department),
            "{text}: {routed:?}"
        );
    }
    // A text that says nothing of its cause waits in triage rather than being guessed.
    let vague = client.classify(classify("请回电")).await.unwrap().into_inner();
    assert_eq!((vague.leaf.as_str(), vague.method()), ("triage.unclassified", Method::Fallback));

    // The whole decision on the independent evaluation set, as a fresh install routes.
    for language in ["zh", "en"] {
        let request = EvaluateRoutingRequest { examples: routing_examples(language), ..Default::default() };
        let figures = client.evaluate_routing(request).await.unwrap().into_inner();
        assert_eq!(figures.examples, 320);
        assert!(figures.leaf_accuracy >= 0.85, "{language}: {figures:?}");
        assert!(figures.department_accuracy >= 0.9, "{language}: {figures:?}");
        assert!(figures.triage_rate <= 0.05, "{language}: {figures:?}");
        assert!(figures.by_rule > 0 && figures.by_model > 0);
        assert!(figures.text_model.starts_with("textModels/"));
        assert_eq!(figures.leaves.iter().map(|l| l.support).sum::<i64>(), 320);
        assert!(figures.departments.iter().any(|d| d.key == "network" && d.support > 0));
    }
    let mut bad = routing_examples("en");
    bad[3].leaves.insert("cause".into(), "complaint.coverage".into());
    let status =
        client.evaluate_routing(EvaluateRoutingRequest { examples: bad, ..Default::default() }).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("examples[3].leaves[cause]"), "{}", status.message());
    system.stop().await;
}

fn held(text: &str, cause: &str) -> LabelledText {
    LabelledText { text: text.into(), leaves: HashMap::from([("cause".into(), cause.into())]) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_takes_the_order_when_no_leaf_under_it_is_clear() {
    let system = TestSystem::start().await;
    let mut client = system.classification();
    // Coverage and call quality are told apart by nothing in these texts; both are the network's.
    let mut examples = Vec::new();
    for _ in 0..20 {
        for (text, leaf) in [
            ("手机网络很差劲", "system.coverage"),
            ("手机网络很差劲", "system.call_quality"),
            ("这个月的钱算错了", "system.billing_error"),
            ("营业员说话难听", "service.attitude"),
        ] {
            examples.push(held(text, leaf));
        }
    }
    let request = TrainTextModelsRequest { examples, activate: true, review_threshold: 0.7, ..Default::default() };
    client.train_text_models(request).await.unwrap();
    let routed = client.classify(classify("手机网络很差劲")).await.unwrap().into_inner();
    assert_eq!(routed.method(), Method::Branch, "{routed:?}");
    assert_eq!((routed.leaf.as_str(), routed.responsible_department.as_str()), ("system.network", "network"));
    assert_eq!(routed.time_limit.unwrap().seconds, 72 * 3600);
    assert!(routed.needs_review);
    let clear = client.classify(classify("这个月的钱算错了")).await.unwrap().into_inner();
    assert_eq!((clear.leaf.as_str(), clear.method()), ("system.billing_error", Method::Model));
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staged_taxonomy_comes_into_force_with_its_models_and_rolls_back_with_them() {
    let system = TestSystem::start().await;
    let mut client = system.classification();
    let current = client.get_taxonomy(GetTaxonomyRequest::default()).await.unwrap().into_inner();
    let starter = client.classify(classify("车库里一格都没有")).await.unwrap().into_inner().views[0].text_model.clone();

    let mut next = current.clone();
    next.name = "taxonomies/default".into();
    next.display_name = "Telecom complaint taxonomy, revised".into();
    let staged = client
        .publish_taxonomy(PublishTaxonomyRequest { taxonomy: Some(next), validate_only: false, stage: true })
        .await
        .unwrap()
        .into_inner();
    assert!(!staged.active);
    let in_force = client.get_taxonomy(GetTaxonomyRequest::default()).await.unwrap().into_inner();
    assert_eq!(in_force.name, current.name, "a staged version is not in force");

    // Models trained for the staged version wait with it.
    let request = TrainTextModelsRequest {
        examples: labelled(6),
        activate: true,
        taxonomy_version: staged.name.clone(),
        ..Default::default()
    };
    let trained = client.train_text_models(request).await.unwrap().into_inner().models;
    let staged_model = trained.iter().find(|m| m.view == "cause").unwrap().name.clone();
    assert!(trained.iter().all(|m| !m.active && m.taxonomy_version == staged.name));
    let now = client.classify(classify("车库里一格都没有")).await.unwrap().into_inner();
    assert_eq!(now.views[0].text_model, starter, "the model in force is unchanged");

    // Evaluated before it is put in force ...
    let held_out =
        vec![held("停车场里没有信号", "system.coverage"), held("到了国外手机不能用", "business.roaming_rules")];
    let request = EvaluateRoutingRequest {
        examples: held_out.clone(),
        taxonomy_version: staged.name.clone(),
        ..Default::default()
    };
    let figures = client.evaluate_routing(request).await.unwrap().into_inner();
    assert_eq!(
        (figures.taxonomy_version.as_str(), figures.text_model.as_str()),
        (staged.name.as_str(), staged_model.as_str())
    );

    // ... then put in force with its models, and rolled back with them.
    client.activate_taxonomy(ActivateTaxonomyRequest { name: staged.name.clone() }).await.unwrap();
    let after = client.classify(classify("车库里一格都没有")).await.unwrap().into_inner();
    assert_eq!(
        (after.taxonomy_version.as_str(), after.views[0].text_model.as_str()),
        (staged.name.as_str(), staged_model.as_str())
    );
    client.activate_taxonomy(ActivateTaxonomyRequest { name: current.name.clone() }).await.unwrap();
    let back = client.classify(classify("车库里一格都没有")).await.unwrap().into_inner();
    assert_eq!(
        (back.taxonomy_version.as_str(), back.views[0].text_model.as_str()),
        (current.name.as_str(), starter.as_str())
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retraining_from_corrections_refuses_a_model_made_worse_by_careless_corrections() {
    // The job trains two models while the other tests train theirs on two cores: a term long
    // enough that a renewal delayed by that load does not take the training lease away mid-job.
    let system = TestSystem::start_with(|spec| spec.feed.lease_term = std::time::Duration::from_secs(6)).await;
    let mut client = system.classification();
    let mut intake = system.intake();
    let retrain = |min_corrections: i64| CreateTrainingJobRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        training: Some(Training::RetrainFromCorrections(RetrainFromCorrectionsRequest {
            min_corrections,
            dry_run: false,
        })),
        collect_examples: false,
    };
    // Too few corrections yet.
    let status = client.create_training_job(retrain(40)).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);

    // An agent "corrects" eighty clear network and broadband complaints to billing.
    let corpus = csm_classification::starter::training().unwrap();
    let texts: Vec<&str> = corpus
        .iter()
        .filter(|e| matches!(e.cause.as_str(), "system.coverage" | "system.broadband_fault"))
        .map(|e| e.text.as_str())
        .step_by(3)
        .take(80)
        .collect();
    let mut names = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let order = intake.submit_contact(complaint(&format!("1370000{i:04}"), text)).await.unwrap().into_inner();
        names.push(format!("{}/classification", order.work_order.unwrap().name));
    }
    let agent =
        csm_cli::clients::classification(system.system.addresses.classification, system.token("agent")).unwrap();
    for name in &names {
        eventually("classified", Duration::from_secs(30), || {
            let mut client = client.clone();
            let name = name.clone();
            async move { client.get_classification(GetClassificationRequest { name }).await.ok() }
        })
        .await;
        let request = CorrectClassificationRequest {
            name: name.clone(),
            leaf: "system.billing_error".into(),
            ..Default::default()
        };
        agent.clone().correct_classification(request).await.unwrap();
    }
    let before = client.classify(classify("家里没信号")).await.unwrap().into_inner().views[0].text_model.clone();

    let job = client.create_training_job(retrain(40)).await.unwrap().into_inner();
    let done = super::training_jobs::wait(&mut client, &job.name).await;
    assert_eq!(done.state(), TrainingJobState::Succeeded, "{done:?}");
    assert!(!done.activated, "{}", done.outcome);
    assert!(done.outcome.contains("not put in force"), "{}", done.outcome);
    assert_eq!(done.comparison.len(), 2);
    assert!(done.comparison[1].accuracy < done.comparison[0].accuracy, "{:?}", done.comparison);
    let after = client.classify(classify("家里没信号")).await.unwrap().into_inner();
    assert_eq!((after.views[0].text_model.as_str(), after.leaf.as_str()), (before.as_str(), "system.coverage"));
    system.stop().await;
}
