//! Requests one server sends to others in the background (the hand-off
//! after a membership change, `crate::rebalance`; hinted handoff,
//! `crate::hints`): signed with the server's first key when it has keys,
//! sent all at once, resent while unanswered, replies matched by request
//! id (v1 requests, which carry none, by address).
//!
//! Why a module of its own: both background tasks need exactly this
//! request/reply loop; the client's quorum exchange (`crate::client`) is
//! different (one operation, a verdict, read repair). Only the timing is
//! shared with it: rounds of [`REQUEST_TIMEOUT`] are a constant
//! [`RetryPolicy`] on a [`Resends`] timer (`crate::retry`).

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::hlc::Clock;
use crate::protocol_v2::{self, AuthKey, Message};
use crate::retry::{Received, Resends, RetryPolicy, Wake, recv_until};

/// How long a round of requests waits for replies before the unanswered
/// ones are resent.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(300);

/// `message` with request id `id`, signed with `keys[0]` when there are
/// keys; `None` when it cannot be encoded (too large).
pub fn encode(id: u64, message: &Message, keys: &[AuthKey]) -> Option<Vec<u8>> {
    let now = crate::hlc::SystemClock.now_ms();
    protocol_v2::encode(id, message, keys.first().map(|k| (k, now))).ok()
}

/// One request of an exchange: its id (0 for a v1 request, matched by
/// address alone), where it goes, what the caller tags it with (an index
/// into its own list), and the datagram.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request id (0: a v1 datagram).
    pub id: u64,
    /// Where it goes.
    pub to: SocketAddrV4,
    /// The caller's tag.
    pub tag: usize,
    /// The datagram sent.
    pub datagram: Vec<u8>,
}

impl Request {
    /// The key its reply is filed under in [`exchange`]'s answers: the id,
    /// or for a v1 request (no id on the wire) a value derived from the
    /// address and the tag.
    pub fn id_key(&self) -> u64 {
        if self.id != 0 {
            return self.id;
        }
        ((u64::from(u32::from(*self.to.ip())) << 16 | u64::from(self.to.port()))
            ^ ((self.tag as u64) << 48))
            | 1 << 63
    }

    /// Its reply among `answers`, if it came.
    pub fn reply<'a>(&self, answers: &'a HashMap<u64, Vec<u8>>) -> Option<&'a [u8]> {
        answers.get(&self.id_key()).map(Vec::as_slice)
    }
}

/// Sends every request and gathers the replies (v2 by request id and
/// source; v1 by address, one outstanding per address and round), resending
/// the unanswered ones, `tries` rounds of [`REQUEST_TIMEOUT`] at most.
pub async fn exchange(
    socket: &UdpSocket,
    requests: &[Request],
    tries: u32,
) -> HashMap<u64, Vec<u8>> {
    let mut answers: HashMap<u64, Vec<u8>> = HashMap::new();
    if tries == 0 {
        return answers;
    }
    let mut buf = vec![0u8; 65536];
    // A round is the wait between two resends: REQUEST_TIMEOUT each.
    let rounds = RetryPolicy {
        first: REQUEST_TIMEOUT,
        factor: 1,
        max_interval: REQUEST_TIMEOUT,
        max_resends: tries - 1,
    };
    let start = Instant::now();
    let deadline = start + REQUEST_TIMEOUT.saturating_mul(tries);
    let mut timer = Resends::new(rounds, start, deadline);
    let mut v1_waiting = send_round(socket, requests, &answers).await;
    while requests.iter().any(|r| !answers.contains_key(&r.id_key())) {
        let wake = timer.wake();
        let (len, from) = match recv_until(socket, &mut buf, wake).await {
            Ok(Received::Datagram { len, from }) => (len, from),
            Ok(Received::Timeout) => match timer.fire(wake) {
                Wake::Resend(_) => {
                    v1_waiting = send_round(socket, requests, &answers).await;
                    continue;
                }
                Wake::Deadline => break,
            },
            Err(e) => {
                tracing::debug!("receive from peers failed: {e}");
                break;
            }
        };
        let SocketAddr::V4(from) = from else { continue };
        let reply = buf.get(..len).unwrap_or_default().to_vec();
        if protocol_v2::dialect(&reply) == protocol_v2::Dialect::V2 {
            if let Ok(frame) = protocol_v2::decode(&reply)
                && requests.iter().any(|r| r.id == frame.id && r.to == from)
            {
                answers.insert(frame.id, reply);
            }
        } else if let Some(slot) = v1_waiting.remove(&from) {
            answers.insert(slot, reply);
        }
    }
    answers
}

/// Sends one round: every unanswered request, but only the first v1 one
/// of each address (v1 replies carry no id, so one per address is
/// outstanding at a time). The round's v1 slots: address, reply key.
async fn send_round(
    socket: &UdpSocket,
    requests: &[Request],
    answers: &HashMap<u64, Vec<u8>>,
) -> HashMap<SocketAddrV4, u64> {
    let mut v1_waiting: HashMap<SocketAddrV4, u64> = HashMap::new();
    for r in requests
        .iter()
        .filter(|r| !answers.contains_key(&r.id_key()))
    {
        if r.id == 0 {
            if v1_waiting.contains_key(&r.to) {
                continue;
            }
            v1_waiting.insert(r.to, r.id_key());
        }
        if let Err(e) = socket.send_to(&r.datagram, r.to).await {
            tracing::debug!(to = %r.to, "send to a peer failed: {e}");
        }
    }
    v1_waiting
}
