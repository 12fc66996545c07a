//! Runs parsed REPL lines: data commands through the quorum client (with
//! traces), process actions through the supervisor, and the read-only
//! commands (`where`, `ring`, `status`, `dump`, `help`, `whatif`). All text
//! comes from [`super::format`].

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::commands;
use crate::config::ClusterConfig;
use crate::fault_proxy::{FaultConfig, FaultProxy};
use crate::quorum::QuorumOptions;
use crate::ring::Ring;
use crate::supervisor::{self, ServerState, ServerStatus, Supervisor};
use crate::trace::Trace;

use super::format::{self, error_line};
use super::parse::{Fault, ProcessAction, ReplCommand, Slow, WhatIf, parse_line};
use super::{LineOutcome, ReplEvent, View, WhatIfReport, help, rebalance_watch, whatif};

/// How long a dump waits between datagrams once the first one arrived (as
/// `dkvs-dump-ring`'s default).
pub const DUMP_IDLE: Duration = Duration::from_millis(200);

/// Runs REPL lines against a cluster.
pub struct Interpreter {
    client: Client,
    supervisor: Option<Supervisor>,
    view: View,
    /// Fault proxies (`loss`, `delay`) by server index; the client's
    /// requests for that server go through it until `heal`.
    proxies: HashMap<usize, FaultProxy>,
    /// The watch of the last `add` (`rebalance_watch::watch`), ended by the next
    /// membership change.
    settling: Option<tokio::task::JoinHandle<()>>,
}

type Sink<'a> = &'a mut (dyn FnMut(ReplEvent) + Send);

fn say(sink: &mut (dyn FnMut(ReplEvent) + Send), line: impl Into<String>) {
    sink(ReplEvent::Line(line.into()));
}

fn say_all(sink: &mut (dyn FnMut(ReplEvent) + Send), lines: Vec<String>) {
    for line in lines {
        sink(ReplEvent::Line(line));
    }
}

/// Text written by the shared `dump_ring` printers, as display lines.
fn text_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_string)
        .collect()
}

const OK: LineOutcome = LineOutcome {
    ok: true,
    quit: false,
};
const FAILED: LineOutcome = LineOutcome {
    ok: false,
    quit: false,
};

impl Interpreter {
    /// An interpreter using `client` (and `supervisor` for process actions and
    /// live states, when there is one). Late replies are kept in traces:
    /// the client is switched to complete traces.
    pub fn new(client: Client, supervisor: Option<Supervisor>) -> Interpreter {
        Interpreter {
            client: client.with_complete_traces(true),
            supervisor,
            view: View::default(),
            proxies: HashMap::new(),
            settling: None,
        }
    }

    /// What the screen should highlight.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The supervisor, when this session has one.
    pub fn supervisor(&self) -> Option<&Supervisor> {
        self.supervisor.as_ref()
    }

    fn config(&self) -> &ClusterConfig {
        self.client.config()
    }

    /// The address of server `index`, or an error line when it is not in
    /// the configuration (parsed lines only name configured servers).
    fn server_addr(
        &self,
        index: usize,
        sink: &mut (dyn FnMut(ReplEvent) + Send),
    ) -> Option<std::net::SocketAddrV4> {
        let addr = self.config().servers.get(index).map(|s| s.addr());
        if addr.is_none() {
            say(sink, error_line(format!("no server #{}", index + 1)));
        }
        addr
    }

    /// How `dump` and `whatif` read servers: the paged v2 dump with this
    /// client's deadline, retry policy and protocol mode.
    fn dump_options(&self) -> crate::dump_ring::DumpOptions {
        crate::dump_ring::DumpOptions {
            retry: self.client.retry(),
            protocol: self.client.protocol(),
            key: self.client.key().cloned(),
            ..crate::dump_ring::DumpOptions::new(self.client.timeout(), DUMP_IDLE)
        }
    }

    /// N for `where` and `whatif`: the default N, lowered to the ring.
    fn default_n(&self) -> usize {
        self.client
            .quorum(QuorumOptions::default())
            .map_or(1, |q| q.n)
    }

    fn focus(&mut self, key: &[u8], n: usize) {
        let placement = self.client.ring().placement(key, n);
        self.view.focus_key = Some((key.to_vec(), placement));
    }

