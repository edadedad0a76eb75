//! Reaching PostgreSQL at start-up. The pool alone would retry a server it cannot reach in silence
//! until its acquire timeout and then say only "pool timed out"; so the server's address is tried
//! first, each attempt bounded by `database.connect_timeout` and each failure logged with the
//! host, port and cause, a few times (`database.connect_attempts`) for start-up ordering in
//! Kubernetes, where the database may come up just after the service.

use std::{str::FromStr, time::Duration};

use sea_orm::{DbErr, RuntimeErr, sqlx::postgres::PgConnectOptions};
use tokio::net::TcpStream;

use crate::config::DatabaseSettings;

/// The longest wait between two attempts.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// `host:port` of a PostgreSQL URL; `None` for a Unix socket.
pub(super) fn address(url: &str) -> Result<Option<(String, u16)>, DbErr> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| DbErr::Custom(format!("database.url is not a PostgreSQL URL: {e}")))?;
    if options.get_socket().is_some() {
        return Ok(None);
    }
    Ok(Some((options.get_host().to_string(), options.get_port())))
}

/// Waits until PostgreSQL at `settings.url` accepts TCP connections, or fails naming the host,
/// port and cause after `connect_attempts` attempts.
pub(super) async fn wait_for_postgres(settings: &DatabaseSettings) -> Result<(), DbErr> {
    let Some((host, port)) = address(&settings.url)? else {
        return Ok(());
    };
    let attempts = settings.connect_attempts.max(1);
    let timeout = settings.connect_timeout;
    let mut attempt = 1;
    loop {
        let cause = match tokio::time::timeout(timeout, TcpStream::connect((host.as_str(), port))).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {timeout:?} (database.connect_timeout)"),
        };
        if attempt >= attempts {
            return Err(DbErr::Conn(RuntimeErr::Internal(format!(
                "PostgreSQL at {host}:{port} unreachable ({attempts} attempt(s), database.connect_attempts): {cause}"
            ))));
        }
        let wait = Duration::from_secs(attempt.into()).min(MAX_WAIT);
        tracing::warn!(%host, port, attempt, attempts, %cause, "PostgreSQL unreachable; trying again in {wait:?}");
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

/// A connection error as one naming the server it was for.
pub(super) fn naming_server(url: &str) -> impl Fn(DbErr) -> DbErr + '_ {
    move |error| match address(url) {
        Ok(Some((host, port))) => DbErr::Custom(format!("PostgreSQL at {host}:{port}: {error}")),
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_comes_from_the_url() {
        assert_eq!(address("postgres://u:p@db.example:6543/x").unwrap(), Some(("db.example".into(), 6543)));
        assert_eq!(address("postgres://u@10.0.0.1/x").unwrap(), Some(("10.0.0.1".into(), 5432)));
    }

    #[tokio::test]
    async fn an_unreachable_server_is_named_within_the_attempts() {
        let settings = DatabaseSettings {
            url: "postgres://csm@127.0.0.1:1/x".into(),
            connect_timeout: Duration::from_secs(1),
            connect_attempts: 2,
            ..DatabaseSettings::default()
        };
        let started = std::time::Instant::now();
        let error = wait_for_postgres(&settings).await.unwrap_err().to_string();
        assert!(error.contains("127.0.0.1:1") && error.contains("2 attempt(s)"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    }
}
