//! The server's counters and figures: requests counted by kind, everything
//! the STATS reply and the metrics endpoint report, including the kernel's
//! drop count of the server's sockets ([`crate::net::kernel_drops`]).

use crate::engine::Engine;
use crate::limits::Stats;
use crate::net::kernel_drops;
use crate::stats::{DurableFigures, Op, ServerFigures};

use super::reply::Response;
use super::shared::Shared;

impl Shared {
    /// Counts a request of kind `op` (`crate::stats`); for a get, a hit or
    /// a miss as `hit` tells from the reply. A get or dump without a reply
    /// failed in the engine (it logged why).
    pub(super) fn count(
        &self,
        op: Option<Op>,
        response: Option<&Response>,
        hit: impl Fn(&[u8]) -> bool,
    ) {
        let Some(op) = op else { return };
        self.ops.bump(op);
        match (op, response) {
            (Op::Get, Some(Response::One(reply))) => {
                self.ops.bump(if hit(reply) { Op::Hit } else { Op::Miss });
            }
            (Op::Get | Op::Dump, None) => Stats::bump(&self.stats.engine_errors),
            _ => {}
        }
    }

    /// Everything the STATS reply and the metrics endpoint report, now.
    pub(super) fn figures(&self) -> ServerFigures {
        let (keys, bytes_stored, bytes_limit, durable) = match &self.durable {
            Some(storage) => {
                let e = Engine::stats(&**storage.engine());
                let (log_bytes, db_bytes) = storage.disk().file_bytes();
                let durable = DurableFigures {
                    commit_queue_full: storage.busy_drops(),
                    commits: e.commits,
                    syncs: e.syncs,
                    corrupt_reads: e.corrupt_reads,
                    log_bytes,
                    db_bytes,
                    sync_policy: storage.disk().sync_policy().to_string(),
                    durable_engine: storage.disk().kind().to_string(),
                };
                (e.keys, e.used_bytes, e.limit, Some(durable))
            }
            None => (
                self.store.len() as u64,
                self.store.used_bytes(),
                self.store.limit(),
                None,
            ),
        };
        ServerFigures {
            uptime: self.started.elapsed(),
            ops: self.ops.totals(),
            limits: self.stats.snapshot(),
            keys,
            bytes_stored,
            bytes_limit,
            rss: crate::stats::rss_bytes(),
            kernel_drops: self.bound.and_then(kernel_drops),
            clock: (self.clock.largest_ahead_ms(), self.clock.refused()),
            hints_pending: self.hints.pending() as u64,
            handoff: self.rebalance.as_ref().map(|r| r.stats().figures()),
            anti_entropy: self.ae.as_ref().map(|ae| ae.stats().snapshot()),
            durable,
        }
    }
}
