//! The version-2 wire protocol (issue 7, `docs/PROTOCOL.md`): framing, every
//! message, and the authentication trailer; pure functions, no I/O.
//!
//! Protocol v1 (SPEC §4, [`crate::protocol`]) cannot tell an old value from a
//! new one, cannot delete, cannot match a reply to its request, and trusts
//! anyone. v2 fixes all four on the same port: every datagram is framed
//! (magic, version, opcode, 64-bit request id, flags), keys and values are
//! length-prefixed and binary-safe, writes carry a [`Version`], and an
//! optional trailer holds an HMAC-SHA256 and a timestamp.
//!
//! A v2 datagram starts with a NUL byte. To a v1 server that is an empty-key
//! put, which SPEC §4 refuses with an empty datagram, so no valid v1 request
//! is ever a v2 one ([`dialect`]), and a v1-only server answers every v2
//! request with that empty refusal, which no v2 server ever sends: that is
//! how a client detects it. v2 replies start with the same NUL and magic,
//! which no v1 reply of more than one byte can.
//!
//! Decoding is strict: a datagram decodes only in its one canonical form, so
//! `decode(d)?.encode() == d` for every accepted `d` (the fuzz target checks
//! it). Nothing here panics on any input, and decoding allocates only the
//! lists a page or stats reply holds, never more than its bytes can fill.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::protocol::{MAX_DATAGRAM, MAX_KEY_LEN, MAX_VALUE_LEN};

pub mod ae;
use crate::version::Version;

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

/// Page entry flag: the record is a tombstone (no value on the wire).
const ENTRY_TOMBSTONE: u8 = 0x01;
/// Page entry flag: the value is too large for a page; read it with GET.
const ENTRY_OMITTED: u8 = 0x02;

/// Which protocol a datagram speaks, from its first bytes alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SPEC §4 (anything not starting with [`MAGIC`]).
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

/// Why a server refused a request (REFUSED's reason code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// 1: the request did not decode (or its opcode is not a request).
    Malformed,
    /// 2: the key is longer than the limit.
    KeyTooLong,
    /// 3: the value is longer than the limit.
    ValueTooLong,
    /// 4: storing it would exceed the server's memory limit.
    OutOfMemory,
    /// 5: missing, unknown-key, forged or out-of-window authentication.
    Unauthenticated,
    /// 6: not allowed to this source (e.g. a dump outside `--allow-dump`).
    Forbidden,
    /// 7: the server does not implement this request.
    Unsupported,
    /// 8: the server is shedding load; retry later.
    Overloaded,
    /// 10: a write's version is further ahead of the server's clock than
    /// its maximum clock offset: the writer's clock is wrong. The body
    /// carries the server's clock and offset, so the writer can say by how
    /// much (`u64` ms since the epoch, `u32` ms).
    ClockAhead {
        /// The server's clock when it refused.
        server_ms: u64,
        /// The server's `--max-clock-offset`.
        max_offset_ms: u32,
    },
    /// A code this version does not know (kept as received).
    Other(u8),
}

impl Reason {
    /// The code on the wire.
    pub fn code(self) -> u8 {
        match self {
            Reason::Malformed => 1,
            Reason::KeyTooLong => 2,
            Reason::ValueTooLong => 3,
            Reason::OutOfMemory => 4,
            Reason::Unauthenticated => 5,
            Reason::Forbidden => 6,
            Reason::Unsupported => 7,
            Reason::Overloaded => 8,
            Reason::ClockAhead { .. } => 10,
            Reason::Other(c) => c,
        }
    }

    /// The reason for a code; unknown codes become [`Reason::Other`].
    pub fn from_code(code: u8) -> Reason {
        match code {
            1 => Reason::Malformed,
            2 => Reason::KeyTooLong,
            3 => Reason::ValueTooLong,
            4 => Reason::OutOfMemory,
            5 => Reason::Unauthenticated,
            6 => Reason::Forbidden,
            7 => Reason::Unsupported,
            8 => Reason::Overloaded,
            10 => Reason::ClockAhead {
                server_ms: 0,
                max_offset_ms: 0,
            },
            c => Reason::Other(c),
        }
    }
}

/// The reason in words, as tools print it after `refused: `
/// (`unauthenticated`, `value too long`, `reason 42` for an unknown code).
impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Malformed => f.write_str("malformed"),
            Reason::KeyTooLong => f.write_str("key too long"),
            Reason::ValueTooLong => f.write_str("value too long"),
            Reason::OutOfMemory => f.write_str("out of memory"),
            Reason::Unauthenticated => f.write_str("unauthenticated"),
            Reason::Forbidden => f.write_str("forbidden"),
            Reason::Unsupported => f.write_str("unsupported"),
            Reason::Overloaded => f.write_str("overloaded"),
            Reason::ClockAhead { max_offset_ms, .. } => {
                write!(f, "clock ahead (max offset {max_offset_ms} ms)")
            }
            Reason::Other(code) => write!(f, "reason {code}"),
        }
    }
}

/// What a page entry holds besides its key and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryValue<'a> {
    /// A live value (possibly empty).
    Live(&'a [u8]),
    /// A tombstone: the key was deleted at the entry's version.
    Tombstone,
    /// A live value too large to fit a page with its key; read it with GET.
    Omitted,
}

/// One record of a DUMP page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The key (1 to [`MAX_KEY_LEN`] bytes, any bytes).
    pub key: &'a [u8],
    /// The value, or why there is none.
    pub value: EntryValue<'a>,
    /// The record's version.
    pub version: Version,
}

impl Entry<'_> {
    /// Bytes of this entry in a page: flags, key, value if live, version.
    pub fn encoded_len(&self) -> usize {
        let value = match self.value {
            EntryValue::Live(v) => 2 + v.len(),
            EntryValue::Tombstone | EntryValue::Omitted => 0,
        };
        1 + 2 + self.key.len() + value + Version::ENCODED_LEN
    }
}

/// A DUMP reply: records in increasing key-byte order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page<'a> {
    /// Records the server holds in all (live and tombstones), for progress.
    pub total: u64,
    /// Whether records follow the last entry: ask again with its key as the
    /// cursor ([`Page::next_cursor`]). A page with `more` has entries.
    pub more: bool,
    /// The records of this page.
    pub entries: Vec<Entry<'a>>,
}

impl<'a> Page<'a> {
    /// The cursor of the next DUMP request, `None` when this was the last
    /// page: the last entry's key (the next page starts after it).
    pub fn next_cursor(&self) -> Option<&'a [u8]> {
        if self.more {
            self.entries.last().map(|e| e.key)
        } else {
            None
        }
    }
}

