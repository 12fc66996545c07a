//! dkvs — a Dynamo-style distributed key-value store.
//!
//! Data lives on a SHA-1 consistent-hashing ring with virtual nodes
//! ([`ring`]), is stored on N servers ([`server`], [`store`]) and is written
//! and read with tunable quorums W and R by a client that contacts all N
//! servers at once ([`client`], [`quorum`]). Servers speak a small UDP
//! protocol ([`protocol`]); clusters are described by `servers.txt` or
//! `cluster.toml` ([`config`]). The binaries in `src/bin/` are thin
//! front-ends over this library; see `docs/ARCHITECTURE.md`.

// No panics on input (docs/FUZZING.md, "No panics"): library code handles
// data from the network, files and users, so outside tests it may not
// unwrap, expect, index unchecked or panic. One rule for the whole crate;
// the few modules that may not follow it say so at their top.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod bench;
pub mod cli;
pub mod cli_defs;
pub mod data_check;
pub mod export;
pub mod fault_proxy;
pub mod hosts_mode;
pub mod logging;
pub mod membership;
pub mod repl;
pub mod serve_cli;
pub mod stats;
pub mod supervisor;
pub mod tui;

// The layers below are their own crates (crates/); their modules keep
// their paths here (`dkvs::protocol`, `crate::ring`, …).
pub use dkvs_client::{checker, client, commands, dump_ring, trace};
pub use dkvs_cluster::{config, exit, hlc, limits, merkle, preview, quorum, ring, units};
pub use dkvs_net as net;
pub use dkvs_net::{peer, udp_batch};
pub use dkvs_server::{anti_entropy, hints, metrics, rebalance, response, server};
pub use dkvs_storage::{engine, record, store};
pub use dkvs_wire::{protocol, protocol_v2, version};

pub use client::Client;
pub use config::ClusterConfig;
pub use quorum::{Quorum, QuorumOptions};
