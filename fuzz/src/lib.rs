//! The fuzz targets' bodies: one function per target, taking the raw bytes a
//! fuzzer (or a test) hands it, calling dkvs on them and asserting the
//! invariants that are cheap to check. A panic is a finding.
//!
//! The same file is compiled into the root crate's tests
//! (`tests/fuzz_regressions.rs` includes it with `#[path]`), which replay the
//! committed seed corpus and every saved crash (`fuzz/regressions/<target>/`)
//! through these very functions — so a crash found by AFL becomes a
//! regression test by copying its file, and the fuzz package itself is never
//! part of the root build. It may depend on `dkvs` and `std` only.

use std::sync::OnceLock;

use dkvs::config::{ClusterConfig, ConfigError, parse_cluster_toml, parse_servers_txt};
use dkvs::protocol::{
    self, Dump, GetReply, MAX_DATAGRAM, MAX_KEY_LEN, MAX_VALUE_LEN, PutReply, Request,
};
use dkvs::protocol_v2::{self, AuthKey, Dialect, Message};
use dkvs::repl::parse::split_words;
use dkvs::ring::Ring;

/// A fuzz target: its name (also its corpus directory) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name. The binaries in `src/bin/` are one line each
/// around these.
pub const TARGETS: &[Target] = &[
    ("request", request),
    ("dump_reply", dump_reply),
    ("dump_encode", dump_encode),
    ("servers_txt", servers_txt),
    ("cluster_toml", cluster_toml),
    ("repl", repl),
    ("server", server),
    ("limit_options", limit_options),
    ("protocol_v2", protocol_v2),
];

/// A request datagram as a server sees it, and the same bytes as a get or
/// put reply as a client sees them.
///
/// Invariants: an empty datagram is a dump and only it; a datagram without
/// NUL is a get of exactly those bytes; a put re-encodes to the very same
/// datagram; the reply decoders agree with the §4 table.
pub fn request(data: &[u8]) {
    match protocol::parse_request(data) {
        Ok(Request::Dump) => assert!(data.is_empty()),
        Ok(Request::Get { key }) => {
            assert_eq!(key, data);
            assert!(!key.is_empty() && !key.contains(&0));
            if key.len() <= MAX_KEY_LEN {
                assert_eq!(protocol::encode_get(key).as_deref(), Ok(data));
            }
        }
        Ok(Request::Put { key, value }) => {
            assert!(key.len() <= MAX_KEY_LEN && value.len() <= MAX_VALUE_LEN);
            assert_eq!(protocol::encode_put(key, value).as_deref(), Ok(data));
        }
        Err(_) => assert!(data.contains(&0)),
    }
    match protocol::decode_get_reply(data) {
        GetReply::NotFound => assert_eq!(data, b"\0"),
        GetReply::Value(v) => {
            assert_eq!(v, data);
            assert!(protocol::check_value(v).is_ok());
        }
        GetReply::Invalid => assert!(data.contains(&0) || data.len() > MAX_VALUE_LEN),
    }
    match protocol::decode_put_reply(data) {
        PutReply::Stored => assert_eq!(data, b"\0"),
        PutReply::Refused => assert!(data.is_empty()),
        PutReply::Invalid => assert!(data != b"\0" && !data.is_empty()),
    }
}

/// A dump reply as received: the first byte says how the rest is cut into
/// datagrams (chunk length `first + 1`, 0 = one datagram), so lines may also
/// be cut across datagrams as a hostile sender would.
///
/// Invariants: every non-empty line is counted once (header, pair or
/// malformed), NUL padding after a datagram's last line aside; parsed keys contain no separator, parsed pairs no newline; the
/// pairs re-encoded with `encode_dump` read back to the same pairs.
pub fn dump_reply(data: &[u8]) {
    let Some((&cut, rest)) = data.split_first() else {
        Dump::default().add_datagram(data);
        return;
    };
    let mut dump = Dump::default();
    let mut lines = 0;
    let chunks: Vec<&[u8]> = if cut == 0 || rest.is_empty() {
        vec![rest]
    } else {
        rest.chunks(usize::from(cut) + 1).collect()
    };
    for chunk in &chunks {
        dump.add_datagram(chunk);
        lines += protocol::trim_dump_padding(chunk)
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
    }
    let header = usize::from(dump.announced.is_some());
    assert_eq!(header + dump.pairs.len() + dump.malformed, lines);
    for (key, value) in &dump.pairs {
        assert!(!key.contains(&b'\n') && !value.contains(&b'\n'));
        assert!(memchr_find(key, b" --> ").is_none());
    }
    // Read back what we would send: the same pairs, when each line fits a
    // datagram (a line longer than that is shortened: see `dump_encode`).
    let pairs: Vec<(&[u8], &[u8])> = dump
        .pairs
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    if pairs
        .iter()
        .any(|(k, v)| k.len() + v.len() + 6 > MAX_DATAGRAM)
    {
        return;
    }
    let again = encode_and_parse(&pairs);
    assert_eq!(again.pairs, dump.pairs);
    assert_eq!(again.malformed, 0);
}

