//! Answering a request, once the limits have let it through: the v1 reply
//! ([`respond`]), the v2 reply from an engine ([`answer_v2`]), and how v2
//! replies are encoded and signed (also used by the durable committer).

use bytes::Bytes;

pub use crate::response::{Response, v2_reply};

use crate::engine::{Engine, Record, Refused, Version};
use crate::hlc::{Clock, OffsetGuard};
use crate::limits::Stats;
use crate::protocol::{self, PutError, Request};
use crate::protocol_v2::{self, AuthKey, Frame, Message as V2, Reason};
use crate::store::Store;

/// Computes the reply to one request datagram, applying it to `store`
/// (no access control: see [`Server`](super::Server) for the limits).
pub fn respond(store: &Store, datagram: &[u8]) -> Response {
    answer(store, protocol::parse_request(datagram), None)
}

/// The reply to a parsed request; `stats`, when given, counts refusals.
pub(super) fn answer(
    store: &Store,
    request: Result<Request<'_>, PutError>,
    stats: Option<&Stats>,
) -> Response {
    let refused = |counter: Option<&std::sync::atomic::AtomicU64>| {
        if let Some(c) = counter {
            Stats::bump(c);
        }
        Response::One(Bytes::from_static(protocol::REPLY_REFUSED))
    };
    match request {
        Ok(Request::Get { key }) => match store.get(key) {
            Some(value) => Response::One(protocol::v1_get_reply(value)),
            None => Response::One(Bytes::from_static(protocol::REPLY_NOT_FOUND)),
        },
        Ok(Request::Put { key, value }) => match store.put(key, value) {
            Ok(()) => Response::One(Bytes::from_static(protocol::REPLY_STORED)),
            Err(e) => {
                tracing::debug!(error = %e, "refused put");
                refused(stats.map(|s| &s.over_memory))
            }
        },
        Ok(Request::Dump) => {
            let pairs = store.snapshot();
            Response::Many(protocol::encode_v1_dump(
                pairs.iter().map(|(k, v)| (&k[..], &v[..])),
            ))
        }
        Err(reason) => {
            tracing::debug!(%reason, "refused put");
            refused(stats.map(|s| &s.refused))
        }
    }
}

/// Checks a write's version against this server's clock and maximum offset
/// (`guard`): `Some(refusal)` when it is too far ahead, the REFUSED 10 that
/// tells the writer its clock is wrong and by how much.
pub(super) fn clock_refusal(guard: &OffsetGuard, version: Version) -> Option<V2<'static>> {
    let now = crate::hlc::SystemClock.now_ms();
    guard.check(version.timestamp, now).err().map(|e| {
        tracing::debug!(error = %e, "refused a write from a clock ahead");
        V2::Refused {
            reason: Reason::ClockAhead {
                server_ms: e.server_ms,
                max_offset_ms: u32::try_from(e.max_offset_ms).unwrap_or(u32::MAX),
            },
        }
    })
}

/// The v2 reply to a well-formed v2 request, read from and written to
/// `engine`. Writes are applied with [`Engine::put_batch`] when `submit` is
/// `None`; otherwise they are handed to `submit`, whose answer is the
/// reply (the durable engine's: `None` when its committer replies itself).
pub(crate) fn answer_v2(
    engine: &dyn Engine,
    frame: &Frame<'_>,
    submit: Option<&dyn Fn(Bytes, Record) -> Option<Response>>,
    keys: &[AuthKey],
    clock: &OffsetGuard,
    stats: &Stats,
) -> Option<Response> {
    let id = frame.id;
    let sign = reply_signature(keys, frame.auth.map(|t| t.key_id));
    let reply = |message: &V2| Some(v2_reply(id, message, sign));
    let to = Writer {
        engine,
        submit,
        clock,
        stats,
    };
    let write = |key: &[u8], record: Record| write_v2(&to, id, key, record, sign);
    match &frame.message {
        // The server answers HELLO itself (`Shared::handle_v2`: features
        // depend on the source); here without features.
        V2::Hello => reply(&V2::HelloReply {
            max_version: protocol_v2::VERSION,
            features: 0,
            time_ms: crate::hlc::SystemClock.now_ms(),
        }),
        V2::Get { key } => match engine.get(key) {
            Ok(Some(r)) if !r.tombstone => reply(&V2::Value {
                value: &r.value,
                version: r.version,
            }),
            Ok(r) => reply(&V2::NotFound {
                tombstone: r.map(|r| r.version),
            }),
            // A record failing its check: neither a value nor NOT FOUND.
            Err(e) if super::corrupt::refused(&e, stats) => reply(&V2::Refused {
                reason: Reason::Corrupt,
            }),
            Err(e) => read_failed(e),
        },
        V2::Put {
            key,
            value,
            version,
        } => write(
            key,
            Record {
                version: *version,
                tombstone: false,
                value: Bytes::copy_from_slice(value),
            },
        ),
        V2::Delete { key, version } => write(
            key,
            Record::tombstone(*version, crate::hlc::SystemClock.now_ms()),
        ),
        V2::Dump { cursor, limit } => dump_page(engine, id, cursor, *limit, sign),
        // The server answers STATS itself (`Shared::handle_v2`: the
        // counters are the server's, not the engine's).
        V2::Stats => reply(&V2::Refused {
            reason: Reason::Unsupported,
        }),
        // Replies were filtered out by the caller; answered as malformed.
        _ => Some(Response::One(Bytes::from_static(protocol::REPLY_REFUSED))),
    }
}

