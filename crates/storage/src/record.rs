//! The record a server keeps for a key, and when a tombstone expires:
//! shared by the memory store and the storage engines, below both.

use bytes::Bytes;

use crate::version::Version;

/// A stored value with the metadata protocol v2 needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The version the writer gave the value ([`Version::ZERO`] for v1).
    pub version: Version,
    /// True when the record marks a deletion (protocol v2); the value is
    /// then the time the server received the delete
    /// ([`Record::tombstone`]), or empty.
    pub tombstone: bool,
    /// The value.
    pub value: Bytes,
}

impl Record {
    /// True for the record of a protocol v1 put (version zero, live): it
    /// overwrites unconditionally.
    pub fn is_v1(&self) -> bool {
        self.version == Version::ZERO && !self.tombstone
    }

    /// The tombstone a server stores for a delete at `version` received at
    /// `received_ms` (ms since the epoch, this server's clock): its value
    /// is that time, 8 bytes big-endian, from which the tombstone's grace
    /// period is counted ([`tombstone_time_ms`], DECISIONS #79).
    pub fn tombstone(version: Version, received_ms: u64) -> Record {
        Record {
            version,
            tombstone: true,
            value: Bytes::copy_from_slice(&received_ms.to_be_bytes()),
        }
    }

    /// This record of `key` as a v2 page entry (a dump page, an
    /// anti-entropy push).
    pub fn entry<'a>(&'a self, key: &'a [u8]) -> crate::protocol_v2::Entry<'a> {
        crate::protocol_v2::Entry {
            key,
            value: if self.tombstone {
                crate::protocol_v2::EntryValue::Tombstone
            } else {
                crate::protocol_v2::EntryValue::Live(&self.value)
            },
            version: self.version,
        }
    }

    /// The record of a protocol v1 put: version zero, not a tombstone.
    pub fn v1(value: Bytes) -> Record {
        Record {
            version: Version::ZERO,
            tombstone: false,
            value,
        }
    }
}

/// When a tombstone with stored value `value` and version `version` was
/// received (ms since the epoch): the time [`Record::tombstone`] put in its
/// value, or, for a tombstone stored without one (written before receipt
/// times were kept, or by a test), its version's clock reading.
pub fn tombstone_time_ms(value: &[u8], version: Version) -> u64 {
    match <[u8; 8]>::try_from(value) {
        Ok(bytes) => u64::from_be_bytes(bytes),
        Err(_) => crate::hlc::physical_ms(version.timestamp),
    }
}

/// Whether a tombstone (stored value `value`, version `version`) has
/// outlived its grace `grace_ms` at `now_ms`: counted from when this server
/// received it ([`tombstone_time_ms`], DECISIONS #79), but from no later
/// than its version's reading plus the grace, so a tombstone that read
/// repair or a hint re-plants on a replica that had purged it lives at
/// most twice the grace after its version (DECISIONS #87).
pub fn tombstone_expired(value: &[u8], version: Version, now_ms: u64, grace_ms: u64) -> bool {
    let received = tombstone_time_ms(value, version);
    let from = received.min(crate::hlc::physical_ms(version.timestamp).saturating_add(grace_ms));
    from.saturating_add(grace_ms) < now_ms
}

/// Every pair of an engine, sorted by key ([`Engine::snapshot`]).
pub type Pairs = Vec<(Box<[u8]>, Record)>;
