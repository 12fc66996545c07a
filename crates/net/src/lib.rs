//! Where dkvs touches the network.
//!
//! Binding UDP sockets (one, or a group sharing a port), batched receive
//! and send for the server's loops, the resend schedule and timer every
//! request loop shares (`retry`), and the request/resend loop a server
//! uses to reach its peers. It sits on the cluster and wire crates, below
//! the server and the client.

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

pub mod peer;
pub mod retry;
pub mod udp_batch;

mod socket;
pub use socket::{RECV_BUFFER_BYTES, bind_group, bind_udp, bind_udp_buffered, kernel_drops};

// Lower layers' modules keep their short paths inside this crate.
use dkvs_cluster::hlc;
use dkvs_wire::protocol_v2;
