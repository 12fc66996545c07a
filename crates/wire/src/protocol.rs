//! The version-1 wire protocol (docs/PROTOCOL-V1.md): pure encoding and
//! decoding, no I/O.
//!
//! A v1 request is told apart by its shape alone: an empty datagram is a dump,
//! a datagram with a NUL is a put, anything else is a get. Replies carry no
//! request identity, so their meaning depends on what was asked
//! ([`decode_get_reply`], [`decode_put_reply`]). Keeping the codec free of
//! sockets lets it be tested and fuzzed exhaustively, and leaves room for a
//! framed protocol v2 beside it: a v2 datagram starts with a NUL, which v1
//! only ever sees as an (invalid) empty-key put.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

/// Largest key, in bytes.
pub const MAX_KEY_LEN: usize = 32753;
/// Largest value, in bytes.
pub const MAX_VALUE_LEN: usize = 32753;
/// Largest UDP payload over IPv4.
pub const MAX_DATAGRAM: usize = 65507;

/// Reply to a get of an absent key.
pub const REPLY_NOT_FOUND: &[u8] = b"\0";
/// Reply to a stored put.
pub const REPLY_STORED: &[u8] = b"\0";
/// Reply to a refused put.
pub const REPLY_REFUSED: &[u8] = b"";

/// A decoded request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// Read a key (never empty, never contains NUL).
    Get {
        /// The key.
        key: &'a [u8],
    },
    /// Store a value under a key.
    Put {
        /// The key (validated: non-empty, at most [`MAX_KEY_LEN`]).
        key: &'a [u8],
        /// The value (validated: no NUL, at most [`MAX_VALUE_LEN`]).
        value: &'a [u8],
    },
    /// List the server's contents.
    Dump,
}

/// Why a put datagram was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PutError {
    /// `NUL <value>`: nothing before the NUL.
    #[error("empty key")]
    EmptyKey,
    /// Key longer than [`MAX_KEY_LEN`].
    #[error("key longer than {MAX_KEY_LEN} bytes")]
    KeyTooLong,
    /// Value longer than [`MAX_VALUE_LEN`].
    #[error("value longer than {MAX_VALUE_LEN} bytes")]
    ValueTooLong,
    /// More than one NUL in the datagram.
    #[error("more than one NUL byte")]
    ExtraNul,
}

/// Decodes a request datagram. A get's key may be longer than
/// [`MAX_KEY_LEN`]: such a key simply cannot be present.
pub fn parse_request(datagram: &[u8]) -> Result<Request<'_>, PutError> {
    if datagram.is_empty() {
        return Ok(Request::Dump);
    }
    let Some(nul) = memchr::memchr(0, datagram) else {
        return Ok(Request::Get { key: datagram });
    };
    let (key, value) = (
        datagram.get(..nul).unwrap_or_default(),
        datagram.get(nul + 1..).unwrap_or_default(),
    );
    if key.is_empty() {
        return Err(PutError::EmptyKey);
    }
    if memchr::memchr(0, value).is_some() {
        return Err(PutError::ExtraNul);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(PutError::KeyTooLong);
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(PutError::ValueTooLong);
    }
    Ok(Request::Put { key, value })
}

/// Why a key or value cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Keys must be at least one byte.
    #[error("the key must not be empty")]
    EmptyKey,
    /// Keys and values cannot contain NUL bytes.
    #[error("keys and values cannot contain NUL bytes")]
    Nul,
    /// Key longer than [`MAX_KEY_LEN`].
    #[error("the key is longer than {MAX_KEY_LEN} bytes")]
    KeyTooLong,
    /// Value longer than [`MAX_VALUE_LEN`].
    #[error("the value is longer than {MAX_VALUE_LEN} bytes")]
    ValueTooLong,
}

