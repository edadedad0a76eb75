//! A batch's inserts on PostgreSQL through sea-orm in one statement, whatever the number of rows:
//! each column bound as one array and unnested on the server (`INSERT ... SELECT ... FROM (SELECT
//! unnest(...), ...)`). Multi-row `VALUES` need a statement for each power of two of rows (70 rows: 64,
//! 4 and 2), and each statement is a round trip, which under load waits for a core on both sides;
//! a feed transaction holding a lock others wait on pays for every one of them.
//!
//! sea-orm binds an array only when it holds no NULL, so a column that may be NULL travels as two
//! arrays: its values, a placeholder where NULL, and whether each is NULL. Which columns those are
//! comes from the entity, not from the rows, so a table's insert has one statement shape.

use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, DbBackend, EntityTrait, IdenStatic, Iterable, Statement, Value,
    sea_query::{OnConflict, PostgresQueryBuilder, QueryBuilder, SqlWriterValues},
};

use super::writes::{ColumnArray, quoted_names};

/// One column of the rows: its values, and whether it may be NULL.
struct Column<C> {
    column: C,
    nullable: bool,
    values: ColumnArray,
}

/// `rows` as one PostgreSQL statement inserting them into `E`'s table (or, with `on_conflict`,
/// upserting them). `None` when they cannot go as arrays: a column whose values have no array
/// form, or rows that do not all set the same columns; the caller inserts those the usual way.
pub(super) fn unnest_insert<E, A>(rows: &[A], on_conflict: Option<&OnConflict>) -> Option<Statement>
where
    E: EntityTrait,
    A: ActiveModelTrait<Entity = E>,
{
    let first = rows.first()?;
    // Each of the entity's columns the first row sets, gathering every row's value of it.
    let mut gathered: Vec<Option<Column<E::Column>>> = Vec::new();
    for column in E::Column::iter() {
        let values = match set_value(first.get(column)) {
            Some(value) => Some(ColumnArray::of(&value, column.as_str()).ok()?),
            None => None,
        };
        gathered.push(values.map(|values| Column { column, nullable: column.def().is_null(), values }));
    }
    for row in rows {
        for (column, slot) in E::Column::iter().zip(&mut gathered) {
            match (set_value(row.get(column)), slot) {
                (Some(value), Some(kept)) => kept.values.push(value, column.as_str()).ok()?,
                (None, None) => {}
                _ => return None,
            }
        }
    }
    statement(E::default().table_name(), gathered.into_iter().flatten().collect(), on_conflict)
}

/// The value a row sets for a column; `None` when it leaves the column to its default.
fn set_value(value: ActiveValue<Value>) -> Option<Value> {
    match value {
        ActiveValue::Set(value) | ActiveValue::Unchanged(value) => Some(value),
        ActiveValue::NotSet => None,
    }
}

