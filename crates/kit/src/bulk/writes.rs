//! A batch's writes on PostgreSQL sent as one statement: each insert, upsert or update is a part of
//! it (`WITH w0 AS (INSERT ...), w1 AS (UPDATE ...) SELECT ...`), each part's rows bound column by
//! column as arrays and unnested on the server. Under load a round trip waits for a core on each
//! side, so a batch paid more for the trips (two for each `COPY`, one for each other statement)
//! than PostgreSQL spent storing its rows; as one statement the writes and the batch's events cost
//! one trip (docs/performance.md).
//!
//! The parts run on one snapshot, in no set order: none may read what another writes, and no two
//! may touch the same row. A batch writes its new rows with inserts and the rows it found stored
//! with updates, so its parts are disjoint by construction. Reads go to the connection at once;
//! only the writes wait for [`Writes::execute`], which is why a batch reads before it writes.
//!
//! Arrays are bound in the driver's binary form, NULLs included, so no value is parsed from text;
//! every part has one shape whatever the number of rows, so each statement is prepared once per
//! connection for each mix of parts a batch has.

use sea_orm::{
    ActiveModelTrait, DbErr, EntityTrait, IdenStatic, IntoActiveModel, Iterable, Value,
    sqlx::{Arguments as _, PgConnection, postgres::PgArguments},
};

use crate::db::postgres_error;

/// Writes gathered for one statement. Nothing reaches the database before [`Writes::execute`].
#[derive(Default)]
pub struct Writes {
    parts: Vec<(String, String)>,
    arguments: PgArguments,
}

impl std::fmt::Debug for Writes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writes").field("parts", &self.parts.len()).finish()
    }
}

impl Writes {
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Inserts `rows` into `E`'s table, every column in the entity's order.
    pub fn insert<E>(&mut self, rows: impl IntoIterator<Item = E::Model>) -> Result<(), DbErr>
    where
        E: EntityTrait,
        E::Model: IntoActiveModel<E::ActiveModel>,
    {
        self.insert_or_upsert::<E>(rows, None)
    }

    /// Inserts `rows`, or where one with the same `conflict` key is stored, sets its `updates`
    /// columns to the row's.
    pub fn upsert<E>(
        &mut self,
        rows: impl IntoIterator<Item = E::Model>,
        conflict: E::Column,
        updates: &[E::Column],
    ) -> Result<(), DbErr>
    where
        E: EntityTrait,
        E::Model: IntoActiveModel<E::ActiveModel>,
    {
        let sets: Vec<String> = updates.iter().map(|c| format!("\"{0}\" = excluded.\"{0}\"", c.as_str())).collect();
        let conflict = format!(" ON CONFLICT (\"{}\") DO UPDATE SET {}", conflict.as_str(), sets.join(", "));
        self.insert_or_upsert::<E>(rows, Some(conflict))
    }

    /// Sets the `set` columns of the stored rows whose `key` matches one of `rows`' to the row's.
    pub fn update<E>(
        &mut self,
        rows: impl IntoIterator<Item = E::Model>,
        key: E::Column,
        set: &[E::Column],
    ) -> Result<(), DbErr>
    where
        E: EntityTrait,
        E::Model: IntoActiveModel<E::ActiveModel>,
    {
        let columns: Vec<E::Column> = std::iter::once(key).chain(set.iter().copied()).collect();
        let Some(arrays) = column_arrays::<E>(rows, &columns)? else {
            return Ok(());
        };
        let unnest = self.bind_arrays(arrays)?;
        let sets: Vec<String> = set.iter().map(|c| format!("\"{0}\" = r.\"{0}\"", c.as_str())).collect();
        let sql = format!(
            "UPDATE \"{table}\" AS o SET {sets} FROM {unnest} AS r({names}) WHERE o.\"{key}\" = r.\"{key}\"",
            table = E::default().table_name(),
            sets = sets.join(", "),
            names = quoted_names(&columns),
            key = key.as_str(),
        );
        self.push(sql);
        Ok(())
    }

