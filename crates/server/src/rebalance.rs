//! Membership change, the moving part (issue 8 item 4): a server hands the
//! keys it no longer owns to their owners, then drops them.
//!
//! Why a module of its own: anti-entropy (`crate::anti_entropy`) makes the
//! replicas of a key agree, but it never removes anything, and it does not
//! run on a server the ring no longer lists. After a membership change
//! (the servers file rewritten, SIGHUP), each server walks its records;
//! for every key it owned before the change but is not one of the N
//! owners of under the current ring — every key, when the file no longer
//! lists it (it is leaving) — it
//! asks each owner for the key (v2 GET), sends the record to the owners
//! that lack it or hold an older version (v2 PUT or DELETE with the
//! record's version; a v1 PUT for a value written through v1, only to an
//! owner that has nothing), and once every owner holds a version at least
//! as new, removes the key from its own store if it did not change
//! meanwhile. So every key ends on exactly its N owners, and a write
//! acknowledged before or during the move is never lost: it is removed
//! from a former owner only after its owners confirmed it. Keys a server
//! holds as extra copies (written with a larger `-n` than the cluster's
//! N) are left alone, and nothing is scanned while no move is in progress.

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;

use crate::engine::{Engine, Record};
use crate::peer::{Request, exchange};
use crate::protocol_v2::{self, AuthKey, Message};
use crate::version::Version;
use crate::view::{RingError, ServerRing};

/// How often a server looks for keys it no longer owns.
pub const PASS_INTERVAL: Duration = Duration::from_secs(1);
/// Keys checked with their owners at once.
pub const CHUNK: usize = 64;
/// Keys handed off per pass at most (the rest wait for the next pass).
pub const MAX_PER_PASS: usize = 4_096;
/// Sends of a request before the owner counts as silent this pass.
const TRIES: u32 = 3;

/// What the hand-off did, for STATS.
#[derive(Debug, Default)]
pub struct RebalanceStats {
    /// Keys this server held but did not own at the last pass.
    pub foreign_last: AtomicU64,
    /// Keys handed to their owners and dropped here, since start.
    pub dropped_total: AtomicU64,
    /// Records sent to owners that lacked them, since start.
    pub sent_total: AtomicU64,
    /// Passes finished.
    pub passes: AtomicU64,
}

/// A copy of [`RebalanceStats`] for STATS and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HandoffFigures {
    /// Keys held but not owned at the last pass.
    pub foreign_keys: u64,
    /// Records sent to owners, since start.
    pub sent: u64,
    /// Keys dropped, since start.
    pub dropped: u64,
}

impl RebalanceStats {
    /// The counters now.
    pub fn figures(&self) -> HandoffFigures {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        HandoffFigures {
            foreign_keys: l(&self.foreign_last),
            sent: l(&self.sent_total),
            dropped: l(&self.dropped_total),
        }
    }
}

/// A server's hand-off state: its membership (reloaded on SIGHUP) and
/// counters.
#[derive(Debug)]
pub struct Rebalancer {
    path: PathBuf,
    me: SocketAddrV4,
    replicas: Option<u32>,
    keys: Arc<[AuthKey]>,
    membership: RwLock<Arc<ServerRing>>,
    /// The rings this server had since the move in progress began (empty
    /// when none is): a key is handed off only if this server owned it in
    /// one of them and does not now. Keys it holds as extra copies (a
    /// put with a larger `-n` than the cluster's N) are never touched.
    history: std::sync::Mutex<Vec<Arc<ServerRing>>>,
    stats: Arc<RebalanceStats>,
}

impl Rebalancer {
    /// The hand-off of the server whose ring address is `me`, reading
    /// `path` (`--servers`).
    pub fn new(
        path: PathBuf,
        me: SocketAddrV4,
        replicas: Option<u32>,
        keys: Arc<[AuthKey]>,
    ) -> Result<Rebalancer, RingError> {
        let membership = ServerRing::load(&path, me, replicas)?;
        Ok(Rebalancer {
            path,
            me,
            replicas,
            keys,
            membership: RwLock::new(Arc::new(membership)),
            history: std::sync::Mutex::default(),
            stats: Arc::default(),
        })
    }