/// A v2 message: the opcode and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// Request: version probe. Empty body.
    Hello,
    /// Request: read `key`.
    Get {
        /// The key (1 to [`MAX_KEY_LEN`] bytes, any bytes).
        key: &'a [u8],
    },
    /// Request: store `value` under `key` unless a newer version is stored.
    Put {
        /// The key (1 to [`MAX_KEY_LEN`] bytes).
        key: &'a [u8],
        /// The value (0 to [`MAX_VALUE_LEN`] bytes, any bytes).
        value: &'a [u8],
        /// The write's version.
        version: Version,
    },
    /// Request: store a tombstone for `key` unless a newer version is stored.
    Delete {
        /// The key (1 to [`MAX_KEY_LEN`] bytes).
        key: &'a [u8],
        /// The delete's version.
        version: Version,
    },
    /// Request: the records whose keys sort after `cursor`.
    Dump {
        /// Empty for the first page, else the previous page's
        /// [`Page::next_cursor`] (at most [`MAX_KEY_LEN`] bytes).
        cursor: &'a [u8],
        /// At most this many entries (0: as many as fit a datagram).
        limit: u16,
    },
    /// Request: the server's counters. Empty body.
    Stats,
    /// Request: keep this write for `owner`, one of the key's home servers
    /// that did not answer, and hand it over when the owner answers again
    /// (hinted handoff, issue 8). Answered STORED (kept, or already kept
    /// at this version), OLDER (a newer hint for the key is kept) or
    /// REFUSED.
    Hint {
        /// The server the write is meant for.
        owner: std::net::SocketAddrV4,
        /// The key (1 to [`MAX_KEY_LEN`] bytes).
        key: &'a [u8],
        /// The value; `None` for a delete's tombstone.
        value: Option<&'a [u8]>,
        /// The write's version.
        version: Version,
    },
    /// Reply to HELLO.
    HelloReply {
        /// Highest protocol version the server speaks.
        max_version: u8,
        /// [`feature`] bits.
        features: u32,
        /// The server's wall clock (ms since the epoch): a client can see its
        /// own clock is outside the authentication window.
        time_ms: u64,
    },
    /// Reply to GET: the newest record is this value.
    Value {
        /// The value (0 to [`MAX_VALUE_LEN`] bytes).
        value: &'a [u8],
        /// Its version.
        version: Version,
    },
    /// Reply to GET: no value.
    NotFound {
        /// The tombstone's version when the key was deleted (and not yet
        /// purged); `None` when the server knows nothing of the key.
        tombstone: Option<Version>,
    },
    /// Reply to PUT or DELETE: stored (or already stored at this version).
    Stored,
    /// Reply to PUT or DELETE: ignored, a newer version is stored.
    Older {
        /// The version the server keeps.
        current: Version,
    },
    /// Reply to any request: refused.
    Refused {
        /// Why.
        reason: Reason,
    },
    /// Reply to DUMP.
    Page(Page<'a>),
    /// Reply to STATS: counters as name/value byte strings, in server order.
    StatsReply {
        /// The pairs (each name and value at most [`MAX_VALUE_LEN`] bytes).
        pairs: Vec<(&'a [u8], &'a [u8])>,
    },
    /// Anti-entropy between servers (opcodes `0x10`–`0x1f`, `0x90`–`0x9f`;
    /// [`ae`]).
    AntiEntropy(ae::AeMessage<'a>),
}

impl Message<'_> {
    /// The message's opcode ([`opcode`]).
    pub fn opcode(&self) -> u8 {
        match self {
            Message::Hello => opcode::HELLO,
            Message::Get { .. } => opcode::GET,
            Message::Put { .. } => opcode::PUT,
            Message::Delete { .. } => opcode::DELETE,
            Message::Dump { .. } => opcode::DUMP,
            Message::Stats => opcode::STATS,
            Message::Hint { .. } => opcode::HINT,
            Message::HelloReply { .. } => opcode::HELLO_REPLY,
            Message::Value { .. } => opcode::VALUE,
            Message::NotFound { .. } => opcode::NOT_FOUND,
            Message::Stored => opcode::STORED,
            Message::Older { .. } => opcode::OLDER,
            Message::Refused { .. } => opcode::REFUSED,
            Message::Page(_) => opcode::PAGE,
            Message::StatsReply { .. } => opcode::STATS_REPLY,
            Message::AntiEntropy(m) => m.opcode(),
        }
    }

    /// True for requests (a server answers only these), false for replies.
    pub fn is_request(&self) -> bool {
        self.opcode() & 0x80 == 0
    }

    /// Whether this message is a reply a request with opcode `request` can
    /// get: VALUE or NOT FOUND to GET, STORED or OLDER to PUT and DELETE,
    /// PAGE to DUMP, the matching reply to HELLO and STATS, REFUSED to any.
    /// A client treats any other reply with the request's id as invalid
    /// (never counted toward a quorum), as it does in v1.
    pub fn answers(&self, request: u8) -> bool {
        use opcode::*;
        matches!(
            (request, self.opcode()),
            (HELLO, HELLO_REPLY)
                | (GET, VALUE | NOT_FOUND)
                | (PUT | DELETE | HINT, STORED | OLDER)
                | (DUMP, PAGE)
                | (STATS, STATS_REPLY)
                | (HELLO | GET | PUT | DELETE | DUMP | STATS | HINT, REFUSED)
        ) || (ae::is_ae_opcode(request)
            && request & 0x80 == 0
            && (self.opcode() == REFUSED || ae::answers(request, self.opcode())))
    }

    /// Bytes of the body (between header and trailer).
    fn body_len(&self) -> usize {
        const V: usize = Version::ENCODED_LEN;
        match self {
            Message::Hello | Message::Stats | Message::Stored => 0,
            Message::Get { key } => 2 + key.len(),
            Message::Put { key, value, .. } => 2 + key.len() + 2 + value.len() + V,
            Message::Delete { key, .. } => 2 + key.len() + V,
            Message::Hint { key, value, .. } => {
                6 + 1 + 2 + key.len() + 2 + value.map_or(0, <[u8]>::len) + V
            }
            Message::Dump { cursor, .. } => 2 + cursor.len() + 2,
            Message::HelloReply { .. } => 1 + 4 + 8,
            Message::Value { value, .. } => 2 + value.len() + V,
            Message::NotFound { tombstone } => 1 + if tombstone.is_some() { V } else { 0 },
            Message::Older { .. } => V,
            Message::Refused {
                reason: Reason::ClockAhead { .. },
            } => 1 + 8 + 4,
            Message::Refused { .. } => 1,
            Message::Page(page) => {
                8 + 1 + 2 + page.entries.iter().map(Entry::encoded_len).sum::<usize>()
            }
            Message::StatsReply { pairs } => {
                2 + pairs
                    .iter()
                    .map(|(n, v)| 2 + n.len() + 2 + v.len())
                    .sum::<usize>()
            }
            Message::AntiEntropy(m) => m.body_len(),
        }
    }

    /// Checks every field against its limit.
    fn check(&self) -> Result<(), EncodeError> {
        let key = |k: &[u8]| {
            if k.is_empty() {
                Err(EncodeError::EmptyKey)
            } else if k.len() > MAX_KEY_LEN {
                Err(EncodeError::KeyTooLong)
            } else {
                Ok(())
            }
        };
        let value = |v: &[u8]| {
            if v.len() > MAX_VALUE_LEN {
                Err(EncodeError::ValueTooLong)
            } else {
                Ok(())
            }
        };
        match self {
            Message::Get { key: k } | Message::Delete { key: k, .. } => key(k),
            Message::Put {
                key: k, value: v, ..
            } => key(k).and(value(v)),
            Message::Hint {
                key: k, value: v, ..
            } => key(k).and(value(v.unwrap_or_default())),
            Message::Dump { cursor, .. } if cursor.len() > MAX_KEY_LEN => {
                Err(EncodeError::KeyTooLong)
            }
            Message::Value { value: v, .. } => value(v),
            Message::Page(page) => {
                if page.entries.len() > usize::from(u16::MAX) {
                    return Err(EncodeError::TooManyEntries);
                }
                if page.more && page.entries.is_empty() {
                    return Err(EncodeError::EmptyPageWithMore);
                }
                page.entries.iter().try_for_each(|e| {
                    key(e.key)?;
                    match e.value {
                        EntryValue::Live(v) => value(v),
                        EntryValue::Tombstone | EntryValue::Omitted => Ok(()),
                    }
                })
            }
            Message::StatsReply { pairs } => {
                if pairs.len() > usize::from(u16::MAX) {
                    return Err(EncodeError::TooManyEntries);
                }
                pairs.iter().try_for_each(|(n, v)| value(n).and(value(v)))
            }
            Message::AntiEntropy(m) => m.check(),
            _ => Ok(()),
        }
    }

    /// Appends the body; fields were checked, so lengths fit in `u16`.
    fn write_body(&self, out: &mut Vec<u8>) {
        match self {
            Message::Hello | Message::Stats | Message::Stored => {}
            Message::Get { key } => put_bytes(out, key),
            Message::Put {
                key,
                value,
                version,
            } => {
                put_bytes(out, key);
                put_bytes(out, value);
                out.extend_from_slice(&version.to_bytes());
            }
            Message::Delete { key, version } => {
                put_bytes(out, key);
                out.extend_from_slice(&version.to_bytes());
            }
            Message::Hint {
                owner,
                key,
                value,
                version,
            } => {
                out.extend_from_slice(&owner.ip().octets());
                out.extend_from_slice(&owner.port().to_be_bytes());
                out.push(u8::from(value.is_none()));
                put_bytes(out, key);
                put_bytes(out, value.unwrap_or_default());
                out.extend_from_slice(&version.to_bytes());
            }
            Message::Dump { cursor, limit } => {
                put_bytes(out, cursor);
                out.extend_from_slice(&limit.to_be_bytes());
            }
            Message::HelloReply {
                max_version,
                features,
                time_ms,
            } => {
                out.push(*max_version);
                out.extend_from_slice(&features.to_be_bytes());
                out.extend_from_slice(&time_ms.to_be_bytes());
            }
            Message::Value { value, version } => {
                put_bytes(out, value);
                out.extend_from_slice(&version.to_bytes());
            }
            Message::NotFound { tombstone } => match tombstone {
                None => out.push(0),
                Some(v) => {
                    out.push(1);
                    out.extend_from_slice(&v.to_bytes());
                }
            },
            Message::Older { current } => out.extend_from_slice(&current.to_bytes()),
            Message::Refused { reason } => {
                out.push(reason.code());
                if let Reason::ClockAhead {
                    server_ms,
                    max_offset_ms,
                } = reason
                {
                    out.extend_from_slice(&server_ms.to_be_bytes());
                    out.extend_from_slice(&max_offset_ms.to_be_bytes());
                }
            }
            Message::Page(page) => {
                out.extend_from_slice(&page.total.to_be_bytes());
                out.push(u8::from(page.more));
                put_u16(out, page.entries.len());
                for e in &page.entries {
                    write_entry(out, e);
                }
            }
            Message::StatsReply { pairs } => {
                put_u16(out, pairs.len());
                for (n, v) in pairs {
                    put_bytes(out, n);
                    put_bytes(out, v);
                }
            }
            Message::AntiEntropy(m) => m.write_body(out),
        }
    }
}

