//! Creating a service's PostgreSQL database when it is missing (`database.create_if_missing`).
//!
//! The database is created with the byte-order collation `C`, whatever the server's default.
//! Most keys csm indexes are text (UUIDs, request ids, phone numbers, enum names), and each index
//! insert and probe compares keys; under a language's collation each comparison goes through the
//! locale's rules (`strcoll`, or ICU), under `C` it is a `memcmp`. It also makes PostgreSQL order
//! text as SQLite does, byte by byte, so a listing pages alike on either database. The Kubernetes
//! manifests state the same for CloudNativePG (`localeCollate: C`, its default). Only the
//! collation is set: character classes (`LC_CTYPE`) stay the server's. A database created
//! otherwise works as it is, its keys compared by its own collation.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use super::options;

/// Creates the database named in a PostgreSQL URL when it does not exist, connecting to the
/// server's `postgres` maintenance database to do so. Safe when several replicas race.
pub(super) async fn create_postgres_database(url: &str) -> Result<(), DbErr> {
    let (server, name) = split_postgres_url(url)?;
    let maintenance = sea_orm::Database::connect(options(&format!("{server}/postgres"), 1)).await?;
    let exists = || async {
        let found = maintenance
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT 1 FROM pg_database WHERE datname = $1",
                [name.clone().into()],
            ))
            .await?;
        Ok::<_, DbErr>(found.is_some())
    };
    if !exists().await? {
        let create = create_statement(&name, server_version(&maintenance).await?);
        if let Err(error) = maintenance.execute_unprepared(&create).await {
            // Another replica created it meanwhile (42P04, or 23505 when both inserted at once).
            if !exists().await? {
                return Err(error);
            }
        }
    }
    let _ = maintenance.close().await;
    Ok(())
}

/// `server_version_num`, such as 150020 for 15.20.
async fn server_version(maintenance: &impl ConnectionTrait) -> Result<i32, DbErr> {
    let row = maintenance
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT current_setting('server_version_num')::int"))
        .await?
        .ok_or_else(|| DbErr::Custom("the server did not report its version".into()))?;
    row.try_get_by_index::<i32>(0)
}

/// `CREATE DATABASE` with the collation `C`. A collation other than the template's needs the
/// pristine `template0`. From PostgreSQL 15 a server may default to ICU, whose collation would
/// then apply instead of `LC_COLLATE`, so the provider is named too (older servers know only
/// libc, and not the keyword).
fn create_statement(name: &str, server_version: i32) -> String {
    let provider = if server_version >= 150_000 { " LOCALE_PROVIDER libc" } else { "" };
    format!("CREATE DATABASE \"{}\" TEMPLATE template0{provider} LC_COLLATE 'C'", name.replace('"', "\"\""))
}

/// Splits `postgres://user@host:port/name?params` into `postgres://user@host:port` and `name`.
fn split_postgres_url(url: &str) -> Result<(String, String), DbErr> {
    let without_query = url.split('?').next().unwrap_or(url);
    let scheme_end = without_query.find("://").map(|i| i + 3).unwrap_or(0);
    let slash = without_query[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .ok_or_else(|| DbErr::Custom("postgres url must name a database".into()))?;
    let name = &without_query[slash + 1..];
    if name.is_empty() {
        return Err(DbErr::Custom("postgres url must name a database".into()));
    }
    Ok((without_query[..slash].to_string(), name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::{create_statement, split_postgres_url};

    #[test]
    fn splits_server_and_database_name() {
        let (server, name) =
            split_postgres_url("postgres://postgres@127.0.0.1:5432/csm_intake?sslmode=disable").unwrap();
        assert_eq!(server, "postgres://postgres@127.0.0.1:5432");
        assert_eq!(name, "csm_intake");
        assert!(split_postgres_url("postgres://127.0.0.1:5432").is_err());
    }

    #[test]
    fn names_the_provider_only_where_the_server_knows_it() {
        assert_eq!(
            create_statement("csm", 150_020),
            "CREATE DATABASE \"csm\" TEMPLATE template0 LOCALE_PROVIDER libc LC_COLLATE 'C'"
        );
        assert_eq!(create_statement("a\"b", 140_011), "CREATE DATABASE \"a\"\"b\" TEMPLATE template0 LC_COLLATE 'C'");
    }
}
