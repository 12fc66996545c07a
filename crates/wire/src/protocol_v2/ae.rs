//! The anti-entropy messages of protocol v2 (issue 8): how two replicas
//! compare their hash trees (the cluster layer's Merkle trees) and exchange the records
//! that differ. Requests use opcodes `0x10`–`0x1f`, replies `0x90`–`0x9f`;
//! the byte layout, with test vectors, is in `docs/PROTOCOL.md`,
//! "Anti-entropy messages". Servers send them to each other
//! (the server's anti-entropy); they are ordinary v2 requests (header,
//! request id, optional trailer), so `--allow`, the reply budget and
//! authentication apply to them as to any request.

use super::{
    DecodeError, EncodeError, Entry, EntryValue, MAX_KEY_LEN, MAX_VALUE_LEN, Reader, put_bytes,
    put_u16,
};
/// Bytes of a tree hash (a truncated SHA-256, as the Merkle trees compute it).
pub const HASH_LEN: usize = 16;

/// One node's hash in a Merkle tree.
pub type Hash = [u8; HASH_LEN];
use crate::version::Version;

/// Anti-entropy opcodes.
pub mod opcode {
    /// Request: the roots of segments the sender shares with the receiver.
    pub const AE_ROOTS: u8 = 0x10;
    /// Request: the bucket hashes of one segment.
    pub const AE_BUCKETS: u8 = 0x11;
    /// Request: the keys and versions of one bucket, after a cursor.
    pub const AE_KEYS: u8 = 0x12;
    /// Request: records the receiver should merge (sent by anti-entropy).
    pub const AE_PUSH: u8 = 0x13;
    /// Request: the receiver's records of these keys.
    pub const AE_FETCH: u8 = 0x14;
    /// Reply to AE_ROOTS and AE_BUCKETS: the indexes that differ.
    pub const AE_DIFFER: u8 = 0x90;
    /// Reply to AE_KEYS: one page of keys and versions.
    pub const AE_KEY_LIST: u8 = 0x92;
    /// Reply to AE_PUSH: how many records were accepted.
    pub const AE_PUSHED: u8 = 0x93;
    /// Reply to AE_FETCH: the records.
    pub const AE_RECORDS: u8 = 0x94;
}

/// REFUSED reason of an anti-entropy request whose ring fingerprint is not
/// the receiver's (the two servers read different configurations).
pub const REASON_RING_DIFFERS: u8 = 9;

/// True for the opcodes this module decodes.
pub fn is_ae_opcode(op: u8) -> bool {
    use opcode::*;
    matches!(
        op,
        AE_ROOTS
            | AE_BUCKETS
            | AE_KEYS
            | AE_PUSH
            | AE_FETCH
            | AE_DIFFER
            | AE_KEY_LIST
            | AE_PUSHED
            | AE_RECORDS
    )
}

/// Whether reply opcode `reply` answers anti-entropy request `request`
/// (REFUSED answers any; `Message::answers` checks that part).
pub fn answers(request: u8, reply: u8) -> bool {
    use opcode::*;
    matches!(
        (request, reply),
        (AE_ROOTS | AE_BUCKETS, AE_DIFFER)
            | (AE_KEYS, AE_KEY_LIST)
            | (AE_PUSH, AE_PUSHED)
            | (AE_FETCH, AE_RECORDS)
    )
}

/// One key of a bucket listing: its version and whether it is a tombstone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyVersion<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Its version.
    pub version: Version,
    /// True for a tombstone.
    pub tombstone: bool,
}

impl KeyVersion<'_> {
    /// Bytes on the wire: flags, key with its length, version.
    pub fn encoded_len(&self) -> usize {
        1 + 2 + self.key.len() + Version::ENCODED_LEN
    }
}

