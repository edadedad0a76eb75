//! `csm model`: a labelled file trained in parts as a job, waited on, and scored on the texts held
//! out of it; the models listed and evaluated.

use csm_cli::output::Outcome;

use super::expect;
use crate::support::TestSystem;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../services/classification/taxonomy/starter");

/// The first `n` texts of a leaf's file in the shipped corpus.
fn texts(leaf: &str, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(format!("{CORPUS}/train/{leaf}.jsonl")).unwrap();
    text.lines()
        .take(n)
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_from_a_file_waits_for_the_job_and_prints_the_metrics() {
    let t = TestSystem::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("labelled.csv");
    let mut writer = csv::Writer::from_path(&file).unwrap();
    writer.write_record(["text", "leaf"]).unwrap();
    let leaves = ["system.billing_error", "system.coverage", "service.attitude", "business.sp_fee"];
    for leaf in leaves {
        for text in texts(leaf, 30) {
            writer.write_record([text.as_str(), leaf]).unwrap();
        }
    }
    writer.flush().unwrap();
    let path = file.to_str().unwrap();

    // Parts of 25 examples: the 96 training examples go in four AddTrainingExamples calls.
    let args = ["model", "train", path, "--part-size", "25", "--holdout", "0.2"];
    let out = expect(&t, "administrator", &args, Outcome::Done).await;
    assert!(out.contains("trainingJobs/") && out.contains("on 96 examples"), "{out}");
    assert!(out.contains("stored, not in force"), "{out}");
    assert!(out.contains("scored on the 24 held-out texts"), "{out}");
    assert!(out.contains("accuracy") && out.contains("macro F1"), "{out}");
    for leaf in leaves {
        assert!(out.contains(leaf), "{leaf} in the per-leaf table: {out}");
    }
    let model = out.lines().find_map(|l| l.split_whitespace().find(|w| w.starts_with("textModels/"))).unwrap();

    let out = expect(&t, "analyst", &["model", "list", "--view", "cause"], Outcome::Done).await;
    assert!(out.contains(model), "{out}");

    // A wide file (a column per view), as the shipped evaluation set is written, scores the models
    // in force of both views.
    let evaluation = dir.path().join("evaluation.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(format!("{CORPUS}/evaluation/en.jsonl"))
        .unwrap()
        .lines()
        .take(40)
        .map(str::to_string)
        .collect();
    std::fs::write(&evaluation, lines.join("\n")).unwrap();
    let args = ["model", "evaluate", evaluation.to_str().unwrap(), "--json"];
    let out = expect(&t, "analyst", &args, Outcome::Done).await;
    let scored: serde_json::Value = serde_json::from_str(&out).unwrap();
    let views: Vec<&str> =
        scored["evaluations"].as_array().unwrap().iter().map(|e| e["view"].as_str().unwrap()).collect();
    assert!(views.contains(&"cause") && views.contains(&"complaint"), "{out}");
    t.stop().await;
}
