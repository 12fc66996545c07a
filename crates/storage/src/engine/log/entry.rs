//! One entry of a segment file: its bytes, written by [`encode`] and read
//! back by [`parse`] and [`decode`], each checked by its CRC-32C so that a
//! damaged entry is reported and never served.
//!
//! Layout (little-endian): CRC-32C of everything after it (u32), flags
//! (u8), key length (u16), stored value length (u32), the version
//! (timestamp and writer, u64 each) only when [`VERSIONED`] is set, the
//! key, then the stored value: the value itself, or its LZ4 block with the
//! length prepended when [`LZ4`] is set (only when that is smaller). A
//! [`REMOVE`] entry has no value: the key is gone (a purged tombstone, a
//! key handed to its owners).

use bytes::Bytes;

use super::super::{Record, Version};

/// Flags bit: the record is a tombstone.
pub(super) const TOMBSTONE: u8 = 1;
/// Flags bit: the stored value is LZ4-compressed.
pub(super) const LZ4: u8 = 2;
/// Flags bit: the version follows the fixed header (absent: version zero,
/// a v1 record).
pub(super) const VERSIONED: u8 = 4;
/// Flags bit: the key is removed (no value).
pub(super) const REMOVE: u8 = 8;
const KNOWN: u8 = TOMBSTONE | LZ4 | VERSIONED | REMOVE;
/// Bytes of the header before the optional version.
pub(super) const FIXED: usize = 11;
/// Largest stored value accepted when reading (a longer length is damage).
pub(super) const MAX_VALUE: usize = 64 << 20;
/// Values shorter than this are never compressed (LZ4 cannot win).
const COMPRESS_FROM: usize = 24;

/// CRC-32C (Castagnoli; hardware-accelerated where the CPU has it).
pub(super) fn crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// The header length for `flags`.
pub(super) fn header_len(flags: u8) -> usize {
    if flags & VERSIONED != 0 {
        FIXED + Version::ENCODED_LEN
    } else {
        FIXED
    }
}

/// What [`encode`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Written {
    /// Bytes of the entry.
    pub len: u32,
    /// Its flags.
    pub flags: u8,
}

/// Appends the entry of `key` holding `record` (`None`: a removal) to
/// `out`; `None` when the key or value is too long for the format.
pub(super) fn encode(out: &mut Vec<u8>, key: &[u8], record: Option<&Record>) -> Option<Written> {
    let start = out.len();
    let key_len = u16::try_from(key.len()).ok()?;
    let mut flags = 0;
    let mut compressed = None;
    if let Some(r) = record {
        if r.tombstone {
            flags |= TOMBSTONE;
        }
        if r.version != Version::ZERO {
            flags |= VERSIONED;
        }
        if r.value.len() >= COMPRESS_FROM {
            let c = lz4_flex::block::compress_prepend_size(&r.value);
            if c.len() < r.value.len() {
                flags |= LZ4;
                compressed = Some(c);
            }
        }
    } else {
        flags |= REMOVE;
    }
    let value: &[u8] = match (&compressed, record) {
        (Some(c), _) => c,
        (None, Some(r)) => &r.value,
        (None, None) => &[],
    };
    if value.len() > MAX_VALUE {
        return None;
    }
    let value_len = u32::try_from(value.len()).ok()?;
    out.extend_from_slice(&[0; 4]);
    out.push(flags);
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(&value_len.to_le_bytes());
    if let Some(r) = record.filter(|_| flags & VERSIONED != 0) {
        out.extend_from_slice(&r.version.timestamp.to_le_bytes());
        out.extend_from_slice(&r.version.writer.to_le_bytes());
    }
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    let crc = crc(out.get(start + 4..).unwrap_or_default());
    if let Some(slot) = out.get_mut(start..start + 4) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
    Some(Written {
        len: u32::try_from(out.len() - start).ok()?,
        flags,
    })
}

