//! One round of an operation on the network: the first copies, the resends
//! while undecided, each reply matched to its server, and the fallback to
//! v1 for a server that refuses v2. The verdict rules live in `verdict`;
//! when to resend is the `Resends` timer of `dkvs_net::retry`.

use std::io;
use std::net::{SocketAddr, SocketAddrV4};

use tokio::time::Instant;

use super::plan::{Lane, Plan};
use super::socket::{OpSocket, open_socket};
use super::verdict::{decide, evaluate, newest_older, v1_reply, v2_reply};
use super::{Client, HintMode, Observer};
use crate::net::retry::{Received, Resends, Wake, recv_until};
use crate::protocol_v2::{self as v2, Dialect};
use crate::trace::{Failure, OpKind, Reply, Trace, Verdict};
use crate::version::Version;

/// A server's reply as the trace records it: the reply, the protocol it
/// came in, the version it reports.
type Answer = (Reply, Dialect, Option<Version>);

/// The state of one round between the steps of [`Client::exchange`].
struct Round<'a> {
    client: &'a Client,
    plan: &'a Plan,
    deadline: Instant,
    start: Instant,
    /// Opened when a server turns out to speak only v1 (see the `client`
    /// module documentation): its v1 exchange happens there.
    fallback: Option<OpSocket>,
    socket: OpSocket,
    /// Where each replica's requests go and its replies come from.
    routes: Vec<SocketAddrV4>,
    /// How each replica is spoken to.
    lanes: Vec<Lane>,
    /// HintMode::Count: HINTs sent during the operation.
    hint_datagrams: Vec<Vec<u8>>,
    /// When the silent servers get their next copy, and the deadline.
    timer: Resends,
    buf: Vec<u8>,
    fallback_buf: Vec<u8>,
}

impl Client {
    /// Sends to every replica, then gathers replies into `trace`, re-sending
    /// to the silent ones as the retry policy says while undecided.
    pub(super) async fn exchange(
        &self,
        trace: &mut Trace,
        plan: &Plan,
        deadline: Instant,
        observer: Observer<'_>,
    ) -> io::Result<()> {
        let mut round = Round::open(self, trace, plan, deadline)?;
        round.send_first(trace).await;
        observer(trace);
        evaluate(trace, round.start.elapsed(), plan.restamp);
        loop {
            if round.over(trace) {
                break;
            }
            // Wake at the deadline, or earlier for a resend while undecided.
            let wake = if trace.verdict == Verdict::Pending {
                round.timer.wake()
            } else {
                deadline
            };
            let (len, from, on_fallback) = match round.receive(wake).await? {
                (Received::Datagram { len, from }, on_fallback) => (len, from, on_fallback),
                (Received::Timeout, _) => match round.timer.fire(wake) {
                    Wake::Deadline => break,
                    Wake::Resend(_) if round.superseded(trace) => break,
                    Wake::Resend(k) => {
                        round.resend(trace, k).await;
                        continue;
                    }
                },
            };
            if round.take(trace, len, from, on_fallback).await? {
                evaluate(trace, round.start.elapsed(), plan.restamp);
                observer(trace);
            }
        }
        round.finish(trace);
        Ok(())
    }
}

