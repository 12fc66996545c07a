//! The files of a log directory: segment files (`<id>.seg`, entries
//! appended, read back with `pread`) and hint files (`<id>.hint`: the
//! index of a sealed segment, so that opening reads a few bytes per key
//! instead of every value).
//!
//! A hint file is the magic [`HINT_MAGIC`], the length of the segment it
//! indexes (u64 LE), one item per entry of the segment — flags (u8, the
//! entry's plus [`super::keydir::CORRUPT`]), key length (u16), key, offset,
//! entry length and value length (u32 each), the version when the entry
//! has one — and a CRC-32C of all of that (u32). Hints are written with
//! [`HINT_MAGIC_LZ4`], the items as one LZ4 block (their length prepended):
//! keys in a compaction's output are sorted and offsets grow, so this
//! about halves them; [`HINT_MAGIC`] hints (items as they are) are still
//! read. A hint that fails any check is ignored and its segment scanned
//! instead.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::super::Version;
use super::entry::{self, VERSIONED};
use super::keydir::Loc;

/// First bytes of a hint file whose items are one LZ4 block.
pub(super) const HINT_MAGIC_LZ4: &[u8; 8] = b"DKVSHNT2";
/// First bytes of a hint file whose items are stored as they are.
pub(super) const HINT_MAGIC: &[u8; 8] = b"DKVSHNT1";

/// The file name of segment `id`.
pub(super) fn seg_name(id: u64) -> String {
    format!("{id:016x}.seg")
}

/// The file name of the hint of segment `id`.
pub(super) fn hint_name(id: u64) -> String {
    format!("{id:016x}.hint")
}

/// The segments and hints in `dir`, each sorted by id.
pub(super) fn list(dir: &Path) -> io::Result<(Vec<u64>, Vec<u64>)> {
    let mut segs = Vec::new();
    let mut hints = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        let parse = |suffix: &str| {
            name.strip_suffix(suffix)
                .filter(|n| n.len() == 16)
                .and_then(|n| u64::from_str_radix(n, 16).ok())
        };
        if let Some(id) = parse(".seg") {
            segs.push(id);
        } else if let Some(id) = parse(".hint") {
            hints.push(id);
        }
    }
    segs.sort_unstable();
    hints.sort_unstable();
    Ok((segs, hints))
}

/// Reads `len` bytes at `off` of `file`.
pub(super) fn read_at(file: &File, off: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, off)?;
    Ok(buf)
}

