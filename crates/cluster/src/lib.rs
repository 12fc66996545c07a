//! The cluster model of dkvs: what a cluster is, independent of how its
//! servers talk or store.
//!
//! The cluster files (`servers.txt`, `cluster.toml`), the consistent-hashing
//! ring, hybrid logical clocks, quorum rules, Merkle trees over key ranges,
//! the abuse limits and keys every process shares, the exit statuses,
//! how sizes and durations are typed and printed, and how keys and values
//! are quoted in messages.
//! It sits on the wire crate and below storage, net, server and client.

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

pub mod config;
pub mod exit;
pub mod hlc;
pub mod limits;
pub mod merkle;
pub mod preview;
pub mod quorum;
pub mod ring;
pub mod units;

// The wire crate's modules keep their short paths inside this crate.
use dkvs_wire::{protocol_v2, version};
