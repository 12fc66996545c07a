//! Probing: every [`PROBE_INTERVAL`] a request to each configured server,
//! whose answer (or silence) drives the server's live state.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::state::{Inner, find_mut};
use super::{PROBE_INTERVAL, PROBE_KEY, PROBE_TIMEOUT, Supervisor};

impl Supervisor {
    /// How many probes that are gets (of [`PROBE_KEY`]) have been sent to
    /// each server so far, in configuration order: the server counts them
    /// among its operations, so whoever turns a server's counters into a
    /// rate subtracts these. Always 0 in a cluster with a key, whose probe
    /// is a HELLO (not an operation).
    pub fn probes_sent(&self) -> Vec<u64> {
        let state = self.inner.lock();
        state
            .slots
            .iter()
            .filter(|s| !s.leaving)
            .map(|s| {
                self.inner
                    .probes
                    .get(s.cell)
                    .map_or(0, |p| p.load(Ordering::Relaxed))
            })
            .collect()
    }

    /// Waits until the next probe round has ended, at most `limit`; true if
    /// it did. Right after a round no probe is in flight (the next one
    /// starts [`PROBE_INTERVAL`] after the last began), so counters read
    /// then agree with [`Supervisor::probes_sent`].
    pub async fn next_probe_round(&self, limit: Duration) -> bool {
        let mut rounds = self.inner.rounds.subscribe();
        rounds.borrow_and_update();
        matches!(
            tokio::time::timeout(limit, rounds.changed()).await,
            Ok(Ok(()))
        )
    }

    /// Waits until a probe round has ended since the start, at most
    /// `limit`; true if one has. Until then a server this supervisor did
    /// not start is `unreachable` whether it is up or not (only a probe
    /// tells), so whatever reports states waits for this first.
    pub async fn probed_once(&self, limit: Duration) -> bool {
        let mut rounds = self.inner.rounds.subscribe();
        let ended = async {
            while *rounds.borrow_and_update() == 0 {
                if rounds.changed().await.is_err() {
                    return false;
                }
            }
            true
        };
        tokio::time::timeout(limit, ended).await.unwrap_or(false)
    }

    /// Asks the prober for a round now (after an action).
    pub fn probe_soon(&self) {
        self.inner.probe_now.notify_one();
    }
}

/// One probe: a v1 get for [`PROBE_KEY`]; true if `addr` answered in time.
pub async fn probe(addr: SocketAddrV4, timeout: Duration) -> bool {
    probe_with(addr, timeout, PROBE_KEY).await
}

/// The probe of a cluster with a key: an unsigned v2 HELLO, which a server
/// with a key still answers (and any v1 server refuses, which is an answer).
pub fn hello_probe() -> Vec<u8> {
    crate::protocol_v2::encode(0, &crate::protocol_v2::Message::Hello, None).unwrap_or_default()
}

/// One probe sending `request`; true if `addr` answered in time.
pub async fn probe_with(addr: SocketAddrV4, timeout: Duration, request: &[u8]) -> bool {
    let Ok(socket) = tokio::net::UdpSocket::bind("0.0.0.0:0").await else {
        return false;
    };
    if socket.send_to(request, addr).await.is_err() {
        return false;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 2048];
    loop {
        match tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok((_, from))) if from == std::net::SocketAddr::V4(addr) => return true,
            Ok(Ok(_)) => {}
            // ICMP port unreachable: nobody there, but keep waiting for the
            // deadline (a server may be starting).
            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// The prober task: one round per tick (or when asked), until shutdown.
pub(super) async fn probe_loop(inner: Arc<Inner>) {
    let mut interval = tokio::time::interval(PROBE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = inner.probe_now.notified() => {}
        }
        if inner.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let answers = probe_round(&inner).await;
        let mut state = inner.lock();
        let mut changed = false;
        for (id, answered) in answers {
            let Some((index, slot)) = find_mut(&mut state, id) else {
                continue;
            };
            if answered {
                slot.last_answer = Some(Instant::now());
            }
            changed |= inner.set_state(&mut state, index, Some(answered));
        }
        drop(state);
        inner.rounds.send_modify(|v| *v = v.wrapping_add(1));
        if changed {
            inner.bump();
        }
    }
}

/// Probes every configured server at once; returns whether each (by slot
/// id) answered.
async fn probe_round(inner: &Inner) -> Vec<(u64, bool)> {
    let mut round = tokio::task::JoinSet::new();
    let config = inner.config();
    let request: Arc<[u8]> = match config.defaults.key_file {
        Some(_) => hello_probe().into(),
        None => PROBE_KEY.into(),
    };
    // The configured servers (not the leaving ones), by slot id: a
    // membership change during the round moves slots.
    let targets: Vec<(u64, usize, SocketAddrV4)> = {
        let state = inner.lock();
        state
            .slots
            .iter()
            .filter(|s| !s.leaving)
            .map(|s| (s.id, s.cell, s.spec.addr()))
            .collect()
    };
    for (id, cell, addr) in targets {
        let request = Arc::clone(&request);
        // Only the v1 get is an operation the server counts (HELLO,
        // the keyed cluster's probe, is not).
        if config.defaults.key_file.is_none()
            && let Some(count) = inner.probes.get(cell)
        {
            count.fetch_add(1, Ordering::Relaxed);
        }
        round.spawn(async move { (id, probe_with(addr, PROBE_TIMEOUT, &request).await) });
    }
    let mut answers = Vec::new();
    while let Some(joined) = round.join_next().await {
        if let Ok(answer) = joined {
            answers.push(answer);
        }
    }
    answers
}