/// An anti-entropy message (`Message::AntiEntropy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AeMessage<'a> {
    /// AE_ROOTS: `u64` ring fingerprint, then `(u32 segment, hash)` pairs.
    Roots {
        /// The sender's ring fingerprint.
        ring: u64,
        /// Segment numbers and their roots.
        roots: Vec<(u32, Hash)>,
    },
    /// AE_BUCKETS: ring, segment, then every bucket hash of the segment.
    Buckets {
        /// The sender's ring fingerprint.
        ring: u64,
        /// The segment.
        segment: u32,
        /// Its bucket hashes, bucket 0 first.
        hashes: Vec<Hash>,
    },
    /// AE_KEYS: ring, segment, bucket, cursor (keys after it).
    Keys {
        /// The sender's ring fingerprint.
        ring: u64,
        /// The segment.
        segment: u32,
        /// The bucket.
        bucket: u16,
        /// Empty for the first page, else the last key of the previous.
        cursor: &'a [u8],
    },
    /// AE_PUSH: records (page entries: live values and tombstones).
    Push {
        /// The records.
        records: Vec<Entry<'a>>,
    },
    /// AE_FETCH: keys whose records the sender wants.
    Fetch {
        /// The keys.
        keys: Vec<&'a [u8]>,
    },
    /// AE_DIFFER: the segment numbers (reply to AE_ROOTS) or bucket numbers
    /// (reply to AE_BUCKETS) whose hashes differ from the receiver's.
    Differ {
        /// The indexes.
        indexes: Vec<u32>,
    },
    /// AE_KEY_LIST: one page of a bucket's keys.
    KeyList {
        /// More keys follow the last one.
        more: bool,
        /// The keys, in key order.
        keys: Vec<KeyVersion<'a>>,
    },
    /// AE_PUSHED: how many of the pushed records were accepted (queued to
    /// be merged; the others should be sent again later).
    Pushed {
        /// Count accepted.
        accepted: u16,
    },
    /// AE_RECORDS: the receiver's records of the fetched keys it holds (a
    /// value too large for the datagram is [`EntryValue::Omitted`]).
    Records {
        /// The records.
        records: Vec<Entry<'a>>,
    },
}