/// Pairs built from the bytes to reach the size limits with small inputs:
/// each 6-byte record `kh kl vh vl kb vb` gives a key of
/// `(kh kl) % MAX_KEY_LEN + 1` bytes `kb` (or, when `kh` is 0xff, of
/// `(kh kl)` bytes: longer than any stored key, even than a datagram) and a
/// value of `(vh vl) % (MAX_VALUE_LEN + 1)` bytes `vb` (NUL and newline
/// mapped away, as the server never stores them); a short tail becomes a
/// literal pair.
///
/// Invariants: every datagram is at most 65507 bytes, ends with a newline and
/// is not empty; the first starts with the header; reading them back gives
/// every pair whole, or — only for a line too long for any datagram — a
/// line of exactly 65507 bytes with the value (then the key) shortened.
pub fn dump_encode(data: &[u8]) {
    let clean = |b: u8| if b == 0 || b == b'\n' { b'.' } else { b };
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut records = data.chunks_exact(6);
    for r in &mut records {
        if let &[kh, kl, vh, vl, kb, vb] = r {
            let klen = match usize::from(u16::from_be_bytes([kh, kl])) {
                huge if kh == 0xff => huge,
                n => n % MAX_KEY_LEN + 1,
            };
            let vlen = usize::from(u16::from_be_bytes([vh, vl])) % (MAX_VALUE_LEN + 1);
            // A key made of '-' and '>' and ' ' could contain the separator.
            let kb = if b" ->".contains(&clean(kb)) {
                b'k'
            } else {
                clean(kb)
            };
            pairs.push((vec![kb; klen], vec![clean(vb); vlen]));
        }
    }
    let tail = records.remainder();
    if !tail.is_empty() {
        let key: Vec<u8> = tail
            .iter()
            .map(|&b| if b" ->".contains(&b) { b'k' } else { clean(b) })
            .collect();
        pairs.push((key, tail.iter().map(|&b| clean(b)).collect()));
    }
    let borrowed: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    let datagrams = protocol::encode_dump(borrowed.len(), borrowed.iter().copied());
    assert!(
        datagrams
            .first()
            .is_some_and(|d| d.starts_with(protocol::dump_header(pairs.len()).as_bytes()))
    );
    let mut dump = Dump::default();
    for d in &datagrams {
        assert!(d.len() <= MAX_DATAGRAM, "datagram of {} bytes", d.len());
        assert!(d.ends_with(b"\n"));
        dump.add_datagram(d);
    }
    assert!(dump.is_complete());
    assert_eq!(dump.malformed, 0);
    assert_eq!(dump.pairs.len(), pairs.len());
    for ((key, value), (k, v)) in pairs.iter().zip(&dump.pairs) {
        if key.len() + value.len() + 6 <= MAX_DATAGRAM {
            assert_eq!((key, value), (k, v));
        } else {
            assert!(key.starts_with(k) && value.starts_with(v));
            assert!(k == key || v.is_empty(), "the value goes first");
            assert_eq!(k.len() + v.len() + 6, MAX_DATAGRAM);
        }
    }
}

/// `servers.txt` text (invalid UTF-8 replaced, as a file read would refuse
/// it before parsing anyway).
///
/// Invariants: see [`check_config`]; a valid list written back in
/// `cluster.toml` form parses to the same servers and ring.
pub fn servers_txt(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let result = parse_servers_txt(&text, "servers.txt");
    check_config(&text, &result, "servers.txt");
    if let Ok(c) = &result {
        let other = parse_cluster_toml(&as_toml(c), "cluster.toml");
        assert_same_servers(c, other);
    }
}

