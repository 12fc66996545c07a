//! Hinted handoff from the client's side (issue 8): after a write's
//! verdict, or at its first resend with a sloppy quorum, the servers after
//! the home servers on the ring are sent HINTs for the silent ones.

use std::net::{SocketAddr, SocketAddrV4};

use tokio::time::Instant;

use super::plan::{Lane, Plan};
use super::socket::{OpSocket, is_transient};
use super::verdict::v2_reply;
use super::{Client, FALLBACK_LINGER, HINT_AFTER, HintMode};
use crate::net::retry::{Received, Resends, Wake, recv_until};
use crate::protocol_v2::{self as v2, Dialect};
use crate::quorum::Quorum;
use crate::trace::{Failure, OpKind, ReplicaTrace, Reply, Trace, Verdict};
use crate::version::Version;

/// The hints one write leaves (see [`Client::linger`]).
#[derive(Debug)]
struct HintJob {
    id: u64,
    kind: OpKind,
    key: Vec<u8>,
    written: Option<Vec<u8>>,
    version: Version,
    quorum: Quorum,
    /// Home servers that have not answered: index, configured address,
    /// where requests go.
    silent: Vec<(usize, SocketAddrV4, SocketAddrV4)>,
    /// The servers after the home servers on the ring, in order.
    holders: Vec<ReplicaTrace>,
    /// The operation's deadline: hint work ends by then too, so a
    /// one-shot client never outlives its deadline for hints.
    deadline: Instant,
}

impl Client {
    /// After the verdict, servers asked in v2 that have not answered and
    /// whose protocol is unknown may be v1-only servers whose refusal is on
    /// its way. A v1 server used to get every put even when it answered
    /// after the verdict; so the operation's socket keeps listening in the
    /// background (until the deadline, at most [`FALLBACK_LINGER`] or ten
    /// times the slowest reply after now) and sends a refusing server the
    /// v1 request once, as the v1 request would have been sent once;
    /// replies tell the protocol of the others. Writes are tracked for
    /// [`Client::finish_repairs`]; a get only learns protocols.
    ///
    /// A write's home servers still silent after [`HINT_AFTER`] (or ten
    /// times the slowest reply) get a hint: the next servers of the ring
    /// are sent a HINT each (hinted handoff, [`HintMode`]), and the report
    /// of that joins [`Client::finish_repairs`].
    pub(super) fn linger(
        &self,
        socket: OpSocket,
        trace: &Trace,
        routes: &[SocketAddrV4],
        lanes: &[Lane],
        plan: &Plan,
        deadline: Instant,
    ) {
        let probing: Vec<(usize, SocketAddrV4)> = trace
            .replicas
            .iter()
            .zip(routes)
            .zip(lanes)
            .filter(|((r, _), lane)| {
                **lane == Lane::V2 && r.reply.is_none() && self.dialect(r.server).is_none()
            })
            .map(|((r, to), _)| (r.server, *to))
            .collect();
        let hints = self.hint_job(trace, routes, lanes, plan.id, deadline);
        if probing.is_empty() && hints.is_none() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let slowest = trace.replicas.iter().filter_map(|r| r.latency).max();
        let wait = if hints.is_some() {
            HINT_AFTER
        } else {
            FALLBACK_LINGER
        };
        let linger = slowest.map_or(wait, |s| s.saturating_mul(10)).max(wait);
        let until = deadline.min(Instant::now() + linger);
        let v1 = if trace.kind == OpKind::Get {
            None
        } else {
            plan.v1.clone()
        };
        let tracked = v1.is_some() || hints.is_some();
        let mut lingering = Lingering {
            socket,
            probing,
            hints,
            v1,
            id: plan.id,
            until,
        };
        let client = self.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        runtime.spawn(async move {
            let report = lingering.listen(&client).await;
            let _ = tx.send(report);
        });
        if tracked {
            self.track(rx);
        }
    }

    /// The hints a write would leave if its silent home servers stay
    /// silent: `None` for gets, with [`HintMode::Off`], without a version
    /// (a v1 write), or when no server is silent or none is left on the
    /// ring to hold a hint.
    fn hint_job(
        &self,
        trace: &Trace,
        routes: &[SocketAddrV4],
        lanes: &[Lane],
        id: u64,
        deadline: Instant,
    ) -> Option<HintJob> {
        // No hints once the deadline passed (a write that timed out): the
        // hint work would outlive the operation.
        if self.hints == HintMode::Off || !trace.kind.is_write() || Instant::now() >= deadline {
            return None;
        }
        let version = trace.version?;
        // Servers already holding a hint of this operation (sent during it,
        // HintMode::Count), and the home servers they hold it for.
        let holding: Vec<&ReplicaTrace> = trace
            .replicas
            .iter()
            .filter(|r| r.hint_for.is_some())
            .collect();
        let silent: Vec<(usize, SocketAddrV4, SocketAddrV4)> = trace
            .replicas
            .iter()
            .zip(routes)
            .zip(lanes)
            .filter(|((r, _), lane)| {
                **lane == Lane::V2
                    && r.reply.is_none()
                    && !holding.iter().any(|h| h.hint_for == Some(r.addr))
            })
            .map(|((r, to), _)| (r.server, r.addr, *to))
            .collect();
        if silent.is_empty() {
            return None;
        }
        let home = trace.replicas.len() - holding.len();
        let wanted = (home + holding.len() + silent.len()).min(self.config.server_count());
        let holders: Vec<ReplicaTrace> = self
            .replicas_for(&trace.key, wanted)
            .into_iter()
            .skip(home)
            .filter(|h| {
                self.dialect(h.server) != Some(Dialect::V1)
                    && !holding.iter().any(|r| r.server == h.server)
            })
            .collect();
        if holders.is_empty() {
            return None;
        }
        Some(HintJob {
            id,
            kind: trace.kind,
            key: trace.key.clone(),
            written: trace.written.clone(),
            version,
            quorum: trace.quorum,
            silent,
            holders,
            deadline,
        })
    }

