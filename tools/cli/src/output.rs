//! What the subcommands print: tables for people, JSON for scripts, and the exit status that
//! tells a script how it went.

use std::io::Write;

use chrono::{DateTime, Utc};
use comfy_table::{ContentArrangement, Table, presets};

/// How a subcommand ended, as the process's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked was done (exit code 0).
    Done,
    /// The command ran to the end, but some of its items were refused: rows of an import
    /// (exit code 2). Errors that stop a command are exit code 1.
    Partly,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::Partly => 2,
        }
    }
}

/// Exit code of a command that could not run or was stopped by an error.
pub const FAILED: u8 = 1;

/// Where a command writes what it has to say (standard output, or a buffer in tests).
pub type Out<'a> = &'a mut dyn Write;

/// A table with `header`, drawn with light lines.
pub fn table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_HORIZONTAL_ONLY).set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(header);
    table
}

/// `value` as pretty JSON followed by a newline.
pub fn json(out: Out<'_>, value: &serde_json::Value) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// One JSON value on one line (JSON lines).
pub fn json_line(out: Out<'_>, value: &serde_json::Value) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A protobuf time as people read it, in UTC to the second; empty when unset.
pub fn time(at: Option<&prost_types::Timestamp>) -> String {
    at.and_then(csm_kit::time::from_timestamp)
        .map_or_else(String::new, |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
}

/// `text` cut to `max` characters, with an ellipsis when cut.
pub fn clip(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let clipped: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() { format!("{clipped}…") } else { clipped }
}

/// A share as a percentage with one decimal.
pub fn percent(value: f64) -> String {
    format!("{:.1} %", value * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_counts_characters_not_bytes() {
        assert_eq!(clip("宽带断网两天了", 4), "宽带断网…");
        assert_eq!(clip("short", 10), "short");
    }
}