/// `cluster.toml` text. Invariants: see [`check_config`]; a valid file
/// written back in `servers.txt` form gives the same servers and ring.
pub fn cluster_toml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let result = parse_cluster_toml(&text, "cluster.toml");
    check_config(&text, &result, "cluster.toml");
    if let Ok(c) = &result {
        let other = parse_servers_txt(&as_txt(c), "servers.txt");
        assert_same_servers(c, other);
    }
}

/// A REPL line (invalid UTF-8 replaced, as the line editor would) against a
/// fixed five-server configuration.
///
/// Invariants: `parse_line` returns; an unquoted word holds no whitespace or
/// quote; the words quoted back split to the same texts.
pub fn repl(data: &[u8]) {
    static CONFIG: OnceLock<ClusterConfig> = OnceLock::new();
    let line = String::from_utf8_lossy(data);
    let _ = dkvs::repl::parse_line(&line, CONFIG.get_or_init(repl_config));
    let Ok(words) = split_words(&line) else {
        assert!(line.contains('"'));
        return;
    };
    for w in &words {
        if !w.quoted {
            assert!(!w.text.is_empty() && !w.text.contains(char::is_whitespace));
            assert!(!w.text.contains('"'));
        }
    }
    let requoted: Vec<String> = words.iter().map(|w| quote(&w.text)).collect();
    let again = split_words(&requoted.join(" ")).expect("quoted words always split");
    let texts = |ws: &[dkvs::repl::parse::Word]| -> Vec<String> {
        ws.iter().map(|w| w.text.clone()).collect()
    };
    assert_eq!(texts(&again), texts(&words));
    assert!(again.iter().all(|w| w.quoted));
}

/// A server's request handling (`server::respond`) over a sequence of
/// datagrams against one store with a small memory limit, checked against
/// a model map. The first byte sets the limit (`(b + 1) * 256` accounted
/// bytes); then each datagram is a length byte and that many bytes.
///
/// Invariants: a get answers the model's value or "not found"; a put is
/// stored exactly when it fits the limit (or does not grow the pair), and a
/// refused put changes nothing (nothing stored is lost); an invalid put is
/// refused; a dump lists exactly the model's pairs in datagrams of at most
/// 65507 bytes; the store's accounting equals the model's and stays within
/// the limit.
pub fn server(data: &[u8]) {
    use dkvs::server::{Response, respond};
    use dkvs::store::{Store, pair_size};
    use std::collections::BTreeMap;

    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let limit = (u64::from(first) + 1) * 256;
    let store = Store::with_limit(limit);
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut used = 0u64;
    while let Some((&len, tail)) = rest.split_first() {
        let (datagram, next) = tail.split_at(usize::from(len).min(tail.len()));
        rest = next;
        let reply = respond(&store, datagram);
        match protocol::parse_request(datagram) {
            Ok(Request::Get { key }) => {
                let want = model.get(key).map_or(&b"\0"[..], |v| &v[..]);
                assert_eq!(reply, Response::One(want.to_vec().into()));
            }
            Ok(Request::Put { key, value }) => {
                let old = model.get(key).map_or(0, |v| pair_size(key, v));
                let new = pair_size(key, value);
                let fits = new <= old || used - old + new <= limit;
                if fits {
                    assert_eq!(reply, Response::One(protocol::REPLY_STORED.into()));
                    model.insert(key.to_vec(), value.to_vec());
                    used = used - old + new;
                } else {
                    assert_eq!(reply, Response::One(protocol::REPLY_REFUSED.into()));
                }
            }
            Ok(Request::Dump) => {
                let Response::Many(datagrams) = reply else {
                    panic!("a dump answered with one datagram");
                };
                let mut dump = Dump::default();
                for d in &datagrams {
                    assert!(d.len() <= MAX_DATAGRAM);
                    dump.add_datagram(d);
                }
                assert_eq!(dump.announced, Some(model.len()));
                // A newline in a key or value cuts its line in two, and a key
                // with ` --> ` in it or ending in ` -->` reads back split
                // (docs/FUZZING.md): those pairs are not compared.
                if model
                    .iter()
                    .all(|(k, v)| !k.contains(&b'\n') && !v.contains(&b'\n'))
                {
                    assert!(dump.is_complete());
                    for (k, v) in model.iter().filter(|(k, _)| dump_key_readable(k)) {
                        assert!(dump.pairs.contains(&(k.clone(), v.clone())));
                    }
                }
            }
            Err(_) => assert_eq!(reply, Response::One(protocol::REPLY_REFUSED.into())),
        }
        assert_eq!(store.used_bytes(), used);
        assert!(used <= limit);
        assert_eq!(store.len(), model.len());
    }
}