/// `INSERT INTO table (a, b) SELECT k.c0, CASE WHEN k.n1 THEN NULL ELSE k.c1 END FROM (SELECT
/// unnest($2::text[]), unnest($3::int8[]), unnest($4::bool[])) AS k(c0, c1, n1) ON CONFLICT ...`,
/// the conflict clause's own values bound first.
fn statement<C: IdenStatic>(
    table: &str,
    columns: Vec<Column<C>>,
    on_conflict: Option<&OnConflict>,
) -> Option<Statement> {
    let mut conflict = SqlWriterValues::new("$", true);
    if let Some(on_conflict) = on_conflict {
        PostgresQueryBuilder.prepare_on_conflict(&Some(on_conflict.clone()), &mut conflict);
    }
    let (conflict, mut values) = conflict.into_parts();
    let names = quoted_names(&columns.iter().map(|column| column.column).collect::<Vec<_>>());
    let (mut selected, mut arrays, mut aliases) = (Vec::new(), Vec::new(), Vec::new());
    for (i, column) in columns.into_iter().enumerate() {
        let sql_type = column.values.sql_type();
        if column.nullable {
            let (present, nulls) = column.values.into_values_and_nulls();
            values.0.extend([present, nulls]);
            arrays.push(format!("${}::{sql_type}[]", values.0.len() - 1));
            arrays.push(format!("${}::bool[]", values.0.len()));
            aliases.push(format!("c{i}, n{i}"));
            selected.push(format!("CASE WHEN k.n{i} THEN NULL ELSE k.c{i} END"));
        } else {
            values.0.push(column.values.into_value().ok()?);
            arrays.push(format!("${}::{sql_type}[]", values.0.len()));
            aliases.push(format!("c{i}"));
            selected.push(format!("k.c{i}"));
        }
    }
    let sql = format!(
        "INSERT INTO \"{table}\" ({names}) SELECT {} FROM {} AS k({}){conflict}",
        selected.join(", "),
        super::arrays_as_rows(&arrays),
        aliases.join(", "),
    );
    Some(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
}

#[cfg(test)]
mod tests {
    use sea_orm::{
        IntoActiveModel, Value,
        sea_query::{Alias, Expr, ExprTrait, OnConflict},
    };

    use super::unnest_insert;

    mod note {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = "note")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: String,
            pub body: Option<String>,
            pub version: i64,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    fn notes() -> Vec<note::ActiveModel> {
        let row =
            |id: &str, body: Option<&str>, version| note::Model { id: id.into(), body: body.map(Into::into), version };
        vec![row("a", Some("x"), 1).into_active_model(), row("b", None, 2).into_active_model()]
    }

    #[test]
    fn a_column_that_may_be_null_travels_as_values_and_whether_each_is_null() {
        let statement = unnest_insert::<note::Entity, _>(&notes(), None).unwrap();
        assert_eq!(
            statement.sql,
            "INSERT INTO \"note\" (\"id\", \"body\", \"version\") SELECT k.c0, CASE WHEN k.n1 THEN NULL ELSE k.c1 END, \
             k.c2 FROM (SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::bool[]), unnest($4::int8[])) \
             AS k(c0, c1, n1, c2)"
        );
        let values = statement.values.unwrap().0;
        assert_eq!(values[1], Value::from(vec!["x".to_string(), String::new()]));
        assert_eq!(values[2], Value::from(vec![false, true]));
        assert_eq!(values[3], Value::from(vec![1i64, 2]));
    }

    #[test]
    fn the_conflict_clause_keeps_its_own_values_ahead_of_the_arrays() {
        let on_conflict = OnConflict::column(note::Column::Id)
            .update_columns([note::Column::Body, note::Column::Version])
            .action_and_where(
                Expr::col((note::Entity, note::Column::Version))
                    .add(1)
                    .eq(Expr::col((Alias::new("excluded"), note::Column::Version))),
            )
            .to_owned();
        let statement = unnest_insert::<note::Entity, _>(&notes(), Some(&on_conflict)).unwrap();
        assert!(
            statement.sql.contains(
                "FROM (SELECT unnest($2::text[]), unnest($3::text[]), unnest($4::bool[]), unnest($5::int8[]))"
            ),
            "{}",
            statement.sql
        );
        assert!(
            statement.sql.ends_with(
                " ON CONFLICT (\"id\") DO UPDATE SET \"body\" = \"excluded\".\"body\", \"version\" = \
                 \"excluded\".\"version\" WHERE \"note\".\"version\" + $1 = \"excluded\".\"version\""
            ),
            "{}",
            statement.sql
        );
        assert_eq!(statement.values.unwrap().0[0], Value::from(1i32));
    }

    #[test]
    fn rows_setting_different_columns_are_left_to_the_usual_insert() {
        let mut rows = notes();
        rows[1].body = sea_orm::ActiveValue::NotSet;
        assert!(unnest_insert::<note::Entity, _>(&rows, None).is_none());
    }
}
