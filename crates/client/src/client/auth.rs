//! The client's key at work: every request it sends is signed, and with a
//! key every reply is checked before it may count (DECISIONS #65, #75).

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Client;
use super::plan::Plan;
use crate::limits::{AUTH_WINDOW_MS, AuthConfig};
use crate::protocol_v2::{self as v2, AuthKey};

/// How a client with a key checks the replies it gets: the keys it accepts
/// (its signing key and every other key of its key file, so that key
/// rotation works as for servers) and the replay window; and how many
/// replies it has ignored as not authentic, shared by clones.
#[derive(Debug, Clone, Default)]
pub(super) struct ReplyAuth {
    accepted: Arc<[AuthKey]>,
    window_ms: u64,
    pub(super) rejected: Arc<AtomicU64>,
}

impl ReplyAuth {
    /// Accepts `signer` and the other keys of `file` (ids not already
    /// taken by `signer`), with `file`'s window or the default one.
    pub(super) fn new(signer: Option<&AuthKey>, file: Option<&AuthConfig>) -> ReplyAuth {
        let others = file.map(|f| &f.keys[..]).unwrap_or_default();
        let accepted = signer
            .into_iter()
            .chain(
                others
                    .iter()
                    .filter(|k| signer.is_none_or(|s| s.id() != k.id())),
            )
            .cloned()
            .collect();
        ReplyAuth {
            accepted,
            window_ms: file.map_or(AUTH_WINDOW_MS, |f| f.window_ms),
            rejected: Arc::default(),
        }
    }
}

impl Client {
    /// Whether a datagram from `from` may be taken as a reply: always
    /// without a key; with one, only a v2 datagram signed with an accepted
    /// key within the window (`protocol_v2::verify`). A rejected one is
    /// counted and logged at debug.
    pub(super) fn authentic(&self, datagram: &[u8], from: SocketAddrV4) -> bool {
        if self.key.is_none() {
            return true;
        }
        let now_ms = crate::hlc::Clock::now_ms(&crate::hlc::SystemClock);
        match v2::verify(
            datagram,
            &self.replies.accepted,
            now_ms,
            self.replies.window_ms,
        ) {
            Ok(_) => true,
            Err(error) => {
                self.replies.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%from, %error, "ignored a reply that is not authentic");
                false
            }
        }
    }

    /// `plan` as this client sends it: unchanged without a key; otherwise
    /// its v2 request signed now and no v1 request (an error when there is
    /// no v2 request: v1 mode, or a pair too large for a signed datagram).
    pub(super) fn sign(&self, plan: Result<Plan, String>) -> Result<Plan, String> {
        let (Some(key), Ok(plan)) = (&self.key, &plan) else {
            return plan;
        };
        let unsigned = plan
            .v2
            .as_deref()
            .ok_or("a client with a key speaks only protocol v2, and this request needs v1")?;
        let frame = v2::decode(unsigned).map_err(|e| e.to_string())?;
        let now_ms = crate::hlc::Clock::now_ms(&crate::hlc::SystemClock);
        let signed = v2::encode(frame.id, &frame.message, Some((key, now_ms)))
            .map_err(|e| format!("cannot sign the request: {e}"))?;
        Ok(Plan {
            id: plan.id,
            opcode: plan.opcode,
            v1: None,
            v2: Some(signed),
            restamp: plan.restamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ProtocolMode;
    use crate::config::parse_servers_txt;
    use crate::protocol_v2::Message;
    use crate::version::Version;

    /// A client with a key signs the v2 request (a valid trailer, same id
    /// and message) and plans no v1 request; in v1 mode it cannot ask.
    #[test]
    fn a_client_with_a_key_signs_and_never_plans_v1() {
        let key = v2::AuthKey::new(4, &[7u8; 32]).unwrap();
        let config = parse_servers_txt("127.0.0.1 1234 1\n", "t").unwrap();
        let client = Client::new(config).with_key(Some(key.clone()));
        assert_eq!(client.key().map(AuthKey::id), Some(4));
        let v = Version {
            timestamp: 5,
            writer: 1,
        };
        let plan = client
            .sign(Plan::put(b"k", b"a\0b", Some(v), false))
            .unwrap();
        assert_eq!(plan.v1, None);
        let signed = plan.v2.unwrap();
        let now = crate::hlc::Clock::now_ms(&crate::hlc::SystemClock);
        let trailer = v2::verify(&signed, &[key], now, 60_000).unwrap();
        assert_eq!(trailer.key_id, 4);
        let frame = v2::decode(&signed).unwrap();
        assert_eq!(frame.id, plan.id);
        assert!(matches!(frame.message, Message::Put { value: b"a\0b", .. }));
        let v1 = client.clone().with_protocol(ProtocolMode::V1);
        assert!(v1.sign(Plan::get(b"k", false)).is_err());
        // Without a key, plans are unchanged.
        let plain = Client::new(parse_servers_txt("127.0.0.1 1234 1\n", "t").unwrap());
        assert!(plain.sign(Plan::get(b"k", true)).unwrap().v1.is_some());
    }
}
