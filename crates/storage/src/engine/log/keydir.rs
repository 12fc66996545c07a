//! The key directory: every key's newest entry (segment, offset, length,
//! version, flags) in memory, sorted so that dumps and pages stay in key
//! order, with the accounted bytes and each segment's live bytes (what
//! compaction uses to decide when to run).

use std::collections::{BTreeMap, HashMap};

use super::super::durable::disk_pair_size;
use super::super::{RECORD_HEADER, Version};
use super::entry;

/// Flag of a [`Loc`] (beyond the entry's own): the entry failed its check
/// when it was read; any put replaces it (so read repair can refill it).
pub(super) const CORRUPT: u8 = 0x80;

/// Where a key's newest entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Loc {
    /// Segment id.
    pub seg: u64,
    /// Offset in the segment.
    pub off: u32,
    /// Bytes of the entry.
    pub len: u32,
    /// Length of the (uncompressed) value, for the accounting.
    pub vlen: u32,
    /// The record's version.
    pub version: Version,
    /// The entry's flags, plus [`CORRUPT`].
    pub flags: u8,
}

impl Loc {
    /// The entry failed its check.
    pub fn corrupt(&self) -> bool {
        self.flags & CORRUPT != 0
    }

    /// The record is a tombstone.
    pub fn tombstone(&self) -> bool {
        self.flags & entry::TOMBSTONE != 0
    }

    /// Accounted bytes of the pair (as the redb engine counts them).
    pub fn accounted(&self, key: &[u8]) -> u64 {
        disk_pair_size(key, RECORD_HEADER + self.vlen as usize)
    }
}

/// Keys with their entries, in key order ([`KeyDir::range`]).
pub(super) type Page = Vec<(Box<[u8]>, Loc)>;

/// The key directory (see the module comment).
#[derive(Debug, Default)]
pub(super) struct KeyDir {
    map: BTreeMap<Box<[u8]>, Loc>,
    /// Live entry bytes per segment.
    live: HashMap<u64, u64>,
    /// Accounted bytes of every pair.
    used: u64,
}

impl KeyDir {
    /// The entry of `key`.
    pub fn get(&self, key: &[u8]) -> Option<Loc> {
        self.map.get(key).copied()
    }

    /// Number of keys.
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Accounted bytes in use.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Live bytes of segment `seg`.
    #[cfg(test)]
    pub fn live(&self, seg: u64) -> u64 {
        self.live.get(&seg).copied().unwrap_or(0)
    }

    /// Live bytes of every segment.
    pub fn live_total(&self) -> u64 {
        self.live.values().sum()
    }

    fn account(&mut self, key: &[u8], loc: &Loc, add: bool) {
        self.account_size(loc, loc.accounted(key), add);
    }

    fn account_size(&mut self, loc: &Loc, size: u64, add: bool) {
        let live = self.live.entry(loc.seg).or_insert(0);
        if add {
            *live += u64::from(loc.len);
            self.used = self.used.saturating_add(size);
        } else {
            *live = live.saturating_sub(u64::from(loc.len));
            self.used = self.used.saturating_sub(size);
        }
    }

    /// Points `key` at `loc`; the entry it replaces.
    pub fn insert(&mut self, key: &[u8], loc: Loc) -> Option<Loc> {
        self.account(key, &loc, true);
        let old = match self.map.get_mut(key) {
            Some(slot) => Some(std::mem::replace(slot, loc)),
            None => self.map.insert(key.into(), loc),
        };
        if let Some(old) = &old {
            self.account(key, old, false);
        }
        old
    }

