//! Changing the cluster's membership (`add`, `remove`: rewrite the file,
//! start or retire the server, reload, watch the rebalance) and asking what
//! such a change would do (`whatif`), and how evenly the ring spreads
//! the key space (`balance`, `whatif nodes`).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::client::Client;
use crate::config::ClusterConfig;
use crate::ring::Ring;
use crate::supervisor::Supervisor;

use super::super::balance::{self, Shares};
use super::super::format::{self, error_line};
use super::super::parse::WhatIf;
use super::super::{ReplEvent, WhatIfReport, rebalance_watch, whatif};
use super::{FAILED, Interpreter, LineOutcome, OK, Sink, say, say_all};

/// How long `add` waits for a leaving server at the same address to stop.
const LEAVING_WAIT: Duration = Duration::from_secs(35);

impl Interpreter {
    /// What a membership change needs: the supervisor, the cluster file,
    /// and no fault proxy (their routes are by server position).
    fn membership_ready(
        &self,
        word: &str,
        sink: &mut (dyn FnMut(ReplEvent) + Send),
    ) -> Option<(Supervisor, std::path::PathBuf)> {
        let refuse = |sink: &mut (dyn FnMut(ReplEvent) + Send), why: String| {
            say(sink, error_line(format!("{word}: {why}")));
            None
        };
        let Some(supervisor) = self.supervisor.clone() else {
            return refuse(
                sink,
                "this session supervises no process (no servers were started here)".into(),
            );
        };
        let Some(path) = self.config().source.clone() else {
            return refuse(sink, "the configuration was not read from a file".into());
        };
        if !self.proxies.is_empty() {
            return refuse(
                sink,
                "a fault proxy is active (`loss`/`delay`): `heal` it first".into(),
            );
        }
        if crate::hosts_mode::is_fallback_file(&path) {
            return refuse(
                sink,
                "this cluster runs on loopback in place of namespaces, from a copy of cluster.toml that is gone at exit: start it with network = \"loopback\" to change its members".into(),
            );
        }
        if supervisor.has_hosts() {
            return refuse(
                sink,
                "in namespaces mode the hosts are made at start, one per server of cluster.toml: change the file and start dkvs-tui again".into(),
            );
        }
        Some((supervisor, path))
    }

    /// Switches this session to `config` after a membership change: a new
    /// client (same deadline, resends, protocol, key and hint mode), the what-if view
    /// and the last operation cleared, the focus key placed on the new ring.
    fn switch(&mut self, config: ClusterConfig) {
        let client = Client::new(config)
            .with_timeout(self.client.timeout())
            .with_retry(self.client.retry())
            .with_protocol(self.client.protocol())
            .with_key(self.client.key().cloned())
            .with_hints(self.client.hints())
            .with_complete_traces(true);
        self.client = client;
        self.view.whatif = None;
        // The last operation names nodes of the old ring: nothing to replay.
        self.last_op.clear();
        if let Some((key, placement)) = self.view.focus_key.take() {
            let n = placement.replicas.len().min(self.config().servers.len());
            self.focus(&key, n.max(1));
        }
        if let Some(task) = self.settling.take() {
            task.abort();
        }
    }

    /// The addresses a reload reached, for the output line.
    fn reloaded_text(addrs: &[std::net::SocketAddrV4]) -> String {
        if addrs.is_empty() {
            "no running server to reload".to_string()
        } else {
            format!("SIGHUP (reload) sent to {}", format::short_addrs(addrs))
        }
    }