    /// Runs one line; reports lines and traces to `sink` as they come.
    pub async fn run_line(&mut self, line: &str, sink: Sink<'_>) -> LineOutcome {
        let command = match parse_line(line, self.config()) {
            Ok(Some(c)) => c,
            Ok(None) => return OK,
            Err(e) => {
                say(sink, error_line(e));
                return FAILED;
            }
        };
        match command {
            ReplCommand::Data(command, options) => self.data(&command, options, sink).await,
            ReplCommand::Where(key) => {
                let n = self.default_n();
                self.focus(&key, n);
                let placement = self.client.ring().placement(&key, n);
                say_all(
                    sink,
                    format::where_lines(self.config(), self.client.ring(), &key, &placement, n),
                );
                OK
            }
            ReplCommand::Ring => {
                let states: Option<Vec<ServerState>> = self
                    .supervisor
                    .as_ref()
                    .map(|s| s.statuses().iter().map(|st| st.state).collect());
                say_all(
                    sink,
                    format::ring_lines(self.config(), self.client.ring(), states.as_deref()),
                );
                OK
            }
            ReplCommand::Dump(server) => self.dump(server, sink).await,
            ReplCommand::Process(action, index) => self.process(action, index, sink).await,
            ReplCommand::Health => {
                let options = crate::stats::FetchOptions::of_client(&self.client);
                let reports = crate::stats::fetch_all(self.config(), &options).await;
                let mut table = Vec::new();
                if let Err(e) =
                    crate::stats::write_columns(&mut table, &reports, crate::stats::HEALTH_COLUMNS)
                {
                    say(sink, format!("health: {e}"));
                    return FAILED;
                }
                say_all(
                    sink,
                    String::from_utf8_lossy(&table)
                        .lines()
                        .map(str::to_string)
                        .collect::<Vec<_>>(),
                );
                OK
            }
            ReplCommand::Status => {
                let statuses = self.statuses().await;
                let words: Vec<Option<String>> = statuses
                    .iter()
                    .map(|st| {
                        let failed = st.pid.is_none()
                            && st
                                .last_exit
                                .as_deref()
                                .is_some_and(|e| e != "exited with status 0");
                        let log = self
                            .supervisor
                            .as_ref()
                            .filter(|_| failed)?
                            .server_log(st.index);
                        log.last().filter(|l| l.contains("ERROR")).cloned()
                    })
                    .collect();
                say_all(
                    sink,
                    format::status_lines_with_words(&statuses, Instant::now(), &words),
                );
                OK
            }
            ReplCommand::Help(topic) => match help::help_lines(topic.as_deref()) {
                Ok(lines) => {
                    say_all(sink, lines);
                    OK
                }
                Err(e) => {
                    say(sink, error_line(e));
                    FAILED
                }
            },
            ReplCommand::Slow(Slow::On(ms)) => {
                self.view.slow_ms = Some(ms);
                say(sink, format::slow_line(Some(ms)));
                OK
            }
            ReplCommand::Slow(Slow::Off) => {
                self.view.slow_ms = None;
                say(sink, format::slow_line(None));
                OK
            }
            ReplCommand::Skew(offset) => {
                if let Some(ms) = offset {
                    self.client.set_clock_offset(ms);
                }
                say(sink, format::skew_line(self.client.clock_offset_ms()));
                OK
            }
            ReplCommand::WhatIf(question) => self.whatif(&question, sink).await,
            ReplCommand::Fault(fault, index) => self.fault(fault, index, sink).await,
            ReplCommand::Add { addr, nodes } => self.add(addr, nodes, sink).await,
            ReplCommand::Remove(index) => self.remove(index, sink).await,
            ReplCommand::Quit => LineOutcome {
                ok: true,
                quit: true,
            },
        }
    }

