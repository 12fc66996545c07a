//! What a server sends back for one datagram, and how a v2 message becomes
//! that reply: below the server's loops and the anti-entropy that both
//! answer requests.

use bytes::Bytes;

use crate::protocol;
use crate::protocol_v2::{self, AuthKey, Message as V2};

/// What the server sends back for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// One datagram (get and put replies).
    One(Bytes),
    /// Several datagrams (a dump).
    Many(Vec<Vec<u8>>),
}

/// Encodes a v2 reply, signed when `sign` says so ([`reply_signature`]); a
/// reply that cannot be encoded (impossible for the replies a server
/// builds: a value read back always fits, trailer included) is logged and
/// sent as the v1 empty refusal.
pub fn v2_reply(id: u64, message: &V2, sign: Option<(&AuthKey, u64)>) -> Response {
    match protocol_v2::encode(id, message, sign) {
        Ok(datagram) => Response::One(Bytes::from(datagram)),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a v2 reply");
            Response::One(Bytes::from_static(protocol::REPLY_REFUSED))
        }
    }
}