/// A read from the engine failed: logged, and no reply.
fn read_failed(e: crate::engine::EngineError) -> Option<Response> {
    tracing::error!(error = %e, "read failed; no reply");
    None
}

/// Where a v2 write goes: the engine, or the committer (`submit`) that
/// writes and answers for it; the clock check; the refusal counters.
struct Writer<'a> {
    engine: &'a dyn Engine,
    submit: Option<&'a dyn Fn(Bytes, Record) -> Option<Response>>,
    clock: &'a OffsetGuard,
    stats: &'a Stats,
}

/// [`answer_v2`] for a PUT or DELETE of `key` as `record`: refused when its
/// version is 0/0 or from too far ahead, else handed to `submit` (`None`)
/// or applied to `engine` and answered. Refusals are counted as v1's are
/// (the committer counts those of the writes it applies).
fn write_v2(
    to: &Writer<'_>,
    id: u64,
    key: &[u8],
    record: Record,
    sign: Option<(&AuthKey, u64)>,
) -> Option<Response> {
    let Writer {
        engine,
        submit,
        clock,
        stats,
    } = *to;
    let reply = |message: &V2| Some(v2_reply(id, message, sign));
    if record.version == Version::ZERO {
        // Version 0/0 is the version of v1 writes (DECISIONS #51).
        Stats::bump(&stats.refused);
        return reply(&V2::Refused {
            reason: Reason::Malformed,
        });
    }
    // A version stamped further ahead of this server's clock than the
    // maximum offset would outrank every later write of the key (and
    // its tombstone would never age): refused with the reason (#77).
    if let Some(refusal) = clock_refusal(clock, record.version) {
        return reply(&refusal);
    }
    let key = Bytes::copy_from_slice(key);
    if let Some(submit) = submit {
        return submit(key, record);
    }
    let result = engine
        .put_batch(&[(key, record)])
        .pop()
        .unwrap_or(Err(Refused::Io("no result".into())));
    if matches!(result, Err(Refused::Full { .. } | Refused::NoSpace { .. })) {
        Stats::bump(&stats.over_memory);
    }
    Some(Response::One(v2_write_reply(
        id,
        &result,
        engine.needs_committer(),
        sign,
    )))
}

/// [`answer_v2`] for a DUMP: one page of at most `limit` entries (0: as
/// many as fit a datagram) after `cursor`.
fn dump_page(
    engine: &dyn Engine,
    id: u64,
    cursor: &[u8],
    limit: u16,
    sign: Option<(&AuthKey, u64)>,
) -> Option<Response> {
    // Smallest entry: flags, a one-byte key and a version (20
    // bytes); one record more than can fit tells `more`.
    let fit = (protocol::MAX_DATAGRAM - protocol_v2::HEADER_LEN) / 20;
    let max = match limit {
        0 => fit,
        l => usize::from(l).min(fit),
    } + 1;
    let (records, _) = match engine.page(cursor, max) {
        Ok(page) => page,
        Err(e) => return read_failed(e),
    };
    let entries = records.iter().map(|(key, r)| r.entry(key));
    match protocol_v2::encode_page(id, engine.len(), limit, entries, sign) {
        Ok(page) => Some(Response::One(Bytes::from(page))),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a dump page");
            None
        }
    }
}