/// Checks that `key` can be sent.
pub fn check_key(key: &[u8]) -> Result<(), EncodeError> {
    if key.is_empty() {
        Err(EncodeError::EmptyKey)
    } else if key.len() > MAX_KEY_LEN {
        Err(EncodeError::KeyTooLong)
    } else if memchr::memchr(0, key).is_some() {
        Err(EncodeError::Nul)
    } else {
        Ok(())
    }
}

/// Checks that `value` can be sent.
pub fn check_value(value: &[u8]) -> Result<(), EncodeError> {
    if value.len() > MAX_VALUE_LEN {
        Err(EncodeError::ValueTooLong)
    } else if memchr::memchr(0, value).is_some() {
        Err(EncodeError::Nul)
    } else {
        Ok(())
    }
}

/// Encodes a get request.
pub fn encode_get(key: &[u8]) -> Result<Vec<u8>, EncodeError> {
    check_key(key)?;
    Ok(key.to_vec())
}

/// Encodes a put request: `<key> NUL <value>`.
pub fn encode_put(key: &[u8], value: &[u8]) -> Result<Vec<u8>, EncodeError> {
    check_key(key)?;
    check_value(value)?;
    let mut d = Vec::with_capacity(key.len() + 1 + value.len());
    d.extend_from_slice(key);
    d.push(0);
    d.extend_from_slice(value);
    Ok(d)
}

/// A server's reply to a get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetReply<'a> {
    /// The stored value (possibly empty).
    Value(&'a [u8]),
    /// The key is absent.
    NotFound,
    /// Not a valid get reply (contains a NUL byte but is not exactly one).
    Invalid,
}

/// Interprets a reply to a get.
pub fn decode_get_reply(datagram: &[u8]) -> GetReply<'_> {
    if datagram == REPLY_NOT_FOUND {
        GetReply::NotFound
    } else if datagram.len() > MAX_VALUE_LEN || memchr::memchr(0, datagram).is_some() {
        GetReply::Invalid
    } else {
        GetReply::Value(datagram)
    }
}

/// A server's reply to a put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutReply {
    /// Stored.
    Stored,
    /// Refused by the server.
    Refused,
    /// Not a valid put reply.
    Invalid,
}

/// Interprets a reply to a put.
pub fn decode_put_reply(datagram: &[u8]) -> PutReply {
    match datagram {
        b"\0" => PutReply::Stored,
        b"" => PutReply::Refused,
        _ => PutReply::Invalid,
    }
}

/// The first line of a dump reply.
pub fn dump_header(count: usize) -> String {
    format!("storing {count} key-value pairs:\n")
}

/// Splits a dump reply into datagrams of at most [`MAX_DATAGRAM`] bytes,
/// never splitting a pair's line. `count` must be the number of pairs.
///
/// A line can be longer than a datagram only when key and value together
/// come within 5 bytes of the put limit; such a line is sent alone with its
/// value shortened to fit (documented in docs/PROTOCOL-V1.md). A key longer
/// than a datagram (never stored: keys are at most [`MAX_KEY_LEN`]) is
/// shortened too, so no datagram ever exceeds [`MAX_DATAGRAM`].
pub fn encode_dump<'a, I>(count: usize, pairs: I) -> Vec<Vec<u8>>
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    // Room for key and value in one line: " --> " and "\n" take 6 bytes.
    const ROOM: usize = MAX_DATAGRAM - 6;
    let mut datagrams = Vec::new();
    let mut current = dump_header(count).into_bytes();
    for (key, value) in pairs {
        let key = key.get(..ROOM).unwrap_or(key);
        let value = value.get(..ROOM - key.len()).unwrap_or(value);
        let line_len = key.len() + 5 + value.len() + 1;
        if current.len() + line_len > MAX_DATAGRAM {
            datagrams.push(std::mem::take(&mut current));
        }
        current.extend_from_slice(key);
        current.extend_from_slice(b" --> ");
        current.extend_from_slice(value);
        current.push(b'\n');
    }
    datagrams.push(current);
    datagrams
}

