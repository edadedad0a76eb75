//! Text models and their scores as tables.

use comfy_table::Table;
use csm_proto::classification::v1::{TextModel, TextModelEvaluation};

use crate::output::{self, Out};

/// One row per model.
pub fn models(models: &[TextModel]) -> Table {
    let mut table = output::table([
        "model",
        "view",
        "taxonomy",
        "leaves",
        "examples",
        "features",
        "review below",
        "seconds",
        "in force",
        "created",
    ]);
    for m in models {
        table.add_row([
            m.name.clone(),
            m.view.clone(),
            m.taxonomy_version.clone(),
            m.leaves.len().to_string(),
            m.examples.to_string(),
            m.features.to_string(),
            format!("{:.2}", m.review_threshold),
            format!("{:.1}", m.training_seconds),
            if m.active { "yes".into() } else { String::new() },
            output::time(m.create_time.as_ref()),
        ]);
    }
    table
}

/// The overall scores of each model, then each model's scores per leaf.
pub fn evaluations(out: Out<'_>, evaluations: &[TextModelEvaluation]) -> anyhow::Result<()> {
    let mut overall = output::table([
        "model",
        "view",
        "texts",
        "accuracy",
        "macro F1",
        "sent to review",
        "accuracy of the rest",
        "calibration error",
        "unknown leaves",
    ]);
    for e in evaluations {
        overall.add_row([
            e.text_model.clone(),
            e.view.clone(),
            e.examples.to_string(),
            output::percent(e.accuracy),
            format!("{:.3}", e.macro_f1),
            output::percent(e.review_rate),
            output::percent(e.accuracy_without_review),
            format!("{:.3}", e.calibration_error),
            e.unknown_leaves.to_string(),
        ]);
    }
    writeln!(out, "{overall}")?;
    for e in evaluations {
        writeln!(out, "\n{} ({}) by leaf:", e.text_model, e.view)?;
        let mut table = output::table(["leaf", "texts", "precision", "recall", "F1"]);
        for class in e.classes.iter().filter(|c| c.support > 0) {
            table.add_row([
                class.leaf.clone(),
                class.support.to_string(),
                format!("{:.3}", class.precision),
                format!("{:.3}", class.recall),
                format!("{:.3}", class.f1),
            ]);
        }
        writeln!(out, "{table}")?;
    }
    Ok(())
}