    /// The counters.
    pub fn stats(&self) -> Arc<RebalanceStats> {
        Arc::clone(&self.stats)
    }

    /// The membership now.
    pub fn membership(&self) -> Arc<ServerRing> {
        match self.membership.read() {
            Ok(m) => Arc::clone(&m),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Rereads the servers file (SIGHUP); a bad file keeps the old one.
    fn reload(&self) {
        match ServerRing::load(&self.path, self.me, self.replicas) {
            Ok(m) => {
                let old = self.membership();
                if old.same_ring(&m) {
                    return;
                }
                if m.me.is_none() {
                    tracing::warn!(
                        "SIGHUP: the servers file no longer lists this server; handing every key to its owners"
                    );
                } else {
                    tracing::info!(
                        "SIGHUP: the ring changed; handing keys this server no longer owns to their owners"
                    );
                }
                if let Ok(mut h) = self.history.lock() {
                    h.push(old);
                }
                match self.membership.write() {
                    Ok(mut v) => *v = Arc::new(m),
                    Err(p) => *p.into_inner() = Arc::new(m),
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: servers file not reloaded for the hand-off")
            }
        }
    }

    /// The background task: a pass every [`PASS_INTERVAL`], and one right
    /// after each SIGHUP. `written` is told of every key dropped (the
    /// anti-entropy tree follows). Never returns.
    pub async fn run(
        self: Arc<Self>,
        engine: Arc<dyn Engine>,
        written: impl Fn(&[u8]) + Send + Sync + 'static,
    ) {
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let socket = match UdpSocket::bind(SocketAddrV4::new(*self.me.ip(), 0)).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "hand-off: cannot bind a socket; keys will not move");
                return;
            }
        };
        let mut ticker = tokio::time::interval(PASS_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_id: u64 = rand::random();
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                Some(()) = async { match &mut hangup { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    self.reload();
                }
            }
            self.pass(&*engine, &socket, &mut next_id, &written).await;
        }
    }

