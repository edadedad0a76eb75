//! `csm import contacts|events|surveys FILE`: rows of a CSV or JSON-lines file into intake's bulk
//! `Ingest`, a batch per stream, with a progress bar. Rows intake refuses, and rows that cannot be
//! read, go to a rejects file with their line and the reason, so the rest of the file still loads
//! and the refused rows can be fixed and imported again.

mod items;

use std::path::{Path, PathBuf};

use csm_proto::intake::v1::{IngestOutcome, IngestRequest};
use indicatif::{ProgressBar, ProgressStyle};

pub use items::{Kind, parse_time};

use crate::{
    connect::Connection,
    output::{self, Out, Outcome},
    rows::{Format, Row, Rows},
};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// What the file holds.
    pub kind: Kind,
    /// The file: CSV with a header row, or JSON lines (see docs/cli.md for the columns).
    pub file: PathBuf,
    /// How the file is written, when its extension (.csv, .jsonl) does not say.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Where refused rows are written, with their line and reason [default: FILE.rejects.csv].
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Rows sent in one Ingest stream.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    /// Time zone of times written without an offset (`2026-11-03 09:30`).
    #[arg(long, default_value = "Asia/Shanghai")]
    pub time_zone: chrono_tz::Tz,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: Connection,
}

/// What an import did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Summary {
    pub rows: u64,
    pub accepted: u64,
    /// Stored before (the same request id with the same content): nothing new stored.
    pub duplicates: u64,
    pub rejected: u64,
    pub work_orders: u64,
    /// Where the rejected rows are, when there are any.
    pub rejects_file: Option<PathBuf>,
}

struct Rejects {
    path: PathBuf,
    header: Vec<String>,
    writer: Option<csv::Writer<std::fs::File>>,
}