    /// `add <ip:port> [nodes=<k>] [metrics=…] …`: rewrite the file (a
    /// server removed in this session goes back where it stood), start the
    /// server, reload the others, switch to the new ring, watch keys move.
    pub(super) async fn add(
        &mut self,
        addr: std::net::SocketAddrV4,
        server: crate::membership::NewServer,
        sink: Sink<'_>,
    ) -> LineOutcome {
        let Some((supervisor, path)) = self.membership_ready("add", &mut *sink) else {
            return FAILED;
        };
        // Added back while it still hands its keys over: wait for it to
        // stop (the hand-off ends within 30 s), then reuse its port.
        if supervisor.is_leaving(addr) {
            say(
                sink,
                format!("{addr} is still handing its keys over; waiting for it to stop"),
            );
            let deadline = tokio::time::Instant::now() + LEAVING_WAIT;
            while supervisor.is_leaving(addr) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // The port must be free now (the server binds it in a moment).
        if let Err(e) = std::net::UdpSocket::bind(addr) {
            say(
                sink,
                error_line(format!("add: cannot use {addr}: {e} (is the port taken?)")),
            );
            return FAILED;
        }
        let before = std::fs::read_to_string(&path).ok();
        let nodes = server.nodes;
        let at = self.removed_at.get(&addr).copied();
        let change = crate::membership::Change::Add { addr, server, at };
        let config = match crate::membership::rewrite_file(&path, change) {
            Ok(c) => c,
            Err(e) => {
                say(sink, error_line(format!("add: {e}")));
                return FAILED;
            }
        };
        if !config.servers.iter().any(|s| s.addr() == addr && s.spawn) {
            // `spawn = false` from the file's rules: put the file back.
            restore(&path, before);
            say(
                sink,
                error_line(format!("add: {addr} would not be started by dkvs-tui")),
            );
            return FAILED;
        }
        let pid = match supervisor.add_server(std::sync::Arc::new(config.clone())) {
            Ok(pid) => pid,
            Err(e) => {
                restore(&path, before);
                say(sink, error_line(e));
                return FAILED;
            }
        };
        // Let it bind before the others learn of it.
        supervisor.wait_started(Duration::from_secs(3)).await;
        let reloaded = supervisor.reload(Some(addr)).await;
        // Later servers moved down one place in the file.
        self.removed_at.remove(&addr);
        if let Some(j) = config.servers.iter().position(|s| s.addr() == addr) {
            for at in self.removed_at.values_mut() {
                if *at >= j {
                    *at += 1;
                }
            }
        }
        self.switch(config);
        say(
            sink,
            format!(
                "added {addr} (nodes={nodes}{}) to {}; {}",
                pid.map(|p| format!(", pid {p}")).unwrap_or_default(),
                path.display(),
                Self::reloaded_text(&reloaded)
            ),
        );
        say(
            sink,
            format!(
                "ring: {} nodes on {} servers; keys move to {addr} in the background (events show the counts)",
                self.client.ring().nodes().len(),
                self.config().servers.len()
            ),
        );
        let options = crate::stats::FetchOptions::of_client(&self.client);
        self.settling = Some(tokio::spawn(rebalance_watch::watch(
            supervisor, None, options,
        )));
        OK
    }

    /// `remove <server>`: rewrite the file, reload every server (the
    /// removed one too: it hands its keys over), switch to the new ring;
    /// the removed server is stopped by the watch once it holds no keys.
    pub(super) async fn remove(&mut self, index: usize, sink: Sink<'_>) -> LineOutcome {
        let Some((supervisor, path)) = self.membership_ready("remove", &mut *sink) else {
            return FAILED;
        };
        let Some(status) = supervisor.statuses().into_iter().nth(index) else {
            say(
                sink,
                error_line(format!("remove: no server #{}", index + 1)),
            );
            return FAILED;
        };
        let addr = status.spec.addr();
        if !status.managed {
            say(
                sink,
                error_line(format!(
                    "remove: {addr} was not started by dkvs-tui (spawn = false), so it is not controlled from here"
                )),
            );
            return FAILED;
        }
        let before = std::fs::read_to_string(&path).ok();
        let change = crate::membership::Change::Remove(addr);
        let config = match crate::membership::rewrite_file(&path, change) {
            Ok(c) => c,
            Err(e) => {
                say(sink, error_line(format!("remove: {e}")));
                return FAILED;
            }
        };
        let leaving = match supervisor.remove_server(index, std::sync::Arc::new(config.clone())) {
            Ok(l) => l,
            Err(e) => {
                restore(&path, before);
                say(sink, error_line(e));
                return FAILED;
            }
        };
        let reloaded = supervisor.reload(None).await;
        self.switch(config);
        // Later servers moved up one place in the file.
        for at in self.removed_at.values_mut() {
            if *at > index {
                *at -= 1;
            }
        }
        self.removed_at.insert(addr, index);
        if leaving.pid.is_none() {
            // Not running: nothing to hand over, nothing to wait for.
            supervisor.retire(leaving).await;
            say(
                sink,
                format!(
                    "removed {addr} from {} (it was not running: nothing to hand over); {}",
                    path.display(),
                    Self::reloaded_text(&reloaded)
                ),
            );
            return OK;
        }
        say(
            sink,
            format!(
                "removed {addr} from {}; {}",
                path.display(),
                Self::reloaded_text(&reloaded)
            ),
        );
        say(
            sink,
            format!(
                "ring: {} nodes on {} servers; {addr} hands its keys over and is stopped when it holds none (at most {} s; events show the counts)",
                self.client.ring().nodes().len(),
                self.config().servers.len(),
                rebalance_watch::LEAVE_WAIT.as_secs()
            ),
        );
        let options = crate::stats::FetchOptions::of_client(&self.client);
        tokio::spawn(rebalance_watch::watch(supervisor, Some(leaving), options));
        OK
    }

    /// `whatif add|remove|off`: the hypothetical ring, and how many keys
    /// (of the stored ones) would move.
    pub(super) async fn whatif(&mut self, question: &WhatIf, sink: Sink<'_>) -> LineOutcome {
        if let WhatIf::Nodes(_) = question {
            return self.whatif_nodes(question, sink);
        }
        let Some((servers, title)) = whatif::hypothetical_servers(&self.config().servers, question)
        else {
            self.view.whatif = None;
            say(sink, format::WHATIF_CLEARED);
            return OK;
        };
        let n = self.default_n();
        let old_ring = self.client.ring();
        let new_ring = Ring::from_servers(&servers);
        let old = (old_ring, self.config().servers.as_slice());
        let new = (&new_ring, servers.as_slice());
        let fraction = whatif::moved_fraction(old, new, n);
        let replies = crate::dump_ring::dump_all_with(self.config(), self.dump_options()).await;
        let mut keys = BTreeSet::new();
        let mut answered = 0;
        for reply in replies.iter().flatten() {
            if reply.answered() {
                answered += 1;
                keys.extend(reply.parsed.pairs.iter().map(|(k, _)| k.clone()));
            }
        }
        let stored = (answered > 0).then(|| whatif::moved_keys(old, new, n, &keys));
        // The server whose nodes appear (add) or disappear (remove).
        let changed = match question {
            WhatIf::Remove(i) => format::WhatIfChange::Remove(old_ring, old.1, *i),
            _ => format::WhatIfChange::Add(&new_ring, new.1, servers.len() - 1),
        };
        let lines = format::whatif_lines(&format::WhatIfFacts {
            title: &title,
            old,
            new,
            changed,
            n,
            fraction,
            stored,
            answered,
        });
        say_all(sink, lines.clone());
        self.view.whatif = Some(WhatIfReport {
            title,
            ring: new_ring,
            servers,
            moved_fraction: fraction,
            stored_keys: stored,
            lines,
        });
        OK
    }
}

impl Interpreter {
    /// `balance`: shares from the ring, stored keys from STATS (`—` for a
    /// server that does not answer).
    pub(super) async fn balance(&self, sink: Sink<'_>) -> LineOutcome {
        let shares = Shares::of(self.client.ring(), &self.config().servers, self.default_n());
        let options = crate::stats::FetchOptions::of_client(&self.client);
        let reports = crate::stats::fetch_all(self.config(), &options).await;
        let keys: Vec<Option<u64>> = reports
            .iter()
            .map(|r| r.answer.stats().and_then(|s| s.number("keys")))
            .collect();
        say_all(
            sink,
            balance::balance_lines(&self.config().servers, &shares, Some(&keys)),
        );
        OK
    }

