//! The conversation with one peer ([`Link`]: request ids, resends,
//! signatures) and the rate limit on the bytes it sends and receives.

use std::net::{SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use crate::protocol::MAX_DATAGRAM;
use crate::protocol_v2::ae::{AeMessage, REASON_RING_DIFFERS};
use crate::protocol_v2::{self, Message};

use super::{AeStats, AntiEntropy, REQUEST_TIMEOUT, REQUEST_TRIES};

/// The conversation with one peer: requests with ids, resends, the rate
/// limit, signatures.
pub(super) struct Link<'a> {
    pub(super) ae: &'a AntiEntropy,
    pub(super) socket: &'a UdpSocket,
    pub(super) peer: SocketAddrV4,
    pub(super) limiter: &'a mut RateLimiter,
}

impl Link<'_> {
    /// Sends `message` and returns the reply datagram (with the request's
    /// id, from the peer, signed when this server has keys).
    pub(super) async fn ask(&mut self, message: &AeMessage<'_>) -> Result<Vec<u8>, &'static str> {
        let mut replies = self.ask_many(std::slice::from_ref(message)).await?;
        replies.pop().ok_or("no reply")
    }

    /// Sends every message at once (each with its own id) and returns
    /// their replies in order; the unanswered ones are resent, up to
    /// [`REQUEST_TRIES`] sends in all.
    pub(super) async fn ask_many(
        &mut self,
        messages: &[AeMessage<'_>],
    ) -> Result<Vec<Vec<u8>>, &'static str> {
        let now = AntiEntropy::now_ms();
        let sign = self.ae.keys.first().map(|k| (k, now));
        let mut requests = Vec::with_capacity(messages.len());
        for m in messages {
            let id: u64 = rand::random();
            let datagram = protocol_v2::encode(id, &Message::AntiEntropy(m.clone()), sign)
                .map_err(|_| "request does not encode")?;
            requests.push((id, m.opcode(), datagram));
        }
        let mut replies: Vec<Option<Vec<u8>>> = vec![None; requests.len()];
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        for _ in 0..REQUEST_TRIES {
            for ((_, _, request), reply) in requests.iter().zip(&replies) {
                if reply.is_some() {
                    continue;
                }
                self.limiter.take(request.len() as u64).await;
                if self.socket.send_to(request, self.peer).await.is_err() {
                    return Err("send failed");
                }
                AeStats::add(&self.ae.stats.bytes_sent, request.len() as u64);
            }
            let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
            while replies.iter().any(Option::is_none) {
                let got = tokio::time::timeout_at(deadline, self.socket.recv_from(&mut buf)).await;
                let (len, from) = match got {
                    Err(_) => break,
                    Ok(Err(_)) => continue,
                    Ok(Ok(x)) => x,
                };
                if from != SocketAddr::V4(self.peer) {
                    continue;
                }
                let datagram = buf.get(..len).unwrap_or_default();
                if !self.ae.keys.is_empty()
                    && protocol_v2::verify(
                        datagram,
                        &self.ae.keys,
                        AntiEntropy::now_ms(),
                        self.ae.window_ms,
                    )
                    .is_err()
                {
                    continue;
                }
                let Ok(frame) = protocol_v2::decode(datagram) else {
                    continue;
                };
                let slot = requests
                    .iter()
                    .zip(replies.iter_mut())
                    .find(|((id, op, _), reply)| {
                        reply.is_none() && *id == frame.id && frame.message.answers(*op)
                    })
                    .map(|(_, reply)| reply);
                if let Some(reply) = slot {
                    *reply = Some(datagram.to_vec());
                    AeStats::add(&self.ae.stats.bytes_received, len as u64);
                    self.limiter.take(len as u64).await;
                }
            }
            if replies.iter().all(Option::is_some) {
                return Ok(replies.into_iter().flatten().collect());
            }
        }
        Err("no reply")
    }
}

/// The anti-entropy message of a reply datagram; REFUSED is an error.
pub(super) fn reply_of(datagram: &[u8]) -> Result<AeMessage<'_>, &'static str> {
    match protocol_v2::decode(datagram).map(|f| f.message) {
        Ok(Message::AntiEntropy(m)) => Ok(m),
        Ok(Message::Refused { reason }) if reason.code() == REASON_RING_DIFFERS => {
            Err("the peer's ring differs")
        }
        Ok(Message::Refused { .. }) => Err("refused"),
        _ => Err("not an anti-entropy reply"),
    }
}

/// A bucket of bytes per second (sent and received together): `take`
/// waits until the bytes are available.
#[derive(Debug)]
pub(super) struct RateLimiter {
    rate: u64,
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub(super) fn new(rate: u64) -> RateLimiter {
        RateLimiter {
            rate: rate.max(1),
            tokens: rate.max(1) as f64,
            at: Instant::now(),
        }
    }

    async fn take(&mut self, n: u64) {
        let rate = self.rate as f64;
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * rate).min(rate);
        self.at = now;
        self.tokens -= n as f64;
        if self.tokens < 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(-self.tokens / rate)).await;
        }
    }
}
