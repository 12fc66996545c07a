//! What one operation sends: its request in v1 and in v2 (a [`Plan`]), and
//! which of them each server gets (a [`Lane`]). Kept apart from the
//! exchange so the datagrams are decided before anything is sent.

use crate::protocol;
use crate::protocol_v2::{self as v2, Dialect, Message};
use crate::version::Version;

/// How one server is spoken to in one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lane {
    /// v1 on the operation's socket (a known v1-only server, v1 mode, or a
    /// pair too large for a v2 datagram).
    V1,
    /// v2 on the operation's socket (a v2 server, or one not known yet).
    V2,
    /// v1 on the second socket, after this server refused v2.
    Fallback,
    /// Nothing can be sent: a delete to a v1-only server.
    None,
    /// A HINT for a silent home server, to a server after the home servers
    /// ([`HintMode::Count`]): this datagram of the operation's hints.
    ///
    /// [`HintMode::Count`]: super::HintMode::Count
    Hint(usize),
}

/// The datagrams of one operation.
pub(super) struct Plan {
    /// The v2 request id (one per operation: the source address tells the
    /// servers apart).
    pub(super) id: u64,
    /// The v2 opcode, for [`Message::answers`].
    pub(super) opcode: u8,
    /// The v1 request, `None` when v1 cannot express it (a delete, a repair).
    pub(super) v1: Option<Vec<u8>>,
    /// The v2 request, `None` in v1 mode or when it does not fit.
    pub(super) v2: Option<Vec<u8>>,
    /// A put or delete of this client's own (not a read repair): an OLDER
    /// reply does not count toward W, and the write is stamped again
    /// ([`Client::restamp`]).
    ///
    /// [`Client::restamp`]: super::Client::restamp
    pub(super) restamp: bool,
}

impl Plan {
    /// This plan, as a write of the client's own ([`Plan::restamp`]).
    pub(super) fn restampable(mut self) -> Plan {
        self.restamp = true;
        self
    }

    fn new_id() -> u64 {
        use rand::RngExt;
        rand::rng().random()
    }

    /// A get: the v1 rules decide what can be asked (so every server can
    /// be asked the same thing), v2 when `v2` is allowed.
    pub(super) fn get(key: &[u8], v2: bool) -> Result<Plan, String> {
        let id = Plan::new_id();
        let v1 = protocol::encode_get(key).map_err(|e| e.to_string())?;
        Ok(Plan {
            id,
            opcode: v2::opcode::GET,
            v1: Some(v1),
            v2: v2
                .then(|| v2::encode(id, &Message::Get { key }, None).ok())
                .flatten(),
            restamp: false,
        })
    }

    /// A put: in v2 with `version` (none in v1 mode); in v1 too when
    /// `v1` (a read repair is v2 only: its value may not be v1-safe).
    pub(super) fn put(
        key: &[u8],
        value: &[u8],
        version: Option<Version>,
        v1: bool,
    ) -> Result<Plan, String> {
        let id = Plan::new_id();
        let v1 = if v1 {
            Some(protocol::encode_put(key, value).map_err(|e| e.to_string())?)
        } else {
            None
        };
        let v2 = version.and_then(|version| {
            let put = Message::Put {
                key,
                value,
                version,
            };
            // A pair too large for v2 (PROTOCOL.md, size limits) goes in v1.
            v2::encode(id, &put, None).ok()
        });
        if v1.is_none() && v2.is_none() {
            return Err("the key and value do not fit one protocol v2 datagram".into());
        }
        Ok(Plan {
            id,
            opcode: v2::opcode::PUT,
            v1,
            v2,
            restamp: false,
        })
    }

    /// A delete: v2 only (`version` is `None` in v1 mode, so nothing is
    /// sent anywhere). The key follows the same rules as a get's.
    pub(super) fn delete(key: &[u8], version: Option<Version>) -> Result<Plan, String> {
        let id = Plan::new_id();
        protocol::check_key(key).map_err(|e| e.to_string())?;
        let v2 = match version {
            Some(version) => Some(
                v2::encode(id, &Message::Delete { key, version }, None)
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        Ok(Plan {
            id,
            opcode: v2::opcode::DELETE,
            v1: None,
            v2,
            restamp: false,
        })
    }

    /// The lane for a server whose protocol is `known`.
    pub(super) fn lane(&self, known: Option<Dialect>) -> Lane {
        match (known, &self.v2, &self.v1) {
            (Some(Dialect::V1), _, Some(_)) | (_, None, Some(_)) => Lane::V1,
            (Some(Dialect::V1), _, None) | (_, None, None) => Lane::None,
            (_, Some(_), _) => Lane::V2,
        }
    }

    /// The datagram a lane sends.
    pub(super) fn datagram(&self, lane: Lane) -> Option<&[u8]> {
        match lane {
            Lane::V1 | Lane::Fallback => self.v1.as_deref(),
            Lane::V2 => self.v2.as_deref(),
            Lane::None | Lane::Hint(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which protocol each server is spoken to in, and what each plan
    /// carries.
    #[test]
    fn plans_and_lanes() {
        let v = Version {
            timestamp: 5,
            writer: 1,
        };
        let get = Plan::get(b"k", true).unwrap();
        assert_eq!(get.v1.as_deref(), Some(&b"k"[..]));
        let frame = v2::decode(get.v2.as_deref().unwrap()).unwrap();
        assert_eq!(
            (frame.id, frame.message),
            (get.id, Message::Get { key: b"k" })
        );
        assert_eq!(get.lane(None), Lane::V2);
        assert_eq!(get.lane(Some(Dialect::V2)), Lane::V2);
        assert_eq!(get.lane(Some(Dialect::V1)), Lane::V1);
        // v1 mode, or every server known v1: nothing in v2.
        let get = Plan::get(b"k", false).unwrap();
        assert_eq!((get.v2.is_none(), get.lane(None)), (true, Lane::V1));
        // The v1 rules decide what a get or put may carry.
        assert_eq!(
            Plan::get(b"", true).err().unwrap(),
            "the key must not be empty"
        );
        assert!(Plan::get(b"a\0b", true).is_err());
        assert!(Plan::put(b"k", b"a\0b", Some(v), true).is_err());
        // A delete has no v1 form: a v1-only server gets nothing.
        let del = Plan::delete(b"k", Some(v)).unwrap();
        assert_eq!(del.v1, None);
        assert_eq!(del.lane(None), Lane::V2);
        assert_eq!(del.lane(Some(Dialect::V1)), Lane::None);
        assert_eq!(Plan::delete(b"k", None).unwrap().lane(None), Lane::None);
        assert!(Plan::delete(b"", Some(v)).is_err());
        // A pair too large for v2 goes in v1 to every server.
        let big = vec![b'v'; protocol::MAX_VALUE_LEN];
        let key = vec![b'k'; protocol::MAX_KEY_LEN];
        let put = Plan::put(&key, &big, Some(v), true).unwrap();
        assert_eq!(
            (put.v2.is_none(), put.lane(Some(Dialect::V2))),
            (true, Lane::V1)
        );
        // A repair is v2 only.
        assert!(Plan::put(&key, &big, Some(v), false).is_err());
        assert_eq!(Plan::put(b"k", b"v", Some(v), false).unwrap().v1, None);
    }
}
