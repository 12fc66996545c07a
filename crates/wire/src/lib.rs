//! The bottom layer of dkvs: what travels on the wire, and nothing else.
//!
//! Protocol v1 (the original course design's datagrams), protocol v2
//! (framing, every message, the HMAC trailer, the anti-entropy messages)
//! and the record version they carry. Pure functions over bytes: no
//! sockets, no tokio, no clock, so the codecs can be fuzzed and
//! benchmarked alone, and every other crate builds on them.

// No panics on input (docs/FUZZING.md, "No panics"): these codecs read
// datagrams from anyone, so outside tests they may not unwrap, expect,
// index unchecked or panic. The same rule holds in every dkvs crate.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod protocol;
pub mod protocol_v2;
pub mod stats;
pub mod version;
