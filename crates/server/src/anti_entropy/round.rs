//! One anti-entropy round: with each peer, compare segment roots, then the
//! differing segments' buckets, then the differing buckets' keys.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::net::UdpSocket;

use crate::engine::Engine;
use crate::merkle::{Digest, Slot};
use crate::protocol_v2::ae::AeMessage;

use super::link::{Link, RateLimiter, reply_of};
use super::{AeStats, AntiEntropy, KEYS_IN_FLIGHT, ROOTS_PER_REQUEST, RingView, SETTLE, lock};

impl AntiEntropy {
    /// One anti-entropy round with every peer.
    pub(super) async fn round(
        &self,
        engine: &Arc<dyn Engine>,
        socket: &UdpSocket,
        limiter: &mut RateLimiter,
    ) {
        if !self.ready.load(Ordering::Acquire) {
            return;
        }
        let started = Instant::now();
        let view = self.view();
        let mut totals = RoundTotals::default();
        // Peers and segments in a random order each round: two servers
        // repairing the same replica at once then mostly work on different
        // segments, and each finds the other's work done (DECISIONS #305).
        let mut peers: Vec<&(SocketAddrV4, Vec<u32>)> = view.peers.iter().collect();
        shuffle(&mut peers);
        for (peer, segments) in peers {
            let mut link = Link {
                ae: self,
                socket,
                peer: *peer,
                limiter,
            };
            match self
                .sync_peer(engine, &view, &mut link, segments, &mut totals)
                .await
            {
                Ok(()) => {}
                Err(why) => {
                    totals.unreachable += 1;
                    tracing::debug!(%peer, why, "anti-entropy: round with peer cut short");
                }
            }
        }
        let s = &self.stats;
        AeStats::add(&s.rounds, 1);
        AeStats::set(&s.divergent_segments_last, totals.segments);
        AeStats::set(&s.divergent_buckets_last, totals.buckets);
        AeStats::set(&s.keys_repaired_last, totals.pushed + totals.fetched);
        AeStats::set(&s.unreachable_last, totals.unreachable);
        AeStats::set(&s.last_round_ms, started.elapsed().as_millis() as u64);
        let (sent, received) = (
            s.bytes_sent.load(Ordering::Relaxed),
            s.bytes_received.load(Ordering::Relaxed),
        );
        if totals.segments > 0 || totals.unreachable > 0 {
            tracing::info!(
                segments = totals.segments,
                buckets = totals.buckets,
                pushed = totals.pushed,
                fetched = totals.fetched,
                unreachable = totals.unreachable,
                ms = started.elapsed().as_millis() as u64,
                bytes_sent = sent,
                bytes_received = received,
                "anti-entropy round"
            );
        } else {
            tracing::debug!(
                peers = view.peers.len(),
                ms = started.elapsed().as_millis() as u64,
                bytes_sent = sent,
                bytes_received = received,
                "anti-entropy round: in sync"
            );
        }
    }