    /// [`HintMode::Count`], at the operation's first resend: each silent
    /// home server's write goes to a holder as a HINT, and the holder joins
    /// the operation (its acknowledgement counts toward W).
    pub(super) fn hint_now(
        &self,
        trace: &mut Trace,
        routes: &mut Vec<SocketAddrV4>,
        lanes: &mut Vec<Lane>,
        datagrams: &mut Vec<Vec<u8>>,
        id: u64,
        deadline: Instant,
    ) {
        if trace.verdict != Verdict::Pending {
            return;
        }
        let Some(job) = self.hint_job(trace, routes, lanes, id, deadline) else {
            return;
        };
        for ((_, owner, _), mut holder) in job.silent.iter().zip(job.holders.clone()) {
            let Some(datagram) = self.hint_datagram(&job, *owner) else {
                continue;
            };
            holder.hint_for = Some(*owner);
            routes.push(
                self.routes
                    .get(&holder.server)
                    .copied()
                    .unwrap_or(holder.addr),
            );
            lanes.push(Lane::Hint(datagrams.len()));
            datagrams.push(datagram);
            trace.replicas.push(holder);
        }
    }

    /// The HINT datagram of `job` for home server `owner`.
    fn hint_datagram(&self, job: &HintJob, owner: SocketAddrV4) -> Option<Vec<u8>> {
        let message = v2::Message::Hint {
            owner,
            key: &job.key,
            value: match job.kind {
                OpKind::Delete => None,
                _ => Some(job.written.as_deref().unwrap_or_default()),
            },
            version: job.version,
        };
        let now_ms = crate::hlc::Clock::now_ms(&crate::hlc::SystemClock);
        v2::encode(job.id, &message, self.key.as_ref().map(|k| (k, now_ms))).ok()
    }

    /// Sends each still-silent home server's hint to a holder (the next
    /// servers of the ring, in order) and gathers their answers, resending
    /// as the retry policy says, until the operation deadline from now.
    /// The report: one line per holder, marked with the home server it
    /// holds for.
    async fn send_hints(&self, socket: &OpSocket, job: HintJob) -> Option<Trace> {
        let start = Instant::now();
        let deadline = job.deadline;
        if start >= deadline {
            return None;
        }
        let mut holders = self.hint_holders(&job);
        let mut report = Trace {
            kind: job.kind,
            key: job.key.clone(),
            written: job.written.clone(),
            quorum: job.quorum,
            replicas: Vec::new(),
            verdict: Verdict::Pending,
            value: None,
            decided_after: None,
            finished: true,
            version: Some(job.version),
            restamps: Vec::new(),
        };
        for (holder, route, datagram) in &mut holders {
            if let Err(e) = socket.send_to(datagram, &*route).await {
                holder.reply = Some(Reply::SendFailed(e.to_string()));
            }
        }
        self.gather_hints(socket, job.id, &mut holders, start, deadline)
            .await;
        for (holder, ..) in &mut holders {
            if holder.reply.is_none() {
                holder.reply = Some(Reply::Timeout);
            }
        }
        report.replicas = holders.into_iter().map(|(h, ..)| h).collect();
        let all = report.replicas.iter().all(|r| r.counted);
        report.verdict = if all {
            Verdict::Reached
        } else {
            Verdict::Failed(Failure::NotEnough)
        };
        report.decided_after = Some(start.elapsed());
        Some(report)
    }

    /// Each of `job`'s silent home servers paired with a holder: the
    /// holder's trace (marked with the home server it holds for), where its
    /// requests go, and the HINT it gets.
    fn hint_holders(&self, job: &HintJob) -> Vec<Holder> {
        let mut holders = Vec::new();
        for ((_, owner, _), mut holder) in job.silent.iter().zip(job.holders.clone()) {
            let Some(datagram) = self.hint_datagram(job, *owner) else {
                continue;
            };
            let route = self
                .routes
                .get(&holder.server)
                .copied()
                .unwrap_or(holder.addr);
            holder.hint_for = Some(*owner);
            holders.push((holder, route, datagram));
        }
        holders
    }

