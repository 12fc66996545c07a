//! The dkvs server, as a library the `dkvs-server` binary and the TUI's
//! spawned servers run.
//!
//! `server` receives, answers and counts requests; `anti_entropy`, `hints`
//! and `rebalance` are its background tasks; `metrics` serves the counters
//! of `stats` over HTTP; `response` builds reply datagrams. It sits on
//! storage, net, cluster and wire, and never on the client.

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

pub mod anti_entropy;
pub mod hints;
pub mod metrics;
pub mod rebalance;
pub mod response;
pub mod server;
pub mod stats;
pub mod view;

// Lower layers' modules keep their short paths inside this crate.
use dkvs_cluster::{config, exit, hlc, limits, merkle, preview, ring, units};
use dkvs_net as net;
use dkvs_net::{peer, udp_batch};
use dkvs_storage::{engine, store};
use dkvs_wire::{protocol, protocol_v2, version};