    /// Compares the shared segments with one peer and repairs both sides.
    async fn sync_peer(
        &self,
        engine: &Arc<dyn Engine>,
        view: &RingView,
        link: &mut Link<'_>,
        segments: &[u32],
        totals: &mut RoundTotals,
    ) -> Result<(), &'static str> {
        let ring = view.fingerprint;
        let mut differing = self.differing_segments(link, ring, segments).await?;
        totals.segments += differing.len() as u64;
        shuffle(&mut differing);
        for segment in differing {
            self.sync_segment(engine, link, ring, segment, totals)
                .await?;
        }
        Ok(())
    }

    /// The shared segments whose roots differ from the peer's (AE_ROOTS).
    async fn differing_segments(
        &self,
        link: &mut Link<'_>,
        ring: u64,
        segments: &[u32],
    ) -> Result<Vec<u32>, &'static str> {
        let mut differing = Vec::new();
        for chunk in segments.chunks(ROOTS_PER_REQUEST) {
            let roots = {
                let tree = lock(&self.tree);
                chunk.iter().map(|s| (*s, tree.root(*s))).collect()
            };
            let reply = link.ask(&AeMessage::Roots { ring, roots }).await?;
            match reply_of(&reply)? {
                AeMessage::Differ { indexes } => {
                    differing.extend(indexes.into_iter().filter(|i| chunk.contains(i)))
                }
                _ => return Err("unexpected reply to AE_ROOTS"),
            }
        }
        Ok(differing)
    }

    /// Repairs one differing segment: its differing buckets (AE_BUCKETS),
    /// their keys (AE_KEYS), then the pushes and fetches they call for.
    async fn sync_segment(
        &self,
        engine: &Arc<dyn Engine>,
        link: &mut Link<'_>,
        ring: u64,
        segment: u32,
        totals: &mut RoundTotals,
    ) -> Result<(), &'static str> {
        let hashes = lock(&self.tree).bucket_hashes(segment);
        let reply = link
            .ask(&AeMessage::Buckets {
                ring,
                segment,
                hashes,
            })
            .await?;
        let buckets = match reply_of(&reply)? {
            AeMessage::Differ { indexes } => indexes,
            _ => return Err("unexpected reply to AE_BUCKETS"),
        };
        totals.buckets += buckets.len() as u64;
        let mut push = Vec::new();
        let mut fetch = Vec::new();
        let slots: Vec<Slot> = buckets
            .iter()
            .filter_map(|b| u16::try_from(*b).ok())
            .map(|bucket| Slot { segment, bucket })
            .collect();
        // The first page of several buckets' keys in flight at once.
        for window in slots.chunks(KEYS_IN_FLIGHT) {
            let asks: Vec<AeMessage> = window
                .iter()
                .map(|slot| AeMessage::Keys {
                    ring,
                    segment: slot.segment,
                    bucket: slot.bucket,
                    cursor: &[],
                })
                .collect();
            let replies = link.ask_many(&asks).await?;
            for (slot, reply) in window.iter().zip(&replies) {
                let theirs = self.peer_keys(link, ring, *slot, reply).await?;
                let (p, f) = self.compare(engine, *slot, &theirs).await;
                push.extend(p);
                fetch.extend(f);
            }
        }
        totals.pushed += self.push(engine, link, push).await? as u64;
        totals.fetched += self.fetch(engine, link, fetch).await? as u64;
        Ok(())
    }

    /// Every key and version of one of the peer's buckets, from the reply
    /// to its first AE_KEYS page (`first`) and the pages after it.
    async fn peer_keys(
        &self,
        link: &mut Link<'_>,
        ring: u64,
        slot: Slot,
        first: &[u8],
    ) -> Result<BTreeMap<Box<[u8]>, Digest>, &'static str> {
        let mut all = BTreeMap::new();
        let mut cursor: Vec<u8> = Vec::new();
        loop {
            let reply = if cursor.is_empty() {
                first.to_vec()
            } else {
                link.ask(&AeMessage::Keys {
                    ring,
                    segment: slot.segment,
                    bucket: slot.bucket,
                    cursor: &cursor,
                })
                .await?
            };
            let (more, keys) = match reply_of(&reply)? {
                AeMessage::KeyList { more, keys } => (more, keys),
                _ => return Err("unexpected reply to AE_KEYS"),
            };
            for k in &keys {
                all.insert(
                    Box::from(k.key),
                    Digest {
                        version: k.version,
                        tombstone: k.tombstone,
                    },
                );
            }
            match keys.last() {
                // A page must move forward, or the listing could never end.
                Some(last) if more && last.key <= &cursor[..] && !cursor.is_empty() => {
                    return Err("key list does not advance");
                }
                Some(last) if more => cursor = last.key.to_vec(),
                _ => return Ok(all),
            }
        }
    }

    /// The keys of one bucket to push (this server's record wins) and to
    /// fetch (the peer's wins), after re-reading this server's side from
    /// the engine.
    async fn compare(
        &self,
        engine: &Arc<dyn Engine>,
        slot: Slot,
        theirs: &BTreeMap<Box<[u8]>, Digest>,
    ) -> (Vec<Box<[u8]>>, Vec<Box<[u8]>>) {
        let mut keys: Vec<Box<[u8]>> = lock(&self.tree)
            .entries_after(slot, &[], usize::MAX)
            .0
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        keys.extend(theirs.keys().cloned());
        keys.sort();
        keys.dedup();
        let now = Self::now_ms();
        let engine = Arc::clone(engine);
        let read = tokio::task::spawn_blocking(move || {
            keys.into_iter()
                .map(|k| {
                    let r = engine.get(&k).ok().flatten();
                    (k, r)
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let mut push = Vec::new();
        let mut fetch = Vec::new();
        let mut tree = lock(&self.tree);
        let settled = now.saturating_sub(u64::try_from(SETTLE.as_millis()).unwrap_or(0));
        let fresh = |d: &Option<Digest>| {
            d.is_some_and(|d| crate::hlc::physical_ms(d.version.timestamp) > settled)
        };
        for (k, record) in read {
            let mine = self.digest_of(record.as_ref(), now);
            tree.update(&k, mine);
            let theirs = theirs.get(&k).copied().filter(|d| !self.expired(d, now));
            if fresh(&mine) || fresh(&theirs) {
                continue;
            }
            match (mine, theirs) {
                // Values without versions are not ordered against
                // versioned records (DECISIONS #78, #301): left alone.
                (Some(m), Some(t)) if m.is_v1() || t.is_v1() => {}
                (Some(m), Some(t)) if m.rank() > t.rank() => push.push(k),
                (Some(m), Some(t)) if t.rank() > m.rank() => fetch.push(k),
                (Some(_), None) => push.push(k),
                (None, Some(_)) => fetch.push(k),
                _ => {}
            }
        }
        (push, fetch)
    }
}

/// What a round found and did.
#[derive(Debug, Default)]
struct RoundTotals {
    segments: u64,
    buckets: u64,
    pushed: u64,
    fetched: u64,
    unreachable: u64,
}

/// Fisher-Yates with the thread's random generator.
fn shuffle<T>(items: &mut [T]) {
    use rand::RngExt;
    let mut rng = rand::rng();
    for i in (1..items.len()).rev() {
        items.swap(i, rng.random_range(0..=i));
    }
}
