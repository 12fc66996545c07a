//! Many hosts on one machine (issue 19).
//!
//! Each server gets its own Linux network namespace, linked by a veth pair
//! to a private bridge in the root namespace, where clients (the TUI, the
//! tests) talk to them from the bridge's address. Partitions are real:
//! nftables rules inside the host namespaces drop packets, so every
//! program sees what a cut cable looks like. Nothing in the root
//! namespace's firewall is ever touched. The crate sits in the io layer
//! and names no other dkvs crate; it drives `ip` and `nft` as commands.

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

mod cleanup;
mod create;
mod error;
mod hosts;
mod names;
mod rules;
mod run;
mod system;

pub use cleanup::cleanup_stale;
pub use error::NetnsError;
pub use hosts::{Hosts, HostsSpec};
pub use rules::Side;
pub use system::available;
