//! Reads: one key, every record (a v1 dump) and a page of records (a v2
//! dump), each from a redb read transaction, which never waits for writers.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::super::{EngineError, Pairs, Record, decode_record};
use super::{DATA, DurableEngine};

impl DurableEngine {
    /// [`super::super::Engine::get`].
    pub(super) fn read_record(&self, key: &[u8]) -> Result<Option<Record>, EngineError> {
        let guard = self.read_db()?;
        let db = guard
            .as_ref()
            .ok_or_else(|| EngineError::other("database unavailable after an I/O error"))?;
        let read = || -> Result<Option<Vec<u8>>, redb::Error> {
            let txn = db.begin_read()?;
            let data = txn.open_table(DATA)?;
            Ok(data.get(key)?.map(|v| v.value().to_vec()))
        };
        match read().map_err(|e| EngineError::db("read failed", e))? {
            Some(bytes) => decode_record(&bytes)
                .map(Some)
                .map_err(|e| EngineError::corrupt("corrupt record", e)),
            None => Ok(None),
        }
    }

    /// [`super::super::Engine::snapshot`].
    pub(super) fn read_all(&self) -> Result<Pairs, EngineError> {
        let guard = self.read_db()?;
        let db = guard
            .as_ref()
            .ok_or_else(|| EngineError::other("database unavailable after an I/O error"))?;
        type Raw = Vec<(Box<[u8]>, Vec<u8>)>;
        let read = || -> Result<Raw, redb::Error> {
            let txn = db.begin_read()?;
            let data = txn.open_table(DATA)?;
            let mut pairs = Vec::with_capacity(usize::try_from(data.len()?).unwrap_or(0));
            for entry in data.iter()? {
                let (k, v) = entry?;
                pairs.push((Box::from(k.value()), v.value().to_vec()));
            }
            Ok(pairs)
        };
        read()
            .map_err(|e| EngineError::db("dump failed", e))?
            .into_iter()
            .map(|(k, v)| {
                decode_record(&v)
                    .map(|r| (k, r))
                    .map_err(|e| EngineError::corrupt("corrupt record", e))
            })
            .collect()
    }

    /// [`super::super::Engine::page`].
    pub(super) fn read_page(
        &self,
        cursor: &[u8],
        max: usize,
    ) -> Result<(Pairs, bool), EngineError> {
        let guard = self.read_db()?;
        let db = guard
            .as_ref()
            .ok_or_else(|| EngineError::other("database unavailable after an I/O error"))?;
        type Raw = Vec<(Box<[u8]>, Vec<u8>)>;
        let read = || -> Result<(Raw, bool), redb::Error> {
            let txn = db.begin_read()?;
            let data = txn.open_table(DATA)?;
            let range = (
                std::ops::Bound::Excluded(cursor),
                std::ops::Bound::Unbounded,
            );
            let range = if cursor.is_empty() {
                data.range::<&[u8]>(..)?
            } else {
                data.range::<&[u8]>(range)?
            };
            let mut pairs = Vec::new();
            // Bytes read after the first record: once they exceed a
            // datagram, no page can hold them all, so reading stops (the
            // page still ends with records left over: `more` stays right).
            let mut bytes = 0usize;
            for entry in range {
                if pairs.len() == max || bytes > crate::protocol::MAX_DATAGRAM {
                    return Ok((pairs, true));
                }
                let (k, v) = entry?;
                if !pairs.is_empty() {
                    bytes += k.value().len() + v.value().len();
                }
                pairs.push((Box::from(k.value()), v.value().to_vec()));
            }
            Ok((pairs, false))
        };
        let (raw, more) = read().map_err(|e| EngineError::db("dump failed", e))?;
        let pairs = raw
            .into_iter()
            .map(|(k, v)| {
                decode_record(&v)
                    .map(|r| (k, r))
                    .map_err(|e| EngineError::corrupt("corrupt record", e))
            })
            .collect::<Result<Pairs, _>>()?;
        Ok((pairs, more))
    }
}