    async fn data(
        &mut self,
        command: &commands::Command,
        options: QuorumOptions,
        sink: Sink<'_>,
    ) -> LineOutcome {
        let quorum = match self.client.quorum(options) {
            Ok(q) => q,
            Err(e) => {
                say(sink, error_line(e));
                return FAILED;
            }
        };
        let outcome = match self.view.slow_ms {
            None => {
                let mut observer = |t: &Trace| sink(ReplEvent::Trace(Box::new(t.clone())));
                commands::execute(&self.client, command, quorum, &mut observer).await
            }
            Some(ms) => {
                // Collect every snapshot, then show them one by one.
                let mut snapshots: Vec<Trace> = Vec::new();
                let mut observer = |t: &Trace| snapshots.push(t.clone());
                let outcome = commands::execute(&self.client, command, quorum, &mut observer).await;
                let mut previous: Option<Trace> = None;
                for snapshot in snapshots {
                    if previous
                        .as_ref()
                        .is_some_and(|p| same_but_finished(p, &snapshot))
                    {
                        sink(ReplEvent::Trace(Box::new(snapshot.clone())));
                        previous = Some(snapshot);
                        continue;
                    }
                    if previous.is_some() {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    sink(ReplEvent::Trace(Box::new(snapshot.clone())));
                    previous = Some(snapshot);
                }
                outcome
            }
        };
        if let Some(last) = outcome.traces.last() {
            self.focus(&last.key.clone(), last.quorum.n);
        }
        // Background work of the operation (read repairs, hints) is
        // waited for first: a hint shows on the line of the server it is
        // for, so the verdict stays the last line of a write.
        let (hints, repairs): (Vec<Trace>, Vec<Trace>) = self
            .client
            .finish_repairs()
            .await
            .into_iter()
            .partition(format::is_hint_report);
        let several = outcome.traces.len() > 1;
        for trace in &outcome.traces {
            if several {
                say(sink, format::step_header(trace));
            }
            say_all(sink, format::restamp_lines(trace));
            for r in &trace.replicas {
                let mut line = format::replica_line(trace, r);
                line.push_str(&format::hint_note(&hints, &trace.key, r.addr));
                say(sink, line);
            }
            if several {
                say(sink, format::step_verdict(trace));
            }
        }
        say(
            sink,
            format::command_verdict_line(&outcome.result, &outcome.traces),
        );
        // Read repairs (protocol v2) run after the verdict; show how they went.
        for repair in repairs {
            say_all(sink, format::repair_lines(&repair));
        }
        LineOutcome {
            ok: outcome.result.is_ok(),
            quit: false,
        }
    }

    async fn dump(&mut self, server: Option<usize>, sink: Sink<'_>) -> LineOutcome {
        let timeout = self.client.timeout();
        match server {
            None => {
                let replies =
                    crate::dump_ring::dump_all_with(self.config(), self.dump_options()).await;
                let mut out = Vec::new();
                let written =
                    crate::dump_ring::write_ring(&mut out, self.config(), self.client.ring())
                        .and_then(|_| {
                            crate::dump_ring::write_sections(
                                &mut out,
                                self.config(),
                                self.client.ring(),
                                &replies,
                            )
                        });
                if let Err(e) = written {
                    say(sink, error_line(format!("dump: {e}")));
                    return FAILED;
                }
                say_all(sink, text_lines(&out));
                // Empty sections of servers that refused for want of a key.
                let warnings = crate::dump_ring::refusal_warnings(self.config(), &replies);
                if warnings.is_empty() {
                    return OK;
                }
                say_all(sink, warnings.into_iter().map(error_line).collect());
                FAILED
            }
            Some(index) => {
                let Some(addr) = self.server_addr(index, &mut *sink) else {
                    return FAILED;
                };
                match crate::dump_ring::dump_paged(addr, self.dump_options()).await {
                    Err(e) => {
                        say(sink, error_line(format!("dump {addr}: {e}")));
                        FAILED
                    }
                    Ok(reply)
                        if reply.refused == Some(crate::protocol_v2::Reason::Unauthenticated) =>
                    {
                        say(
                            sink,
                            error_line(crate::limits::refused_unauthenticated(
                                &addr.to_string(),
                                "dump",
                            )),
                        );
                        FAILED
                    }
                    Ok(reply) if !reply.answered() => {
                        say(
                            sink,
                            error_line(format!(
                                "dump {addr}: no answer within {} ms",
                                timeout.as_millis()
                            )),
                        );
                        FAILED
                    }
                    Ok(reply) => {
                        say(sink, format::dump_header(addr));
                        let mut out = Vec::new();
                        if let Err(e) = crate::dump_ring::write_reply(&mut out, &reply) {
                            say(sink, error_line(format!("dump {addr}: {e}")));
                            return FAILED;
                        }
                        say_all(sink, text_lines(&out));
                        OK
                    }
                }
            }
        }
    }

    async fn process(
        &mut self,
        action: ProcessAction,
        index: usize,
        sink: Sink<'_>,
    ) -> LineOutcome {
        let Some(supervisor) = &self.supervisor else {
            say(
                sink,
                error_line(format!(
                    "{}: this session supervises no process (no servers were started here)",
                    action.word()
                )),
            );
            return FAILED;
        };
        match supervisor.act(action, index).await {
            Ok(message) => {
                say(sink, message);
                OK
            }
            Err(e) => {
                say(sink, error_line(e));
                FAILED
            }
        }
    }

    /// Statuses from the supervisor, or from one probe round without one.
    async fn statuses(&self) -> Vec<ServerStatus> {
        if let Some(s) = &self.supervisor {
            return s.statuses();
        }
        let mut probes = tokio::task::JoinSet::new();
        for (index, spec) in self.config().servers.iter().enumerate() {
            let addr = spec.addr();
            probes.spawn(async move {
                (
                    index,
                    supervisor::probe(addr, supervisor::PROBE_TIMEOUT).await,
                )
            });
        }
        let mut answered = vec![false; self.config().servers.len()];
        while let Some(Ok((index, up))) = probes.join_next().await {
            if let Some(slot) = answered.get_mut(index) {
                *slot = up;
            }
        }
        let now = Instant::now();
        self.config()
            .servers
            .iter()
            .zip(answered)
            .enumerate()
            .map(|(index, (spec, up))| ServerStatus {
                index,
                spec: spec.clone(),
                managed: false,
                pid: None,
                state: if up {
                    ServerState::Up
                } else {
                    ServerState::Unreachable
                },
                last_answer: up.then_some(now),
                last_exit: None,
            })
            .collect()
    }

    /// `loss`, `delay`, `heal`: starts, changes or removes the in-process
    /// fault proxy between this session's client and one server. Only this
    /// session's quorum operations go through it (not dumps, not probes,
    /// not other clients).
    async fn fault(&mut self, fault: Fault, index: usize, sink: Sink<'_>) -> LineOutcome {
        let Some(addr) = self.server_addr(index, &mut *sink) else {
            return FAILED;
        };
        let mut config = self
            .proxies
            .get(&index)
            .map(FaultProxy::faults)
            .unwrap_or_default();
        match fault {
            Fault::Loss(percent) => {
                let rate = f64::from(percent) / 100.0;
                config.request.drop = rate;
                config.reply.drop = rate;
            }
            Fault::Delay(ms) => config.request.delay = Duration::from_millis(ms),
            Fault::Heal => config = FaultConfig::default(),
        }
        if config.is_healthy() {
            self.client.set_route(index, None);
            let line = match self.proxies.remove(&index) {
                Some(proxy) => {
                    proxy.stop().await;
                    format!("{addr}: healed, requests go to the server directly again")
                }
                None => format!("{addr}: no fault to heal"),
            };
            say(sink, line);
            return OK;
        }
        if let Some(proxy) = self.proxies.get(&index) {
            proxy.set_faults(config);
        } else {
            let listen = std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 0);
            match FaultProxy::builder(listen, addr)
                .faults(config)
                .start()
                .await
            {
                Ok(proxy) => {
                    self.client.set_route(index, Some(proxy.local_addr()));
                    self.proxies.insert(index, proxy);
                }
                Err(e) => {
                    say(sink, error_line(format!("cannot start a fault proxy: {e}")));
                    return FAILED;
                }
            }
        }
        if let Some(proxy) = self.proxies.get(&index) {
            say(sink, fault_line(index, addr, proxy));
        }
        OK
    }

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
        Some((supervisor, path))
    }

    /// Switches this session to `config` after a membership change: a new
    /// client (same deadline, resends, protocol and key), the what-if view
    /// cleared, the focus key placed on the new ring.
    fn switch(&mut self, config: ClusterConfig) {
        let client = Client::new(config)
            .with_timeout(self.client.timeout())
            .with_retry(self.client.retry())
            .with_protocol(self.client.protocol())
            .with_key(self.client.key().cloned())
            .with_complete_traces(true);
        self.client = client;
        self.view.whatif = None;
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

    /// `add <ip:port> [nodes=<k>]`: rewrite the file, start the server,
    /// reload the others, switch to the new ring, watch keys move.
    async fn add(
        &mut self,
        addr: std::net::SocketAddrV4,
        nodes: u32,
        sink: Sink<'_>,
    ) -> LineOutcome {
        let Some((supervisor, path)) = self.membership_ready("add", &mut *sink) else {
            return FAILED;
        };
        // The port must be free now (the server binds it in a moment).
        if let Err(e) = std::net::UdpSocket::bind(addr) {
            say(
                sink,
                error_line(format!("add: cannot use {addr}: {e} (is the port taken?)")),
            );
            return FAILED;
        }
        let before = std::fs::read_to_string(&path).ok();
        let change = crate::membership::Change::Add { addr, nodes };
        let config = match crate::membership::rewrite_file(&path, change) {
            Ok(c) => c,
            Err(e) => {
                say(sink, error_line(format!("add: {e}")));
                return FAILED;
            }
        };
        if !config.servers.last().is_some_and(|s| s.spawn) {
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
    async fn remove(&mut self, index: usize, sink: Sink<'_>) -> LineOutcome {
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

    async fn whatif(&mut self, question: &WhatIf, sink: Sink<'_>) -> LineOutcome {
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

/// Puts a cluster file's previous text back after a membership change
/// that could not be completed.
fn restore(path: &std::path::Path, before: Option<String>) {
    if let Some(text) = before {
        let _ = std::fs::write(path, text);
    }
}

/// What a server's fault proxy does, in one line.
fn fault_line(index: usize, addr: std::net::SocketAddrV4, proxy: &FaultProxy) -> String {
    let faults = proxy.faults();
    let mut what = Vec::new();
    if faults.request.drop > 0.0 {
        what.push(format!(
            "{}% of datagrams lost each way",
            (faults.request.drop * 100.0).round()
        ));
    }
    if !faults.request.delay.is_zero() {
        what.push(format!(
            "requests delayed {} ms",
            faults.request.delay.as_millis()
        ));
    }
    format!(
        "{addr}: {} (this session's gets and puts go through proxy {}, seed {}; `heal {}` ends it)",
        what.join(", "),
        proxy.local_addr(),
        proxy.seed(),
        index + 1
    )
}

/// True when two snapshots differ only by the `finished` flag (no delay
/// between them in slow motion).
fn same_but_finished(a: &Trace, b: &Trace) -> bool {
    let mut a = a.clone();
    a.finished = b.finished;
    a == *b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_servers_txt;
    use crate::server::Server;
    use tokio::sync::oneshot;

    struct Cluster {
        config: ClusterConfig,
        stops: Vec<Option<oneshot::Sender<()>>>,
    }

    impl Cluster {
        async fn new(nodes: &[u32]) -> Cluster {
            let mut lines = String::new();
            let mut stops = Vec::new();
            for k in nodes {
                let server = Server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
                let port = server.local_addr().unwrap().port();
                lines.push_str(&format!("127.0.0.1 {port} {k}\n"));
                let (tx, rx) = oneshot::channel::<()>();
                tokio::spawn(server.run(async move {
                    let _ = rx.await;
                }));
                stops.push(Some(tx));
            }
            Cluster {
                config: parse_servers_txt(&lines, "t").unwrap(),
                stops,
            }
        }

        fn stop(&mut self, index: usize) {
            if let Some(tx) = self.stops[index].take() {
                let _ = tx.send(());
            }
        }

        fn interpreter(&self) -> Interpreter {
            let client = Client::new(self.config.clone()).with_timeout(Duration::from_millis(300));
            Interpreter::new(client, None)
        }
    }

    /// Runs a line, returns (outcome, lines, number of trace events).
    async fn run(i: &mut Interpreter, line: &str) -> (LineOutcome, Vec<String>, usize) {
        let mut lines = Vec::new();
        let mut traces = 0;
        let outcome = i
            .run_line(line, &mut |e| match e {
                ReplEvent::Line(l) => lines.push(l),
                ReplEvent::Trace(_) => traces += 1,
            })
            .await;
        (outcome, lines, traces)
    }

    async fn ok(i: &mut Interpreter, line: &str) -> Vec<String> {
        let (o, lines, _) = run(i, line).await;
        assert!(o.ok && !o.quit, "{line}: {lines:#?}");
        lines
    }

    /// An invalid line: exactly one `ERROR:` line, not ok.
    async fn error(i: &mut Interpreter, line: &str) -> String {
        let (o, lines, traces) = run(i, line).await;
        assert!(!o.ok && !o.quit, "{line} should fail: {lines:#?}");
        assert_eq!(lines.len(), 1, "{line}: {lines:#?}");
        assert_eq!(traces, 0, "{line} must not touch the network");
        assert!(lines[0].starts_with("ERROR: "), "{lines:?}");
        lines[0].clone()
    }

    fn last(lines: &[String]) -> &str {
        lines.last().map(String::as_str).unwrap_or("")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn put_and_get_print_every_server_and_the_verdict() {
        let c = Cluster::new(&[3, 2, 2, 1, 1]).await;
        let mut i = c.interpreter();
        let (o, lines, traces) = run(&mut i, "put a b n=4 w=3").await;
        assert!(o.ok, "{lines:#?}");
        assert!(traces >= 5, "sent + 4 replies at least, got {traces}");
        assert_eq!(lines.len(), 5, "{lines:#?}");
        for l in &lines[..4] {
            assert!(
                l.contains("127.0.0.1:") && l.contains("stored") && l.contains("ms"),
                "{l}"
            );
            assert!(l.contains("counted"), "{l}");
        }
        assert_eq!(
            lines[..4]
                .iter()
                .filter(|l| l.ends_with(" counted"))
                .count(),
            3
        );
        assert!(last(&lines).starts_with("OK — W=3 reached"), "{lines:#?}");
        let (key, placement) = i.view().focus_key.clone().unwrap();
        assert_eq!(key, b"a");
        assert_eq!(placement.replicas.len(), 4);

        let lines = ok(&mut i, "get a").await;
        assert_eq!(lines.len(), 4);
        assert!(lines[0].contains("value \"b\""), "{lines:#?}");
        assert!(
            last(&lines).starts_with("OK b — R=2 reached with 127.0.0.1:"),
            "{lines:#?}"
        );
        let lines = ok(&mut i, "get a n=5 r=1").await;
        // The servers speak v2: the 5th replica, never written, answers
        // "not found" and is read-repaired after the verdict.
        assert_eq!(lines.len(), 8, "{lines:#?}");
        assert!(lines[5].starts_with("OK b — R=1 reached"), "{lines:#?}");
        assert!(lines[6].starts_with("read repair of \"a\""), "{lines:#?}");
    }

    /// `loss`, `delay` and `heal` route one server through a fault proxy;
    /// the trace still names the server; heal talks to it directly again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn loss_delay_and_heal() {
        let c = Cluster::new(&[1, 1, 1]).await;
        let server = c.config.servers[1].addr();
        let mut i = c.interpreter();
        // The first request to a server finds out its protocol (v2 first,
        // then v1 to a v1-only server: one more round trip, which the
        // 150 ms delay below would push past the 300 ms deadline).
        run(&mut i, "get k").await;
        let line = ok(&mut i, "loss 2 100").await;
        assert_eq!(line.len(), 1, "{line:?}");
        assert!(
            line[0].starts_with(&format!("{server}: 100% of datagrams lost each way")),
            "{line:?}"
        );
        assert!(line[0].contains("`heal 2`"), "{line:?}");
        let (o, lines, _) = run(&mut i, "put k v w=3").await;
        assert!(!o.ok, "{lines:#?}");
        let silent: Vec<&String> = lines.iter().filter(|l| l.contains("timeout")).collect();
        assert_eq!(silent.len(), 1, "{lines:#?}");
        assert!(silent[0].contains(&server.to_string()), "{lines:#?}");
        // W=2 still works without it.
        ok(&mut i, "put k v w=2").await;

        let line = ok(&mut i, "delay 2 150").await;
        assert!(
            line[0].contains("100% of datagrams lost each way, requests delayed 150 ms"),
            "{line:?}"
        );
        ok(&mut i, "loss 2 0").await;
        let lines = ok(&mut i, "put k v2 w=3").await;
        assert!(last(&lines).starts_with("OK"), "{lines:#?}");
        let slow = i.client().destination(1).unwrap();
        assert_ne!(slow, server, "still through the proxy");

        let line = ok(&mut i, "heal 2").await;
        assert_eq!(
            line,
            [format!(
                "{server}: healed, requests go to the server directly again"
            )]
        );
        assert_eq!(i.client().destination(1), Some(server));
        assert_eq!(
            ok(&mut i, "heal 2").await,
            [format!("{server}: no fault to heal")]
        );
        ok(&mut i, "get k r=3").await;
        assert!(error(&mut i, "loss 2 200").await.contains("usage: loss"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failures_print_fail_and_why() {
        let mut c = Cluster::new(&[1, 1, 1]).await;
        let mut i = c.interpreter();
        let (o, lines, _) = run(&mut i, "get nothing").await;
        assert!(!o.ok);
        assert!(last(&lines).starts_with("FAIL — not found"), "{lines:#?}");
        assert!(lines[..3].iter().all(|l| l.contains("not found")));
        ok(&mut i, "put k v w=3").await;
        c.stop(0);
        c.stop(1);
        // Let the two server tasks see their stop signal and close.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (o, lines, _) = run(&mut i, "put k x w=3").await;
        assert!(!o.ok);
        assert!(last(&lines).starts_with("FAIL — "), "{lines:#?}");
        assert_eq!(
            lines.iter().filter(|l| l.contains("timeout")).count(),
            2,
            "{lines:#?}"
        );
        assert!(last(&lines).contains("timed out"), "{lines:#?}");
        // The failed put still stored x on the server that answered
        // (no rollback, as in Dynamo); R=1 reads it.
        let lines = ok(&mut i, "get k r=1").await;
        assert!(last(&lines).starts_with("OK x — R=1 reached"), "{lines:#?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cat_substr_find() {
        let c = Cluster::new(&[1, 2, 3]).await;
        let mut i = c.interpreter();
        ok(&mut i, "put h \"hello bbb\"").await;
        ok(&mut i, "put n bbb").await;
        let lines = ok(&mut i, "find h n").await;
        assert!(
            last(&lines).starts_with("OK 6 — 2 operations"),
            "{lines:#?}"
        );
        assert_eq!(lines.iter().filter(|l| l.starts_with("get \"")).count(), 2);
        let lines = ok(&mut i, "find n h").await;
        assert!(last(&lines).starts_with("OK -1"));
        let lines = ok(&mut i, "cat h n d").await;
        assert!(last(&lines).starts_with("OK — 3 operations"), "{lines:#?}");
        let lines = ok(&mut i, "get d").await;
        assert!(last(&lines).starts_with("OK hello bbbbbb —"));
        ok(&mut i, "substr h -5 4 s").await;
        assert!(last(&ok(&mut i, "get s").await).starts_with("OK o bb —"));
        let (o, lines, _) = run(&mut i, "substr h 3 7 s").await;
        assert!(!o.ok);
        assert!(
            last(&lines).starts_with("FAIL — position 3 length 7 is outside"),
            "{lines:#?}"
        );
        let (o, lines, _) = run(&mut i, "cat nope h d").await;
        assert!(!o.ok);
        assert!(last(&lines).starts_with("FAIL — not found"), "{lines:#?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn where_ring_status_dump_without_supervisor() {
        let mut c = Cluster::new(&[1, 2, 3]).await;
        let mut i = c.interpreter();
        let lines = ok(&mut i, "where coucou").await;
        assert!(
            lines[0].contains("5ed25af7b1ed23fb00122e13d7f74c4d8262acd8"),
            "{lines:#?}"
        );
        assert!(lines.iter().any(|l| l.contains("used")));
        assert!(last(&lines).starts_with("preference list: 127.0.0.1:"));
        assert_eq!(i.view().focus_key.as_ref().unwrap().0, b"coucou");

        let lines = ok(&mut i, "ring").await;
        assert_eq!(lines.len(), 7, "{lines:#?}");
        assert!(lines[0].starts_with("ring: 6 nodes on 3 servers"));
        assert!(lines[1].contains(" node "));

        ok(&mut i, "put a b w=3").await;
        let lines = ok(&mut i, "dump").await;
        assert_eq!(lines[0], "Ring nodes:");
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with("storing 1 key-value"))
                .count(),
            3
        );
        let lines = ok(&mut i, "dump 2").await;
        assert!(lines[0].ends_with(':'));
        assert_eq!(lines[1], "storing 1 key-value pairs:");
        assert_eq!(lines[2], "a --> b");

        c.stop(1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let lines = error(&mut i, "dump 2").await;
        assert!(lines.contains("no answer"), "{lines}");
        let lines = ok(&mut i, "health").await;
        assert!(
            lines[0].starts_with("server") && lines[0].contains("hints"),
            "{lines:#?}"
        );
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(lines.iter().any(|l| l.contains("no answer")), "{lines:#?}");
        let lines = ok(&mut i, "status").await;
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(lines[1].contains("up"), "{lines:#?}");
        assert!(
            lines[2].contains("unreachable") && lines[2].contains("never"),
            "{lines:#?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn process_actions_need_a_supervisor() {
        let c = Cluster::new(&[1, 1]).await;
        let mut i = c.interpreter();
        for action in ["kill", "stop", "start", "restart", "pause", "resume"] {
            let e = error(&mut i, &format!("{action} 1")).await;
            assert!(e.contains("supervises no process"), "{e}");
        }
        // Membership changes too, and they change nothing.
        let e = error(&mut i, "add 127.0.0.1:9 nodes=2").await;
        assert!(
            e.starts_with("ERROR: add: this session supervises no process"),
            "{e}"
        );
        let e = error(&mut i, "remove 2").await;
        assert!(
            e.starts_with("ERROR: remove: this session supervises no process"),
            "{e}"
        );
        assert_eq!(i.client().config().servers.len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn help_quit_slow() {
        let c = Cluster::new(&[1]).await;
        let mut i = c.interpreter();
        let lines = ok(&mut i, "help").await;
        assert!(lines.len() > COMMAND_COUNT);
        assert!(ok(&mut i, "help put").await[0].starts_with("put <key> <value>"));
        assert!(
            error(&mut i, "help nope")
                .await
                .contains("no help for `nope`")
        );
        for q in ["quit", "q"] {
            let (o, lines, _) = run(&mut i, q).await;
            assert_eq!(
                o,
                LineOutcome {
                    ok: true,
                    quit: true
                }
            );
            assert!(lines.is_empty());
        }
        assert_eq!(ok(&mut i, "slow on").await.len(), 1);
        assert_eq!(i.view().slow_ms, Some(super::super::parse::DEFAULT_SLOW_MS));
        ok(&mut i, "slow 40").await;
        assert_eq!(i.view().slow_ms, Some(40));
        let started = Instant::now();
        let (o, _, traces) = run(&mut i, "put k v").await;
        assert!(o.ok);
        assert!(traces >= 2);
        // At least one pause between the snapshot after sending and the reply.
        assert!(started.elapsed() >= Duration::from_millis(40));
        ok(&mut i, "slow off").await;
        assert_eq!(i.view().slow_ms, None);
        let (o, lines, _) = run(&mut i, "   ").await;
        assert!(o.ok && lines.is_empty());
    }

    const COMMAND_COUNT: usize = 19;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn whatif_add_remove_off() {
        let c = Cluster::new(&[3, 2, 2]).await;
        let mut i = c.interpreter();
        for k in 0..20 {
            ok(&mut i, &format!("put key{k} v w=3")).await;
        }
        let lines = ok(&mut i, "whatif add 127.0.0.1:9 nodes=3").await;
        assert!(lines[0].starts_with("whatif add 127.0.0.1:9 nodes=3: 10 nodes on 4 servers"));
        let report = i.view().whatif.clone().unwrap();
        assert_eq!(report.servers.len(), 4);
        assert_eq!(report.ring.nodes().len(), 10);
        assert!(
            // Random ports: the share depends on the ring (it can even be
            // 100% when the new nodes are spread evenly).
            report.moved_fraction > 0.0 && report.moved_fraction <= 1.0,
            "{}",
            report.moved_fraction
        );
        let (moving, total) = report.stored_keys.unwrap();
        assert_eq!(total, 20);
        assert!(moving <= total);
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("{moving} of 20 would move")))
        );
        ok(&mut i, "whatif remove 1").await;
        let report = i.view().whatif.clone().unwrap();
        assert_eq!(report.servers.len(), 2);
        // N=3 on 3 servers: every key is on every server; removing one changes all.
        assert!((report.moved_fraction - 1.0).abs() < 1e-9);
        assert_eq!(report.stored_keys, Some((20, 20)));
        ok(&mut i, "whatif off").await;
        assert!(i.view().whatif.is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn invalid_lines_print_one_error_and_change_nothing() {
        let c = Cluster::new(&[1, 1, 1]).await;
        let mut i = c.interpreter();
        ok(&mut i, "where a").await;
        ok(&mut i, "slow 10").await;
        let before = format!("{:?}", i.view());
        for (line, expected) in [
            ("frobnicate x", "unknown command `frobnicate`"),
            ("put \"a b", "unterminated quote"),
            ("get a w=2", "does not take w="),
            ("get a n=0", "strictly positive"),
            ("get a n=4", "larger than the number of servers"),
            ("put a b w=3 n=2", "larger than N"),
            ("kill 9", "unknown server `9`"),
            ("dump 127.0.0.1:1", "unknown server"),
            ("whatif remove nobody", "unknown server"),
            ("whatif add nowhere", "not an ip:port"),
            ("slow fast", "usage: slow"),
            ("get", "usage: get"),
            ("ring please", "usage: ring"),
        ] {
            let e = error(&mut i, line).await;
            assert!(e.contains(expected), "{line}: {e}");
        }
        assert_eq!(format!("{:?}", i.view()), before);
    }
}
