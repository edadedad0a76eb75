//! Labelled texts from a file: either long (`text,leaf[,view]`: one leaf per row) or wide (`text`
//! and one column per view, as classification's starter corpus is written:
//! `{"text": ..., "cause": ..., "complaint": ...}`).

use std::path::Path;

use csm_proto::classification::v1::LabelledText;

use crate::rows::{self, Format, Rows};

/// The examples in `path`; `view` is the view of a long file without a view column.
pub fn read(path: &Path, format: Option<Format>, view: &str) -> anyhow::Result<Vec<LabelledText>> {
    let format = Format::of(path, format)?;
    // Any column is accepted: besides text, leaf and view, a column names a view.
    let canonical = |name: &str| Some(name.to_string());
    let mut rows = Rows::open(path, format, &canonical)?;
    let mut examples = Vec::new();
    let mut problems = Vec::new();
    while let Some(read) = rows.next(&canonical) {
        let row = match read {
            Ok(row) => row,
            Err((line, reason, _)) => {
                problems.push(format!("line {line}: {reason}"));
                continue;
            }
        };
        let Some(text) = row.get("text") else {
            problems.push(format!("line {}: text is required", row.line));
            continue;
        };
        let mut example = LabelledText { text: text.to_string(), ..LabelledText::default() };
        if row.fields.iter().any(|(column, _)| column == "leaf") {
            let Some(leaf) = row.get("leaf") else {
                problems.push(format!("line {}: leaf is required", row.line));
                continue;
            };
            let view = row.get("view").unwrap_or(view);
            example.leaves.insert(view.to_string(), leaf.to_string());
        } else {
            for (column, value) in &row.fields {
                if column != "text" && column != "view" && !value.is_empty() {
                    example.leaves.insert(column.clone(), value.clone());
                }
            }
            if example.leaves.is_empty() {
                problems.push(format!("line {}: no leaf (give a leaf column, or one column per view)", row.line));
                continue;
            }
        }
        examples.push(example);
    }
    if !problems.is_empty() {
        let shown: Vec<&str> = problems.iter().take(10).map(String::as_str).collect();
        let more = problems.len().saturating_sub(shown.len());
        let more = if more > 0 { format!("\n  and {more} more") } else { String::new() };
        anyhow::bail!("{}: {} rows cannot be used:\n  {}{more}", path.display(), problems.len(), shown.join("\n  "));
    }
    if examples.is_empty() {
        anyhow::bail!("{} has no labelled texts", path.display());
    }
    Ok(examples)
}

/// Every `1 / fraction`-th example set aside for evaluation, spread evenly through the file.
pub fn split(examples: Vec<LabelledText>, fraction: f64) -> (Vec<LabelledText>, Vec<LabelledText>) {
    if fraction <= 0.0 {
        return (examples, Vec::new());
    }
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (i, example) in examples.into_iter().enumerate() {
        let before = (i as f64 * fraction).floor();
        let after = ((i + 1) as f64 * fraction).floor();
        if after > before { held.push(example) } else { train.push(example) }
    }
    (train, held)
}

/// Whether the file is long (a leaf column) and lacks a view column, so the view must be known.
pub fn needs_view(path: &Path, format: Option<Format>) -> anyhow::Result<bool> {
    let format = Format::of(path, format)?;
    let canonical = |name: &str| Some(name.to_string());
    let mut rows = Rows::open(path, format, &canonical)?;
    let columns: Vec<String> = match format {
        Format::Csv => rows.header.iter().map(|h| rows::normalise(h)).collect(),
        Format::Jsonl => match rows.next(&canonical) {
            Some(Ok(row)) => row.fields.into_iter().map(|(c, _)| c).collect(),
            _ => Vec::new(),
        },
    };
    Ok(columns.iter().any(|c| c == "leaf") && !columns.iter().any(|c| c == "view"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifth_is_held_out_evenly() {
        let examples: Vec<LabelledText> =
            (0..10).map(|i| LabelledText { text: i.to_string(), ..Default::default() }).collect();
        let (train, held) = split(examples, 0.2);
        assert_eq!((train.len(), held.len()), (8, 2));
        assert_eq!(held[0].text, "4");
    }
}