/// How a server with keys `keys` signs its reply to a request signed by
/// key id `signed_by` (`frame.auth`'s): with the key that signed the
/// request (a server with keys has verified it by then),
/// at the current time, so a client signing with any accepted key — during
/// a key rotation too — can check the reply with its own key; unsigned when
/// the request was not signed, so an unsigned HELLO or a request refused as
/// unauthenticated gets an unsigned reply, which cannot amplify
/// (DECISIONS #75).
pub(crate) fn reply_signature(keys: &[AuthKey], signed_by: Option<u8>) -> Option<(&AuthKey, u64)> {
    let id = signed_by?;
    let key = keys.iter().find(|k| k.id() == id)?;
    Some((key, crate::hlc::SystemClock.now_ms()))
}

/// The v2 reply to a write's result: STORED, OLDER with the version kept,
/// or REFUSED with its cause: out of memory (`--max-memory`) or, from a
/// `durable` engine, disk full (`--max-disk`, the disk's reserve);
/// overloaded on an I/O error. Signed when `sign` says so
/// ([`reply_signature`]).
pub(crate) fn v2_write_reply(
    id: u64,
    result: &Result<(), Refused>,
    durable: bool,
    sign: Option<(&AuthKey, u64)>,
) -> Bytes {
    let message = match result {
        Ok(()) => V2::Stored,
        Err(Refused::Older { current }) => V2::Older { current: *current },
        Err(Refused::Full { .. }) if !durable => V2::Refused {
            reason: Reason::OutOfMemory,
        },
        Err(Refused::Full { .. } | Refused::NoSpace { .. }) => V2::Refused {
            reason: Reason::DiskFull,
        },
        Err(Refused::Io(_)) => V2::Refused {
            reason: Reason::Overloaded,
        },
    };
    match v2_reply(id, &message, sign) {
        Response::One(bytes) => bytes,
        Response::Many(_) => Bytes::from_static(protocol::REPLY_REFUSED),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_the_future_are_refused_with_the_clocks() {
        let guard = OffsetGuard::new(500);
        let now = crate::hlc::SystemClock.now_ms();
        let at = |ms: u64| Version {
            timestamp: crate::hlc::pack(ms, 7),
            writer: 1,
        };
        assert!(clock_refusal(&guard, at(now)).is_none());
        assert!(clock_refusal(&guard, at(0)).is_none());
        match clock_refusal(&guard, at(now + 20_000)) {
            Some(V2::Refused {
                reason:
                    Reason::ClockAhead {
                        server_ms,
                        max_offset_ms: 500,
                    },
            }) => assert!(server_ms >= now && server_ms < now + 20_000),
            other => panic!("{other:?}"),
        }
        assert!(guard.largest_ahead_ms() >= 19_000);
        assert_eq!(guard.refused(), 1);
    }

    /// A reply is signed with the request's key, and only when the request
    /// was signed with a key the server holds; the signed reply verifies.
    #[test]
    fn replies_are_signed_with_the_requests_key() {
        let keys = [
            AuthKey::new(1, &[1; 32]).unwrap(),
            AuthKey::new(2, &[2; 32]).unwrap(),
        ];
        assert!(reply_signature(&keys, None).is_none());
        assert!(reply_signature(&keys, Some(3)).is_none());
        assert!(reply_signature(&[], Some(1)).is_none());
        let (key, at) = reply_signature(&keys, Some(2)).unwrap();
        assert_eq!(key.id(), 2);
        let Response::One(d) = v2_reply(9, &V2::Stored, Some((key, at))) else {
            panic!("one datagram");
        };
        let trailer = protocol_v2::verify(&d, &keys[1..], at, 0).unwrap();
        assert_eq!(trailer.key_id, 2);
        let stored = v2_write_reply(9, &Ok(()), false, reply_signature(&keys, Some(1)));
        assert!(protocol_v2::verify(&stored, &keys[..1], at, 60_000).is_ok());
        assert!(protocol_v2::verify(&stored, &keys[1..], at, 60_000).is_err());
    }

    /// A refused write names its cause: the memory engine's limit, the
    /// durable engine's (or its disk's reserve), an I/O error.
    #[test]
    fn refusals_name_memory_or_disk() {
        let reason = |refused: Refused, durable: bool| {
            let d = v2_write_reply(1, &Err(refused), durable, None);
            match protocol_v2::decode(&d).unwrap().message {
                V2::Refused { reason } => reason,
                other => panic!("{other:?}"),
            }
        };
        let full = || Refused::Full { limit: 10 };
        assert_eq!(reason(full(), false), Reason::OutOfMemory);
        assert_eq!(reason(full(), true), Reason::DiskFull);
        let no_space = Refused::NoSpace {
            free: 1,
            reserve: 2,
        };
        assert_eq!(reason(no_space, true), Reason::DiskFull);
        assert_eq!(reason(Refused::Io("x".into()), true), Reason::Overloaded);
    }

    /// An engine whose every get finds a corrupt record, or another read
    /// error (`corrupt: false`).
    #[derive(Debug)]
    struct FailingEngine {
        corrupt: bool,
    }

    impl Engine for FailingEngine {
        fn get(&self, key: &[u8]) -> Result<Option<Record>, crate::engine::EngineError> {
            Err(if self.corrupt {
                crate::engine::EngineError::CorruptRecord {
                    key: key.into(),
                    file: "65536.seg".into(),
                    offset: 42,
                    reason: "checksum mismatch".into(),
                }
            } else {
                crate::engine::EngineError::other("unavailable")
            })
        }
        fn put_batch(&self, puts: &[(Bytes, Record)]) -> crate::engine::PutResults {
            puts.iter().map(|_| Ok(())).collect()
        }
        fn snapshot(&self) -> Result<crate::engine::Pairs, crate::engine::EngineError> {
            Ok(Vec::new())
        }
        fn page(
            &self,
            _: &[u8],
            _: usize,
        ) -> Result<(crate::engine::Pairs, bool), crate::engine::EngineError> {
            Ok((Vec::new(), false))
        }
        fn purge_tombstones(
            &self,
            _: u64,
            _: u64,
            _: usize,
        ) -> Result<usize, crate::engine::EngineError> {
            Ok(0)
        }
        fn remove_if_unchanged(
            &self,
            _: &[u8],
            _: &Record,
        ) -> Result<bool, crate::engine::EngineError> {
            Ok(false)
        }
        fn sync(&self) -> Result<(), crate::engine::EngineError> {
            Ok(())
        }
        fn stats(&self) -> crate::engine::EngineStats {
            crate::engine::EngineStats::default()
        }
        fn needs_committer(&self) -> bool {
            false
        }
    }

    /// A get whose record failed its check is answered REFUSED 12 and
    /// counted: never a value, never NOT FOUND; other read errors still
    /// get no reply (the client retries).
    #[test]
    fn a_corrupt_record_is_refused_as_corrupt() {
        let stats = Stats::default();
        let guard = OffsetGuard::new(500);
        let frame = Frame {
            id: 7,
            message: V2::Get { key: b"k" },
            auth: None,
        };
        let get = |corrupt: bool| {
            let engine = FailingEngine { corrupt };
            answer_v2(&engine, &frame, None, &[], &guard, &stats)
        };
        let Some(Response::One(d)) = get(true) else {
            panic!("one datagram");
        };
        let reply = protocol_v2::decode(&d).unwrap();
        assert_eq!(reply.id, 7);
        assert_eq!(
            reply.message,
            V2::Refused {
                reason: Reason::Corrupt
            }
        );
        assert_eq!(stats.snapshot().refused_corrupt, 1);
        assert!(get(false).is_none());
        assert_eq!(stats.snapshot().refused_corrupt, 1);
    }

    #[test]
    fn respond_cases() {
        let s = Store::new();
        assert_eq!(respond(&s, b"k"), Response::One(Bytes::from_static(b"\0")));
        assert_eq!(
            respond(&s, b"k\0v"),
            Response::One(Bytes::from_static(b"\0"))
        );
        assert_eq!(respond(&s, b"k"), Response::One(Bytes::from_static(b"v")));
        assert_eq!(
            respond(&s, b"e\0"),
            Response::One(Bytes::from_static(b"\0"))
        );
        assert_eq!(respond(&s, b"e"), Response::One(Bytes::from_static(b"")));
        assert_eq!(respond(&s, b"\0x"), Response::One(Bytes::new()));
        assert_eq!(respond(&s, b"a\0b\0c"), Response::One(Bytes::new()));
        assert_eq!(
            respond(&s, b""),
            Response::Many(vec![
                b"storing 2 key-value pairs:\ne --> \nk --> v\n".to_vec()
            ])
        );
    }
}
