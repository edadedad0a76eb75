//! Operators publish their own taxonomies: validated, versioned, recorded on each classification,
//! with ordered rules over text, contact type and problem code; an earlier version can be put
//! back in force.

use std::time::Duration;

use csm_proto::{
    classification::v1::{
        ActivateTaxonomyRequest, ClassifyRequest, GetClassificationRequest, GetTaxonomyRequest, ListTaxonomiesRequest,
        PublishTaxonomyRequest, Rule, Taxonomy, TaxonomyNode, TaxonomyView,
    },
    intake::v1::ContactType,
};
use tonic::Code;

use crate::support::{TestSystem, complaint, eventually};

fn leaf(key: &str, department: &str, hours: i64) -> TaxonomyNode {
    TaxonomyNode {
        key: key.into(),
        name_zh: key.into(),
        name_en: key.into(),
        responsible_department: department.into(),
        time_limit: Some(prost_types::Duration { seconds: hours * 3600, nanos: 0 }),
        children: vec![],
    }
}

fn rule(key: &str, leaf: &str, terms: &[&str]) -> Rule {
    Rule {
        key: key.into(),
        leaf: leaf.into(),
        terms: terms.iter().map(|t| t.to_string()).collect(),
        ..Default::default()
    }
}

/// An operator's own, small taxonomy: nothing of the default one.
fn operator_taxonomy() -> Taxonomy {
    let mut fault_code = rule("fault-code", "net.fibre", &[]);
    fault_code.contact_types = vec![ContactType::FaultReport.as_str_name().into()];
    fault_code.problem_codes = vec!["FTTH-LOS".into()];
    Taxonomy {
        name: "taxonomies/acme".into(),
        display_name: "ACME causes".into(),
        fallback_leaf: "other.review".into(),
        views: vec![TaxonomyView {
            key: "root_cause".into(),
            name_zh: "根因".into(),
            name_en: "Root cause".into(),
            routing: true,
            nodes: vec![
                TaxonomyNode {
                    key: "net".into(),
                    name_zh: "网络".into(),
                    name_en: "Network".into(),
                    children: vec![leaf("net.fibre", "fibre_team", 12), leaf("net.mobile", "radio_team", 48)],
                    ..Default::default()
                },
                TaxonomyNode {
                    key: "other".into(),
                    name_zh: "其他".into(),
                    name_en: "Other".into(),
                    children: vec![leaf("other.review", "quality", 24)],
                    ..Default::default()
                },
            ],
        }],
        // "信号" appears in both texts below: the earlier rule wins.
        rules: vec![
            fault_code,
            rule("fibre", "net.fibre", &["光纤", "信号灯"]),
            rule("mobile", "net.mobile", &["信号"]),
        ],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_taxonomies_are_refused_field_by_field_and_change_nothing() {
    let system = TestSystem::start().await;
    let mut classification = system.classification();
    let mut bad = operator_taxonomy();
    bad.views[0].nodes[0].children[0].responsible_department.clear();
    bad.views[0].nodes[0].children[1].time_limit = Some(prost_types::Duration { seconds: 0, nanos: 0 });
    bad.views[0].nodes[1].key = "net".into();
    bad.rules.push(rule("dangling", "net.nowhere", &["x"]));
    bad.rules.push(Rule {
        key: "bad-pattern".into(),
        leaf: "net.fibre".into(),
        patterns: vec!["(".into()],
        ..Default::default()
    });
    let status = classification
        .publish_taxonomy(PublishTaxonomyRequest { taxonomy: Some(bad), validate_only: false, stage: false })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    for expected in ["needs a department", "positive time_limit", "duplicate key", "net.nowhere", "bad-pattern"] {
        assert!(status.message().contains(expected), "{expected}: {}", status.message());
    }
    let mut two_routing = operator_taxonomy();
    two_routing.views.push(TaxonomyView { key: "second".into(), routing: true, ..two_routing.views[0].clone() });
    let status = classification
        .publish_taxonomy(PublishTaxonomyRequest { taxonomy: Some(two_routing), validate_only: false, stage: false })
        .await
        .unwrap_err();
    assert!(status.message().contains("exactly one view must route"), "{}", status.message());
    // A dry run checks without publishing.
    let checked = classification
        .publish_taxonomy(PublishTaxonomyRequest {
            taxonomy: Some(operator_taxonomy()),
            validate_only: true,
            stage: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(checked.name, "taxonomies/acme/versions/1");
    let listed = classification.list_taxonomies(ListTaxonomiesRequest {}).await.unwrap().into_inner().taxonomies;
    assert_eq!(listed.len(), 1, "only the shipped default");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_taxonomy_classifies_new_orders_with_ordered_rules_until_rolled_back() {
    let system = TestSystem::start().await;
    let mut classification = system.classification();
    let published = classification
        .publish_taxonomy(PublishTaxonomyRequest {
            taxonomy: Some(operator_taxonomy()),
            validate_only: false,
            stage: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(published.name, "taxonomies/acme/versions/1");
    assert!(published.active);
    let in_force = classification.get_taxonomy(GetTaxonomyRequest::default()).await.unwrap().into_inner();
    assert_eq!(in_force.name, published.name);

    let preview = |text: &str, contact_type: ContactType, code: &str| ClassifyRequest {
        text: text.into(),
        contact_type: contact_type.as_str_name().into(),
        problem_code: code.into(),
        ..Default::default()
    };
    let fibre =
        classification.classify(preview("信号灯一直闪", ContactType::Complaint, "")).await.unwrap().into_inner();
    assert_eq!((fibre.leaf.as_str(), fibre.hits[0].rule.as_str()), ("net.fibre", "fibre"));
    let mobile = classification.classify(preview("手机没信号", ContactType::Complaint, "")).await.unwrap().into_inner();
    assert_eq!(mobile.leaf, "net.mobile");
    let coded =
        classification.classify(preview("上不了网", ContactType::FaultReport, "FTTH-LOS")).await.unwrap().into_inner();
    assert_eq!((coded.hits[0].rule.as_str(), coded.responsible_department.as_str()), ("fault-code", "fibre_team"));
    let uncoded =
        classification.classify(preview("上不了网", ContactType::FaultReport, "")).await.unwrap().into_inner();
    assert_eq!(uncoded.leaf, "other.review");
    assert!(uncoded.needs_review);

    // A work order records the version it was classified with.
    let mut intake = system.intake();
    let order = intake.submit_contact(complaint("13800000011", "手机没信号")).await.unwrap().into_inner().work_order;
    let name = format!("{}/classification", order.unwrap().name);
    let recorded =
        eventually("the order classified", Duration::from_secs(20), || {
            let mut classification = classification.clone();
            let name = name.clone();
            async move {
                Some(classification.get_classification(GetClassificationRequest { name }).await.ok()?.into_inner())
            }
        })
        .await;
    assert_eq!((recorded.taxonomy_version.as_str(), recorded.leaf.as_str()), (published.name.as_str(), "net.mobile"));

    // Rolling back to the shipped taxonomy.
    let default = classification
        .activate_taxonomy(ActivateTaxonomyRequest { name: "taxonomies/default/versions/1".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(default.active);
    let back = classification.classify(preview("手机没信号", ContactType::Complaint, "")).await.unwrap().into_inner();
    assert_eq!(back.taxonomy_version, "taxonomies/default/versions/1");
    let listed = classification.list_taxonomies(ListTaxonomiesRequest {}).await.unwrap().into_inner().taxonomies;
    assert_eq!(listed.iter().filter(|t| t.active).count(), 1);
    assert_eq!(listed.len(), 2);
    system.stop().await;
}
