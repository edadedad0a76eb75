//! What the adapter keeps itself: the trouble tickets it knows (csm's cases as TMF621 shows them,
//! with the attributes only TMF621 has), hub registrations, and the notifications waiting to be
//! delivered. Times are microseconds since the epoch.

pub mod entity;
pub mod migration;
