//! The runtime kit every csm service is assembled with, so all four start, serve, protect
//! themselves, publish and follow events, and stop in the same way.

pub mod args;
pub mod auth;
pub mod bulk;
pub mod calendar;
pub mod client;
pub mod config;
pub mod cpu;
pub mod db;
pub mod error;
pub mod feed;
pub mod group_commit;
pub mod handler;
pub mod lease;
pub mod mask;
pub mod metrics;
pub mod names;
pub mod paging;
pub mod server;
pub mod service;
pub mod telemetry;
pub mod time;
pub mod tls;

/// Every binary built on the kit (the services, `csm`, the bench, the tests) allocates through
/// mimalloc. Requests, feed batches and database rows are many small short-lived allocations
/// across threads, where glibc's allocator took about a third of the writers' time in profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub use auth::{Principal, Role};
pub use db::Database;
pub use mask::Masked;
pub use server::{Host, RunError, ServiceDefinition};
pub use service::ServiceRuntime;