impl AeMessage<'_> {
    /// The opcode.
    pub fn opcode(&self) -> u8 {
        use opcode::*;
        match self {
            AeMessage::Roots { .. } => AE_ROOTS,
            AeMessage::Buckets { .. } => AE_BUCKETS,
            AeMessage::Keys { .. } => AE_KEYS,
            AeMessage::Push { .. } => AE_PUSH,
            AeMessage::Fetch { .. } => AE_FETCH,
            AeMessage::Differ { .. } => AE_DIFFER,
            AeMessage::KeyList { .. } => AE_KEY_LIST,
            AeMessage::Pushed { .. } => AE_PUSHED,
            AeMessage::Records { .. } => AE_RECORDS,
        }
    }

    /// Bytes of the body.
    pub(super) fn body_len(&self) -> usize {
        match self {
            AeMessage::Roots { roots, .. } => 8 + 2 + roots.len() * (4 + HASH_LEN),
            AeMessage::Buckets { hashes, .. } => 8 + 4 + 2 + hashes.len() * HASH_LEN,
            AeMessage::Keys { cursor, .. } => 8 + 4 + 2 + 2 + cursor.len(),
            AeMessage::Push { records } | AeMessage::Records { records } => {
                2 + records.iter().map(Entry::encoded_len).sum::<usize>()
            }
            AeMessage::Fetch { keys } => 2 + keys.iter().map(|k| 2 + k.len()).sum::<usize>(),
            AeMessage::Differ { indexes } => 2 + 4 * indexes.len(),
            AeMessage::KeyList { keys, .. } => {
                1 + 2 + keys.iter().map(KeyVersion::encoded_len).sum::<usize>()
            }
            AeMessage::Pushed { .. } => 2,
        }
    }

    /// Checks counts and lengths.
    pub(super) fn check(&self) -> Result<(), EncodeError> {
        let count = |n: usize| {
            if n > usize::from(u16::MAX) {
                Err(EncodeError::TooManyEntries)
            } else {
                Ok(())
            }
        };
        let key = super::message::check_key;
        let check_records = |records: &[Entry]| {
            count(records.len())?;
            records.iter().try_for_each(|e| {
                key(e.key)?;
                match e.value {
                    EntryValue::Live(v) if v.len() > MAX_VALUE_LEN => {
                        Err(EncodeError::ValueTooLong)
                    }
                    _ => Ok(()),
                }
            })
        };
        match self {
            AeMessage::Roots { roots, .. } => count(roots.len()),
            AeMessage::Buckets { hashes, .. } => count(hashes.len()),
            AeMessage::Keys { cursor, .. } if cursor.len() > MAX_KEY_LEN => {
                Err(EncodeError::KeyTooLong)
            }
            AeMessage::Keys { .. } | AeMessage::Pushed { .. } => Ok(()),
            AeMessage::Push { records } | AeMessage::Records { records } => check_records(records),
            AeMessage::Fetch { keys } => {
                count(keys.len())?;
                keys.iter().try_for_each(|k| key(k))
            }
            AeMessage::Differ { indexes } => count(indexes.len()),
            AeMessage::KeyList { more, keys } => {
                count(keys.len())?;
                if *more && keys.is_empty() {
                    return Err(EncodeError::EmptyPageWithMore);
                }
                keys.iter().try_for_each(|k| key(k.key))
            }
        }
    }

    /// Appends the body (checked first).
    pub(super) fn write_body(&self, out: &mut Vec<u8>) {
        match self {
            AeMessage::Roots { ring, roots } => {
                out.extend_from_slice(&ring.to_be_bytes());
                put_u16(out, roots.len());
                for (segment, hash) in roots {
                    out.extend_from_slice(&segment.to_be_bytes());
                    out.extend_from_slice(hash);
                }
            }
            AeMessage::Buckets {
                ring,
                segment,
                hashes,
            } => {
                out.extend_from_slice(&ring.to_be_bytes());
                out.extend_from_slice(&segment.to_be_bytes());
                put_u16(out, hashes.len());
                for hash in hashes {
                    out.extend_from_slice(hash);
                }
            }
            AeMessage::Keys {
                ring,
                segment,
                bucket,
                cursor,
            } => {
                out.extend_from_slice(&ring.to_be_bytes());
                out.extend_from_slice(&segment.to_be_bytes());
                out.extend_from_slice(&bucket.to_be_bytes());
                put_bytes(out, cursor);
            }
            AeMessage::Push { records } | AeMessage::Records { records } => {
                put_u16(out, records.len());
                for e in records {
                    super::write_entry(out, e);
                }
            }
            AeMessage::Fetch { keys } => {
                put_u16(out, keys.len());
                for k in keys {
                    put_bytes(out, k);
                }
            }
            AeMessage::Differ { indexes } => {
                put_u16(out, indexes.len());
                for i in indexes {
                    out.extend_from_slice(&i.to_be_bytes());
                }
            }
            AeMessage::KeyList { more, keys } => {
                out.push(u8::from(*more));
                put_u16(out, keys.len());
                for k in keys {
                    out.push(u8::from(k.tombstone));
                    put_bytes(out, k.key);
                    out.extend_from_slice(&k.version.to_bytes());
                }
            }
            AeMessage::Pushed { accepted } => out.extend_from_slice(&accepted.to_be_bytes()),
        }
    }
}

fn hash(r: &mut Reader<'_>) -> Result<Hash, DecodeError> {
    r.array::<HASH_LEN>()
}

