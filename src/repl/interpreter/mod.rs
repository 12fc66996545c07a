//! Runs parsed REPL lines: the [`Interpreter`], its state and the dispatch
//! of each [`ReplCommand`] to the submodule doing that job. All text comes
//! from [`super::format`].

mod export;
mod inspect;
mod lesson;
mod membership;
mod network;
mod processes;
mod quorum;
mod replay;

#[cfg(test)]
mod lesson_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use crate::client::Client;
use crate::config::ClusterConfig;
use crate::fault_proxy::FaultProxy;
use crate::quorum::QuorumOptions;
use crate::supervisor::Supervisor;

use super::format::error_line;
use super::parse::{ReplCommand, parse_line};
use super::{LineOutcome, ReplEvent, View, help};

pub use inspect::DUMP_IDLE;

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
    /// Where each server removed in this session stood in the cluster
    /// file, so adding it back puts it where it was.
    removed_at: HashMap<std::net::SocketAddrV4, usize>,
    /// The session's lines and what they printed (`export transcript`).
    transcript: crate::export::Transcript,
    /// The guided lesson running, if any.
    lesson: Option<lesson::Run>,
    /// Print a lesson step's text into the output (the line shell).
    lesson_text: bool,
    /// The last data command's operations, for `replay`.
    last_op: Vec<super::Motion>,
    /// The partition in force (`partition a | b`), in the user's words.
    groups: Vec<Vec<crate::supervisor::NetEnd>>,
    /// One-way cuts in force (`partition a -> b`).
    one_way: Vec<(crate::supervisor::NetEnd, crate::supervisor::NetEnd)>,
    /// The watch started by the last `heal` (`heal_watch::watch`).
    healing: Option<tokio::task::JoinHandle<()>>,
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
            proxies: HashMap::new(),
            settling: None,
            removed_at: HashMap::new(),
            transcript: crate::export::Transcript::default(),
            lesson: None,
            lesson_text: false,
            last_op: Vec::new(),
            groups: Vec::new(),
            one_way: Vec::new(),
            healing: None,
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
    /// The line and the lines it printed go to the session's transcript
    /// (`export transcript`).
    pub async fn run_line(&mut self, line: &str, sink: Sink<'_>) -> LineOutcome {
        let mut printed = Vec::new();
        let outcome = {
            let mut tee = |e: ReplEvent| {
                if let ReplEvent::Line(l) = &e {
                    printed.push(l.clone());
                }
                sink(e);
            };
            self.run_unrecorded(line, &mut tee).await
        };
        self.record(line, printed, outcome);
        outcome
    }

    /// [`Interpreter::run_line`] without the transcript.
    async fn run_unrecorded(&mut self, line: &str, sink: Sink<'_>) -> LineOutcome {
        let command = match parse_line(line, self.config()) {
            Ok(Some(c)) => c,
            Ok(None) => return OK,
            Err(e) => {
                say(sink, error_line(e));
                return FAILED;
            }
        };
        let typed = !matches!(command, ReplCommand::Lesson(_));
        let outcome = self.dispatch(command, &mut *sink).await;
        if typed {
            self.check_expect(line, sink);
        }
        self.update_lesson_view();
        outcome
    }

    /// Runs one parsed line.
    async fn dispatch(&mut self, command: ReplCommand, sink: Sink<'_>) -> LineOutcome {
        match command {
            ReplCommand::Data(command, options) => {
                self.note_written(&command);
                self.data(&command, options, sink).await
            }
            ReplCommand::Where(key) => self.where_key(&key, sink),
            ReplCommand::Ring => self.ring(sink),
            ReplCommand::Dump(server) => self.dump(server, sink).await,
            ReplCommand::Process(action, index) => self.process(action, index, sink).await,
            ReplCommand::Health => self.health(sink).await,
            ReplCommand::Status => self.status(sink).await,
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
            ReplCommand::Slow(slow) => self.slow(slow, sink),
            ReplCommand::Skew(offset) => self.skew(offset, sink),
            ReplCommand::Sloppy(on) => self.sloppy(on, sink),
            ReplCommand::WhatIf(question) => self.whatif(&question, sink).await,
            ReplCommand::Balance => self.balance(sink).await,
            ReplCommand::Fault(fault, index) => self.fault(fault, index, sink).await,
            ReplCommand::Partition(p) => self.partition(p, sink).await,
            ReplCommand::HealAll => self.heal_all(sink).await,
            ReplCommand::Net => self.net(sink),
            ReplCommand::Add { addr, server } => self.add(addr, server, sink).await,
            ReplCommand::Remove(index) => self.remove(index, sink).await,
            ReplCommand::Lesson(command) => self.lesson(command, sink).await,
            ReplCommand::Replay(step_ms) => self.replay(step_ms, sink),
            ReplCommand::Export(kind, path) => self.export(kind, &path, sink),
            ReplCommand::Quit => self.quit(sink).await,
        }
    }
}
