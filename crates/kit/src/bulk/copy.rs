//! Inserting many rows on PostgreSQL with `COPY ... FROM STDIN`: the rows travel as one stream of
//! text, with no statement for the service to build or the server to parse, and no parameter to
//! bind per value. Storing a row then costs the server about what a multi-row `INSERT` does; the
//! saving is around it, in both processes (docs/performance.md). `COPY` needs the driver's own
//! connection, which a sea-orm transaction keeps out of reach, so only a writer holding one can
//! use it (see [`crate::group_commit::PostgresBatchWriter`]).

use std::fmt::Write as _;

use sea_orm::{ActiveModelTrait, DbErr, EntityTrait, IdenStatic, IntoActiveModel, Iterable, Value, sqlx::PgConnection};

use crate::db::postgres_error;

/// Inserts `rows` into `E`'s table, every column in the entity's order, in one `COPY`; returns
/// the rows written. Every row is encoded before the copy starts, so a value with no text form
/// fails the call without a half-sent stream.
pub async fn copy_in<E>(conn: &mut PgConnection, rows: impl IntoIterator<Item = E::Model>) -> Result<u64, DbErr>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
{
    let columns: Vec<E::Column> = E::Column::iter().collect();
    let rows = rows.into_iter();
    // Room for rows of a few hundred bytes, so the text is rarely moved as it grows.
    let mut text = String::with_capacity(rows.size_hint().0 * 256);
    let mut count = 0u64;
    for row in rows {
        let mut row = row.into_active_model();
        for (position, column) in columns.iter().enumerate() {
            if position > 0 {
                text.push('\t');
            }
            write_value(&mut text, row.take(*column).into_value())?;
        }
        text.push('\n');
        count += 1;
    }
    if count == 0 {
        return Ok(0);
    }
    let names: Vec<String> = columns.iter().map(|column| format!("\"{}\"", column.as_str())).collect();
    let statement = format!("COPY \"{}\" ({}) FROM STDIN", E::default().table_name(), names.join(", "));
    let mut copy = conn.copy_in_raw(&statement).await.map_err(postgres_error)?;
    copy.send(text.into_bytes()).await.map_err(postgres_error)?;
    copy.finish().await.map_err(postgres_error)
}

/// A value in `COPY`'s text format: `\N` for NULL (and for a column the row does not set), text
/// with its backslashes, tabs and line breaks escaped, bytes as escaped hex.
fn write_value(out: &mut String, value: Option<Value>) -> Result<(), DbErr> {
    fn number(out: &mut String, value: impl std::fmt::Display) {
        let _ = write!(out, "{value}");
    }
    match value {
        None => out.push_str("\\N"),
        Some(value) => match value {
            Value::Bool(Some(v)) => out.push(if v { 't' } else { 'f' }),
            Value::TinyInt(Some(v)) => number(out, v),
            Value::SmallInt(Some(v)) => number(out, v),
            Value::Int(Some(v)) => number(out, v),
            Value::BigInt(Some(v)) => number(out, v),
            Value::TinyUnsigned(Some(v)) => number(out, v),
            Value::SmallUnsigned(Some(v)) => number(out, v),
            Value::Unsigned(Some(v)) => number(out, v),
            Value::BigUnsigned(Some(v)) => number(out, v),
            Value::Float(Some(v)) => float(out, v.into()),
            Value::Double(Some(v)) => float(out, v),
            Value::String(Some(v)) => escape(out, &v),
            Value::Bytes(Some(v)) => hex(out, &v),
            Value::Bool(None)
            | Value::TinyInt(None)
            | Value::SmallInt(None)
            | Value::Int(None)
            | Value::BigInt(None)
            | Value::TinyUnsigned(None)
            | Value::SmallUnsigned(None)
            | Value::Unsigned(None)
            | Value::BigUnsigned(None)
            | Value::Float(None)
            | Value::Double(None)
            | Value::String(None)
            | Value::Bytes(None) => out.push_str("\\N"),
            other => return Err(DbErr::Type(format!("no COPY text form for {other:?}"))),
        },
    }
    Ok(())
}

/// Rust prints the shortest digits that read back as the same number; PostgreSQL spells the
/// non-finite ones its own way.
fn float(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        let _ = write!(out, "{value}");
    }
}

fn escape(out: &mut String, text: &str) {
    if !text.bytes().any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r')) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// `bytea` in hex (`\x0a1b`), its backslash escaped for `COPY`.
fn hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(3 + bytes.len() * 2);
    out.push_str("\\\\x");
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::write_value;
    use sea_orm::Value;

    fn text(value: Value) -> String {
        let mut out = String::new();
        write_value(&mut out, Some(value)).unwrap();
        out
    }

    #[test]
    fn values_take_copys_text_form() {
        assert_eq!(text(Value::String(Some("a\tb\nc\\d\re".into()))), "a\\tb\\nc\\\\d\\re");
        assert_eq!(text(Value::String(Some("投诉 plain".into()))), "投诉 plain");
        assert_eq!(text(Value::String(None)), "\\N");
        assert_eq!(text(Value::BigInt(Some(-42))), "-42");
        assert_eq!(text(Value::Int(None)), "\\N");
        assert_eq!(text(Value::Bool(Some(true))), "t");
        assert_eq!(text(Value::Double(Some(0.1))), "0.1");
        assert_eq!(text(Value::Double(Some(f64::NEG_INFINITY))), "-Infinity");
        assert_eq!(text(Value::Bytes(Some(vec![0x00, 0xab, 0x0f]))), "\\\\x00ab0f");
        let mut out = String::new();
        write_value(&mut out, None).unwrap();
        assert_eq!(out, "\\N");
    }
}