/// True when protocol v1 can carry `bytes` as a key or a value: v1
/// allows no NUL byte in either. Protocol v2 is binary-safe, so a pair
/// written through v2 may not be (DECISIONS #88).
pub fn v1_representable(bytes: &[u8]) -> bool {
    !bytes.contains(&0)
}

/// The v1 reply to a get that found `value`: the value itself, or "not
/// found" (one NUL) when v1 cannot carry it (it holds a NUL byte: written
/// through v2). Sending it raw would be misread: a lone NUL is "not
/// found", and a NUL inside makes the reply look like a put.
pub fn v1_get_reply(value: bytes::Bytes) -> bytes::Bytes {
    if v1_representable(&value) {
        value
    } else {
        bytes::Bytes::from_static(REPLY_NOT_FOUND)
    }
}

/// The v1 dump of `pairs` ([`encode_dump`]), leaving out the pairs v1
/// cannot carry ([`v1_representable`]); the header counts only the pairs
/// listed.
pub fn encode_v1_dump<'a, I>(pairs: I) -> Vec<Vec<u8>>
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    let listed: Vec<(&[u8], &[u8])> = pairs
        .into_iter()
        .filter(|(k, v)| v1_representable(k) && v1_representable(v))
        .collect();
    encode_dump(listed.len(), listed)
}

/// `datagram` without the NUL bytes that follow its last complete line: a
/// server of the original course written in C sends its whole 64 KiB
/// buffer, zeros after the text (docs/PROTOCOL-V1.md). No key or value of
/// v1 holds a NUL, so the padding is never data. NULs after an unfinished
/// line, or a datagram of NULs alone, are left as they are.
pub fn trim_dump_padding(datagram: &[u8]) -> &[u8] {
    let text_len = datagram
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |at| at + 1);
    match datagram.get(..text_len) {
        Some(text) if text.ends_with(b"\n") => text,
        _ => datagram,
    }
}

/// A dump reply read back into pairs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dump {
    /// The count announced by the header, if the header was seen.
    pub announced: Option<usize>,
    /// The pairs received.
    pub pairs: Vec<(Vec<u8>, Vec<u8>)>,
    /// Lines that were neither the header nor a pair.
    pub malformed: usize,
}

impl Dump {
    /// True when the header was seen and every announced pair arrived.
    pub fn is_complete(&self) -> bool {
        self.announced == Some(self.pairs.len())
    }

    /// Adds one datagram of a dump reply, NUL padding after its last
    /// line ignored ([`trim_dump_padding`]).
    pub fn add_datagram(&mut self, datagram: &[u8]) {
        for line in trim_dump_padding(datagram).split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            if self.announced.is_none()
                && let Some(count) = parse_header(line)
            {
                self.announced = Some(count);
                continue;
            }
            match memchr::memmem::find(line, b" --> ") {
                Some(at) => self.pairs.push((
                    line.get(..at).unwrap_or_default().to_vec(),
                    line.get(at + 5..).unwrap_or_default().to_vec(),
                )),
                None => self.malformed += 1,
            }
        }
    }
}