/// The server's size and network options (`--max-memory 64M`, `--allow
/// 10.0.0.0/8`): `limits::parse_size` and `limits::parse_net` return, and a
/// parsed size written as plain digits parses to itself.
pub fn limit_options(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(size) = dkvs::limits::parse_size(&text) {
        assert_eq!(dkvs::limits::parse_size(&size.to_string()), Ok(size));
    }
    let _ = dkvs::limits::parse_net(&text);
}

/// A datagram as a v2 server or client sees it (`protocol_v2`).
///
/// Invariants: v1 and v2 never overlap (a valid v1 request is
/// [`Dialect::V1`]; a decoded v2 datagram is one v1 refuses as an empty-key
/// put); a decoded datagram is at most 65,507 bytes and re-encodes to exactly
/// its bytes; a page with more to come has a cursor; a decoded page's
/// entries go through `encode_page` whole; the message signed with a test
/// key verifies, decodes to the same message, and fails to verify once any
/// one byte (chosen by the input) is changed; `verify` of the raw bytes
/// never accepts them (the input cannot know the key).
pub fn protocol_v2(data: &[u8]) {
    let v1 = protocol::parse_request(data);
    if v1.is_ok() {
        assert_eq!(protocol_v2::dialect(data), Dialect::V1);
    }
    let key = v2_key();
    let now = 1_700_000_000_000;
    assert!(protocol_v2::verify(data, std::slice::from_ref(key), now, u64::MAX).is_err());
    let Ok(frame) = protocol_v2::decode(data) else {
        return;
    };
    assert_eq!(protocol_v2::dialect(data), Dialect::V2);
    assert_eq!(v1, Err(protocol::PutError::EmptyKey));
    assert!(data.len() <= MAX_DATAGRAM);
    assert_eq!(frame.encode().as_deref(), Ok(data));
    if let Message::Page(page) = &frame.message {
        assert_eq!(page.more, page.next_cursor().is_some());
        let again =
            protocol_v2::encode_page(frame.id, page.total, 0, page.entries.iter().copied(), None)
                .expect("a decoded page re-encodes");
        match protocol_v2::decode(&again).map(|f| f.message) {
            Ok(Message::Page(p)) => {
                assert_eq!(p.entries, page.entries);
                assert!(!p.more);
            }
            other => panic!("encode_page gave {other:?}"),
        }
    }
    // The same message, signed: verifies, and no longer once a byte changes.
    let Ok(signed) = protocol_v2::encode(frame.id, &frame.message, Some((key, now))) else {
        return; // no room for the trailer
    };
    let trailer = protocol_v2::verify(&signed, std::slice::from_ref(key), now, 0)
        .expect("a signed datagram verifies");
    assert_eq!(trailer.timestamp_ms, now);
    let decoded = protocol_v2::decode(&signed).expect("a signed datagram decodes");
    assert_eq!(decoded.message, frame.message);
    let at = data.first().map_or(0, |&b| usize::from(b)) * signed.len() / 256;
    let mut forged = signed.clone();
    if let Some(b) = forged.get_mut(at) {
        *b ^= data.last().copied().filter(|&x| x != 0).unwrap_or(1);
    }
    assert!(protocol_v2::verify(&forged, std::slice::from_ref(key), now, 0).is_err());
}

/// The key of the `protocol_v2` target.
fn v2_key() -> &'static AuthKey {
    static KEY: OnceLock<AuthKey> = OnceLock::new();
    KEY.get_or_init(|| AuthKey::new(1, b"fuzzing secret, 32 bytes long..!").expect("long enough"))
}

