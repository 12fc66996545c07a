//! Runs parsed REPL lines: data commands through the quorum client (with
//! traces), process actions through the supervisor, and the read-only
//! commands (`where`, `ring`, `status`, `dump`, `help`, `whatif`). All text
//! comes from [`super::format`].

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::commands;
use crate::config::ClusterConfig;
use crate::quorum::QuorumOptions;
use crate::ring::Ring;
use crate::supervisor::{self, ServerState, ServerStatus, Supervisor};
use crate::trace::Trace;

use super::format::{self, error_line};
use super::parse::{ProcessAction, ReplCommand, Slow, WhatIf, parse_line};
use super::{LineOutcome, ReplEvent, View, WhatIfReport, help, whatif};

/// How long a dump waits between datagrams once the first one arrived (as
/// `dkvs-dump-ring`'s default).
pub const DUMP_IDLE: Duration = Duration::from_millis(200);

/// Runs REPL lines against a cluster.
pub struct Interpreter {
    client: Client,
    supervisor: Option<Supervisor>,
    view: View,
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
            ReplCommand::Status => {
                let statuses = self.statuses().await;
                say_all(sink, format::status_lines(&statuses, Instant::now()));
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
                say(
                    sink,
                    format!("slow motion on: replies appear {ms} ms apart"),
                );
                OK
            }
            ReplCommand::Slow(Slow::Off) => {
                self.view.slow_ms = None;
                say(sink, "slow motion off");
                OK
            }
            ReplCommand::WhatIf(question) => self.whatif(&question, sink).await,
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
                let mut observer = |t: &Trace| sink(ReplEvent::Trace(t.clone()));
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
                        sink(ReplEvent::Trace(snapshot.clone()));
                        previous = Some(snapshot);
                        continue;
                    }
                    if previous.is_some() {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    sink(ReplEvent::Trace(snapshot.clone()));
                    previous = Some(snapshot);
                }
                outcome
            }
        };
        if let Some(last) = outcome.traces.last() {
            self.focus(&last.key.clone(), last.quorum.n);
        }
        let several = outcome.traces.len() > 1;
        for trace in &outcome.traces {
            if several {
                say(sink, format!("{}:", format::trace_header(trace)));
            }
            for r in &trace.replicas {
                say(sink, format::replica_line(trace, r));
            }
            if several {
                say(sink, format!("  → {}", format::quorum_explanation(trace)));
            }
        }
        say(
            sink,
            format::command_verdict_line(&outcome.result, &outcome.traces),
        );
        LineOutcome {
            ok: outcome.result.is_ok(),
            quit: false,
        }
    }

    async fn dump(&mut self, server: Option<usize>, sink: Sink<'_>) -> LineOutcome {
        let timeout = self.client.timeout();
        match server {
            None => {
                let replies = crate::dump_ring::dump_all(self.config(), timeout, DUMP_IDLE).await;
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
                say_all(
                    sink,
                    String::from_utf8_lossy(&out)
                        .lines()
                        .map(str::to_string)
                        .collect(),
                );
                OK
            }
            Some(index) => {
                let addr = self.config().servers[index].addr();
                match self.client.dump(index, DUMP_IDLE).await {
                    Err(e) => {
                        say(sink, error_line(format!("dump {addr}: {e}")));
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
                        say(sink, format!("{addr}:"));
                        for datagram in &reply.datagrams {
                            say_all(
                                sink,
                                String::from_utf8_lossy(datagram)
                                    .lines()
                                    .map(str::to_string)
                                    .collect(),
                            );
                        }
                        for (from, datagram) in &reply.foreign {
                            for line in String::from_utf8_lossy(datagram).lines() {
                                say(sink, format!("/!\\ FROM {from}: {line}"));
                            }
                        }
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
            answered[index] = up;
        }
        let now = Instant::now();
        self.config()
            .servers
            .iter()
            .enumerate()
            .map(|(index, spec)| ServerStatus {
                index,
                spec: spec.clone(),
                managed: false,
                pid: None,
                state: if answered[index] {
                    ServerState::Up
                } else {
                    ServerState::Unreachable
                },
                last_answer: answered[index].then_some(now),
                last_exit: None,
            })
            .collect()
    }

    async fn whatif(&mut self, question: &WhatIf, sink: Sink<'_>) -> LineOutcome {
        let Some((servers, title)) = whatif::hypothetical_servers(&self.config().servers, question)
        else {
            self.view.whatif = None;
            say(sink, "what-if view cleared");
            return OK;
        };
        let n = self.default_n();
        let old_ring = self.client.ring();
        let new_ring = Ring::from_servers(&servers);
        let old = (old_ring, self.config().servers.as_slice());
        let new = (&new_ring, servers.as_slice());
        let fraction = whatif::moved_fraction(old, new, n);
        let replies =
            crate::dump_ring::dump_all(self.config(), self.client.timeout(), DUMP_IDLE).await;
        let mut keys = BTreeSet::new();
        let mut answered = 0;
        for reply in replies.iter().flatten() {
            if reply.answered() {
                answered += 1;
                keys.extend(reply.parsed.pairs.iter().map(|(k, _)| k.clone()));
            }
        }
        let stored = (answered > 0).then(|| whatif::moved_keys(old, new, n, &keys));
        let mut lines = vec![format!(
            "{title}: {} nodes on {} servers (now {} on {})",
            new_ring.nodes().len(),
            servers.len(),
            old_ring.nodes().len(),
            self.config().servers.len()
        )];
        lines.push(format!(
            "  with N={n}: {} of the key space would change owner set",
            format::percent(fraction)
        ));
        match stored {
            Some((moving, total)) => lines.push(format!(
                "  stored keys: {moving} of {total} would move ({} servers answered the dump)",
                answered
            )),
            None => lines.push("  stored keys: unknown (no server answered the dump)".into()),
        }
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

/// True when two snapshots differ only by the `finished` flag (no delay
/// between them in slow motion).
fn same_but_finished(a: &Trace, b: &Trace) -> bool {
    let mut a = a.clone();
    a.finished = b.finished;
    a == *b
}
