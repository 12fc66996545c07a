//! The dkvs client, as a library the command-line tools and the TUI use.
//!
//! `client` sends each request to all N servers and decides on a quorum
//! (plan, exchange, repair, hints); `trace` records what each server
//! answered; `commands` are the command lines' operations; `dump_ring`
//! pages through a server's pairs; `stats` fetches and shows STATS;
//! `checker` checks recorded histories. It sits on net, cluster and wire,
//! and never on the server.

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

pub mod checker;
pub mod client;
pub mod commands;
pub mod dump_ring;
pub mod stats;
pub mod trace;

pub use client::Client;

// Lower layers' modules keep their short paths inside this crate.
use dkvs_cluster::{config, exit, hlc, limits, preview, quorum, ring, units};
use dkvs_net as net;
use dkvs_wire::{protocol, protocol_v2, version};
