//! The starter model's figures on its independent evaluation set: the whole routing decision
//! (rules, model, branch back-off, triage) per language, as a fresh install would route.
//!
//! cargo run --release -p csm-classification --example starter_model
//! cargo run --release -p csm-classification --example starter_model -- "信号很差" "billing dispute"
//!
//! With texts as arguments, it prints where each would be routed instead.

#![allow(clippy::print_stdout)] // A report for people, on standard output.

use std::{collections::HashMap, time::Instant};

use csm_classification::{
    engine::{Classifier, LoadedTextModel},
    routing_evaluation, starter,
    taxonomy::{self, Taxonomy},
};

fn main() -> anyhow::Result<()> {
    let taxonomy =
        || -> anyhow::Result<Taxonomy> { Ok(Taxonomy::new(taxonomy::parse(taxonomy::DEFAULT_DOCUMENT)?, 1, 0)?) };
    let started = Instant::now();
    let trained = starter::models().map_err(anyhow::Error::msg)?;
    let models = &trained.models;
    let features: Vec<String> = models.iter().map(|(view, m)| format!("{view} {}", m.feature_count())).collect();
    println!(
        "trained on {} texts in {:.2} s; features: {}",
        trained.examples,
        started.elapsed().as_secs_f64(),
        features.join(", ")
    );
    let loaded = |only_rules: bool| -> HashMap<String, LoadedTextModel> {
        if only_rules {
            return HashMap::new();
        }
        models
            .iter()
            .map(|(view, model)| {
                (view.clone(), LoadedTextModel { name: format!("starter/{view}"), model: model.clone() })
            })
            .collect()
    };
    let with_model = Classifier::new(taxonomy()?, loaded(false));
    let mut without_rules_doc = taxonomy::parse(taxonomy::DEFAULT_DOCUMENT)?;
    without_rules_doc.rules.clear();
    let model_only = Classifier::new(Taxonomy::new(without_rules_doc, 1, 0)?, loaded(false));
    let rules_only = Classifier::new(taxonomy()?, loaded(true));
    let texts: Vec<String> = std::env::args().skip(1).collect();
    if !texts.is_empty() {
        for text in &texts {
            let subject = csm_classification::rules::Subject { text, ..Default::default() };
            if let Some(decision) = with_model.classify(&subject) {
                let routing = decision.routing();
                println!(
                    "{text}\t{}\t{}\t{:?}\t{:.2}",
                    routing.leaf.key, routing.leaf.department, routing.method, routing.confidence
                );
            }
        }
        return Ok(());
    }
    println!(
        "{:<4} {:<12} {:>6} {:>8} {:>11} {:>7} {:>7} {:>6} {:>6} {:>6}",
        "set", "routing", "texts", "leaf", "department", "triage", "review", "rule", "model", "branch"
    );
    for (language, examples) in starter::evaluation()? {
        for (name, classifier) in
            [("rules+model", &with_model), ("model only", &model_only), ("rules only", &rules_only)]
        {
            let f =
                routing_evaluation::evaluate(classifier, examples.iter().map(|e| (e.text.as_str(), e.cause.as_str())));
            println!(
                "{language:<4} {name:<12} {:>6} {:>7.1}% {:>10.1}% {:>6.1}% {:>6.1}% {:>6} {:>6} {:>6}",
                f.examples,
                100.0 * f.leaf_accuracy(),
                100.0 * f.department_accuracy(),
                100.0 * f.triage_rate(),
                100.0 * f.review_rate(),
                f.by_rule,
                f.by_model,
                f.by_branch
            );
        }
    }
    Ok(())
}
