//! Framing: the header and trailer around a message, encoding a message into
//! a datagram and decoding one back, strictly (one canonical form per datagram).

use super::message::{ENTRY_OMITTED, ENTRY_TOMBSTONE};
use super::{
    AuthKey, Dialect, Entry, EntryValue, FLAG_AUTH, HEADER_LEN, MAC_LEN, MAGIC, Message, Page,
    Reason, TRAILER_LEN, VERSION, ae, dialect, opcode,
};
use crate::protocol::{MAX_DATAGRAM, MAX_KEY_LEN, MAX_VALUE_LEN};
use crate::version::Version;

/// Reads a `u16` count of entries written by [`write_entry`](super::write_entry).
pub(super) fn read_entries<'a>(r: &mut Reader<'a>) -> Result<Vec<Entry<'a>>, DecodeError> {
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
    /// [`verify`](super::verify), not by [`decode`]).
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
pub(super) struct Reader<'a> {
    pub(super) rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.take(N)?.try_into().map_err(|_| DecodeError::Truncated)
    }

    pub(super) fn u8(&mut self) -> Result<u8, DecodeError> {
        let [b] = self.array()?;
        Ok(b)
    }

    pub(super) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(super) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(super) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub(super) fn version(&mut self) -> Result<Version, DecodeError> {
        Ok(Version::from_bytes(self.array()?))
    }

    pub(super) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    pub(super) fn key(&mut self) -> Result<&'a [u8], DecodeError> {
        let k = self.bytes()?;
        if k.is_empty() {
            Err(DecodeError::EmptyKey)
        } else if k.len() > MAX_KEY_LEN {
            Err(DecodeError::KeyTooLong)
        } else {
            Ok(k)
        }
    }

    pub(super) fn value(&mut self) -> Result<&'a [u8], DecodeError> {
        let v = self.bytes()?;
        if v.len() > MAX_VALUE_LEN {
            Err(DecodeError::ValueTooLong)
        } else {
            Ok(v)
        }
    }

    pub(super) fn flag(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid(what)),
        }
    }

    /// A list count, and a capacity no larger than the bytes left can fill
    /// with items of at least `min_item` bytes (a 2-byte count cannot make
    /// a small datagram allocate megabytes).
    pub(super) fn count(&mut self, min_item: usize) -> Result<(usize, usize), DecodeError> {
        let n = usize::from(self.u16()?);
        Ok((n, n.min(self.rest.len() / min_item)))
    }
}

/// Decodes a v2 datagram. The authentication trailer, if flagged, is
/// returned as read; [`verify`](super::verify) checks it.
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
        opcode::HINT => decode_hint(r)?,
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

/// The body of a HINT: the owner's address, a tombstone flag, key, value
/// (empty for a tombstone) and version.
fn decode_hint<'a>(r: &mut Reader<'a>) -> Result<Message<'a>, DecodeError> {
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
    Ok(Message::Hint {
        owner,
        key,
        value: (!tombstone).then_some(value),
        version: r.version()?,
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