/// Writes one page entry (also the records of anti-entropy's AE_PUSH and
/// AE_RECORDS): flags, key, the value when live, version.
fn write_entry(out: &mut Vec<u8>, e: &Entry) {
    match e.value {
        EntryValue::Live(v) => {
            out.push(0);
            put_bytes(out, e.key);
            put_bytes(out, v);
        }
        EntryValue::Tombstone => {
            out.push(ENTRY_TOMBSTONE);
            put_bytes(out, e.key);
        }
        EntryValue::Omitted => {
            out.push(ENTRY_OMITTED);
            put_bytes(out, e.key);
        }
    }
    out.extend_from_slice(&e.version.to_bytes());
}

/// Reads a `u16` count of entries written by [`write_entry`].
fn read_entries<'a>(r: &mut Reader<'a>) -> Result<Vec<Entry<'a>>, DecodeError> {
    // Smallest entry: flags, a 1-byte key with its length, version.
    let (n, capacity) = r.count(1 + 2 + 1 + Version::ENCODED_LEN)?;
    let mut entries = Vec::with_capacity(capacity);
    for _ in 0..n {
        let flags = r.u8()?;
        let key = r.key()?;
        let value = match flags {
            0 => EntryValue::Live(r.value()?),
            ENTRY_TOMBSTONE => EntryValue::Tombstone,
            ENTRY_OMITTED => EntryValue::Omitted,
            _ => return Err(DecodeError::Invalid("entry flags")),
        };
        entries.push(Entry {
            key,
            value,
            version: r.version()?,
        });
    }
    Ok(entries)
}

/// Writes a length that [`Message::check`] bounded to `u16`.
fn put_u16(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes());
}

/// Writes a length-prefixed byte string.
fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u16(out, b.len());
    out.extend_from_slice(b);
}

/// The authentication trailer of a datagram, as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthTrailer {
    /// The sender's wall clock when it signed (ms since the epoch).
    pub timestamp_ms: u64,
    /// Which key signed ([`AuthKey::id`]), so keys can be rotated.
    pub key_id: u8,
    /// HMAC-SHA256 over every byte before it.
    pub mac: [u8; MAC_LEN],
}

/// A decoded datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The request id (a reply carries its request's).
    pub id: u64,
    /// The message.
    pub message: Message<'a>,
    /// The authentication trailer, when the datagram has one (checked by
    /// [`verify`], not by [`decode`]).
    pub auth: Option<AuthTrailer>,
}

impl Frame<'_> {
    /// Encodes the frame as it is, trailer included verbatim (no signing:
    /// see [`encode`]). `decode(d)?.encode() == d` for every accepted `d`.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = start(self.id, &self.message, self.auth.is_some())?;
        if let Some(t) = &self.auth {
            out.extend_from_slice(&t.timestamp_ms.to_be_bytes());
            out.push(t.key_id);
            out.extend_from_slice(&t.mac);
        }
        Ok(out)
    }
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Keys must be at least one byte.
    #[error("the key must not be empty")]
    EmptyKey,
    /// A key or cursor is longer than [`MAX_KEY_LEN`].
    #[error("key longer than {MAX_KEY_LEN} bytes")]
    KeyTooLong,
    /// A value (or a stats field) is longer than [`MAX_VALUE_LEN`].
    #[error("value longer than {MAX_VALUE_LEN} bytes")]
    ValueTooLong,
    /// More than 65,535 page entries or stats pairs.
    #[error("more than 65535 entries")]
    TooManyEntries,
    /// A page says more records follow but has no entry to resume after.
    #[error("a page with more to come must have an entry")]
    EmptyPageWithMore,
    /// The datagram would exceed [`MAX_DATAGRAM`] bytes (a key and value
    /// both near their limits, with the header, version and trailer).
    #[error("datagram longer than {MAX_DATAGRAM} bytes")]
    TooLarge,
}

/// Checks the message and writes header and body into a buffer with room
/// for the trailer when `auth`.
fn start(id: u64, message: &Message, auth: bool) -> Result<Vec<u8>, EncodeError> {
    message.check()?;
    let trailer = if auth { TRAILER_LEN } else { 0 };
    let len = HEADER_LEN + message.body_len() + trailer;
    if len > MAX_DATAGRAM {
        return Err(EncodeError::TooLarge);
    }
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(message.opcode());
    out.extend_from_slice(&id.to_be_bytes());
    out.push(if auth { FLAG_AUTH } else { 0 });
    message.write_body(&mut out);
    Ok(out)
}

/// Encodes a message with request id `id`; with `auth = Some((key, now_ms))`
/// the datagram is signed with `key` at time `now_ms`.
pub fn encode(
    id: u64,
    message: &Message,
    auth: Option<(&AuthKey, u64)>,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = start(id, message, auth.is_some())?;
    if let Some((key, now_ms)) = auth {
        out.extend_from_slice(&now_ms.to_be_bytes());
        out.push(key.id);
        let mac = key.mac(&out);
        out.extend_from_slice(&mac);
    }
    Ok(out)
}