fn parse_header(line: &[u8]) -> Option<usize> {
    let rest = line.strip_prefix(b"storing ")?;
    let digits = rest.strip_suffix(b" key-value pairs:")?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn request_shapes() {
        assert_eq!(parse_request(b""), Ok(Request::Dump));
        assert_eq!(parse_request(b"k"), Ok(Request::Get { key: b"k" }));
        assert_eq!(
            parse_request(b"k\0v"),
            Ok(Request::Put {
                key: b"k",
                value: b"v"
            })
        );
        assert_eq!(
            parse_request(b"k\0"),
            Ok(Request::Put {
                key: b"k",
                value: b""
            })
        );
        assert_eq!(parse_request(b"\0v"), Err(PutError::EmptyKey));
        assert_eq!(parse_request(b"\0"), Err(PutError::EmptyKey));
        assert_eq!(parse_request(b"k\0v\0"), Err(PutError::ExtraNul));
        let long_key = vec![b'k'; MAX_KEY_LEN + 1];
        let mut d = long_key.clone();
        d.push(0);
        assert_eq!(parse_request(&d), Err(PutError::KeyTooLong));
        assert_eq!(
            parse_request(&long_key),
            Ok(Request::Get { key: &long_key })
        );
        let mut d = b"k\0".to_vec();
        d.extend(vec![b'v'; MAX_VALUE_LEN + 1]);
        assert_eq!(parse_request(&d), Err(PutError::ValueTooLong));
        let mut d = vec![b'k'; MAX_KEY_LEN];
        d.push(0);
        d.extend(vec![b'v'; MAX_VALUE_LEN]);
        assert!(matches!(parse_request(&d), Ok(Request::Put { .. })));
    }

    #[test]
    fn encoders() {
        assert_eq!(encode_get(b"a").unwrap(), b"a");
        assert_eq!(encode_put(b"a", b"b").unwrap(), b"a\0b");
        assert_eq!(encode_put(b"a", b"").unwrap(), b"a\0");
        assert_eq!(encode_get(b""), Err(EncodeError::EmptyKey));
        assert_eq!(encode_put(b"a\0", b"b"), Err(EncodeError::Nul));
        assert_eq!(encode_put(b"a", b"b\0"), Err(EncodeError::Nul));
        assert_eq!(
            encode_put(b"a", &vec![1; MAX_VALUE_LEN + 1]),
            Err(EncodeError::ValueTooLong)
        );
        assert_eq!(
            encode_get(&vec![1; MAX_KEY_LEN + 1]),
            Err(EncodeError::KeyTooLong)
        );
    }

    #[test]
    fn replies() {
        assert_eq!(decode_get_reply(b"\0"), GetReply::NotFound);
        assert_eq!(decode_get_reply(b""), GetReply::Value(b""));
        assert_eq!(decode_get_reply(b"v"), GetReply::Value(b"v"));
        assert_eq!(decode_get_reply(b"v\0"), GetReply::Invalid);
        assert_eq!(decode_put_reply(b"\0"), PutReply::Stored);
        assert_eq!(decode_put_reply(b""), PutReply::Refused);
        assert_eq!(decode_put_reply(b"x"), PutReply::Invalid);
    }

    #[test]
    fn v1_sees_only_what_it_can_carry() {
        let v = |b: &'static [u8]| bytes::Bytes::from_static(b);
        assert_eq!(v1_get_reply(v(b"value")), v(b"value"));
        assert_eq!(v1_get_reply(v(b"")), v(b""));
        assert_eq!(v1_get_reply(v(b"\0")), v(REPLY_NOT_FOUND));
        assert_eq!(v1_get_reply(v(b"a\0b")), v(REPLY_NOT_FOUND));
        let pairs: [(&[u8], &[u8]); 4] =
            [(b"a", b"1"), (b"b\0", b"2"), (b"c", b"3\0"), (b"d", b"")];
        assert_eq!(
            encode_v1_dump(pairs).concat(),
            b"storing 2 key-value pairs:\na --> 1\nd --> \n"
        );
    }

    #[test]
    fn dump_small() {
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"a", b"b"), (b"cc", b"dd")];
        let d = encode_dump(2, pairs);
        assert_eq!(
            d,
            vec![b"storing 2 key-value pairs:\na --> b\ncc --> dd\n".to_vec()]
        );
        assert_eq!(
            encode_dump(0, Vec::<(&[u8], &[u8])>::new()),
            vec![b"storing 0 key-value pairs:\n".to_vec()]
        );
        let mut parsed = Dump::default();
        parsed.add_datagram(&d[0]);
        assert!(parsed.is_complete());
        assert_eq!(parsed.pairs[1], (b"cc".to_vec(), b"dd".to_vec()));
    }

    #[test]
    fn dump_splits_between_pairs() {
        let value = vec![b'v'; 30000];
        let keys: Vec<Vec<u8>> = (0..10).map(|i| format!("key{i}").into_bytes()).collect();
        let pairs: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (&k[..], &value[..])).collect();
        let d = encode_dump(10, pairs);
        assert!(d.len() >= 5);
        let mut parsed = Dump::default();
        for g in &d {
            assert!(g.len() <= MAX_DATAGRAM);
            assert!(g.ends_with(b"\n"));
            parsed.add_datagram(g);
        }
        assert!(parsed.is_complete());
        assert!(parsed.pairs.iter().all(|(_, v)| v.len() == 30000));
    }

    #[test]
    fn dump_oversized_line_is_shortened_alone() {
        let key = vec![b'k'; MAX_KEY_LEN];
        let value = vec![b'v'; MAX_VALUE_LEN];
        let d = encode_dump(1, vec![(&key[..], &value[..])]);
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].len(), MAX_DATAGRAM);
    }

    /// Regression: a key longer than a datagram (never stored, but
    /// `encode_dump` takes any pairs) made the value's cut underflow (a
    /// panic), then an oversized datagram; now the key is shortened too.
    #[test]
    fn dump_key_longer_than_a_datagram_is_shortened() {
        let key = vec![b'k'; MAX_DATAGRAM + 10];
        let d = encode_dump(2, vec![(&key[..], &b"v"[..]), (&b"a"[..], &b"b"[..])]);
        assert!(d.iter().all(|g| g.len() <= MAX_DATAGRAM));
        assert_eq!(d[1].len(), MAX_DATAGRAM);
        assert!(d[1].ends_with(b" --> \n"));
        assert_eq!(d[2], b"a --> b\n");
    }

    /// A course server sends its whole buffer: the NULs after the last
    /// pair are padding, read as nothing; NULs anywhere else are kept.
    #[test]
    fn dump_padding_after_the_last_line_is_ignored() {
        let text = b"storing 2 key-value pairs:\na --> b\ncc --> dd\n";
        let mut padded = text.to_vec();
        padded.resize(MAX_DATAGRAM, 0);
        assert_eq!(trim_dump_padding(&padded), text);
        assert_eq!(trim_dump_padding(text), text);
        let mut parsed = Dump::default();
        parsed.add_datagram(&padded);
        let mut plain = Dump::default();
        plain.add_datagram(text);
        assert_eq!(parsed, plain);
        assert!(parsed.is_complete());
        assert_eq!(parsed.malformed, 0);
        // Header only, then padding.
        assert_eq!(
            trim_dump_padding(b"storing 0 key-value pairs:\n\0\0"),
            b"storing 0 key-value pairs:\n"
        );
        // Not after a complete line: left alone.
        for kept in [&b"a --> b\0\0"[..], b"\0\0\0", b"", b"a\0\nb --> c\n"] {
            assert_eq!(trim_dump_padding(kept), kept);
        }
        let mut unfinished = Dump::default();
        unfinished.add_datagram(b"a --> b\0\0");
        assert_eq!(unfinished.pairs, vec![(b"a".to_vec(), b"b\0\0".to_vec())]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn parse_never_panics(d in proptest::collection::vec(any::<u8>(), 0..70000)) {
            let _ = parse_request(&d);
            let _ = decode_get_reply(&d);
            let _ = decode_put_reply(&d);
            let mut dump = Dump::default();
            dump.add_datagram(&d);
        }

        #[test]
        fn put_roundtrip(key in proptest::collection::vec(1u8..=255, 1..200), value in proptest::collection::vec(1u8..=255, 0..200)) {
            let d = encode_put(&key, &value).unwrap();
            prop_assert_eq!(parse_request(&d), Ok(Request::Put { key: &key, value: &value }));
            let g = encode_get(&key).unwrap();
            prop_assert_eq!(parse_request(&g), Ok(Request::Get { key: &key }));
        }
    }
}
