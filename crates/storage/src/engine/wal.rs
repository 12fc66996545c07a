//! The durable engine's write-ahead log (`dkvs.wal`).
//!
//! A redb commit that is synced rewrites several B-tree pages; appending
//! the same puts to one file and syncing that is cheaper (the measurement
//! is in `docs/STORAGE.md`). So a batch of puts is appended here (and, under
//! `--sync always`, fdatasynced) before it is committed to redb without a
//! sync; every so often a *checkpoint* makes redb durable and empties the
//! log. After a crash, the database is at its last checkpoint and the log
//! holds every put since, replayed in order at start-up.
//!
//! An entry is `len` (u32 LE), `crc` (CRC-32 of the payload, u32 LE), then
//! the payload: key length (u32 LE), key, encoded record. Reading stops at
//! the first entry that is short or whose CRC does not match. When nothing
//! valid follows, that is a write torn by a crash (under `always` the last
//! batch is written with one `write` and acknowledged only after its sync,
//! so a torn batch was never acknowledged) and the rest of the file is cut
//! off. When a valid entry follows the bad one, the log was damaged in the
//! middle: cutting it would silently drop acknowledged puts, so opening
//! fails with the offset and the file is left as it is.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use bytes::Bytes;

/// Name of the log in a data directory.
pub const WAL_FILE: &str = "dkvs.wal";
/// Largest payload accepted when reading (a longer length is corruption).
const MAX_PAYLOAD: usize = 1 << 20;

/// CRC-32 (IEEE 802.3, reflected, as zlib), table built at compile time.
pub fn crc32(bytes: &[u8]) -> u32 {
    // Evaluated at compile time: an out-of-range index would fail the
    // build, not a run (and `i < 256` is the loop condition).
    #[allow(clippy::indexing_slicing)]
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &b in bytes {
        let slot = TABLE
            .get(usize::from((crc as u8) ^ b))
            .copied()
            .unwrap_or(0);
        crc = slot ^ (crc >> 8);
    }
    !crc
}

/// One logged put: the key and the encoded record.
pub type Entry = (Bytes, Vec<u8>);

/// The open log.
#[derive(Debug)]
pub struct Wal {
    file: File,
    len: u64,
    /// Tests only: make the next [`Wal::truncate`] fail (a failed undo).
    #[cfg(test)]
    pub(crate) fail_truncate: bool,
}

impl Wal {
    /// Opens (creating) the log of `dir` and reads its valid entries; a
    /// torn or corrupt tail is cut off (its size is returned). When the
    /// file is created, the directory is fsynced so that its entry is
    /// durable (the log is never deleted afterwards: a checkpoint empties
    /// it, so a missing log is an error the caller can report).
    pub fn open(dir: &Path) -> io::Result<(Wal, Vec<Entry>, u64)> {
        let path = dir.join(WAL_FILE);
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        if !existed {
            file.sync_all()?;
            File::open(dir)?.sync_all()?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (entries, valid) = parse(&bytes);
        if let Some(next) = next_valid_entry(&bytes, valid) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the write-ahead log is damaged at byte {valid} but holds valid entries \
                     again from byte {next} (not a write torn by a crash); nothing was changed. \
                     To start with the entries before the damage, keep a copy of the file and \
                     truncate it to {valid} bytes"
                ),
            ));
        }
        let cut = bytes.len() as u64 - valid as u64;
        if cut > 0 {
            file.set_len(valid as u64)?;
            file.sync_all()?;
        }
        Ok((
            Wal {
                file,
                len: valid as u64,
                #[cfg(test)]
                fail_truncate: false,
            },
            entries,
            cut,
        ))
    }

    /// Creates an empty log in `dir` when there is none, and fsyncs the
    /// directory so that its entry is durable. Nothing changes when the log
    /// exists.
    pub fn create_if_missing(dir: &Path) -> io::Result<()> {
        let path = dir.join(WAL_FILE);
        if path.exists() {
            return Ok(());
        }
        OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)?
            .sync_all()?;
        File::open(dir)?.sync_all()
    }

    /// Bytes in the log.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the log holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `entries` (key, encoded record) with one write. On an error
    /// the log is cut back to where it was.
    pub fn append<'a>(
        &mut self,
        entries: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    ) -> io::Result<()> {
        let mut buf = Vec::new();
        for (key, record) in entries {
            let mut payload = Vec::with_capacity(4 + key.len() + record.len());
            payload.extend_from_slice(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_le_bytes());
            payload.extend_from_slice(key);
            payload.extend_from_slice(record);
            buf.extend_from_slice(
                &u32::try_from(payload.len())
                    .unwrap_or(u32::MAX)
                    .to_le_bytes(),
            );
            buf.extend_from_slice(&crc32(&payload).to_le_bytes());
            buf.extend_from_slice(&payload);
        }
        if let Err(e) = self.file.write_all(&buf) {
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += buf.len() as u64;
        Ok(())
    }

    /// The entries in the log now (to replay them again after the database
    /// was reopened).
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        use std::os::unix::fs::FileExt;
        let len = usize::try_from(self.len).map_err(io::Error::other)?;
        let mut bytes = vec![0u8; len];
        self.file.read_exact_at(&mut bytes, 0)?;
        Ok(parse(&bytes).0)
    }

    /// Cuts the log back to `len` bytes (undoing appends after it).
    pub fn truncate(&mut self, len: u64) -> io::Result<()> {
        #[cfg(test)]
        if std::mem::take(&mut self.fail_truncate) {
            return Err(io::Error::other("injected truncate failure"));
        }
        self.file.set_len(len)?;
        self.len = len;
        Ok(())
    }

    /// Makes what was appended durable (fdatasync).
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Empties the log durably (after a checkpoint), so that no entry
    /// already in the database can be replayed after later ones.
    pub fn clear(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.sync_all()?;
        self.len = 0;
        Ok(())
    }
}