/// Decodes the body of anti-entropy opcode `op` ([`is_ae_opcode`]).
pub(super) fn decode_body<'a>(op: u8, r: &mut Reader<'a>) -> Result<AeMessage<'a>, DecodeError> {
    use opcode::*;
    Ok(match op {
        AE_ROOTS => {
            let ring = r.u64()?;
            let (n, capacity) = r.count(4 + HASH_LEN)?;
            let mut roots = Vec::with_capacity(capacity);
            for _ in 0..n {
                roots.push((r.u32()?, hash(r)?));
            }
            AeMessage::Roots { ring, roots }
        }
        AE_BUCKETS => {
            let ring = r.u64()?;
            let segment = r.u32()?;
            let (n, capacity) = r.count(HASH_LEN)?;
            let mut hashes = Vec::with_capacity(capacity);
            for _ in 0..n {
                hashes.push(hash(r)?);
            }
            AeMessage::Buckets {
                ring,
                segment,
                hashes,
            }
        }
        AE_KEYS => {
            let ring = r.u64()?;
            let segment = r.u32()?;
            let bucket = r.u16()?;
            let cursor = r.bytes()?;
            if cursor.len() > MAX_KEY_LEN {
                return Err(DecodeError::KeyTooLong);
            }
            AeMessage::Keys {
                ring,
                segment,
                bucket,
                cursor,
            }
        }
        AE_PUSH => AeMessage::Push {
            records: super::read_entries(r)?,
        },
        AE_RECORDS => AeMessage::Records {
            records: super::read_entries(r)?,
        },
        AE_FETCH => {
            let (n, capacity) = r.count(3)?;
            let mut keys = Vec::with_capacity(capacity);
            for _ in 0..n {
                keys.push(r.key()?);
            }
            AeMessage::Fetch { keys }
        }
        AE_DIFFER => {
            let (n, capacity) = r.count(4)?;
            let mut indexes = Vec::with_capacity(capacity);
            for _ in 0..n {
                indexes.push(r.u32()?);
            }
            AeMessage::Differ { indexes }
        }
        AE_KEY_LIST => {
            let more = r.flag("more flag")?;
            let (n, capacity) = r.count(1 + 2 + 1 + Version::ENCODED_LEN)?;
            let mut keys = Vec::with_capacity(capacity);
            for _ in 0..n {
                let tombstone = r.flag("key flags")?;
                keys.push(KeyVersion {
                    key: r.key()?,
                    version: r.version()?,
                    tombstone,
                });
            }
            if more && keys.is_empty() {
                return Err(DecodeError::Invalid("empty key list with more"));
            }
            AeMessage::KeyList { more, keys }
        }
        AE_PUSHED => AeMessage::Pushed { accepted: r.u16()? },
        other => return Err(DecodeError::UnknownOpcode(other)),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::{Message, decode, encode, opcode as v2op};
    use super::*;

    #[test]
    fn replies_answer_their_requests_only() {
        use opcode::*;
        assert!(answers(AE_ROOTS, AE_DIFFER));
        assert!(answers(AE_BUCKETS, AE_DIFFER));
        assert!(!answers(AE_KEYS, AE_DIFFER));
        assert!(answers(AE_FETCH, AE_RECORDS));
        let refused = Message::Refused {
            reason: super::super::Reason::from_code(REASON_RING_DIFFERS),
        };
        assert!(refused.answers(AE_PUSH));
        assert!(!Message::Stored.answers(AE_PUSH));
        let pushed = Message::AntiEntropy(AeMessage::Pushed { accepted: 1 });
        assert!(pushed.answers(AE_PUSH));
        assert!(!pushed.answers(v2op::PUT));
        assert!(!pushed.is_request());
        assert!(!refused.answers(AE_PUSHED));
    }

    #[test]
    fn malformed_bodies_do_not_decode() {
        let list = Message::AntiEntropy(AeMessage::KeyList {
            more: false,
            keys: vec![KeyVersion {
                key: b"k",
                version: Version::ZERO,
                tombstone: false,
            }],
        });
        let d = encode(1, &list, None).unwrap();
        assert!(decode(&d).is_ok());
        for cut in 15..d.len() {
            assert!(decode(&d[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = d.clone();
        bad[18] = 2; // tombstone flag 2
        assert!(decode(&bad).is_err());
        let empty_more = Message::AntiEntropy(AeMessage::KeyList {
            more: true,
            keys: vec![],
        });
        assert_eq!(
            encode(1, &empty_more, None),
            Err(EncodeError::EmptyPageWithMore)
        );
        let mut more = d;
        more[15] = 1;
        more[16..18].copy_from_slice(&[0, 0]);
        more.truncate(18);
        assert!(decode(&more).is_err());
        let empty_key = Message::AntiEntropy(AeMessage::Fetch { keys: vec![b""] });
        assert_eq!(encode(1, &empty_key, None), Err(EncodeError::EmptyKey));
    }
}