    fn insert_or_upsert<E>(
        &mut self,
        rows: impl IntoIterator<Item = E::Model>,
        conflict: Option<String>,
    ) -> Result<(), DbErr>
    where
        E: EntityTrait,
        E::Model: IntoActiveModel<E::ActiveModel>,
    {
        let columns: Vec<E::Column> = E::Column::iter().collect();
        let Some(arrays) = column_arrays::<E>(rows, &columns)? else {
            return Ok(());
        };
        let unnest = self.bind_arrays(arrays)?;
        let sql = format!(
            "INSERT INTO \"{}\" ({}) SELECT * FROM {unnest} AS r{}",
            E::default().table_name(),
            quoted_names(&columns),
            conflict.unwrap_or_default()
        );
        self.push(sql);
        Ok(())
    }

    /// Adds a part written by the caller, named `name` for the parts and the final query to read.
    pub(crate) fn push_named(&mut self, name: &str, sql: String) {
        self.parts.push((name.to_string(), sql));
    }

    fn push(&mut self, sql: String) {
        let name = format!("w{}", self.parts.len());
        self.parts.push((name, sql));
    }

    /// Binds `value`; returns its placeholder.
    pub(crate) fn bind(&mut self, value: i64) -> Result<String, DbErr> {
        self.arguments.add(value).map_err(|e| DbErr::Type(e.to_string()))?;
        Ok(format!("${}", self.arguments.len()))
    }

    /// Binds each array; returns the rows they make ([`super::arrays_as_rows`]).
    pub(crate) fn bind_arrays(&mut self, arrays: Vec<ColumnArray>) -> Result<String, DbErr> {
        let mut placeholders = Vec::with_capacity(arrays.len());
        for array in arrays {
            let sql_type = array.sql_type();
            array.bind(&mut self.arguments)?;
            placeholders.push(format!("${}::{sql_type}[]", self.arguments.len()));
        }
        Ok(super::arrays_as_rows(&placeholders))
    }

    /// Runs every part in one statement on `conn`.
    pub async fn execute(self, conn: &mut PgConnection) -> Result<(), DbErr> {
        if self.is_empty() {
            return Ok(());
        }
        self.fetch_number(conn, "SELECT 0::int8").await?;
        Ok(())
    }

    /// Runs every part in one statement on `conn`, then `query`, which reads one number from the
    /// parts it names.
    pub(crate) async fn fetch_number(self, conn: &mut PgConnection, query: &str) -> Result<i64, DbErr> {
        let parts: Vec<String> = self.parts.iter().map(|(name, sql)| format!("{name} AS ({sql})")).collect();
        let sql = format!("WITH {} {query}", parts.join(", "));
        sea_orm::sqlx::query_scalar_with(sea_orm::sqlx::AssertSqlSafe(sql), self.arguments)
            .fetch_one(conn)
            .await
            .map_err(postgres_error)
    }
}

/// `"a", "b"`: column names as SQL identifiers.
pub(crate) fn quoted_names<C: IdenStatic>(columns: &[C]) -> String {
    columns.iter().map(|c| format!("\"{}\"", c.as_str())).collect::<Vec<_>>().join(", ")
}

/// `rows`' values of `columns`, one array per column; `None` when there are no rows.
pub(crate) fn column_arrays<E>(
    rows: impl IntoIterator<Item = E::Model>,
    columns: &[E::Column],
) -> Result<Option<Vec<ColumnArray>>, DbErr>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
{
    let mut arrays: Vec<ColumnArray> = Vec::new();
    for row in rows {
        let mut row = row.into_active_model();
        let first = arrays.is_empty();
        for (position, column) in columns.iter().enumerate() {
            let value = row
                .take(*column)
                .into_value()
                .ok_or_else(|| DbErr::Type(format!("column {} has no value", column.as_str())))?;
            if first {
                arrays.push(ColumnArray::of(&value, column.as_str())?);
            }
            arrays[position].push(value, column.as_str())?;
        }
    }
    Ok((!arrays.is_empty()).then_some(arrays))
}

