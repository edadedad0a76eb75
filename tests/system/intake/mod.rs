//! Intake: high-frequency and repeat complainants at the boundaries of their rules, customers and
//! tags, listings, lifecycle events, surveys and bulk ingest.

mod customers;
mod events;
mod high_frequency;
mod repeats;
mod storage;
mod text;