impl Rejects {
    fn write(&mut self, line: u64, reason: &str, original: &[String]) -> anyhow::Result<()> {
        if self.writer.is_none() {
            let mut writer = csv::WriterBuilder::new()
                .flexible(true)
                .from_path(&self.path)
                .map_err(|e| anyhow::anyhow!("writing rejects to {}: {e}", self.path.display()))?;
            let header = ["row".to_string(), "reason".to_string()].into_iter().chain(self.header.iter().cloned());
            writer.write_record(header)?;
            self.writer = Some(writer);
        }
        if let Some(writer) = &mut self.writer {
            let record = [line.to_string(), reason.to_string()].into_iter().chain(original.iter().cloned());
            writer.write_record(record)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<bool> {
        match &mut self.writer {
            Some(writer) => {
                writer.flush()?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

fn default_rejects(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".rejects.csv");
    PathBuf::from(name)
}

pub async fn run(args: ImportArgs, out: Out<'_>) -> anyhow::Result<Outcome> {
    let connected = args.connection.connect()?;
    let (mut client, endpoint) = connected.intake()?;
    let format = Format::of(&args.file, args.format)?;
    let kind = args.kind;
    let canonical = move |name: &str| kind.canonical(name).map(str::to_string);
    let mut rows = Rows::open(&args.file, format, &canonical)
        .map_err(|e| anyhow::anyhow!("{e}; the columns of {kind:?} are: {}", kind.column_names()))?;
    let rejects_path = args.rejects.clone().unwrap_or_else(|| default_rejects(&args.file));
    if rejects_path.exists() {
        // The rejects of an earlier import of the file; this import writes its own.
        std::fs::remove_file(&rejects_path)
            .map_err(|e| anyhow::anyhow!("replacing {}: {e}", rejects_path.display()))?;
    }
    let mut rejects = Rejects { path: rejects_path, header: rows.header.clone(), writer: None };
    let size = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
    let progress = ProgressBar::new(size);
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{bar:32}] {percent:>3}% {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );

    let mut summary = Summary::default();
    let mut batch: Vec<(Row, IngestRequest)> = Vec::new();
    while let Some(read) = rows.next(&canonical) {
        summary.rows += 1;
        match read {
            Ok(row) => match kind.item(&row, args.time_zone) {
                Ok(item) => {
                    let request = IngestRequest { item_id: row.line.to_string(), item: Some(item) };
                    batch.push((row, request));
                }
                Err(reason) => {
                    summary.rejected += 1;
                    rejects.write(row.line, &reason, &row.original)?;
                }
            },
            Err((line, reason, original)) => {
                summary.rejected += 1;
                rejects.write(line, &reason, &original)?;
            }
        }
        if batch.len() >= args.batch_size as usize {
            send(&mut client, &endpoint, std::mem::take(&mut batch), &mut summary, &mut rejects).await?;
        }
        progress.set_position(rows.position);
        progress.set_message(format!("{} rows, {} rejected", summary.rows, summary.rejected));
    }
    send(&mut client, &endpoint, batch, &mut summary, &mut rejects).await?;
    progress.finish_and_clear();
    if rejects.finish()? {
        summary.rejects_file = Some(rejects.path.clone());
    }
    report(out, &args, &summary)?;
    Ok(if summary.rejected > 0 { Outcome::Partly } else { Outcome::Done })
}

/// Sends one batch as an Ingest stream and counts what came back.
async fn send(
    client: &mut csm_proto::intake::v1::intake_service_client::IntakeServiceClient<crate::clients::Authenticated>,
    endpoint: &crate::connect::Endpoint,
    batch: Vec<(Row, IngestRequest)>,
    summary: &mut Summary,
    rejects: &mut Rejects,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let requests: Vec<IngestRequest> = batch.iter().map(|(_, request)| request.clone()).collect();
    let first_line = batch.first().map_or(0, |(row, _)| row.line);
    // Nothing stored yet: the error alone. Else where to resume, which importing again does.
    let started = summary.accepted + summary.duplicates > 0;
    let stopped = |status: &tonic::Status, line: u64, received: usize| {
        let error = endpoint.error("Ingest", status);
        if !started && received == 0 {
            return error;
        }
        anyhow::anyhow!(
            "{error}\nthe import stopped at line {line}: the rows before it are stored; import the file again to \
             finish (rows already stored come back as duplicates)"
        )
    };
    let mut results =
        client.ingest(tokio_stream::iter(requests)).await.map_err(|s| stopped(&s, first_line, 0))?.into_inner();
    let mut received = 0;
    loop {
        let next_line = batch.get(received).map_or(first_line, |(row, _)| row.line);
        let Some(result) = results.message().await.map_err(|s| stopped(&s, next_line, received))? else {
            break;
        };
        received += 1;
        let Some((row, _)) = usize::try_from(result.index).ok().and_then(|i| batch.get(i)) else {
            anyhow::bail!("intake answered for an item it was not sent (index {})", result.index);
        };
        match result.outcome() {
            IngestOutcome::Accepted => {
                summary.accepted += 1;
                summary.work_orders += u64::from(!result.work_order.is_empty());
            }
            IngestOutcome::Duplicate => summary.duplicates += 1,
            IngestOutcome::Rejected | IngestOutcome::Unspecified => {
                summary.rejected += 1;
                let reasons: Vec<String> =
                    result.violations.iter().map(|v| format!("{}: {}", v.field, v.description)).collect();
                let reason = if reasons.is_empty() { "refused by intake".to_string() } else { reasons.join("; ") };
                rejects.write(row.line, &reason, &row.original)?;
            }
        }
    }
    if received < batch.len() {
        let line = batch.get(received).map_or(first_line, |(row, _)| row.line);
        anyhow::bail!("intake ended the stream early at line {line}; import the file again to finish");
    }
    Ok(())
}

fn report(out: Out<'_>, args: &ImportArgs, summary: &Summary) -> anyhow::Result<()> {
    if args.json {
        return output::json(out, &serde_json::to_value(summary)?);
    }
    let file = args.file.display();
    writeln!(
        out,
        "{file}: {} rows; {} accepted, {} already stored, {} rejected; {} work orders opened",
        summary.rows, summary.accepted, summary.duplicates, summary.rejected, summary.work_orders
    )?;
    if let Some(path) = &summary.rejects_file {
        writeln!(out, "rejected rows, with their line and reason: {}", path.display())?;
    }
    Ok(())
}