    /// Gathers the holders' answers to the HINTs of request `id` until
    /// each answered or the deadline passed, resending to the silent ones
    /// as the retry policy says (from `start`, the first send).
    async fn gather_hints(
        &self,
        socket: &OpSocket,
        id: u64,
        holders: &mut [Holder],
        start: Instant,
        deadline: Instant,
    ) {
        let mut buf = vec![0u8; 2048];
        let mut timer = Resends::new(self.retry, start, deadline);
        while holders.iter().any(|(h, ..)| h.reply.is_none()) {
            let wake = timer.wake();
            let (len, from) = match recv_until(socket, &mut buf, wake).await {
                Ok(Received::Datagram { len, from }) => (len, from),
                Ok(Received::Timeout) => match timer.fire(wake) {
                    Wake::Resend(_) => {
                        for (holder, route, datagram) in holders.iter() {
                            if holder.reply.is_none() {
                                let _ = socket.send_to(datagram, route).await;
                            }
                        }
                        continue;
                    }
                    Wake::Deadline => break,
                },
                Err(_) => break,
            };
            let SocketAddr::V4(from) = from else { continue };
            let datagram = buf.get(..len).unwrap_or_default();
            self.hint_answer(holders, datagram, from, id, start);
        }
    }

    /// Records `datagram` from `from` as the answer of the holder it comes
    /// from, when it is an authentic first answer to request `id`.
    fn hint_answer(
        &self,
        holders: &mut [Holder],
        datagram: &[u8],
        from: SocketAddrV4,
        id: u64,
        start: Instant,
    ) {
        if !self.authentic(datagram, from) {
            return;
        }
        let Some((holder, ..)) = holders
            .iter_mut()
            .find(|(h, route, _)| *route == from && h.reply.is_none())
        else {
            return;
        };
        if v2::dialect(datagram) != Dialect::V2 {
            // A v1-only holder's empty refusal: it cannot keep hints.
            self.learn(holder.server, Dialect::V1);
            holder.reply = Some(Reply::Refused(None));
            holder.dialect = Some(Dialect::V1);
            holder.latency = Some(start.elapsed());
            return;
        }
        let Ok(frame) = v2::decode(datagram) else {
            return;
        };
        if frame.id != id {
            return;
        }
        let (reply, version) = v2_reply(&frame.message, v2::opcode::HINT, datagram);
        holder.counted = reply.holds();
        holder.reply = Some(reply);
        holder.version = version;
        holder.dialect = Some(Dialect::V2);
        holder.latency = Some(start.elapsed());
    }
}

/// A hint on its way: the holder's trace, where its requests go, the HINT.
type Holder = (ReplicaTrace, SocketAddrV4, Vec<u8>);

/// What an operation's socket still listens for after the verdict (see
/// [`Client::linger`]).
struct Lingering {
    socket: OpSocket,
    /// Servers asked in v2 whose protocol is unknown: index, where requests
    /// go.
    probing: Vec<(usize, SocketAddrV4)>,
    /// The hints due if the silent home servers stay silent.
    hints: Option<HintJob>,
    /// The v1 request, sent once to a server that refuses v2 (writes only).
    v1: Option<Vec<u8>>,
    /// The operation's v2 request id.
    id: u64,
    /// When listening stops.
    until: Instant,
}

impl Lingering {
    /// Listens until every probed server told its protocol and every silent
    /// home server answered, or until `until`; then sends the hints still
    /// due and returns their report.
    async fn listen(&mut self, client: &Client) -> Option<Trace> {
        let mut buf = vec![0u8; 65536];
        while self.listening() {
            let (len, from) =
                match tokio::time::timeout_at(self.until, self.socket.recv_from(&mut buf)).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) if is_transient(&e) => continue,
                    _ => break,
                };
            let SocketAddr::V4(from) = from else { continue };
            let datagram = buf.get(..len).unwrap_or_default();
            if !client.authentic(datagram, from) {
                continue;
            }
            // A home server answering late needs no hint.
            if let Some(job) = self.hints.as_mut() {
                job.silent.retain(|(_, _, route)| *route != from);
            }
            let Some(k) = self.probing.iter().position(|(_, to)| *to == from) else {
                continue;
            };
            let server = self.probing.get(k).map_or(0, |p| p.0);
            if v2::dialect(datagram) == Dialect::V2 {
                if !v2::decode(datagram).is_ok_and(|f| f.id == self.id) {
                    continue;
                }
                client.learn(server, Dialect::V2);
            } else {
                client.learn(server, Dialect::V1);
                if let Some(request) = &self.v1
                    && let Err(e) = self.socket.send_to(request, from).await
                {
                    tracing::debug!(addr = %from, "late v1 request failed: {e}");
                }
            }
            self.probing.swap_remove(k);
        }
        match self.hints.take() {
            Some(job) if !job.silent.is_empty() => client.send_hints(&self.socket, job).await,
            _ => None,
        }
    }

    /// Whether anything is still awaited.
    fn listening(&self) -> bool {
        !self.probing.is_empty() || self.hints.as_ref().is_some_and(|h| !h.silent.is_empty())
    }
}
