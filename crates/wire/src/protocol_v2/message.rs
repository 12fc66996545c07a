//! The v2 messages themselves: what each opcode carries (`Message` and the
//! page and refusal types it holds), and how a checked message writes its body.

use super::codec::EncodeError;
use super::{ae, opcode};
use crate::protocol::{MAX_KEY_LEN, MAX_VALUE_LEN};
use crate::version::Version;

/// Page entry flag: the record is a tombstone (no value on the wire).
pub(super) const ENTRY_TOMBSTONE: u8 = 0x01;
/// Page entry flag: the value is too large for a page; read it with GET.
pub(super) const ENTRY_OMITTED: u8 = 0x02;

/// Why a server refused a request (REFUSED's reason code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// 1: the request did not decode (or its opcode is not a request).
    Malformed,
    /// 2: the key is longer than the limit.
    KeyTooLong,
    /// 3: the value is longer than the limit.
    ValueTooLong,
    /// 4: storing it would exceed the server's memory limit
    /// (`--max-memory`).
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
    /// 11: storing it would exceed the server's disk limit (`--max-disk`)
    /// or eat into the free space a durable server keeps in reserve.
    DiskFull,
    /// 12: the record stored under the key failed its check (a checksum)
    /// on this server: it is neither served nor reported as missing. The
    /// client reads it from the other replicas; read repair or
    /// anti-entropy refills it here.
    Corrupt,
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
            Reason::DiskFull => 11,
            Reason::Corrupt => 12,
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
            11 => Reason::DiskFull,
            12 => Reason::Corrupt,
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
            Reason::DiskFull => f.write_str("disk full"),
            Reason::Corrupt => f.write_str("corrupt"),
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
        /// [`feature`](super::feature) bits.
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
    pub(super) fn body_len(&self) -> usize {
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
    pub(super) fn check(&self) -> Result<(), EncodeError> {
        let key = check_key;
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
    pub(super) fn write_body(&self, out: &mut Vec<u8>) {
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
pub(super) fn write_entry(out: &mut Vec<u8>, e: &Entry) {
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

/// Writes a length that [`Message::check`] bounded to `u16`.
pub(super) fn put_u16(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes());
}

/// Writes a length-prefixed byte string.
pub(super) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u16(out, b.len());
    out.extend_from_slice(b);
}

/// A key a v2 message can carry: not empty, at most the v1 key limit.
pub(super) fn check_key(k: &[u8]) -> Result<(), EncodeError> {
    if k.is_empty() {
        Err(EncodeError::EmptyKey)
    } else if k.len() > MAX_KEY_LEN {
        Err(EncodeError::KeyTooLong)
    } else {
        Ok(())
    }
}