impl<'a> Round<'a> {
    /// Opens the operation's socket and plans each replica's route and lane.
    fn open(
        client: &'a Client,
        trace: &Trace,
        plan: &'a Plan,
        deadline: Instant,
    ) -> io::Result<Round<'a>> {
        let socket = open_socket()?;
        let start = Instant::now();
        let routes = trace
            .replicas
            .iter()
            .map(|r| client.routes.get(&r.server).copied().unwrap_or(r.addr))
            .collect();
        let lanes = trace
            .replicas
            .iter()
            .map(|r| plan.lane(client.dialect(r.server)))
            .collect();
        Ok(Round {
            client,
            plan,
            deadline,
            start,
            fallback: None,
            socket,
            routes,
            lanes,
            hint_datagrams: Vec::new(),
            timer: Resends::new(client.retry, start, deadline),
            buf: vec![0u8; 65536],
            fallback_buf: Vec::new(),
        })
    }

    /// Sends each replica its first copy; one that cannot be sent anything
    /// (a delete to a v1-only server) or whose send fails is answered now.
    async fn send_first(&self, trace: &mut Trace) {
        let replicas = trace.replicas.iter_mut().zip(&self.routes).zip(&self.lanes);
        for ((replica, to), lane) in replicas {
            let Some(request) = self.plan.datagram(*lane) else {
                replica.reply = Some(Reply::V1Only);
                replica.dialect = Some(Dialect::V1);
                replica.latency = Some(self.start.elapsed());
                continue;
            };
            if let Err(e) = self.socket.send_to(request, to).await {
                replica.reply = Some(Reply::SendFailed(e.to_string()));
                replica.latency = Some(self.start.elapsed());
            }
        }
    }

    /// Whether the round stops listening: every server answered, or the
    /// verdict is in and late replies are not wanted (or the round was
    /// superseded: the next one is what counts).
    fn over(&self, trace: &Trace) -> bool {
        let all_answered = trace.replicas.iter().all(|r| r.reply.is_some());
        let decided = trace.verdict != Verdict::Pending;
        let superseded = matches!(trace.verdict, Verdict::Failed(Failure::Superseded(_)));
        all_answered || (decided && (!self.client.complete_traces || superseded))
    }

    /// Waits until `wake` for a datagram on the socket, or on either socket
    /// once the fallback one is open; true when it came on the fallback one.
    async fn receive(&mut self, wake: Instant) -> io::Result<(Received, bool)> {
        let (socket, buf) = (&self.socket, &mut self.buf);
        match &self.fallback {
            None => Ok((recv_until(socket, buf, wake).await?, false)),
            Some(second) => {
                if self.fallback_buf.is_empty() {
                    self.fallback_buf = vec![0u8; 65536];
                }
                let fallback_buf = &mut self.fallback_buf;
                tokio::select! {
                    r = recv_until(socket, buf, wake) => Ok((r?, false)),
                    r = recv_until(second, fallback_buf, wake) => Ok((r?, true)),
                }
            }
        }
    }

    /// At a resend wake-up: when a server keeps a newer version and the
    /// others are slow to answer, decides the round superseded now (the
    /// write is stamped again rather than waiting for them). True if so.
    fn superseded(&self, trace: &mut Trace) -> bool {
        if self.plan.restamp
            && trace.verdict == Verdict::Pending
            && trace.clock_refusal().is_none()
            && let Some(newer) = newest_older(trace)
        {
            decide(
                trace,
                Verdict::Failed(Failure::Superseded(newer)),
                Some(self.start.elapsed()),
            );
            return true;
        }
        false
    }

    /// Resend number `k` (the timer planned the next): a copy to every
    /// server that has not answered (after, with [`HintMode::Count`] at the
    /// first resend, adding the holders of hints).
    async fn resend(&mut self, trace: &mut Trace, k: u32) {
        if k == 1 && self.client.hints == HintMode::Count {
            // Sloppy quorum: the silent home servers' writes go to the next
            // servers of the ring now, and their acknowledgements count
            // toward W.
            self.client.hint_now(
                trace,
                &mut self.routes,
                &mut self.lanes,
                &mut self.hint_datagrams,
                self.plan.id,
                self.deadline,
            );
        }
        let silent = trace.replicas.iter().zip(&self.routes).zip(&self.lanes);
        for ((_, to), lane) in silent.filter(|((r, _), _)| r.reply.is_none()) {
            let (via, request) = match (lane, &self.fallback) {
                (Lane::Fallback, Some(second)) => (second, self.plan.v1.as_deref()),
                (Lane::Hint(k), _) => {
                    (&self.socket, self.hint_datagrams.get(*k).map(Vec::as_slice))
                }
                (lane, _) => (&self.socket, self.plan.datagram(*lane)),
            };
            let Some(request) = request else { continue };
            // A failed resend changes nothing: the first send went out,
            // and the deadline still rules.
            if let Err(e) = via.send_to(request, to).await {
                tracing::debug!(addr = %to, "resend failed: {e}");
            }
        }
    }

    /// One datagram of `len` bytes from `from` (on the fallback socket when
    /// `on_fallback`): recorded as its server's reply when it is the first
    /// authentic answer to this round. True when the trace got a reply.
    async fn take(
        &mut self,
        trace: &mut Trace,
        len: usize,
        from: SocketAddr,
        on_fallback: bool,
    ) -> io::Result<bool> {
        let SocketAddr::V4(from) = from else {
            return Ok(false);
        };
        let Some(i) = trace
            .replicas
            .iter()
            .zip(&self.routes)
            .position(|(r, to)| *to == from && r.reply.is_none())
        else {
            tracing::debug!(%from, "ignored a reply from an unexpected address or a duplicate");
            return Ok(false);
        };
        let datagram = if on_fallback {
            self.fallback_buf.get(..len).unwrap_or_default()
        } else {
            self.buf.get(..len).unwrap_or_default()
        };
        let (Some(server), Some(lane)) = (
            trace.replicas.get(i).map(|r| r.server),
            self.lanes.get(i).copied(),
        ) else {
            return Ok(false);
        };
        if !on_fallback && !self.client.authentic(datagram, from) {
            return Ok(false);
        }
        let answer = match (lane, on_fallback) {
            (Lane::V1, false) | (Lane::Fallback, true) => {
                Some((v1_reply(trace.kind, datagram), Dialect::V1, None))
            }
            (Lane::V2 | Lane::Hint(_), false) if v2::dialect(datagram) == Dialect::V2 => {
                self.v2_answer(server, datagram, from)
            }
            (Lane::V2, false) => self.fall_back(i, server, from).await?,
            _ => {
                tracing::debug!(%from, "ignored a stray reply to an earlier copy");
                None
            }
        };
        let Some((reply, dialect, version)) = answer else {
            return Ok(false);
        };
        if let Some(replica) = trace.replicas.get_mut(i) {
            if let Some(version) = version {
                replica.version = Some(version);
            }
            replica.reply = Some(reply);
            replica.dialect = Some(dialect);
            replica.latency = Some(self.start.elapsed());
        }
        Ok(true)
    }

    /// A v2 datagram from server `server`: its answer when it carries this
    /// round's request id and decodes.
    fn v2_answer(&self, server: usize, datagram: &[u8], from: SocketAddrV4) -> Option<Answer> {
        match v2::decode(datagram) {
            Ok(frame) if frame.id == self.plan.id => {
                self.client.learn(server, Dialect::V2);
                let (reply, version) = v2_reply(&frame.message, self.plan.opcode, datagram);
                Some((reply, Dialect::V2, version))
            }
            Ok(frame) => {
                tracing::debug!(%from, id = frame.id, "ignored a v2 reply with another request id");
                None
            }
            Err(e) => {
                tracing::debug!(%from, "ignored a v2 datagram that does not decode: {e}");
                None
            }
        }
    }

    /// Replica `i` (server `server`) answered v2 with a datagram that is not
    /// v2 (a v1-only server's empty refusal): v1 from now on, and this
    /// operation again in v1, from the fallback socket. Its answer now when
    /// v1 cannot carry the request or the send fails; else `None` (the v1
    /// reply is awaited).
    async fn fall_back(
        &mut self,
        i: usize,
        server: usize,
        from: SocketAddrV4,
    ) -> io::Result<Option<Answer>> {
        self.client.learn(server, Dialect::V1);
        let plan = self.plan;
        let Some(request) = &plan.v1 else {
            return Ok(Some((Reply::V1Only, Dialect::V1, None)));
        };
        if let Some(lane) = self.lanes.get_mut(i) {
            *lane = Lane::Fallback;
        }
        if self.fallback.is_none() {
            self.fallback = Some(open_socket()?);
        }
        let sent = match &self.fallback {
            Some(second) => {
                second
                    .send_to(request, self.routes.get(i).unwrap_or(&from))
                    .await
            }
            None => Ok(0),
        };
        Ok(match sent {
            Ok(_) => None,
            Err(e) => Some((Reply::SendFailed(e.to_string()), Dialect::V1, None)),
        })
    }

    /// After the loop: the socket lingers for late refusals and hints (not
    /// after a superseded round), silent servers past the deadline time
    /// out, and an undecided round gets its final verdict.
    fn finish(self, trace: &mut Trace) {
        let Round {
            client,
            plan,
            deadline,
            start,
            fallback,
            socket,
            routes,
            lanes,
            ..
        } = self;
        // Also after a write that timed out: its silent home servers get
        // hints (the deadline has passed, so nothing more is awaited). Not
        // after a superseded round: its version is not the one to keep.
        let superseded = matches!(trace.verdict, Verdict::Failed(Failure::Superseded(_)));
        // A complete trace (the REPL's) waited for every server up to the
        // deadline: its silent servers get their hints within one more
        // timeout, as a client that stopped at the verdict would leave them.
        let hint_deadline = if client.complete_traces && Instant::now() >= deadline {
            Instant::now() + client.timeout()
        } else {
            deadline
        };
        let socket = if (trace.verdict != Verdict::Pending || trace.kind.is_write()) && !superseded
        {
            client.linger(socket, trace, &routes, &lanes, plan, hint_deadline);
            None
        } else {
            Some(socket)
        };
        for replica in &mut trace.replicas {
            if replica.reply.is_none() && Instant::now() >= deadline {
                replica.reply = Some(Reply::Timeout);
            }
        }
        if trace.verdict == Verdict::Pending {
            if trace.kind == OpKind::Get {
                evaluate(trace, start.elapsed(), false);
            }
            if matches!(
                trace.verdict,
                Verdict::Pending | Verdict::Failed(Failure::NotEnough)
            ) {
                decide(
                    trace,
                    Verdict::Failed(Failure::Timeout),
                    Some(start.elapsed()),
                );
            }
        }
        // Closed as the sockets of the one function this was: the fallback
        // first.
        drop(fallback);
        drop(socket);
    }
}
