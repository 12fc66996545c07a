//! What a round leaves to do after its verdict: re-stamping a write that
//! servers keep a newer version of, read repair of stale servers, and the
//! bookkeeping of background work for [`Client::finish_repairs`].

use tokio::time::Instant;

use super::plan::Plan;
use super::verdict::{decide, read_reply};
use super::{Client, MAX_REPAIR_REPORTS, MAX_RESTAMPS};
use crate::protocol_v2::{Dialect, Reason};
use crate::quorum::{Newest, Quorum, ReadReply, newest};
use crate::trace::{Failure, OpKind, ReplicaTrace, Reply, Restamp, Trace, Verdict};
use crate::version::Version;

impl Client {
    /// Waits for the work operations left running after their verdict and
    /// returns the traces of the read repairs among it, oldest first: read
    /// repairs started by gets (each bounded by the operation deadline),
    /// and writes still delivering their v1 request to servers found
    /// v1-only after the verdict (bounded by [`FALLBACK_LINGER`]). A
    /// one-shot process calls it before exiting, after printing its answer.
    ///
    /// [`FALLBACK_LINGER`]: super::FALLBACK_LINGER
    pub async fn finish_repairs(&self) -> Vec<Trace> {
        let pending = match self.repairs.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => return Vec::new(),
        };
        let mut done = Vec::new();
        for rx in pending {
            if let Ok(Some(trace)) = rx.await {
                done.push(trace);
            }
        }
        done
    }

    /// Keeps the receiver of some background work for
    /// [`Client::finish_repairs`].
    pub(super) fn track(&self, rx: tokio::sync::oneshot::Receiver<Option<Trace>>) {
        if let Ok(mut pending) = self.repairs.lock() {
            // A client nobody asks (a benchmark, a load generator) keeps
            // only the latest; the work itself still runs.
            if pending.len() >= MAX_REPAIR_REPORTS {
                pending.drain(..MAX_REPAIR_REPORTS / 2);
            }
            pending.push(rx);
        }
    }

    /// After a round of a put or delete that servers answered OLDER (they
    /// keep a newer version): moves this client's clock past the newest
    /// version they named, stamps the write again and returns the plan of
    /// the next round, to the same servers, with a fresh trace of them; the
    /// trace keeps what happened ([`Trace::restamps`]). `None` when the
    /// round was not superseded, after [`MAX_RESTAMPS`] rounds or the
    /// deadline (the write fails as superseded), or when that version is
    /// too far ahead of this clock to adopt (it fails: this clock is
    /// behind). So a write acknowledged after another one carries a higher
    /// version, whatever the clocks say (DECISIONS #77).
    pub(super) fn restamp(
        &self,
        trace: &mut Trace,
        deadline: Instant,
    ) -> Option<Result<Plan, String>> {
        let Verdict::Failed(Failure::Superseded(newer)) = trace.verdict else {
            return None;
        };
        let from = trace.version?;
        if trace.restamps.len() >= MAX_RESTAMPS || Instant::now() >= deadline {
            return None;
        }
        let local = self.clock.now_ms();
        let ahead_ms = i64::try_from(crate::hlc::physical_ms(newer.timestamp))
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(local).unwrap_or(i64::MAX));
        if let Err(e) = self.clock.observe(newer.timestamp) {
            let at = trace.decided_after;
            decide(
                trace,
                Verdict::Failed(Failure::ClockBehind {
                    newer,
                    behind_ms: e.remote_ms.saturating_sub(e.local_ms),
                    max_ms: e.max_drift_ms,
                }),
                at,
            );
            return None;
        }
        let to = self.clock.version();
        trace.restamps.push(Restamp {
            from,
            superseded_by: newer,
            ahead_ms,
            to,
        });
        trace.version = Some(to);
        trace.verdict = Verdict::Pending;
        trace.decided_after = None;
        trace.replicas = trace
            .replicas
            .iter()
            .filter(|r| r.hint_for.is_none())
            .map(|r| ReplicaTrace::new(r.server, r.addr, r.ring_index, r.node_number))
            .collect();
        let plan = match trace.kind {
            OpKind::Delete => Plan::delete(&trace.key, Some(to)),
            _ => Plan::put(
                &trace.key,
                trace.written.as_deref().unwrap_or_default(),
                Some(to),
                self.key.is_none(),
            ),
        };
        Some(self.sign(plan).map(Plan::restampable))
    }

    /// Read repair after a get: marks the servers that answered (in v2) an
    /// older version or "not found", or refused with *corrupt* (their
    /// record failed its check: the newest record replaces it, whatever its
    /// version), and sends them the newest record in a
    /// background task, whose trace [`Client::finish_repairs`] returns.
    /// Servers that did not answer, or answered in v1, are left alone; so
    /// is every server when a value without a version (written through v1)
    /// conflicts with the newest record and the get did not decide for it.
    pub(super) fn repair(&self, trace: &mut Trace) {
        let replies: Vec<Option<ReadReply>> = trace.replicas.iter().map(read_reply).collect();
        let Some(newest) = newest(&replies) else {
            return;
        };
        let version = newest.version();
        // A value written through v1 (no version) that differs from the
        // newest record cannot be ordered against it: unless the get
        // decided for the versioned record, repairing would overwrite what
        // may be a later v1 write acknowledged by a v1 quorum (#78).
        let unordered_v1 = replies.iter().flatten().any(|r| match (r, newest) {
            (ReadReply::V1Value(bytes), Newest::Value(value, _)) => *bytes != value,
            (ReadReply::V1Value(_), Newest::Deleted(_)) => true,
            _ => false,
        });
        let versioned_outcome = trace.version.is_some()
            && matches!(
                trace.verdict,
                Verdict::Reached | Verdict::Failed(Failure::NotFound)
            );
        if unordered_v1 && !versioned_outcome {
            return;
        }
        let v2 = |i: usize| {
            trace
                .replicas
                .get(i)
                .is_some_and(|r| r.dialect == Some(Dialect::V2))
        };
        let corrupt = |i: usize| {
            trace
                .replicas
                .get(i)
                .is_some_and(|r| r.reply == Some(Reply::Refused(Some(Reason::Corrupt))))
        };
        let stale: Vec<usize> = replies
            .iter()
            .enumerate()
            .filter(|(i, r)| match (r, newest) {
                (Some(ReadReply::Value(..) | ReadReply::Deleted(_)), _) => {
                    r.and_then(|r| r.version()) != Some(version)
                }
                // A v2 server's value written through v1 (version zero)
                // that the get decided against.
                (Some(ReadReply::V1Value(_)), _) => v2(*i),
                (Some(ReadReply::Absent), Newest::Value(..)) => true,
                (Some(ReadReply::Absent), Newest::Deleted(_)) => true,
                (None, _) => corrupt(*i),
                _ => false,
            })
            .map(|(i, _)| i)
            .collect();
        let (kind, value) = match newest {
            Newest::Value(v, _) => (OpKind::Put, Some(v.to_vec())),
            Newest::Deleted(_) => (OpKind::Delete, None),
        };
        if stale.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut targets = Vec::new();
        for &i in &stale {
            if let Some(r) = trace.replicas.get_mut(i) {
                r.repair = Some(version);
                targets.push(ReplicaTrace::new(
                    r.server,
                    r.addr,
                    r.ring_index,
                    r.node_number,
                ));
            }
        }
        self.send_repair(&runtime, trace.key.clone(), kind, value, version, targets);
    }

    /// Sends `targets` the newest record of `key` (a put of `value`, or a
    /// delete, at `version`) in a background task on `runtime`, all of them
    /// needed, and keeps its trace for [`Client::finish_repairs`].
    fn send_repair(
        &self,
        runtime: &tokio::runtime::Handle,
        key: Vec<u8>,
        kind: OpKind,
        value: Option<Vec<u8>>,
        version: Version,
        targets: Vec<ReplicaTrace>,
    ) {
        let client = self.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        runtime.spawn(async move {
            let plan = client.sign(match &value {
                Some(v) => Plan::put(&key, v, Some(version), false),
                None => Plan::delete(&key, Some(version)),
            });
            let all = targets.len();
            let quorum = Quorum {
                n: all,
                w: all,
                r: all,
            };
            let trace = client
                .run(
                    kind,
                    &key,
                    value.clone(),
                    Some(version),
                    targets,
                    quorum,
                    plan,
                    &mut |_| {},
                )
                .await;
            let _ = tx.send(Some(trace));
        });
        self.track(rx);
    }
}
