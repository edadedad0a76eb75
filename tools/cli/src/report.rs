//! `csm report export`: measurement's report of a period, rendered by the service as HTML or CSV,
//! written to a file. A rendering may be one file or several (a table per file); one file goes to
//! `--out` itself unless it is a directory, several go into the `--out` directory under the names
//! the service gives them.

use std::path::{Path, PathBuf};

use csm_proto::measurement::v1::{GetReportRequest, RenderReportRequest, RenderedReport, ReportFormat};

use crate::{
    connect::Connection,
    output::{self, Out, Outcome},
};

#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// Write the report of a month to a file (or a directory, for several files).
    Export {
        /// The month reported, YYYY-MM in the operator's time zone.
        #[arg(long, value_parser = month)]
        period: String,
        #[arg(long, value_enum, default_value = "html")]
        format: Format,
        /// The file to write, or a directory to write into [default: the service's file name, here].
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        /// Root causes in the Pareto (at most 50).
        #[arg(long)]
        top_causes: Option<i32>,
        /// Print what was written as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Html,
    Csv,
}

/// One file of a rendering.
#[derive(Debug, Clone)]
pub struct ReportFile {
    pub file_name: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// The files a rendering is made of: one per table for CSV, the page for HTML; a service that
/// sends no list sends its one file as the rendering itself.
pub fn files(rendered: RenderedReport) -> Vec<ReportFile> {
    if rendered.files.is_empty() {
        return vec![ReportFile {
            file_name: rendered.file_name,
            content_type: rendered.content_type,
            content: rendered.content,
        }];
    }
    rendered
        .files
        .into_iter()
        .map(|file| ReportFile { file_name: file.name, content_type: file.content_type, content: file.content })
        .collect()
}

fn month(text: &str) -> Result<String, String> {
    chrono::NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .map(|_| text.to_string())
        .map_err(|_| format!("{text:?} is not a month: write it as YYYY-MM, for example 2026-11"))
}

pub async fn run(command: ReportCommand, out: Out<'_>) -> anyhow::Result<Outcome> {
    let ReportCommand::Export { period, format, out: path, top_causes, json, connection } = command;
    let (mut client, endpoint) = connection.connect()?.measurement()?;
    let request = RenderReportRequest {
        report: Some(GetReportRequest { month: period.clone(), top_causes: top_causes.unwrap_or_default() }),
        format: match format {
            Format::Html => ReportFormat::Html,
            Format::Csv => ReportFormat::Csv,
        } as i32,
    };
    let rendered = client.render_report(request).await.map_err(|s| endpoint.error("RenderReport", &s))?.into_inner();
    let written = write(files(rendered), path.as_deref(), &period, format)?;
    if json {
        let files: Vec<serde_json::Value> = written
            .iter()
            .map(|(path, file)| {
                serde_json::json!({"path": path, "contentType": file.content_type, "bytes": file.content.len()})
            })
            .collect();
        output::json(out, &serde_json::json!({ "period": period, "files": files }))?;
    } else {
        for (path, file) in &written {
            writeln!(out, "wrote {} ({} bytes, {})", path.display(), file.content.len(), file.content_type)?;
        }
    }
    Ok(Outcome::Done)
}

/// Writes the files: one to `out` (or into it, when it is a directory), several into the `out`
/// directory, created when missing.
fn write(
    files: Vec<ReportFile>,
    out: Option<&Path>,
    period: &str,
    format: Format,
) -> anyhow::Result<Vec<(PathBuf, ReportFile)>> {
    let into_directory = |dir: &Path, files: Vec<ReportFile>| -> anyhow::Result<Vec<(PathBuf, ReportFile)>> {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
        files
            .into_iter()
            .enumerate()
            .map(|(i, file)| {
                let name = safe_name(&file.file_name).map_or_else(|| default_name(period, format, i), str::to_string);
                let path = dir.join(name);
                save(&path, &file.content)?;
                Ok((path, file))
            })
            .collect()
    };
    match (out, files.len()) {
        (Some(dir), n) if n > 1 || dir.is_dir() || dir.as_os_str().to_string_lossy().ends_with('/') => {
            into_directory(dir, files)
        }
        (Some(path), _) => {
            let file = files.into_iter().next().ok_or_else(|| anyhow::anyhow!("measurement sent no report"))?;
            save(path, &file.content)?;
            Ok(vec![(path.to_path_buf(), file)])
        }
        (None, _) => into_directory(Path::new("."), files),
    }
}

fn save(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| anyhow::anyhow!("creating {}: {e}", parent.display()))?;
    }
    std::fs::write(path, content).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}

/// The service's file name, when it is a plain name (no directories).
fn safe_name(name: &str) -> Option<&str> {
    let plain = !name.is_empty() && !name.contains(['/', '\\']) && name != "." && name != "..";
    plain.then_some(name)
}

fn default_name(period: &str, format: Format, index: usize) -> String {
    let extension = match format {
        Format::Html => "html",
        Format::Csv => "csv",
    };
    if index == 0 {
        format!("csm-report-{period}.{extension}")
    } else {
        format!("csm-report-{period}-{index}.{extension}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> ReportFile {
        ReportFile { file_name: name.into(), content_type: "text/csv".into(), content: b"a,b\n1,2\n".to_vec() }
    }

    #[test]
    fn several_files_go_into_the_out_directory_and_one_file_to_out_itself() {
        let dir = tempfile::tempdir().unwrap();
        let tables = dir.path().join("tables");
        let written =
            write(vec![file("indicators.csv"), file("causes.csv")], Some(&tables), "2026-11", Format::Csv).unwrap();
        assert_eq!(written.len(), 2);
        assert!(tables.join("causes.csv").exists());
        let single = dir.path().join("report.csv");
        write(vec![file("x.csv")], Some(&single), "2026-11", Format::Csv).unwrap();
        assert!(single.is_file());
        write(vec![file("x.csv")], Some(dir.path()), "2026-11", Format::Csv).unwrap();
        assert!(dir.path().join("x.csv").is_file());
    }

    #[test]
    fn a_file_name_with_directories_is_not_trusted() {
        assert_eq!(safe_name("../../etc/passwd"), None);
        assert_eq!(safe_name("csm-report-2026-11.csv"), Some("csm-report-2026-11.csv"));
        assert!(month("2026-13").is_err());
    }
}
