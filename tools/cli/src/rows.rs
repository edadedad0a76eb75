//! Reading an input file (an import, a labelled set) row by row: CSV with a header, or JSON lines of flat objects with the same
//! keys. Each row keeps its line number and its original text, so a refused row can be written back
//! out exactly as it came in, with the reason beside it.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::Path,
};

/// How an input file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated, with a header row naming the columns.
    Csv,
    /// One JSON object per line, keyed by the same column names.
    Jsonl,
}

impl Format {
    /// The format `path`'s extension names, unless given.
    pub fn of(path: &Path, given: Option<Format>) -> anyhow::Result<Format> {
        if let Some(format) = given {
            return Ok(format);
        }
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Ok(Format::Csv),
            "jsonl" | "ndjson" | "json" => Ok(Format::Jsonl),
            _ => anyhow::bail!(
                "cannot tell how {} is written from its extension: name it .csv or .jsonl, or give --format csv|jsonl",
                path.display()
            ),
        }
    }
}

/// One row of the input.
#[derive(Debug, Clone)]
pub struct Row {
    /// Line of the file the row starts on; the header of a CSV file is line 1.
    pub line: u64,
    /// Column and value, values trimmed; columns in their canonical names.
    pub fields: Vec<(String, String)>,
    /// The row as it was: the CSV fields, or the JSON line.
    pub original: Vec<String>,
}

impl Row {
    /// The value of `column`, when given and not empty.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.fields.iter().find(|(c, v)| c == column && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    pub fn required(&self, column: &str) -> Result<&str, String> {
        self.get(column).ok_or_else(|| format!("{column} is required"))
    }
}

/// A row, or a line that could not be read as one (with why).
pub type Read = Result<Row, (u64, String, Vec<String>)>;

/// The rows of a file.
pub struct Rows {
    source: Source,
    /// Bytes read so far, for progress.
    pub position: u64,
    /// Original column names of a CSV file, for the rejects file.
    pub header: Vec<String>,
}

enum Source {
    Csv { reader: csv::Reader<File>, columns: Vec<String> },
    Jsonl { lines: std::io::Lines<BufReader<File>>, line: u64 },
}

/// Columns every kind of row may carry that the importer itself ignores: those a rejects file
/// adds, so a corrected rejects file imports like the original.
const IGNORED: [&str; 2] = ["row", "reason"];

impl Rows {
    /// Opens `path`; `canonical` maps a written column name to its canonical one, or refuses it.
    pub fn open(path: &Path, format: Format, canonical: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let file = File::open(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        match format {
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
                let header: Vec<String> = reader
                    .headers()
                    .map_err(|e| anyhow::anyhow!("{}: the header row: {e}", path.display()))?
                    .iter()
                    .map(str::to_string)
                    .collect();
                let mut columns = Vec::with_capacity(header.len());
                let mut unknown = Vec::new();
                for name in &header {
                    let key = normalise(name);
                    match canonical(&key) {
                        Some(column) => columns.push(column),
                        None if IGNORED.contains(&key.as_str()) => columns.push(String::new()),
                        None => unknown.push(name.clone()),
                    }
                }
                if !unknown.is_empty() {
                    anyhow::bail!("{}: unknown columns {}", path.display(), unknown.join(", "));
                }
                Ok(Self { source: Source::Csv { reader, columns }, position: 0, header })
            }
            Format::Jsonl => Ok(Self {
                source: Source::Jsonl { lines: BufReader::new(file).lines(), line: 0 },
                position: 0,
                header: vec!["line".into()],
            }),
        }
    }

    /// The next row; `canonical` as for [`Rows::open`].
    pub fn next(&mut self, canonical: &dyn Fn(&str) -> Option<String>) -> Option<Read> {
        match &mut self.source {
            Source::Csv { reader, columns } => {
                let mut record = csv::ByteRecord::new();
                let line = reader.position().line();
                match reader.read_byte_record(&mut record) {
                    Ok(false) => None,
                    Ok(true) => {
                        self.position = reader.position().byte();
                        Some(csv_row(&record, columns, record.position().map_or(line, |p| p.line())))
                    }
                    Err(e) => Some(Err((line + 1, format!("unreadable CSV: {e}"), Vec::new()))),
                }
            }
            Source::Jsonl { lines, line } => loop {
                *line += 1;
                let text = match lines.next()? {
                    Ok(text) => text,
                    Err(e) => return Some(Err((*line, format!("unreadable line: {e}"), Vec::new()))),
                };
                self.position += text.len() as u64 + 1;
                if text.trim().is_empty() {
                    continue;
                }
                return Some(json_row(*line, text, canonical));
            },
        }
    }
}

fn csv_row(record: &csv::ByteRecord, columns: &[String], line: u64) -> Read {
    let original: Vec<String> = record.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    if record.len() != columns.len() {
        let reason = format!("{} fields where the header has {}", record.len(), columns.len());
        return Err((line, reason, original));
    }
    let mut fields = Vec::with_capacity(columns.len());
    for (column, raw) in columns.iter().zip(record.iter()) {
        let Ok(value) = std::str::from_utf8(raw) else {
            return Err((line, format!("{column} is not UTF-8 text"), original));
        };
        if !column.is_empty() {
            fields.push((column.clone(), value.trim().to_string()));
        }
    }
    Ok(Row { line, fields, original })
}

fn json_row(line: u64, text: String, canonical: &dyn Fn(&str) -> Option<String>) -> Read {
    let object = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(object)) => object,
        Ok(_) => return Err((line, "not a JSON object".into(), vec![text])),
        Err(e) => return Err((line, format!("not JSON: {e}"), vec![text])),
    };
    let mut fields = Vec::with_capacity(object.len());
    for (key, value) in object {
        let name = normalise(&key);
        let Some(column) = canonical(&name) else {
            if IGNORED.contains(&name.as_str()) {
                continue;
            }
            return Err((line, format!("unknown field {key:?}"), vec![text]));
        };
        let value = match value {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.trim().to_string(),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(";"),
            other => other.to_string(),
        };
        fields.push((column, value));
    }
    Ok(Row { line, fields, original: vec![text] })
}

/// A column name as written (`Phone Number`, `phone-number`) in the form the tables use.
pub fn normalise(name: &str) -> String {
    name.trim().trim_start_matches('\u{feff}').to_lowercase().replace(['-', ' '], "_")
}
