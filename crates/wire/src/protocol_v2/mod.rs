//! The version-2 wire protocol (issue 7, `docs/PROTOCOL.md`): framing, every
//! message, and the authentication trailer; pure functions, no I/O.
//!
//! Protocol v1 ([`crate::protocol`], docs/PROTOCOL-V1.md) cannot tell an old value from a
//! new one, cannot delete, cannot match a reply to its request, and trusts
//! anyone. v2 fixes all four on the same port: every datagram is framed
//! (magic, version, opcode, 64-bit request id, flags), keys and values are
//! length-prefixed and binary-safe, writes carry a
//! [`Version`](crate::version::Version), and an optional trailer holds an
//! HMAC-SHA256 and a timestamp.
//!
//! A v2 datagram starts with a NUL byte. To a v1 server that is an empty-key
//! put, which protocol v1 refuses with an empty datagram, so no valid v1 request
//! is ever a v2 one ([`dialect`]), and a v1-only server answers every v2
//! request with that empty refusal, which no v2 server ever sends: that is
//! how a client detects it. v2 replies start with the same NUL and magic,
//! which no v1 reply of more than one byte can.
//!
//! Decoding is strict: a datagram decodes only in its one canonical form, so
//! `decode(d)?.encode() == d` for every accepted `d` (the fuzz target checks
//! it). Nothing here panics on any input, and decoding allocates only the
//! lists a page or stats reply holds, never more than its bytes can fill.

use crate::protocol::{MAX_KEY_LEN, MAX_VALUE_LEN};

pub mod ae;
mod auth;
mod codec;
mod message;
#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests;

pub use auth::{AuthError, AuthKey, KeyFileError, check_window, parse_key_file, verify};
pub use codec::{AuthTrailer, DecodeError, EncodeError, Frame, decode, encode, encode_page};
pub use message::{Entry, EntryValue, Message, Page, Reason};

// Helpers the sibling files (ae.rs among them) share, private to this tree.
use codec::{Reader, read_entries};
use message::{put_bytes, put_u16, write_entry};

/// The first four bytes of every v2 datagram: NUL, then `DKV`.
pub const MAGIC: [u8; 4] = *b"\0DKV";
/// The protocol version this module speaks (byte 4 of every datagram).
pub const VERSION: u8 = 2;
/// Bytes before a message's body: magic, version, opcode, request id, flags.
pub const HEADER_LEN: usize = 15;
/// Bytes of an HMAC-SHA256 tag.
pub const MAC_LEN: usize = 32;
/// Bytes of the authentication trailer: timestamp, key id, tag.
pub const TRAILER_LEN: usize = 8 + 1 + MAC_LEN;
/// Header flag: the datagram ends with an authentication trailer.
pub const FLAG_AUTH: u8 = 0x01;
/// Shortest secret [`AuthKey::new`] accepts, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// Opcodes (header byte 5). Requests have the high bit clear, replies set.
pub mod opcode {
    /// Request: which protocol versions and features does the server have?
    pub const HELLO: u8 = 0x01;
    /// Request: read a key.
    pub const GET: u8 = 0x02;
    /// Request: write a value with a version.
    pub const PUT: u8 = 0x03;
    /// Request: write a tombstone with a version.
    pub const DELETE: u8 = 0x04;
    /// Request: one page of the server's records after a cursor.
    pub const DUMP: u8 = 0x05;
    /// Request: the server's counters.
    pub const STATS: u8 = 0x06;
    /// Request: keep a write for another server (hinted handoff).
    pub const HINT: u8 = 0x07;
    /// Reply to HELLO.
    pub const HELLO_REPLY: u8 = 0x81;
    /// Reply to GET: the value and its version.
    pub const VALUE: u8 = 0x82;
    /// Reply to GET: no value (maybe a tombstone's version).
    pub const NOT_FOUND: u8 = 0x83;
    /// Reply to PUT or DELETE: the version is now stored.
    pub const STORED: u8 = 0x84;
    /// Reply to PUT or DELETE: ignored, the server holds a newer version.
    pub const OLDER: u8 = 0x85;
    /// Reply to any request: refused, with a reason code.
    pub const REFUSED: u8 = 0x86;
    /// Reply to DUMP: one page.
    pub const PAGE: u8 = 0x87;
    /// Reply to STATS: name/value pairs.
    pub const STATS_REPLY: u8 = 0x88;
}

/// Feature bits of a HELLO reply. A client ignores bits it does not know.
pub mod feature {
    /// The server refuses unauthenticated requests (except HELLO).
    pub const AUTH_REQUIRED: u32 = 1 << 0;
    /// The server answers DUMP to this client.
    pub const DUMP: u32 = 1 << 1;
    /// The server answers STATS.
    pub const STATS: u32 = 1 << 2;
}

/// Which protocol a datagram speaks, from its first bytes alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// protocol v1 (anything not starting with [`MAGIC`]).
    V1,
    /// Starts with [`MAGIC`]; [`decode`] tells whether it is well formed.
    V2,
}

/// Tells a v2 datagram from a v1 one: v2 exactly when it starts with
/// [`MAGIC`]. Every such datagram is, to v1, a put with an empty key, which
/// v1 refuses; so a server hands [`Dialect::V2`] datagrams to [`decode`] and
/// answers those that do not decode as v1 would (the empty refusal).
pub fn dialect(datagram: &[u8]) -> Dialect {
    if datagram.starts_with(&MAGIC) {
        Dialect::V2
    } else {
        Dialect::V1
    }
}
