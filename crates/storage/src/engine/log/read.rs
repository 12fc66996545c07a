//! Reads: a key directory lookup, one `pread` of the entry, its CRC
//! checked and its value expanded. A record failing any check is
//! [`EngineError::CorruptRecord`], counted and logged, and never served.

use std::sync::atomic::Ordering;

use super::super::{EngineError, Pairs, Record};
use super::file::{read_at, seg_name};
use super::keydir::Loc;
use super::{Inner, entry};

/// Lookups retried when compaction moved the entry between the lookup and
/// the read.
const MOVED_RETRIES: usize = 3;

impl Inner {
    /// [`super::super::Engine::get`].
    pub(super) fn read_record(&self, key: &[u8]) -> Result<Option<Record>, EngineError> {
        let mut tries = 0;
        loop {
            let Some(loc) = self.read_keydir()?.get(key) else {
                return Ok(None);
            };
            match self.read_loc(key, &loc) {
                Err(EngineError::Other(_)) if tries < MOVED_RETRIES => {
                    // Its segment was compacted away meanwhile: look again.
                    tries += 1;
                }
                other => return other.map(Some),
            }
        }
    }

    /// The record at `loc`, which the key directory gives for `key`.
    pub(super) fn read_loc(&self, key: &[u8], loc: &Loc) -> Result<Record, EngineError> {
        let file = self.segment(loc.seg)?;
        let bytes = read_at(&file, u64::from(loc.off), loc.len as usize).map_err(|e| {
            EngineError::io(
                format_args!("cannot read {} at {}", seg_name(loc.seg), loc.off),
                e,
            )
        })?;
        let record = match entry::parse(&bytes) {
            Some(p) if p.len != bytes.len() => Err("entry length changed".to_string()),
            Some(p) if p.crc_ok && p.key != key => Err("entry of another key".to_string()),
            Some(p) => entry::decode(&p),
            None => Err("entry header unreadable".to_string()),
        };
        record.map_err(|reason| self.corrupt(key, loc, reason))
    }

    /// Counts, logs and marks a record failing its check; the error.
    fn corrupt(&self, key: &[u8], loc: &Loc, reason: String) -> EngineError {
        self.corrupt_reads.fetch_add(1, Ordering::Relaxed);
        // The server logs it (at most once per key per minute): a client
        // retrying would flood an error line per read.
        tracing::debug!(
            key = %key.escape_ascii(),
            file = %seg_name(loc.seg),
            offset = loc.off,
            %reason,
            "corrupt record not served"
        );
        if let Ok(mut keydir) = self.keydir.write() {
            keydir.mark_corrupt(key, loc);
        }
        EngineError::CorruptRecord {
            key: key.into(),
            file: seg_name(loc.seg),
            offset: u64::from(loc.off),
            reason,
        }
    }

    /// At most `max` readable records after `cursor`, and whether more
    /// follow; records failing their check are left out (and counted).
    pub(super) fn read_page(
        &self,
        cursor: Option<&[u8]>,
        max: usize,
    ) -> Result<(Pairs, bool), EngineError> {
        let (locs, more) = self.read_keydir()?.range(cursor, max);
        let mut out = Vec::with_capacity(locs.len());
        for (key, loc) in locs {
            match self.read_record_at(&key, loc) {
                Ok(Some(record)) => out.push((key, record)),
                Ok(None) | Err(EngineError::CorruptRecord { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((out, more))
    }

    /// The record at `loc`, or the key's current one if compaction moved
    /// it meanwhile (`None`: removed meanwhile).
    fn read_record_at(&self, key: &[u8], loc: Loc) -> Result<Option<Record>, EngineError> {
        match self.read_loc(key, &loc) {
            Err(EngineError::Other(_)) => self.read_record(key),
            other => other.map(Some),
        }
    }
}
