//! Records to and from the wire's entries, and packing entries into one
//! datagram.

use bytes::Bytes;

use crate::engine::Record;
use crate::protocol_v2::{Entry, EntryValue};

/// A page entry for a record.
pub(super) fn entry_of<'a>(key: &'a [u8], r: &'a Record) -> Entry<'a> {
    r.entry(key)
}

/// The record to merge for a received entry (`None` for an omitted
/// value); a tombstone's receipt time is now.
pub(super) fn record_of_entry(e: &Entry<'_>, now_ms: u64) -> Option<(Bytes, Record)> {
    let record = match e.value {
        EntryValue::Live(v) => Record {
            version: e.version,
            tombstone: false,
            value: Bytes::copy_from_slice(v),
        },
        EntryValue::Tombstone => Record::tombstone(e.version, now_ms),
        EntryValue::Omitted => return None,
    };
    Some((Bytes::copy_from_slice(e.key), record))
}

/// The first entries that fit in `room` bytes (at least one: a record too
/// large for any datagram is marked [`EntryValue::Omitted`]).
pub(super) fn pack<'a>(entries: impl Iterator<Item = Entry<'a>>, room: usize) -> Vec<Entry<'a>> {
    let mut used = 0;
    let mut out = Vec::new();
    for mut e in entries {
        if out.is_empty() && e.encoded_len() > room {
            e.value = EntryValue::Omitted;
        }
        if used + e.encoded_len() > room || out.len() >= usize::from(u16::MAX) {
            break;
        }
        used += e.encoded_len();
        out.push(e);
    }
    out
}
