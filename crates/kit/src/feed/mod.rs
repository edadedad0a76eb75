//! The event feed every service publishes and follows (DESIGN.md, "Events: each service's feed").
//!
//! - [`Publisher`] / [`UnitOfWork`]: a state change and its events in one transaction (the outbox).
//! - [`FeedService`]: `csm.feed.v1.Feed/Subscribe`, replaying from a cursor, then following live.
//! - [`Consumer`]: follows an upstream feed, with its cursor committed alongside each effect,
//!   applying each event through the service's [`EventHandler`].
//! - [`StandaloneFeed`]: a feed alone, for load generators and tests standing in for a service.

mod consumer;
mod handler;
mod lag;
mod outbox;
mod publisher;
mod recent;
pub mod schema;
mod server;
mod spans;
mod standalone;

pub use consumer::{Consumer, load_cursor};
pub use handler::{EventHandler, HandleError, READ_AHEAD_YIELD_EVERY, carries, decode, id_from_event, time_from_event};
pub use outbox::Outbox;
pub use publisher::{Publisher, UnitOfWork, read_head};
pub use schema::FeedMigration;
pub use server::{FeedService, read_after};
pub use standalone::{FeedOnly, StandaloneError, StandaloneFeed};