/// One column's values, bound as one array parameter of the column's type.
pub(crate) enum ColumnArray {
    Bool(Vec<Option<bool>>),
    Int2(Vec<Option<i16>>),
    Int4(Vec<Option<i32>>),
    Int8(Vec<Option<i64>>),
    Float4(Vec<Option<f32>>),
    Float8(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
    Bytea(Vec<Option<Vec<u8>>>),
}

impl ColumnArray {
    /// An empty array for values like `value`.
    pub(super) fn of(value: &Value, column: &str) -> Result<Self, DbErr> {
        Ok(match value {
            Value::Bool(_) => Self::Bool(Vec::new()),
            Value::SmallInt(_) => Self::Int2(Vec::new()),
            Value::Int(_) => Self::Int4(Vec::new()),
            Value::BigInt(_) => Self::Int8(Vec::new()),
            Value::Float(_) => Self::Float4(Vec::new()),
            Value::Double(_) => Self::Float8(Vec::new()),
            Value::String(_) => Self::Text(Vec::new()),
            Value::Bytes(_) => Self::Bytea(Vec::new()),
            other => return Err(DbErr::Type(format!("column {column}: no array parameter for {other:?}"))),
        })
    }

    pub(super) fn push(&mut self, value: Value, column: &str) -> Result<(), DbErr> {
        match (self, value) {
            (Self::Bool(values), Value::Bool(value)) => values.push(value),
            (Self::Int2(values), Value::SmallInt(value)) => values.push(value),
            (Self::Int4(values), Value::Int(value)) => values.push(value),
            (Self::Int8(values), Value::BigInt(value)) => values.push(value),
            (Self::Float4(values), Value::Float(value)) => values.push(value),
            (Self::Float8(values), Value::Double(value)) => values.push(value),
            (Self::Text(values), Value::String(value)) => values.push(value),
            (Self::Bytea(values), Value::Bytes(value)) => values.push(value),
            (_, other) => return Err(DbErr::Type(format!("column {column}: {other:?} among values of another type"))),
        }
        Ok(())
    }

    /// The array as one sea-orm value, for a statement run through sea-orm, whose arrays hold no
    /// NULL.
    pub(crate) fn into_value(self) -> Result<Value, DbErr> {
        fn all<T>(values: Vec<Option<T>>) -> Result<Vec<T>, DbErr> {
            values.into_iter().collect::<Option<Vec<T>>>().ok_or_else(|| DbErr::Type("NULL in a sea-orm array".into()))
        }
        Ok(match self {
            Self::Bool(values) => all(values)?.into(),
            Self::Int2(values) => all(values)?.into(),
            Self::Int4(values) => all(values)?.into(),
            Self::Int8(values) => all(values)?.into(),
            Self::Float4(values) => all(values)?.into(),
            Self::Float8(values) => all(values)?.into(),
            Self::Text(values) => all(values)?.into(),
            Self::Bytea(values) => all(values)?.into(),
        })
    }

    /// The array as two sea-orm values, for a column that may hold NULL: its values, each NULL
    /// replaced by the type's default, and whether each was NULL.
    pub(super) fn into_values_and_nulls(self) -> (Value, Value) {
        fn split<T: Default>(values: Vec<Option<T>>) -> (Value, Value)
        where
            Vec<T>: Into<Value>,
        {
            let nulls: Vec<bool> = values.iter().map(Option::is_none).collect();
            let present: Vec<T> = values.into_iter().map(Option::unwrap_or_default).collect();
            (present.into(), nulls.into())
        }
        match self {
            Self::Bool(values) => split(values),
            Self::Int2(values) => split(values),
            Self::Int4(values) => split(values),
            Self::Int8(values) => split(values),
            Self::Float4(values) => split(values),
            Self::Float8(values) => split(values),
            Self::Text(values) => split(values),
            Self::Bytea(values) => split(values),
        }
    }

    pub(crate) fn sql_type(&self) -> &'static str {
        match self {
            Self::Bool(_) => "bool",
            Self::Int2(_) => "int2",
            Self::Int4(_) => "int4",
            Self::Int8(_) => "int8",
            Self::Float4(_) => "float4",
            Self::Float8(_) => "float8",
            Self::Text(_) => "text",
            Self::Bytea(_) => "bytea",
        }
    }

    fn bind(self, arguments: &mut PgArguments) -> Result<(), DbErr> {
        match self {
            Self::Bool(values) => arguments.add(values),
            Self::Int2(values) => arguments.add(values),
            Self::Int4(values) => arguments.add(values),
            Self::Int8(values) => arguments.add(values),
            Self::Float4(values) => arguments.add(values),
            Self::Float8(values) => arguments.add(values),
            Self::Text(values) => arguments.add(values),
            Self::Bytea(values) => arguments.add(values),
        }
        .map_err(|e| DbErr::Type(e.to_string()))
    }
}
