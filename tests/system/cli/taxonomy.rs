//! `csm taxonomy`: the shipped TOML validated by classification's own parser, a dry run that
//! stores nothing, and a publish that puts the new version in force.

use csm_cli::output::Outcome;
use csm_proto::classification::v1::{GetTaxonomyRequest, ListTaxonomiesRequest};

use super::{csm, expect, offline};
use crate::support::TestSystem;

fn shipped() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../services/classification/taxonomy/default.toml");
    std::fs::read_to_string(path).unwrap()
}

async fn versions(t: &TestSystem) -> usize {
    let listed = t.classification().list_taxonomies(ListTaxonomiesRequest {}).await.unwrap().into_inner();
    listed.taxonomies.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taxonomy_file_is_validated_dry_run_then_published_into_force() {
    let t = TestSystem::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("taxonomy.toml");
    let renamed = shipped().replace(
        "display_name = \"Telecom complaint taxonomy\"",
        "display_name = \"Telecom complaint taxonomy, November\"",
    );
    std::fs::write(&file, renamed).unwrap();
    let path = file.to_str().unwrap();

    let (result, out) = offline(vec!["csm".into(), "taxonomy".into(), "validate".into(), path.into()]).await;
    assert_eq!(result.unwrap(), Outcome::Done);
    assert!(out.contains("valid") && out.contains("view       cause"), "{out}");

    let mut classification = t.classification();
    let before = classification.get_taxonomy(GetTaxonomyRequest::default()).await.unwrap().into_inner();
    let stored = versions(&t).await;

    let out = expect(&t, "administrator", &["taxonomy", "publish", path, "--dry-run"], Outcome::Done).await;
    assert!(out.contains("dry run") && out.contains("nothing was stored"), "{out}");
    assert_eq!(versions(&t).await, stored, "a dry run stores nothing");
    let still = classification.get_taxonomy(GetTaxonomyRequest::default()).await.unwrap().into_inner();
    assert_eq!((still.name, still.display_name), (before.name.clone(), before.display_name));

    let out = expect(&t, "administrator", &["taxonomy", "publish", path], Outcome::Done).await;
    assert!(out.contains("published taxonomies/default/versions/"), "{out}");
    let now = classification.get_taxonomy(GetTaxonomyRequest::default()).await.unwrap().into_inner();
    assert_ne!(now.name, before.name);
    assert_eq!(now.display_name, "Telecom complaint taxonomy, November");
    assert!(now.active);

    let out = expect(&t, "analyst", &["taxonomy", "show"], Outcome::Done).await;
    assert!(out.contains(&now.name) && out.contains("system.billing_error") && out.contains("计费差错"), "{out}");

    // A role that may not publish is told so.
    let (result, _) = csm(&t, "analyst", &["taxonomy", "publish", path]).await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("refused PublishTaxonomy"), "{error}");
    t.stop().await;
}

#[tokio::test]
async fn an_invalid_taxonomy_names_every_problem_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("taxonomy.toml");
    let broken = shipped().replacen("fallback_leaf = \"triage.unclassified\"", "fallback_leaf = \"nowhere\"", 1);
    std::fs::write(&file, broken).unwrap();
    let argv = vec!["csm".into(), "taxonomy".into(), "validate".into(), file.to_str().unwrap().to_string()];
    let (result, _) = offline(argv).await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("is not a valid taxonomy") && error.contains("fallback"), "{error}");

    std::fs::write(&file, "key = \"x\"\nunknown = 1\n").unwrap();
    let argv = vec!["csm".into(), "taxonomy".into(), "validate".into(), file.to_str().unwrap().to_string()];
    let error = offline(argv).await.0.unwrap_err().to_string();
    assert!(error.contains("unknown"), "{error}");
}
