//! Train, classify, evaluate and roll back text models through the API.

use std::collections::HashMap;

use csm_proto::classification::v1::{
    ActivateTextModelRequest, ClassifyRequest, EvaluateTextModelsRequest, LabelledText, ListTextModelsRequest, Method,
    TrainTextModelsRequest,
};
use tonic::Code;

use super::labelled;
use crate::support::TestSystem;

fn classify(text: &str) -> ClassifyRequest {
    ClassifyRequest { text: text.into(), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_trained_per_view_place_what_rules_miss_and_can_be_rolled_back() {
    let system = TestSystem::start().await;
    let mut classification = system.classification();

    // Out of the box, the starter model places text no rule covers.
    let before = classification.classify(classify("地下车库一格都没有")).await.unwrap().into_inner();
    assert_eq!((before.method(), before.leaf.as_str()), (Method::Model, "system.coverage"));
    let starter = before.views[0].text_model.clone();
    assert!(starter.starts_with("textModels/"), "{before:?}");

    let request = TrainTextModelsRequest { examples: labelled(6), activate: true, ..Default::default() };
    let first = classification.train_text_models(request).await.unwrap().into_inner().models;
    assert_eq!(first.iter().map(|m| m.view.as_str()).collect::<Vec<_>>(), vec!["cause", "complaint"]);
    assert!(first.iter().all(|m| m.active && m.examples == 72 && m.features > 0));
    let cause_model = first.iter().find(|m| m.view == "cause").unwrap().name.clone();

    let placed = classification.classify(classify("车库里一格都没有")).await.unwrap().into_inner();
    assert_eq!(placed.method(), Method::Model);
    assert_eq!(placed.leaf, "system.coverage");
    assert_eq!(placed.responsible_department, "network");
    assert!(placed.confidence > 0.5 && placed.confidence <= 1.0, "{}", placed.confidence);
    assert_eq!(placed.views[0].text_model, cause_model);
    assert_eq!(placed.views[1].view, "complaint");
    assert_eq!(placed.views[1].leaf, "complaint.coverage");
    // Rules keep precedence over the model.
    let ruled = classification.classify(classify("家里宽带断网三天了")).await.unwrap().into_inner();
    assert_eq!((ruled.method(), ruled.leaf.as_str()), (Method::Rule, "system.broadband_fault"));

    // Evaluate on held-out wording.
    let held_out = vec![
        held("停车场里没有信号", "system.coverage", "complaint.coverage"),
        held("no signal in the car park", "system.coverage", "complaint.coverage"),
        held("营业厅排队太久了", "service.channel_access", "complaint.channel_convenience"),
        held("queued for hours at the store", "service.channel_access", "complaint.channel_convenience"),
        held("到了国外手机不能用", "business.roaming_rules", "complaint.roaming"),
        held("cannot call from Hong Kong", "business.roaming_rules", "complaint.roaming"),
    ];
    let evaluation = classification
        .evaluate_text_models(EvaluateTextModelsRequest { examples: held_out.clone(), text_models: vec![] })
        .await
        .unwrap()
        .into_inner()
        .evaluations;
    assert_eq!(evaluation.len(), 2);
    let cause = evaluation.iter().find(|e| e.view == "cause").unwrap();
    assert_eq!(cause.examples, 6);
    assert!(cause.accuracy >= 5.0 / 6.0, "{cause:?}");
    assert!(cause.macro_f1 > 0.8, "{cause:?}");
    assert_eq!(cause.confusion.len(), 3);
    assert_eq!(cause.confusion.iter().map(|r| r.counts.iter().sum::<i64>()).sum::<i64>(), 6);
    assert_eq!(cause.classes.iter().map(|c| c.support).sum::<i64>(), 6);

    // A second model, trained on one topic pair only, replaces the first ...
    let narrow: Vec<LabelledText> =
        labelled(6).into_iter().filter(|e| e.leaves["cause"] != "system.coverage").collect();
    let request = TrainTextModelsRequest { examples: narrow, activate: true, ..Default::default() };
    let second = classification.train_text_models(request).await.unwrap().into_inner().models;
    let replaced = classification.classify(classify("车库里一格都没有")).await.unwrap().into_inner();
    assert_ne!(replaced.leaf, "system.coverage");
    let listed = classification
        .list_text_models(ListTextModelsRequest { view: "cause".into() })
        .await
        .unwrap()
        .into_inner()
        .text_models;
    assert_eq!(listed.len(), 3, "the starter model and the two trained");
    assert!(listed.iter().any(|m| m.name == starter && !m.active));
    assert_eq!(
        listed.iter().filter(|m| m.active).map(|m| m.name.clone()).collect::<Vec<_>>(),
        vec![second[0].name.clone()]
    );

    // ... and rolling back puts the first back in force.
    let rolled = classification
        .activate_text_model(ActivateTextModelRequest { name: cause_model.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(rolled.active);
    let back = classification.classify(classify("车库里一格都没有")).await.unwrap().into_inner();
    assert_eq!((back.leaf.as_str(), back.views[0].text_model.as_str()), ("system.coverage", cause_model.as_str()));
    system.stop().await;
}

fn held(text: &str, cause: &str, complaint: &str) -> LabelledText {
    LabelledText {
        text: text.into(),
        leaves: HashMap::from([("cause".into(), cause.into()), ("complaint".into(), complaint.into())]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_training_sets_are_refused_field_by_field_and_store_nothing() {
    let system = TestSystem::start().await;
    let mut classification = system.classification();
    let mut examples = labelled(2);
    examples[0].leaves.insert("cause".into(), "complaint.coverage".into());
    examples[1].leaves.insert("nowhere".into(), "x".into());
    examples[2].text = " ".into();
    let status =
        classification.train_text_models(TrainTextModelsRequest { examples, ..Default::default() }).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let message = status.message();
    assert!(message.contains("examples[0].leaves[cause]"), "{message}");
    assert!(message.contains("examples[1].leaves"), "{message}");
    assert!(message.contains("examples[2].text"), "{message}");

    let one_leaf = vec![held("a", "system.coverage", "complaint.coverage"); 3];
    let status = classification
        .train_text_models(TrainTextModelsRequest { examples: one_leaf, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("at least two leaves"), "{}", status.message());
    let stored = classification.list_text_models(ListTextModelsRequest::default()).await.unwrap().into_inner();
    assert_eq!(stored.text_models.len(), 2, "only the starter models of the two views");
    let request = EvaluateTextModelsRequest { examples: labelled(1), text_models: vec!["textModels/nowhere".into()] };
    let status = classification.evaluate_text_models(request).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    system.stop().await;
}