/// Why a datagram is not a well-formed v2 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// It does not start with [`MAGIC`] ([`Dialect::V1`]).
    #[error("not a v2 datagram")]
    NotV2,
    /// A version byte other than [`VERSION`].
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// An opcode this version does not define.
    #[error("unknown opcode {0:#04x}")]
    UnknownOpcode(u8),
    /// Flag bits other than [`FLAG_AUTH`].
    #[error("unknown flags {0:#04x}")]
    UnknownFlags(u8),
    /// Longer than [`MAX_DATAGRAM`] bytes.
    #[error("datagram longer than {MAX_DATAGRAM} bytes")]
    TooLarge,
    /// A field runs past the end of the datagram.
    #[error("truncated")]
    Truncated,
    /// Bytes left after the body (and trailer).
    #[error("trailing bytes")]
    TrailingBytes,
    /// An empty key.
    #[error("empty key")]
    EmptyKey,
    /// A key or cursor longer than [`MAX_KEY_LEN`].
    #[error("key longer than {MAX_KEY_LEN} bytes")]
    KeyTooLong,
    /// A value or stats field longer than [`MAX_VALUE_LEN`].
    #[error("value longer than {MAX_VALUE_LEN} bytes")]
    ValueTooLong,
    /// A field holds a value its type does not allow (named).
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// Reads fields front to back, never past the end.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.take(N)?.try_into().map_err(|_| DecodeError::Truncated)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        let [b] = self.array()?;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn version(&mut self) -> Result<Version, DecodeError> {
        Ok(Version::from_bytes(self.array()?))
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    fn key(&mut self) -> Result<&'a [u8], DecodeError> {
        let k = self.bytes()?;
        if k.is_empty() {
            Err(DecodeError::EmptyKey)
        } else if k.len() > MAX_KEY_LEN {
            Err(DecodeError::KeyTooLong)
        } else {
            Ok(k)
        }
    }

    fn value(&mut self) -> Result<&'a [u8], DecodeError> {
        let v = self.bytes()?;
        if v.len() > MAX_VALUE_LEN {
            Err(DecodeError::ValueTooLong)
        } else {
            Ok(v)
        }
    }

    fn flag(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid(what)),
        }
    }

    /// A list count, and a capacity no larger than the bytes left can fill
    /// with items of at least `min_item` bytes (a 2-byte count cannot make
    /// a small datagram allocate megabytes).
    fn count(&mut self, min_item: usize) -> Result<(usize, usize), DecodeError> {
        let n = usize::from(self.u16()?);
        Ok((n, n.min(self.rest.len() / min_item)))
    }
}

/// Decodes a v2 datagram. The authentication trailer, if flagged, is
/// returned as read; [`verify`] checks it.
pub fn decode(datagram: &[u8]) -> Result<Frame<'_>, DecodeError> {
    if dialect(datagram) != Dialect::V2 {
        return Err(DecodeError::NotV2);
    }
    if datagram.len() > MAX_DATAGRAM {
        return Err(DecodeError::TooLarge);
    }
    let mut r = Reader { rest: datagram };
    r.take(MAGIC.len())?;
    let version = r.u8()?;
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let op = r.u8()?;
    let id = r.u64()?;
    let flags = r.u8()?;
    if flags & !FLAG_AUTH != 0 {
        return Err(DecodeError::UnknownFlags(flags));
    }
    let auth = if flags & FLAG_AUTH != 0 {
        let at = r
            .rest
            .len()
            .checked_sub(TRAILER_LEN)
            .ok_or(DecodeError::Truncated)?;
        let (body, trailer) = r.rest.split_at(at);
        r.rest = body;
        let mut t = Reader { rest: trailer };
        Some(AuthTrailer {
            timestamp_ms: t.u64()?,
            key_id: t.u8()?,
            mac: t.array()?,
        })
    } else {
        None
    };
    let message = decode_body(op, &mut r)?;
    if !r.rest.is_empty() {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(Frame { id, message, auth })
}

fn decode_body<'a>(op: u8, r: &mut Reader<'a>) -> Result<Message<'a>, DecodeError> {
    Ok(match op {
        opcode::HELLO => Message::Hello,
        opcode::GET => Message::Get { key: r.key()? },
        opcode::PUT => Message::Put {
            key: r.key()?,
            value: r.value()?,
            version: r.version()?,
        },
        opcode::DELETE => Message::Delete {
            key: r.key()?,
            version: r.version()?,
        },
        opcode::DUMP => {
            let cursor = r.bytes()?;
            if cursor.len() > MAX_KEY_LEN {
                return Err(DecodeError::KeyTooLong);
            }
            Message::Dump {
                cursor,
                limit: r.u16()?,
            }
        }
        opcode::STATS => Message::Stats,
        opcode::HINT => {
            let ip = r.take(4)?;
            let ip = std::net::Ipv4Addr::new(
                ip.first().copied().unwrap_or_default(),
                ip.get(1).copied().unwrap_or_default(),
                ip.get(2).copied().unwrap_or_default(),
                ip.get(3).copied().unwrap_or_default(),
            );
            let owner = std::net::SocketAddrV4::new(ip, r.u16()?);
            let tombstone = match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(DecodeError::Invalid("hint flags")),
            };
            let key = r.key()?;
            let value = r.value()?;
            if tombstone && !value.is_empty() {
                return Err(DecodeError::Invalid("tombstone hint with a value"));
            }
            Message::Hint {
                owner,
                key,
                value: (!tombstone).then_some(value),
                version: r.version()?,
            }
        }
        opcode::HELLO_REPLY => Message::HelloReply {
            max_version: r.u8()?,
            features: r.u32()?,
            time_ms: r.u64()?,
        },
        opcode::VALUE => Message::Value {
            value: r.value()?,
            version: r.version()?,
        },
        opcode::NOT_FOUND => Message::NotFound {
            tombstone: if r.flag("tombstone flag")? {
                Some(r.version()?)
            } else {
                None
            },
        },
        opcode::STORED => Message::Stored,
        opcode::OLDER => Message::Older {
            current: r.version()?,
        },
        opcode::REFUSED => Message::Refused {
            reason: match Reason::from_code(r.u8()?) {
                Reason::ClockAhead { .. } => Reason::ClockAhead {
                    server_ms: r.u64()?,
                    max_offset_ms: r.u32()?,
                },
                reason => reason,
            },
        },
        opcode::PAGE => {
            let total = r.u64()?;
            let more = r.flag("more flag")?;
            let entries = read_entries(r)?;
            if more && entries.is_empty() {
                return Err(DecodeError::Invalid("empty page with more"));
            }
            Message::Page(Page {
                total,
                more,
                entries,
            })
        }
        opcode::STATS_REPLY => {
            let (n, capacity) = r.count(4)?;
            let mut pairs = Vec::with_capacity(capacity);
            for _ in 0..n {
                pairs.push((r.value()?, r.value()?));
            }
            Message::StatsReply { pairs }
        }
        op if ae::is_ae_opcode(op) => Message::AntiEntropy(ae::decode_body(op, r)?),
        other => return Err(DecodeError::UnknownOpcode(other)),
    })
}