/// Fsyncs the directory `dir` (so created, renamed or removed entries are
/// durable).
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The bytes of a hint indexing a segment of `seg_len` bytes whose entries
/// are `items` (key, location), in log order.
pub(super) fn encode_hint<'a>(
    seg_len: u64,
    items: impl IntoIterator<Item = (&'a [u8], Loc)>,
) -> Vec<u8> {
    let mut plain = Vec::new();
    for (key, loc) in items {
        let Ok(key_len) = u16::try_from(key.len()) else {
            continue;
        };
        plain.push(loc.flags);
        plain.extend_from_slice(&key_len.to_le_bytes());
        plain.extend_from_slice(key);
        plain.extend_from_slice(&loc.off.to_le_bytes());
        plain.extend_from_slice(&loc.len.to_le_bytes());
        plain.extend_from_slice(&loc.vlen.to_le_bytes());
        if loc.flags & VERSIONED != 0 {
            plain.extend_from_slice(&loc.version.timestamp.to_le_bytes());
            plain.extend_from_slice(&loc.version.writer.to_le_bytes());
        }
    }
    let mut out = Vec::with_capacity(plain.len() / 2 + 24);
    out.extend_from_slice(HINT_MAGIC_LZ4);
    out.extend_from_slice(&seg_len.to_le_bytes());
    out.extend_from_slice(&lz4_flex::block::compress_prepend_size(&plain));
    let crc = entry::crc(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Writes the hint of segment `id` durably (temporary file, fsync, rename,
/// fsync of the directory).
pub(super) fn write_hint(dir: &Path, id: u64, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{}.tmp", hint_name(id)));
    let f = File::create(&tmp)?;
    f.write_all_at(bytes, 0)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(hint_name(id)))?;
    sync_dir(dir)
}

/// A cursor over a hint's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.at..self.at + n)?;
        self.at += n;
        Some(out)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// The items of a hint for segment `seg` of `seg_len` bytes: `None` when
/// the hint fails its CRC, names another length, or does not parse.
pub(super) fn decode_hint(bytes: &[u8], seg: u64, seg_len: u64) -> Option<Vec<(Box<[u8]>, Loc)>> {
    let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    if entry::crc(body) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    let mut r = Reader { bytes: body, at: 0 };
    let magic = r.take(8)?;
    if r.u64()? != seg_len {
        return None;
    }
    let unpacked;
    let body = if magic == HINT_MAGIC_LZ4 {
        let packed = body.get(r.at..)?;
        // An item takes at most a few bytes more than its entry: a larger
        // size is damage, not a reason to allocate.
        let size = u64::from(u32::from_le_bytes(packed.get(..4)?.try_into().ok()?));
        if size > seg_len.saturating_mul(4).saturating_add(64) {
            return None;
        }
        unpacked = lz4_flex::block::decompress_size_prepended(packed).ok()?;
        &unpacked[..]
    } else if magic == HINT_MAGIC {
        body.get(r.at..)?
    } else {
        return None;
    };
    let mut r = Reader { bytes: body, at: 0 };
    let mut items = Vec::new();
    while r.at < body.len() {
        let flags = *r.take(1)?.first()?;
        let key_len = usize::from(u16::from_le_bytes(r.take(2)?.try_into().ok()?));
        let key: Box<[u8]> = r.take(key_len)?.into();
        let (off, len, vlen) = (r.u32()?, r.u32()?, r.u32()?);
        let version = if flags & VERSIONED != 0 {
            Version {
                timestamp: r.u64()?,
                writer: r.u64()?,
            }
        } else {
            Version::ZERO
        };
        if u64::from(off) + u64::from(len) > seg_len {
            return None;
        }
        let loc = Loc {
            seg,
            off,
            len,
            vlen,
            version,
            flags,
        };
        items.push((key, loc));
    }
    Some(items)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn hint_round_trip_and_damage() {
        let loc = |off, flags| Loc {
            seg: 3,
            off,
            len: 10,
            vlen: 2,
            version: Version {
                timestamp: 5,
                writer: 6,
            },
            flags,
        };
        let items = [(&b"a"[..], loc(0, VERSIONED)), (&b"b"[..], loc(10, 0))];
        let bytes = encode_hint(20, items);
        let back = decode_hint(&bytes, 3, 20).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].1, loc(0, VERSIONED));
        assert_eq!(back[1].1.version, Version::ZERO);
        assert!(decode_hint(&bytes, 3, 21).is_none());
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert!(decode_hint(&bad, 3, 20).is_none(), "flip at {i}");
        }
        assert_eq!(list(Path::new("/nonexistent")).ok(), None);
        assert_eq!(seg_name(255), "00000000000000ff.seg");
    }

    /// Hints written before compression (`DKVSHNT1`) are still read, and
    /// the compressed form is smaller for sorted keys.
    #[test]
    fn plain_hints_are_read_and_compressed_ones_are_smaller() {
        let items: Vec<(Vec<u8>, Loc)> = (0..500u32)
            .map(|i| {
                let loc = Loc {
                    seg: 7,
                    off: i * 40,
                    len: 40,
                    vlen: 20,
                    version: Version::ZERO,
                    flags: 0,
                };
                (format!("key:{i:012}").into_bytes(), loc)
            })
            .collect();
        let packed = encode_hint(20_000, items.iter().map(|(k, l)| (&k[..], *l)));
        let plain_items =
            lz4_flex::block::decompress_size_prepended(&packed[16..packed.len() - 4]).unwrap();
        let mut plain = HINT_MAGIC.to_vec();
        plain.extend_from_slice(&20_000u64.to_le_bytes());
        plain.extend_from_slice(&plain_items);
        let crc = entry::crc(&plain);
        plain.extend_from_slice(&crc.to_le_bytes());
        let from_plain = decode_hint(&plain, 7, 20_000).unwrap();
        let from_packed = decode_hint(&packed, 7, 20_000).unwrap();
        assert_eq!(from_plain, from_packed);
        assert_eq!(from_packed.len(), 500);
        assert!(
            packed.len() * 2 < plain.len(),
            "{} vs {}",
            packed.len(),
            plain.len()
        );
    }
}
