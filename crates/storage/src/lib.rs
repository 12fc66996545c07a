//! Where a dkvs server keeps its pairs.
//!
//! The stored record (a value, its version and the tombstone flag), the
//! in-memory store, and the durable engine with its write-ahead log and
//! group commit, behind one `Engine` interface. Files and memory only: no
//! sockets. It sits on the cluster and wire crates, below the server.

// No panics on input (docs/FUZZING.md, "No panics"): the same rule holds in
// every dkvs crate.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod engine;
pub mod record;
pub mod store;

// Lower layers' modules keep their short paths inside this crate.
use dkvs_cluster::{hlc, units};
use dkvs_wire::{protocol, protocol_v2, version};