/// The valid entries of `bytes` and the length they cover.
fn parse(bytes: &[u8]) -> (Vec<Entry>, usize) {
    let mut entries = Vec::new();
    let mut at = 0;
    while let Some((entry, next)) = entry_at(bytes, at) {
        entries.push(entry);
        at = next;
    }
    (entries, at)
}

/// The entry starting at byte `at` and the offset after it, when a whole,
/// well-formed entry with a matching CRC starts there.
fn entry_at(bytes: &[u8], at: usize) -> Option<(Entry, usize)> {
    let (head, rest) = bytes.get(at..)?.split_first_chunk::<8>()?;
    let (len, crc) = head.split_at(4);
    let len = len.try_into().map(u32::from_le_bytes).ok()? as usize;
    let crc = crc.try_into().map(u32::from_le_bytes).ok()?;
    if len > MAX_PAYLOAD {
        return None;
    }
    let payload = rest.get(..len)?;
    if crc32(payload) != crc {
        return None;
    }
    let (klen, body) = payload.split_first_chunk::<4>()?;
    let (key, record) = body.split_at_checked(u32::from_le_bytes(*klen) as usize)?;
    Some(((Bytes::copy_from_slice(key), record.to_vec()), at + 8 + len))
}

/// The first offset after `bad` where a valid entry starts, if any: a sign
/// that the log was damaged in the middle rather than torn at its end.
/// (A zero-filled tail, as a crash can leave, holds no valid entry: an
/// entry has at least its 4-byte key length.)
fn next_valid_entry(bytes: &[u8], bad: usize) -> Option<usize> {
    (bad + 1..bytes.len()).find(|&at| entry_at(bytes, at).is_some())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn append_reopen_torn_tail_and_clear() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut wal, entries, cut) = Wal::open(tmp.path()).unwrap();
        assert!(entries.is_empty() && cut == 0 && wal.is_empty());
        let batch: Vec<(&[u8], &[u8])> = vec![(b"a", b"rec-a"), (b"", b""), (b"k", b"rec-k")];
        wal.append(batch.iter().copied()).unwrap();
        wal.append([(&b"b"[..], &b"rec-b"[..])].into_iter())
            .unwrap();
        wal.sync().unwrap();
        let full = wal.len();
        drop(wal);
        // A torn last entry is cut off; the others come back in order.
        let path = tmp.path().join(WAL_FILE);
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(full - 2).unwrap();
        drop(f);
        let (mut wal, entries, cut) = Wal::open(tmp.path()).unwrap();
        let keys: Vec<&[u8]> = entries.iter().map(|e| &e.0[..]).collect();
        assert_eq!(keys, [&b"a"[..], b"", b"k"]);
        assert_eq!(entries[2].1, b"rec-k");
        assert!(cut > 0);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), wal.len());
        // A flipped byte in the last entry is a torn tail: cut off.
        wal.clear().unwrap();
        wal.append(batch.iter().copied()).unwrap();
        drop(wal);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let (wal, entries, cut) = Wal::open(tmp.path()).unwrap();
        assert_eq!(entries.len(), 2);
        assert!(cut > 0);
        drop(wal);
        // A zero-filled tail (a crash after the file grew) is cut too.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0; 64]);
        std::fs::write(&path, &bytes).unwrap();
        let (wal, entries, cut) = Wal::open(tmp.path()).unwrap();
        assert_eq!((entries.len(), cut), (2, 64));
        drop(wal);
    }

    #[test]
    fn damage_before_valid_entries_is_an_error_and_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut wal, _, _) = Wal::open(tmp.path()).unwrap();
        let batch: Vec<(&[u8], &[u8])> = vec![(b"a", b"rec-a"), (b"b", b"rec-b"), (b"c", b"rec-c")];
        wal.append(batch.iter().copied()).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let path = tmp.path().join(WAL_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[9] ^= 1; // inside the first entry's payload
        std::fs::write(&path, &bytes).unwrap();
        let e = Wal::open(tmp.path()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let text = e.to_string();
        assert!(text.contains("damaged at byte 0"), "{text}");
        assert!(text.contains("truncate it to 0 bytes"), "{text}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "the log is left as it was"
        );
    }
}