    /// One pass over the store, while a move is in progress: every key
    /// this server owned in a ring of the move but does not own now (every
    /// key, when it is leaving) is handed to its owners and dropped once
    /// they confirm it. A pass that finds none ends the move.
    async fn pass(
        &self,
        engine: &dyn Engine,
        socket: &UdpSocket,
        next_id: &mut u64,
        written: &(dyn Fn(&[u8]) + Sync),
    ) {
        let membership = self.membership();
        let history: Vec<Arc<ServerRing>> =
            self.history.lock().map(|h| h.clone()).unwrap_or_default();
        let leaving = membership.me.is_none();
        if history.is_empty() && !leaving {
            return;
        }
        // One read of the store per pass (paging a hash map from a cursor
        // would walk it once per page).
        let records = match engine.snapshot() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "hand-off: cannot read the store");
                return;
            }
        };
        let mut foreign = 0u64;
        let mut handled = 0usize;
        let mut chunk: Vec<(Bytes, Record, Vec<SocketAddrV4>)> = Vec::new();
        for (key, record) in records {
            let Some(owners) = membership.foreign_owners(&key) else {
                continue;
            };
            if !leaving && !history.iter().any(|m| m.owns(&key)) {
                continue;
            }
            foreign += 1;
            if handled < MAX_PER_PASS {
                handled += 1;
                chunk.push((Bytes::from(key), record, owners));
            }
            if chunk.len() == CHUNK {
                self.hand_off(engine, socket, next_id, std::mem::take(&mut chunk), written)
                    .await;
            }
        }
        if !chunk.is_empty() {
            self.hand_off(engine, socket, next_id, chunk, written).await;
        }
        self.stats.foreign_last.store(foreign, Ordering::Relaxed);
        self.stats.passes.fetch_add(1, Ordering::Relaxed);
        if foreign == 0 && !leaving {
            // Only the rings seen by this pass: a change that came meanwhile
            // starts a move of its own.
            if let Ok(mut h) = self.history.lock() {
                h.retain(|m| !history.iter().any(|seen| Arc::ptr_eq(m, seen)));
            }
            tracing::info!("hand-off: the move is complete");
        }
        if foreign > 0 {
            tracing::info!(foreign, "hand-off pass");
        }
    }

    fn encode(&self, id: u64, message: &Message) -> Option<Vec<u8>> {
        crate::peer::encode(id, message, &self.keys)
    }

    /// Checks `chunk` with the owners, sends what they lack, and drops the
    /// keys every owner confirmed.
    async fn hand_off(
        &self,
        engine: &dyn Engine,
        socket: &UdpSocket,
        next_id: &mut u64,
        chunk: Vec<(Bytes, Record, Vec<SocketAddrV4>)>,
        written: &(dyn Fn(&[u8]) + Sync),
    ) {
        // Step 1: what does each owner hold?
        let asks = self.asks(next_id, &chunk);
        let answers = exchange(socket, &asks, TRIES).await;
        let mut confirmed: Vec<usize> = vec![0; chunk.len()];
        let sends = self.sends(next_id, &chunk, &asks, &answers, &mut confirmed);
        // Step 2: send what the owners lack; STORED or OLDER (v1: the one
        // NUL byte) confirms.
        if !sends.is_empty() {
            self.send(socket, &sends, &mut confirmed).await;
        }
        // Step 3: drop what every owner holds.
        self.drop_confirmed(engine, &chunk, confirmed, written);
    }

    /// A v2 GET of each key of `chunk` to each of its owners, tagged with
    /// the key's index in `chunk`.
    fn asks(
        &self,
        next_id: &mut u64,
        chunk: &[(Bytes, Record, Vec<SocketAddrV4>)],
    ) -> Vec<Request> {
        let mut asks: Vec<Request> = Vec::new();
        for (k, (key, _, owners)) in chunk.iter().enumerate() {
            for owner in owners {
                *next_id = next_id.wrapping_add(1);
                if let Some(datagram) = self.encode(*next_id, &Message::Get { key }) {
                    asks.push(Request {
                        id: *next_id,
                        to: *owner,
                        tag: k,
                        datagram,
                    });
                }
            }
        }
        asks
    }

    /// From the owners' answers to `asks`: counts in `confirmed` the owners
    /// that hold a version at least as new, and returns the sends of the
    /// record to those that answered without it.
    fn sends(
        &self,
        next_id: &mut u64,
        chunk: &[(Bytes, Record, Vec<SocketAddrV4>)],
        asks: &[Request],
        answers: &HashMap<u64, Vec<u8>>,
        confirmed: &mut [usize],
    ) -> Vec<Request> {
        let mut sends: Vec<Request> = Vec::new();
        for ask in asks {
            let Some((key, record, _)) = chunk.get(ask.tag) else {
                continue;
            };
            let Some(reply) = ask.reply(answers) else {
                continue;
            };
            let held = match protocol_v2::decode(reply).map(|f| f.message) {
                Ok(Message::Value { version, .. }) => Some(version),
                Ok(Message::NotFound { tombstone }) => tombstone,
                _ => continue,
            };
            let has_it = match held {
                // Anything at all covers a value written through v1.
                Some(v) => v >= record.version,
                None => false,
            };
            if has_it {
                if let Some(c) = confirmed.get_mut(ask.tag) {
                    *c += 1;
                }
                continue;
            }
            *next_id = next_id.wrapping_add(1);
            if let Some(send) = self.send_of(*next_id, key, record, ask) {
                sends.push(send);
            }
        }
        sends
    }

    /// The request that sends `record` of `key` with id `id` to the owner
    /// `ask` went to: v1 for a v1 value (id 0), else a v2 PUT or DELETE.
    fn send_of(&self, id: u64, key: &[u8], record: &Record, ask: &Request) -> Option<Request> {
        let datagram = if record.version == Version::ZERO {
            // A v1 value, to an owner that has nothing for the key.
            let mut d = key.to_vec();
            d.push(0);
            d.extend_from_slice(&record.value);
            Some(d)
        } else if record.tombstone {
            self.encode(
                id,
                &Message::Delete {
                    key,
                    version: record.version,
                },
            )
        } else {
            self.encode(
                id,
                &Message::Put {
                    key,
                    value: &record.value,
                    version: record.version,
                },
            )
        };
        datagram.map(|datagram| Request {
            id: if record.version == Version::ZERO {
                0
            } else {
                id
            },
            to: ask.to,
            tag: ask.tag,
            datagram,
        })
    }

    /// Sends `sends` and counts in `confirmed` each one answered STORED or
    /// OLDER (v1: the one NUL byte).
    async fn send(&self, socket: &UdpSocket, sends: &[Request], confirmed: &mut [usize]) {
        self.stats
            .sent_total
            .fetch_add(sends.len() as u64, Ordering::Relaxed);
        let answers = exchange(socket, sends, TRIES).await;
        for send in sends {
            let ok = match send.reply(&answers) {
                Some(reply) if send.id == 0 => reply == crate::protocol::REPLY_STORED,
                Some(reply) => matches!(
                    protocol_v2::decode(reply).map(|f| f.message),
                    Ok(Message::Stored | Message::Older { .. })
                ),
                None => false,
            };
            if ok && let Some(c) = confirmed.get_mut(send.tag) {
                *c += 1;
            }
        }
    }

    /// Drops from the store each key of `chunk` every owner confirmed,
    /// unless it changed meanwhile.
    fn drop_confirmed(
        &self,
        engine: &dyn Engine,
        chunk: &[(Bytes, Record, Vec<SocketAddrV4>)],
        confirmed: Vec<usize>,
        written: &(dyn Fn(&[u8]) + Sync),
    ) {
        for ((key, record, owners), confirmed) in chunk.iter().zip(confirmed) {
            if confirmed < owners.len() {
                continue;
            }
            match engine.remove_if_unchanged(key, record) {
                Ok(true) => {
                    self.stats.dropped_total.fetch_add(1, Ordering::Relaxed);
                    written(key);
                }
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "hand-off: cannot drop a key"),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::parse_servers_txt;

    #[test]
    fn owners_and_leaving() {
        let text = "127.0.0.1 7001 2\n127.0.0.1 7002 2\n127.0.0.1 7003 2\n127.0.0.1 7004 2\n";
        let config = parse_servers_txt(text, "t").unwrap();
        let me: SocketAddrV4 = "127.0.0.1:7001".parse().unwrap();
        let m = ServerRing::of(config.clone(), me, Some(3));
        assert_eq!(m.me, Some(0));
        let mut owned = 0;
        for i in 0..200 {
            let key = format!("k{i}");
            match m.foreign_owners(key.as_bytes()) {
                None => owned += 1,
                Some(owners) => {
                    assert_eq!(owners.len(), 3);
                    assert!(!owners.contains(&me));
                }
            }
        }
        // With N=3 of 4, this server owns about three keys in four.
        assert!((100..200).contains(&owned), "{owned}");
        // A server the file does not list owns nothing.
        let gone: SocketAddrV4 = "127.0.0.1:7999".parse().unwrap();
        let leaving = ServerRing::of(config, gone, None);
        assert_eq!((leaving.me, leaving.n), (None, 3));
        assert!(leaving.foreign_owners(b"k1").is_some());
    }
}
