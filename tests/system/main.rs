//! System tests: the four services on ephemeral ports with fresh databases, driven only through
//! the generated gRPC clients. Run on SQLite by default; set `CSM_TEST_POSTGRES` to a PostgreSQL
//! server URL to run every test against PostgreSQL instead.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access;
mod calendar;
mod classification;
mod cli;
mod closed_loop;
mod feed;
mod hostile;
mod idempotency;
mod intake;
mod isolation;
mod measurement;
pub mod metrics;
mod operations;
mod recovery;
pub mod restarts;
mod role_docs;
mod startup;
mod support;
mod tls;
mod tmf;
mod validation;
mod walk;