/// `text` as one double-quoted REPL word (`"` and `\` escaped).
pub fn quote(text: &str) -> String {
    let mut q = String::with_capacity(text.len() + 2);
    q.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// The configuration the `repl` target parses against.
pub fn repl_config() -> ClusterConfig {
    parse_servers_txt(
        "127.0.0.1 1234 3\n127.0.0.1 1235 2\n127.0.0.1 1236 2\n127.0.0.1 1237 1\n127.0.0.1 1238 1\n",
        "servers.txt",
    )
    .expect("a valid configuration")
}

/// Invariants of any configuration parse: `Ok` has servers, distinct
/// addresses, ports and nodes >= 1 and quorum defaults W, R <= N; `Err` is
/// one line starting with the file name, naming a line that exists.
pub fn check_config(text: &str, result: &Result<ClusterConfig, ConfigError>, file: &str) {
    match result {
        Ok(c) => {
            assert!(!c.servers.is_empty());
            for (i, s) in c.servers.iter().enumerate() {
                assert!(s.port >= 1 && s.nodes >= 1, "{s:?}");
                assert!(
                    !c.servers
                        .iter()
                        .take(i)
                        .any(|o| o.ip == s.ip && o.port == s.port),
                    "duplicate accepted"
                );
            }
            let n = c.defaults.n.unwrap_or(dkvs::config::DEFAULT_N);
            assert!(c.defaults.w.is_none_or(|w| w <= n));
            assert!(c.defaults.r.is_none_or(|r| r <= n));
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.starts_with(file), "{shown}");
            assert!(!shown.contains('\n'), "multi-line error: {shown:?}");
            assert!(!e.message.is_empty());
            if let Some(line) = e.line {
                let lines = text.split('\n').count();
                assert!(
                    line >= 1 && line <= lines,
                    "line {line} of {lines}: {shown}"
                );
            }
        }
    }
}

/// Largest ring the config targets build (a file may ask for a million
/// nodes per server; hashing them is slow, not wrong).
const MAX_RING_NODES: u64 = 5_000;

fn assert_same_servers(c: &ClusterConfig, other: Result<ClusterConfig, ConfigError>) {
    let other = match other {
        Ok(o) => o,
        Err(e) => panic!("the same servers in the other format were refused: {e}"),
    };
    let key = |c: &ClusterConfig| -> Vec<(std::net::Ipv4Addr, u16, u32)> {
        c.servers.iter().map(|s| (s.ip, s.port, s.nodes)).collect()
    };
    assert_eq!(key(c), key(&other));
    let nodes: u64 = c.servers.iter().map(|s| u64::from(s.nodes)).sum();
    if nodes <= MAX_RING_NODES {
        let ring = Ring::new(c);
        assert_eq!(ring, Ring::new(&other));
        assert_eq!(ring.nodes().len() as u64, nodes);
        let want = c.servers.len().min(3);
        let replicas = ring.replicas(b"key", 3);
        assert_eq!(replicas.len(), want);
        for (i, r) in replicas.iter().enumerate() {
            assert!(r.server < c.servers.len());
            assert!(replicas.iter().skip(i + 1).all(|o| o.server != r.server));
        }
    }
}

fn as_txt(c: &ClusterConfig) -> String {
    c.servers
        .iter()
        .map(|s| format!("{} {} {}\n", s.ip, s.port, s.nodes))
        .collect()
}

fn as_toml(c: &ClusterConfig) -> String {
    c.servers
        .iter()
        .map(|s| {
            format!(
                "[[server]]\nip = \"{}\"\nport = {}\nnodes = {}\n",
                s.ip, s.port, s.nodes
            )
        })
        .collect()
}

/// `encode_dump` then `Dump::add_datagram` of every datagram.
fn encode_and_parse(pairs: &[(&[u8], &[u8])]) -> Dump {
    let mut dump = Dump::default();
    for d in protocol::encode_dump(pairs.len(), pairs.iter().copied()) {
        assert!(d.len() <= MAX_DATAGRAM);
        dump.add_datagram(&d);
    }
    assert!(dump.is_complete());
    dump
}

/// Whether a dump line `<key> --> <value>` reads back with this very key:
/// the key has no newline, and the first ` --> ` of the line is the
/// separator — false for a key containing ` --> ` and also for a key ending
/// in ` -->` (found by the `server` target), an ambiguity of the v1 format.
pub fn dump_key_readable(key: &[u8]) -> bool {
    let line = [key, b" --> "].concat();
    !key.contains(&b'\n') && memchr_find(&line, b" --> ") == Some(key.len())
}

fn memchr_find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