/// Most records one page can carry: encodes a PAGE reply to a DUMP request
/// from `entries` (the server's records whose keys sort after the request's
/// cursor, in increasing key order), taking at most `limit` of them (0: no
/// limit but the datagram's size) and as many as fit in [`MAX_DATAGRAM`]
/// bytes with the trailer when `auth`. A record too large for any page is
/// sent alone with its value [`EntryValue::Omitted`]; a record with an
/// empty or oversized key (never stored) is skipped. `more` is set when
/// `entries` had records left.
pub fn encode_page<'a, I>(
    id: u64,
    total: u64,
    limit: u16,
    entries: I,
    auth: Option<(&AuthKey, u64)>,
) -> Result<Vec<u8>, EncodeError>
where
    I: IntoIterator<Item = Entry<'a>>,
{
    let limit = if limit == 0 {
        usize::from(u16::MAX)
    } else {
        usize::from(limit)
    };
    let trailer = if auth.is_some() { TRAILER_LEN } else { 0 };
    let room = MAX_DATAGRAM - HEADER_LEN - trailer - (8 + 1 + 2);
    let mut used = 0;
    let mut page = Page {
        total,
        more: false,
        entries: Vec::new(),
    };
    let mut entries = entries
        .into_iter()
        .filter(|e| !e.key.is_empty() && e.key.len() <= MAX_KEY_LEN)
        .peekable();
    while let Some(e) = entries.peek() {
        if page.entries.len() >= limit {
            break;
        }
        let mut e = *e;
        if let EntryValue::Live(v) = e.value
            && (v.len() > MAX_VALUE_LEN || (page.entries.is_empty() && e.encoded_len() > room))
        {
            e.value = EntryValue::Omitted;
        }
        if used + e.encoded_len() > room {
            break;
        }
        used += e.encoded_len();
        page.entries.push(e);
        entries.next();
    }
    page.more = entries.peek().is_some();
    encode(id, &Message::Page(page), auth)
}

/// A shared secret for signing and checking datagrams, with the id that
/// names it in trailers (so a cluster can rotate keys: `docs/PROTOCOL.md`).
#[derive(Clone)]
pub struct AuthKey {
    id: u8,
    secret: Vec<u8>,
}

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthKey")
            .field("id", &self.id)
            .field("secret", &"<hidden>")
            .finish()
    }
}

impl AuthKey {
    /// A key named `id`; the secret must be at least [`MIN_SECRET_LEN`]
    /// bytes (32 random bytes recommended).
    pub fn new(id: u8, secret: &[u8]) -> Result<AuthKey, AuthError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(AuthError::ShortSecret);
        }
        Ok(AuthKey {
            id,
            secret: secret.to_vec(),
        })
    }

    /// The id written in trailers signed with this key.
    pub fn id(&self) -> u8 {
        self.id
    }

    fn hmac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length; `new_from_slice` cannot fail here,
        // and an empty key (impossible: `new` checks) would still be valid.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()))
    }

    /// HMAC-SHA256 of `signed` under this key.
    fn mac(&self, signed: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = self.hmac();
        mac.update(signed);
        mac.finalize().into_bytes().into()
    }
}

/// Why an authenticated datagram is rejected (or a key refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not a v2 datagram with the [`FLAG_AUTH`] flag and room for a trailer.
    #[error("not signed")]
    Unsigned,
    /// Signed with a key id the receiver does not hold.
    #[error("unknown key id {0}")]
    UnknownKey(u8),
    /// The tag does not match: forged, corrupted, or another secret.
    #[error("bad signature")]
    BadMac,
    /// The timestamp is further from the receiver's clock than the window.
    #[error("timestamp {timestamp_ms} outside the {window_ms} ms window around {now_ms}")]
    OutsideWindow {
        /// The datagram's timestamp.
        timestamp_ms: u64,
        /// The receiver's clock.
        now_ms: u64,
        /// The window allowed on either side.
        window_ms: u64,
    },
    /// [`AuthKey::new`]: a secret shorter than [`MIN_SECRET_LEN`] bytes.
    #[error("secret shorter than {MIN_SECRET_LEN} bytes")]
    ShortSecret,
}

/// Why a key file cannot be used ([`parse_key_file`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct KeyFileError {
    /// The 1-based line at fault, if one is.
    pub line: Option<usize>,
    /// What is wrong (never the secret).
    pub message: String,
}

/// Reads a key file (`--key-file`): one key per line, `<id> <secret as
/// hex>`, id 0 to 255, secret at least [`MIN_SECRET_LEN`] bytes; blank lines
/// and lines starting with `#` are ignored. The first key signs; all are
/// accepted ([`verify`]), which is how keys are rotated. Ids must be
/// distinct and there must be at least one key.
pub fn parse_key_file(text: &str) -> Result<Vec<AuthKey>, KeyFileError> {
    let mut keys: Vec<AuthKey> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |message: &str| KeyFileError {
            line: Some(n + 1),
            message: message.to_string(),
        };
        let mut words = line.split_whitespace();
        let (Some(id), Some(hex), None) = (words.next(), words.next(), words.next()) else {
            return Err(err("expected `<id> <secret in hex>`"));
        };
        let id: u8 = id.parse().map_err(|_| err("the id must be 0 to 255"))?;
        if keys.iter().any(|k| k.id == id) {
            return Err(err(&format!("key id {id} appears twice")));
        }
        let secret = decode_hex(hex).ok_or_else(|| err("the secret must be hexadecimal digits"))?;
        let key = AuthKey::new(id, &secret).map_err(|_| {
            err(&format!(
                "the secret must be at least {MIN_SECRET_LEN} bytes"
            ))
        })?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(KeyFileError {
            line: None,
            message: "no key".to_string(),
        });
    }
    Ok(keys)
}

/// Hex digits (an even number of them) to bytes.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    hex.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            &[hi, lo] => Some(digit(hi)? << 4 | digit(lo)?),
            _ => None,
        })
        .collect()
}

/// The replay window check: a signed datagram is accepted only when its
/// timestamp is within `window_ms` of the receiver's clock `now_ms`, on
/// either side (clocks differ both ways).
pub fn check_window(timestamp_ms: u64, now_ms: u64, window_ms: u64) -> Result<(), AuthError> {
    if timestamp_ms.abs_diff(now_ms) <= window_ms {
        Ok(())
    } else {
        Err(AuthError::OutsideWindow {
            timestamp_ms,
            now_ms,
            window_ms,
        })
    }
}