    /// `whatif nodes <server>=<k>…`: old and new shares, and the share of
    /// the key space whose preference list would change. Nothing changes.
    fn whatif_nodes(&mut self, question: &WhatIf, sink: Sink<'_>) -> LineOutcome {
        let Some((servers, title)) = whatif::hypothetical_servers(&self.config().servers, question)
        else {
            say(sink, error_line("whatif nodes: no such server"));
            return FAILED;
        };
        let n = self.default_n();
        let old_ring = self.client.ring();
        let new_ring = Ring::from_servers(&servers);
        let old = (old_ring, self.config().servers.as_slice());
        let fraction = whatif::moved_fraction(old, (&new_ring, servers.as_slice()), n);
        let old_shares = Shares::of(old_ring, old.1, n);
        let new_shares = Shares::of(&new_ring, &servers, n);
        let lines = balance::whatif_nodes_lines(
            &title,
            (old.1, &old_shares),
            (&servers, &new_shares),
            fraction,
        );
        say_all(sink, lines.clone());
        self.view.whatif = Some(WhatIfReport {
            title,
            ring: new_ring,
            servers,
            moved_fraction: fraction,
            stored_keys: None,
            lines,
        });
        OK
    }
}

/// Puts a cluster file's previous text back after a membership change
/// that could not be completed.
fn restore(path: &std::path::Path, before: Option<String>) {
    if let Some(text) = before {
        let _ = std::fs::write(path, text);
    }
}