/// An entry's fields as read from its bytes (not yet checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Parsed<'a> {
    /// Its flags.
    pub flags: u8,
    /// Its version (zero unless [`VERSIONED`]).
    pub version: Version,
    /// Its key.
    pub key: &'a [u8],
    /// Its stored value.
    pub stored: &'a [u8],
    /// Bytes of the whole entry.
    pub len: usize,
    /// The CRC matches.
    pub crc_ok: bool,
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Reads the entry at the start of `bytes`: `None` when no entry can be
/// framed there (too short, unknown flags, lengths past the end).
pub(super) fn parse(bytes: &[u8]) -> Option<Parsed<'_>> {
    let crc_stored = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?);
    let flags = *bytes.get(4)?;
    if flags & !KNOWN != 0 || (flags & REMOVE != 0 && flags != REMOVE) {
        return None;
    }
    let key_len = usize::from(u16::from_le_bytes(bytes.get(5..7)?.try_into().ok()?));
    let value_len = u32::from_le_bytes(bytes.get(7..11)?.try_into().ok()?) as usize;
    if value_len > MAX_VALUE {
        return None;
    }
    let header = header_len(flags);
    let version = if flags & VERSIONED != 0 {
        Version {
            timestamp: le_u64(bytes, FIXED)?,
            writer: le_u64(bytes, FIXED + 8)?,
        }
    } else {
        Version::ZERO
    };
    let len = header + key_len + value_len;
    let key = bytes.get(header..header + key_len)?;
    let stored = bytes.get(header + key_len..len)?;
    let crc_ok = bytes.get(4..len).is_some_and(|b| crc(b) == crc_stored);
    Some(Parsed {
        flags,
        version,
        key,
        stored,
        len,
        crc_ok,
    })
}

/// The length of the value of a parsed entry (a compressed value's is
/// prepended to its LZ4 block).
pub(super) fn value_len(p: &Parsed<'_>) -> Option<u32> {
    if p.flags & LZ4 != 0 {
        Some(u32::from_le_bytes(p.stored.get(..4)?.try_into().ok()?))
    } else {
        u32::try_from(p.stored.len()).ok()
    }
}

/// The record of a parsed entry whose CRC matched; an error naming what is
/// wrong otherwise (a bad CRC, a removal, a value that does not expand).
pub(super) fn decode(p: &Parsed<'_>) -> Result<Record, String> {
    if !p.crc_ok {
        return Err("checksum mismatch".into());
    }
    if p.flags & REMOVE != 0 {
        return Err("a removal entry where a record was expected".into());
    }
    let value = if p.flags & LZ4 != 0 {
        lz4_flex::block::decompress_size_prepended(p.stored)
            .map_err(|e| format!("compressed value does not expand: {e}"))?
    } else {
        p.stored.to_vec()
    };
    Ok(Record {
        version: p.version,
        tombstone: p.flags & TOMBSTONE != 0,
        value: Bytes::from(value),
    })
}

/// The first offset after `from` where a whole entry with a matching CRC
/// starts (to find where damage ends), if any.
pub(super) fn next_valid(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len()).find(|&at| {
        bytes
            .get(at..)
            .and_then(parse)
            .is_some_and(|p| p.crc_ok && p.len > 0)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn rec(value: &[u8], ts: u64, tomb: bool) -> Record {
        Record {
            version: Version {
                timestamp: ts,
                writer: 7,
            },
            tombstone: tomb,
            value: Bytes::copy_from_slice(value),
        }
    }

    #[test]
    fn round_trips_compresses_and_catches_flips() {
        for (r, compress) in [
            (rec(b"short", 5, false), false),
            (rec(&[b'x'; 100], 5, false), true),
            (rec(b"", 9, true), false),
            (Record::v1(Bytes::from_static(b"v1 value")), false),
        ] {
            let mut out = vec![0xAA];
            let w = encode(&mut out, b"key", Some(&r)).unwrap();
            assert_eq!(w.len as usize, out.len() - 1);
            assert_eq!(w.flags & LZ4 != 0, compress);
            let p = parse(&out[1..]).unwrap();
            assert!(p.crc_ok && p.key == b"key");
            assert_eq!(decode(&p).unwrap(), r);
            for i in 1..out.len() {
                let mut bad = out.clone();
                bad[i] ^= 0x10;
                if let Some(p) = parse(&bad[1..]) {
                    assert!(!p.crc_ok, "flip at {i} not caught");
                    assert!(decode(&p).is_err());
                }
            }
        }
        let mut out = Vec::new();
        encode(&mut out, b"gone", None).unwrap();
        let p = parse(&out).unwrap();
        assert!(p.crc_ok && p.flags == REMOVE && decode(&p).is_err());
        assert!(encode(&mut out, &vec![0; 70_000], None).is_none());
        // 16-byte key, 100-byte repetitive value: 11 + 16 + ~14 bytes.
        let mut out = Vec::new();
        let w = encode(
            &mut out,
            &[b'k'; 16],
            Some(&Record::v1(vec![b'v'; 100].into())),
        )
        .unwrap();
        assert!(w.len < 48, "{}", w.len);
    }

    #[test]
    fn next_valid_skips_damage() {
        let mut out = vec![1, 2, 3];
        encode(&mut out, b"a", Some(&rec(b"1", 1, false))).unwrap();
        assert_eq!(next_valid(&out, 0), Some(3));
        assert_eq!(next_valid(&out, 4), None);
    }
}