/// Checks a datagram's authentication trailer: signed by one of `keys` (the
/// one its key id names), tag correct (compared in constant time), and
/// timestamp within the window ([`check_window`]). Works on the raw bytes,
/// so a server checks before it decodes the body. Returns the trailer.
pub fn verify(
    datagram: &[u8],
    keys: &[AuthKey],
    now_ms: u64,
    window_ms: u64,
) -> Result<AuthTrailer, AuthError> {
    let signed_flag = datagram
        .get(HEADER_LEN - 1)
        .is_some_and(|f| f & FLAG_AUTH != 0);
    if dialect(datagram) != Dialect::V2 || !signed_flag || datagram.len() < HEADER_LEN + TRAILER_LEN
    {
        return Err(AuthError::Unsigned);
    }
    let (signed, tag) = datagram.split_at(datagram.len() - MAC_LEN);
    let (_, stamp) = signed.split_at(signed.len() - (TRAILER_LEN - MAC_LEN));
    let mut r = Reader { rest: stamp };
    let (Ok(timestamp_ms), Ok(key_id)) = (r.u64(), r.u8()) else {
        return Err(AuthError::Unsigned);
    };
    let key = keys
        .iter()
        .find(|k| k.id == key_id)
        .ok_or(AuthError::UnknownKey(key_id))?;
    let mut mac = key.hmac();
    mac.update(signed);
    mac.verify_slice(tag).map_err(|_| AuthError::BadMac)?;
    check_window(timestamp_ms, now_ms, window_ms)?;
    let mac = tag.try_into().map_err(|_| AuthError::Unsigned)?;
    Ok(AuthTrailer {
        timestamp_ms,
        key_id,
        mac,
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;
    /// A hybrid-clock timestamp (milliseconds, then a 16-bit counter), as
    /// the cluster layer's `hlc::pack` builds it.
    fn pack(ms: u64, logical: u16) -> u64 {
        (ms << 16) | u64::from(logical)
    }

    /// The secret of the signed test vectors: 32 ASCII bytes.
    pub(crate) const VECTOR_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    /// The signing time of the signed test vectors.
    pub(crate) const VECTOR_TIME_MS: u64 = 1_700_000_000_000;

    fn v1() -> Version {
        Version {
            timestamp: pack(1_700_000_000_000, 1),
            writer: 7,
        }
    }

    fn v2() -> Version {
        Version {
            timestamp: pack(1_700_000_000_005, 0),
            writer: 9,
        }
    }

    /// Every vector of docs/PROTOCOL.md: name, request id, message, signed.
    fn vectors() -> Vec<(&'static str, u64, Message<'static>, bool)> {
        let mut all = vec![
            ("hello", 1, Message::Hello, false),
            ("get", 2, Message::Get { key: b"k" }, false),
            (
                "put",
                3,
                Message::Put {
                    key: b"k",
                    value: b"v",
                    version: v1(),
                },
                false,
            ),
            (
                "delete",
                4,
                Message::Delete {
                    key: b"k",
                    version: v2(),
                },
                false,
            ),
            (
                "dump-first",
                5,
                Message::Dump {
                    cursor: b"",
                    limit: 0,
                },
                false,
            ),
            (
                "dump-next",
                6,
                Message::Dump {
                    cursor: b"b",
                    limit: 100,
                },
                false,
            ),
            ("stats", 7, Message::Stats, false),
            (
                "hello-reply",
                1,
                Message::HelloReply {
                    max_version: 2,
                    features: feature::AUTH_REQUIRED | feature::DUMP,
                    time_ms: VECTOR_TIME_MS,
                },
                false,
            ),
            (
                "value",
                2,
                Message::Value {
                    value: b"v",
                    version: v1(),
                },
                false,
            ),
            ("not-found", 2, Message::NotFound { tombstone: None }, false),
            (
                "not-found-tombstone",
                2,
                Message::NotFound {
                    tombstone: Some(v2()),
                },
                false,
            ),
            ("stored", 3, Message::Stored, false),
            ("older", 3, Message::Older { current: v2() }, false),
            (
                "refused",
                3,
                Message::Refused {
                    reason: Reason::OutOfMemory,
                },
                false,
            ),
            (
                "refused-clock",
                3,
                Message::Refused {
                    reason: Reason::ClockAhead {
                        server_ms: 1_700_000_000_000,
                        max_offset_ms: 500,
                    },
                },
                false,
            ),
            (
                "page",
                5,
                Message::Page(Page {
                    total: 4,
                    more: true,
                    entries: vec![
                        Entry {
                            key: b"a",
                            value: EntryValue::Live(b"1"),
                            version: v1(),
                        },
                        Entry {
                            key: b"b",
                            value: EntryValue::Tombstone,
                            version: v2(),
                        },
                    ],
                }),
                false,
            ),
            (
                "page-last",
                6,
                Message::Page(Page {
                    total: 4,
                    more: false,
                    entries: vec![Entry {
                        key: b"c",
                        value: EntryValue::Omitted,
                        version: Version::ZERO,
                    }],
                }),
                false,
            ),
            (
                "stats-reply",
                7,
                Message::StatsReply {
                    pairs: vec![(b"keys", b"3")],
                },
                false,
            ),
            (
                "stats-reply-signed",
                7,
                Message::StatsReply {
                    pairs: vec![(b"gets", b"12"), (b"engine", b"memory")],
                },
                true,
            ),
            (
                "put-binary",
                8,
                Message::Put {
                    key: b"a\0\n",
                    value: b"",
                    version: v1(),
                },
                false,
            ),
            ("get-signed", 9, Message::Get { key: b"k" }, true),
        ];
        all.extend(ae_vectors());
        all.extend(hint_vectors());
        all
    }

    /// The hinted handoff vectors (docs/PROTOCOL.md, "Hinted handoff"),
    /// last.
    fn hint_vectors() -> Vec<(&'static str, u64, Message<'static>, bool)> {
        let owner = std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(127, 0, 0, 1), 1235);
        vec![
            (
                "hint",
                15,
                Message::Hint {
                    owner,
                    key: b"k",
                    value: Some(b"v"),
                    version: v1(),
                },
                false,
            ),
            (
                "hint-delete",
                16,
                Message::Hint {
                    owner,
                    key: b"k",
                    value: None,
                    version: v2(),
                },
                false,
            ),
        ]
    }

    /// The anti-entropy vectors (docs/PROTOCOL.md, "Anti-entropy
    /// messages"), after the others.
    fn ae_vectors() -> Vec<(&'static str, u64, Message<'static>, bool)> {
        use ae::{AeMessage as A, KeyVersion};
        const RING: u64 = 0x0102_0304_0506_0708;
        let ae = |m: A<'static>| Message::AntiEntropy(m);
        let live = Entry {
            key: b"a",
            value: EntryValue::Live(b"1"),
            version: v1(),
        };
        let gone = Entry {
            key: b"b",
            value: EntryValue::Tombstone,
            version: v2(),
        };
        vec![
            (
                "ae-roots",
                10,
                ae(A::Roots {
                    ring: RING,
                    roots: vec![(1, [0xaa; 16])],
                }),
                false,
            ),
            ("ae-differ", 10, ae(A::Differ { indexes: vec![1] }), false),
            (
                "ae-buckets",
                11,
                ae(A::Buckets {
                    ring: RING,
                    segment: 1,
                    hashes: vec![[0; 16], [0x11; 16]],
                }),
                false,
            ),
            (
                "ae-keys",
                12,
                ae(A::Keys {
                    ring: RING,
                    segment: 1,
                    bucket: 1,
                    cursor: b"",
                }),
                false,
            ),
            (
                "ae-key-list",
                12,
                ae(A::KeyList {
                    more: false,
                    keys: vec![
                        KeyVersion {
                            key: b"a",
                            version: v1(),
                            tombstone: false,
                        },
                        KeyVersion {
                            key: b"b",
                            version: v2(),
                            tombstone: true,
                        },
                    ],
                }),
                false,
            ),
            (
                "ae-push",
                13,
                ae(A::Push {
                    records: vec![live, gone],
                }),
                true,
            ),
            ("ae-pushed", 13, ae(A::Pushed { accepted: 2 }), false),
            (
                "ae-fetch",
                14,
                ae(A::Fetch {
                    keys: vec![b"a", b"b"],
                }),
                false,
            ),
            (
                "ae-records",
                14,
                ae(A::Records {
                    records: vec![live],
                }),
                false,
            ),
        ]
    }

    fn vector_key() -> AuthKey {
        AuthKey::new(1, VECTOR_SECRET).unwrap()
    }

    fn encode_vector(id: u64, message: &Message, signed: bool) -> Vec<u8> {
        let key = vector_key();
        encode(id, message, signed.then_some((&key, VECTOR_TIME_MS))).unwrap()
    }

    /// The ```` ```hex <name> ```` blocks of docs/PROTOCOL.md, comments
    /// (`# …`) stripped.
    fn doc_vectors() -> Vec<(String, Vec<u8>)> {
        let doc = include_str!("../../../docs/PROTOCOL.md");
        let mut out = Vec::new();
        let mut current: Option<(String, Vec<u8>)> = None;
        for line in doc.lines() {
            if let Some(name) = line.strip_prefix("```hex ") {
                current = Some((name.trim().to_string(), Vec::new()));
            } else if line.starts_with("```") {
                out.extend(current.take());
            } else if let Some((_, bytes)) = current.as_mut() {
                let data = line.split('#').next().unwrap();
                for token in data.split_whitespace() {
                    bytes.push(u8::from_str_radix(token, 16).unwrap());
                }
            }
        }
        out
    }

    #[test]
    fn every_documented_vector_is_what_the_codec_writes_and_reads() {
        let doc = doc_vectors();
        let ours = vectors();
        let names: Vec<&str> = doc.iter().map(|(n, _)| n.as_str()).collect();
        let expected: Vec<&str> = ours.iter().map(|(n, ..)| *n).collect();
        assert_eq!(
            names, expected,
            "docs/PROTOCOL.md vectors and the table differ"
        );
        for ((name, bytes), (_, id, message, signed)) in doc.iter().zip(&ours) {
            let encoded = encode_vector(*id, message, *signed);
            assert_eq!(
                &encoded, bytes,
                "vector {name}: encoding differs from the doc"
            );
            let frame = decode(bytes).unwrap();
            assert_eq!(frame.id, *id, "{name}");
            assert_eq!(&frame.message, message, "{name}");
            assert_eq!(frame.auth.is_some(), *signed, "{name}");
            assert_eq!(frame.encode().unwrap(), *bytes, "{name}");
            assert!(crate::protocol::parse_request(bytes).is_err(), "{name}");
        }
    }

    /// `cargo test --lib print_vectors -- --ignored --nocapture` prints the
    /// vectors as unannotated hex, to help write a new one into the doc.
    #[test]
    #[ignore]
    fn print_vectors() {
        for (name, id, message, signed) in vectors() {
            let hex: Vec<String> = encode_vector(id, &message, signed)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            println!("{name}: {}", hex.join(" "));
        }
    }

    #[test]
    fn dialects() {
        assert_eq!(dialect(b""), Dialect::V1);
        assert_eq!(dialect(b"k"), Dialect::V1);
        assert_eq!(dialect(b"k\0v"), Dialect::V1);
        assert_eq!(dialect(b"\0DK"), Dialect::V1);
        assert_eq!(dialect(b"\0DKV"), Dialect::V2);
        assert_eq!(decode(b"\0DKV"), Err(DecodeError::Truncated));
        assert_eq!(decode(b"k"), Err(DecodeError::NotV2));
    }

    #[test]
    fn header_errors() {
        let good = encode(1, &Message::Get { key: b"k" }, None).unwrap();
        let mut d = good.clone();
        d[4] = 3;
        assert_eq!(decode(&d), Err(DecodeError::UnsupportedVersion(3)));
        let mut d = good.clone();
        d[5] = 0x7f;
        assert_eq!(decode(&d), Err(DecodeError::UnknownOpcode(0x7f)));
        let mut d = good.clone();
        d[14] = 0x02;
        assert_eq!(decode(&d), Err(DecodeError::UnknownFlags(0x02)));
        let mut d = good.clone();
        d.push(0);
        assert_eq!(decode(&d), Err(DecodeError::TrailingBytes));
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        // Flagged as signed but too short for a trailer.
        let mut d = good.clone();
        d[14] = FLAG_AUTH;
        assert_eq!(decode(&d), Err(DecodeError::Truncated));
    }

    #[test]
    fn field_errors() {
        let enc = |m: &Message| encode(1, m, None);
        assert_eq!(enc(&Message::Get { key: b"" }), Err(EncodeError::EmptyKey));
        let long = vec![b'k'; MAX_KEY_LEN + 1];
        assert_eq!(
            enc(&Message::Get { key: &long }),
            Err(EncodeError::KeyTooLong)
        );
        assert_eq!(
            enc(&Message::Dump {
                cursor: &long,
                limit: 0
            }),
            Err(EncodeError::KeyTooLong)
        );
        assert_eq!(
            enc(&Message::Value {
                value: &long,
                version: Version::ZERO
            }),
            Err(EncodeError::ValueTooLong)
        );
        assert_eq!(
            enc(&Message::Page(Page {
                total: 0,
                more: true,
                entries: vec![]
            })),
            Err(EncodeError::EmptyPageWithMore)
        );
        // Empty key on the wire.
        let mut d = enc(&Message::Get { key: b"k" }).unwrap();
        d.truncate(HEADER_LEN);
        d.extend_from_slice(&[0, 0]);
        assert_eq!(decode(&d), Err(DecodeError::EmptyKey));
        // Key and value over the limit on the wire.
        let mut d = d[..HEADER_LEN].to_vec();
        d.extend_from_slice(&u16::try_from(MAX_KEY_LEN + 1).unwrap().to_be_bytes());
        d.extend_from_slice(&long);
        assert_eq!(decode(&d), Err(DecodeError::KeyTooLong));
        // A boolean other than 0 or 1.
        let mut d = enc(&Message::NotFound { tombstone: None }).unwrap();
        d[HEADER_LEN] = 2;
        assert_eq!(decode(&d), Err(DecodeError::Invalid("tombstone flag")));
    }

    #[test]
    fn a_put_at_both_limits_is_too_large_for_one_datagram() {
        let key = vec![b'k'; MAX_KEY_LEN];
        let value = vec![b'v'; MAX_VALUE_LEN];
        let put = |value| Message::Put {
            key: &key[..],
            value,
            version: Version::ZERO,
        };
        assert_eq!(encode(1, &put(&value), None), Err(EncodeError::TooLarge));
        // The largest value that fits with a largest key, unsigned and signed.
        let fits = MAX_DATAGRAM - HEADER_LEN - 2 - MAX_KEY_LEN - 2 - Version::ENCODED_LEN;
        assert_eq!(
            encode(1, &put(&value[..fits]), None).unwrap().len(),
            MAX_DATAGRAM
        );
        let k = vector_key();
        assert_eq!(
            encode(1, &put(&value[..fits]), Some((&k, 0))),
            Err(EncodeError::TooLarge)
        );
        let d = encode(1, &put(&value[..fits - TRAILER_LEN]), Some((&k, 0))).unwrap();
        assert_eq!(d.len(), MAX_DATAGRAM);
        assert!(verify(&d, &[k], 0, 0).is_ok());
    }

    #[test]
    fn a_huge_count_does_not_allocate_for_it() {
        let mut d = encode(
            1,
            &Message::Page(Page {
                total: 0,
                more: false,
                entries: vec![],
            }),
            None,
        )
        .unwrap();
        let n = d.len();
        d[n - 2] = 0xff;
        d[n - 1] = 0xff;
        assert_eq!(decode(&d), Err(DecodeError::Truncated));
        let mut d = encode(1, &Message::StatsReply { pairs: vec![] }, None).unwrap();
        let n = d.len();
        d[n - 2..].copy_from_slice(&[0xff, 0xff]);
        assert_eq!(decode(&d), Err(DecodeError::Truncated));
    }

    #[test]
    fn reasons_round_trip() {
        for code in 0..=u8::MAX {
            assert_eq!(Reason::from_code(code).code(), code);
        }
        assert_eq!(Reason::from_code(5), Reason::Unauthenticated);
        assert_eq!(Reason::from_code(200), Reason::Other(200));
    }

    #[test]
    fn requests_and_replies() {
        for (name, _, message, _) in vectors() {
            let request = !name.contains("reply")
                && ["hello", "get", "put", "delete", "dump", "stats", "hint"]
                    .iter()
                    .any(|p| name.starts_with(p))
                || ["ae-roots", "ae-buckets", "ae-keys", "ae-push", "ae-fetch"].contains(&name);
            assert_eq!(message.is_request(), request, "{name}");
        }
    }

    #[test]
    fn signing_and_verifying() {
        let k1 = vector_key();
        let k2 = AuthKey::new(2, b"another secret of enough bytes!!").unwrap();
        let msg = Message::Put {
            key: b"k",
            value: b"v",
            version: v1(),
        };
        let d = encode(5, &msg, Some((&k1, 10_000))).unwrap();
        let frame = decode(&d).unwrap();
        assert_eq!(frame.message, msg);
        let trailer = frame.auth.unwrap();
        assert_eq!((trailer.timestamp_ms, trailer.key_id), (10_000, 1));
        // Either key of a rotation set verifies by id.
        let keys = [k2.clone(), k1.clone()];
        assert_eq!(verify(&d, &keys, 10_000, 0), Ok(trailer));
        assert_eq!(verify(&d, &keys, 12_000, 2_000), Ok(trailer));
        assert_eq!(verify(&d, &keys, 8_000, 2_000), Ok(trailer));
        // Replayed too late, or from too far in the future.
        assert!(matches!(
            verify(&d, &keys, 12_001, 2_000),
            Err(AuthError::OutsideWindow { .. })
        ));
        assert!(matches!(
            verify(&d, &keys, 7_999, 2_000),
            Err(AuthError::OutsideWindow { .. })
        ));
        // Unknown key id; a different secret under the same id.
        assert_eq!(verify(&d, &[k2], 10_000, 0), Err(AuthError::UnknownKey(1)));
        let impostor = AuthKey::new(1, b"a different secret, same key id!").unwrap();
        assert_eq!(verify(&d, &[impostor], 10_000, 0), Err(AuthError::BadMac));
        // Every single-bit flip anywhere is rejected.
        for i in 0..d.len() {
            for bit in 0..8 {
                let mut f = d.clone();
                f[i] ^= 1 << bit;
                assert!(
                    verify(&f, &keys, 10_000, 1_000_000).is_err(),
                    "byte {i} bit {bit}"
                );
            }
        }
        // Truncated, or stripped of its trailer.
        for cut in 0..d.len() {
            assert!(verify(&d[..cut], &keys, 10_000, 0).is_err());
        }
        let unsigned = encode(5, &msg, None).unwrap();
        assert_eq!(
            verify(&unsigned, &keys, 10_000, 0),
            Err(AuthError::Unsigned)
        );
        assert_eq!(verify(b"k\0v", &keys, 0, 0), Err(AuthError::Unsigned));
        assert_eq!(
            AuthKey::new(1, b"short").unwrap_err(),
            AuthError::ShortSecret
        );
        assert!(!format!("{k1:?}").contains("0123"));
    }

    #[test]
    fn key_files() {
        let secret = "30313233343536373839616263646566".repeat(2);
        let text = format!("# keys\n\n2 {secret}\n  1   {}  \n", &secret[..32]);
        let keys = parse_key_file(&text).unwrap();
        assert_eq!(keys.iter().map(AuthKey::id).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(keys[0].secret, VECTOR_SECRET);
        let err = |t: &str| parse_key_file(t).unwrap_err().to_string();
        assert_eq!(err(""), "no key");
        assert_eq!(err("# only\n"), "no key");
        assert_eq!(err("1\n"), "line 1: expected `<id> <secret in hex>`");
        assert_eq!(
            err(&format!("1 {secret} x")),
            "line 1: expected `<id> <secret in hex>`"
        );
        assert_eq!(
            err(&format!("256 {secret}")),
            "line 1: the id must be 0 to 255"
        );
        assert_eq!(
            err(&format!("1 {secret}\n1 {secret}")),
            "line 2: key id 1 appears twice"
        );
        assert_eq!(err("1 3g"), "line 1: the secret must be hexadecimal digits");
        assert_eq!(
            err("1 abc"),
            "line 1: the secret must be hexadecimal digits"
        );
        assert_eq!(err("1 é1"), "line 1: the secret must be hexadecimal digits");
        assert_eq!(
            err("1 00112233"),
            "line 1: the secret must be at least 16 bytes"
        );
        assert!(!err(&format!("x {secret}")).contains(&secret));
    }

    #[test]
    fn which_replies_answer_which_requests() {
        use opcode::*;
        let stored = Message::Stored;
        assert!(stored.answers(PUT) && stored.answers(DELETE) && !stored.answers(GET));
        let refused = Message::Refused {
            reason: Reason::Malformed,
        };
        for r in [HELLO, GET, PUT, DELETE, DUMP, STATS] {
            assert!(refused.answers(r));
        }
        assert!(!refused.answers(VALUE));
        assert!(Message::NotFound { tombstone: None }.answers(GET));
        assert!(!Message::Hello.answers(HELLO));
        assert!(Message::Page(Page::default()).answers(DUMP));
        assert!(!Message::Page(Page::default()).answers(GET));
    }

    #[test]
    fn window_is_symmetric_and_overflow_free() {
        assert!(check_window(100, 100, 0).is_ok());
        assert!(check_window(0, u64::MAX, u64::MAX).is_ok());
        assert!(check_window(u64::MAX, 0, u64::MAX - 1).is_err());
        assert!(check_window(90, 100, 10).is_ok() && check_window(110, 100, 10).is_ok());
    }

    fn live<'a>(key: &'a [u8], value: &'a [u8]) -> Entry<'a> {
        Entry {
            key,
            value: EntryValue::Live(value),
            version: v1(),
        }
    }

    fn page_of(d: &[u8]) -> Page<'_> {
        match decode(d).unwrap().message {
            Message::Page(p) => p,
            other => panic!("not a page: {other:?}"),
        }
    }

    #[test]
    fn pages_fill_a_datagram_and_resume_after_their_last_key() {
        let keys: Vec<Vec<u8>> = (0..10u8).map(|i| vec![b'k', i]).collect();
        let value = vec![b'v'; 20_000];
        let entries: Vec<Entry> = keys.iter().map(|k| live(k, &value)).collect();
        let mut cursor: &[u8] = b"";
        let mut seen = Vec::new();
        for _ in 0..20 {
            let rest = entries.iter().copied().filter(|e| e.key > cursor);
            let d = encode_page(1, 10, 0, rest, None).unwrap();
            assert!(d.len() <= MAX_DATAGRAM);
            let page = page_of(&d);
            assert_eq!(page.total, 10);
            assert!(page.entries.len() <= 3);
            seen.extend(page.entries.iter().map(|e| e.key.to_vec()));
            match page.next_cursor() {
                Some(c) => cursor = &keys[keys.iter().position(|k| k == c).unwrap()],
                None => break,
            }
        }
        assert_eq!(seen, keys);
    }

    #[test]
    fn page_limit_and_empty_store() {
        let entries = [live(b"a", b"1"), live(b"b", b"2"), live(b"c", b"3")];
        let d = encode_page(1, 3, 2, entries, None).unwrap();
        let p = page_of(&d);
        assert_eq!(p.entries.len(), 2);
        assert_eq!(p.next_cursor(), Some(&b"b"[..]));
        let d = encode_page(1, 0, 0, [], None).unwrap();
        assert_eq!(page_of(&d), Page::default());
    }

    #[test]
    fn a_record_too_large_for_a_page_goes_alone_without_its_value() {
        let key = vec![b'k'; MAX_KEY_LEN];
        let value = vec![b'v'; MAX_VALUE_LEN];
        let k = vector_key();
        for auth in [None, Some((&k, 0))] {
            let entries = [live(&key, &value), live(b"y", &value), live(b"z", b"1")];
            let d = encode_page(1, 3, 0, entries, auth).unwrap();
            let p = page_of(&d);
            assert_eq!(p.entries.len(), 1);
            assert_eq!(p.entries[0].value, EntryValue::Omitted);
            assert_eq!(p.entries[0].key, &key[..]);
            assert!(p.more);
            // Next page: the other records, whole.
            let d = encode_page(1, 3, 0, entries[1..].iter().copied(), auth).unwrap();
            assert_eq!(page_of(&d).entries, entries[1..].to_vec());
            // An omitted record leaves room for small ones after it.
            let d = encode_page(1, 3, 0, [entries[0], entries[2]], auth).unwrap();
            assert_eq!(page_of(&d).entries.len(), 2);
        }
        // Keys that can never be stored are skipped, not sent.
        let long = vec![b'k'; MAX_KEY_LEN + 1];
        let d = encode_page(1, 2, 0, [live(b"", b"1"), live(&long, b"1")], None).unwrap();
        assert_eq!(
            page_of(&d),
            Page {
                total: 2,
                ..Page::default()
            }
        );
    }
}
