//! The csm contracts as Rust: message types, gRPC clients and servers for every package under
//! `proto/`, generated at build time.

#![allow(clippy::all, missing_docs, rust_2018_idioms)]

include!(concat!(env!("OUT_DIR"), "/csm.rs"));

/// The encoded `FileDescriptorSet` of every contract and its imports, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/csm_descriptor.bin"));

pub use csm::{classification, feed, intake, measurement, recovery};