    /// The key directory of every entry of a directory, in log order
    /// (the last entry of a key wins; a removal entry removes it). Sorting
    /// then building the tree in bulk costs about half as much as a million
    /// inserts (opening, measured in `benches/log_vs_redb.rs`).
    pub fn build(mut items: Vec<(Box<[u8]>, Loc)>) -> KeyDir {
        // Stable: equal keys stay in log order, and the bulk build keeps
        // the last of them, as inserting them in order would.
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = KeyDir::default();
        let mut last: Option<(Box<[u8]>, Loc)> = None;
        let mut kept = Vec::with_capacity(items.len());
        for item in items {
            if let Some(prev) = last.take()
                && prev.0 != item.0
            {
                kept.push(prev);
            }
            last = Some(item);
        }
        kept.extend(last);
        kept.retain(|(_, l)| l.flags & entry::REMOVE == 0);
        for (key, loc) in &kept {
            out.account_size(loc, loc.accounted(key), true);
        }
        out.map = kept.into_iter().collect();
        out
    }

    /// Forgets `key`; its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Loc> {
        let old = self.map.remove(key)?;
        self.account(key, &old, false);
        Some(old)
    }

    /// Points `key` at `new` if it still points at `old` (compaction's
    /// swap); true when it did.
    pub fn replace_if(&mut self, key: &[u8], old: &Loc, new: Loc) -> bool {
        if self.map.get(key) != Some(old) {
            return false;
        }
        self.insert(key, new);
        true
    }

    /// Marks the entry of `key` at `loc` as failing its check.
    pub fn mark_corrupt(&mut self, key: &[u8], loc: &Loc) {
        if let Some(slot) = self.map.get_mut(key)
            && slot == loc
        {
            slot.flags |= CORRUPT;
        }
    }

    /// At most `max` entries with keys after `cursor` (all when it is
    /// `None`), in key order, and whether more follow.
    pub fn range(&self, cursor: Option<&[u8]>, max: usize) -> (Page, bool) {
        use std::ops::Bound;
        let from = match cursor {
            Some(c) => Bound::Excluded(c),
            None => Bound::Unbounded,
        };
        let mut iter = self
            .map
            .range::<[u8], _>((from, Bound::Unbounded))
            .map(|(k, l)| (k.clone(), *l));
        let page: Vec<_> = iter.by_ref().take(max).collect();
        let more = iter.next().is_some();
        (page, more)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn loc(seg: u64, len: u32) -> Loc {
        Loc {
            seg,
            off: 0,
            len,
            vlen: 1,
            version: Version::ZERO,
            flags: 0,
        }
    }

    #[test]
    fn live_bytes_and_swaps() {
        let mut d = KeyDir::default();
        assert_eq!(d.insert(b"a", loc(1, 10)), None);
        d.insert(b"b", loc(1, 20));
        d.insert(b"a", loc(2, 5));
        assert_eq!((d.live(1), d.live(2), d.len()), (20, 5, 2));
        assert!(!d.replace_if(b"a", &loc(1, 10), loc(3, 5)));
        assert!(d.replace_if(b"a", &loc(2, 5), loc(3, 5)));
        assert_eq!((d.live(2), d.live(3)), (0, 5));
        d.remove(b"b");
        assert_eq!((d.live(1), d.len(), d.live_total()), (0, 1, 5));
        let (page, more) = d.range(None, 1);
        assert_eq!((page.len(), more), (1, false));
        d.mark_corrupt(b"a", &loc(3, 5));
        assert!(d.get(b"a").unwrap().corrupt());
    }

    #[test]
    fn build_keeps_the_last_entry_of_each_key_and_applies_removals() {
        let gone = Loc {
            flags: entry::REMOVE,
            ..loc(2, 9)
        };
        let items = vec![
            (b"b".to_vec().into(), loc(1, 10)),
            (b"a".to_vec().into(), loc(1, 20)),
            (b"b".to_vec().into(), loc(2, 30)),
            (b"c".to_vec().into(), loc(1, 5)),
            (b"c".to_vec().into(), gone),
            (b"a".to_vec().into(), loc(3, 7)),
        ];
        let d = KeyDir::build(items);
        assert_eq!(d.len(), 2);
        assert_eq!(d.get(b"a"), Some(loc(3, 7)));
        assert_eq!(d.get(b"b"), Some(loc(2, 30)));
        assert_eq!((d.live(1), d.live(2), d.live(3)), (0, 30, 7));
    }
}
