//! The read-only commands that look at the cluster: `where`, `ring`, `dump`,
//! `status` and `health`.

use std::time::{Duration, Instant};

use crate::supervisor::{self, ServerState, ServerStatus};

use super::super::format::{self, error_line};
use super::{FAILED, Interpreter, LineOutcome, OK, Sink, say, say_all};

/// How long a dump waits between datagrams once the first one arrived (as
/// `dkvs-dump-ring`'s default).
pub const DUMP_IDLE: Duration = Duration::from_millis(200);

/// Text written by the shared `dump_ring` printers, as display lines.
fn text_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_string)
        .collect()
}

impl Interpreter {
    /// How `dump` and `whatif` read servers: the paged v2 dump with this
    /// client's deadline, retry policy and protocol mode.
    pub(super) fn dump_options(&self) -> crate::dump_ring::DumpOptions {
        crate::dump_ring::DumpOptions {
            retry: self.client.retry(),
            protocol: self.client.protocol(),
            key: self.client.key().cloned(),
            ..crate::dump_ring::DumpOptions::new(self.client.timeout(), DUMP_IDLE)
        }
    }

    /// `where <key>`: the key's position and walk (and the screen's focus).
    pub(super) fn where_key(&mut self, key: &[u8], sink: Sink<'_>) -> LineOutcome {
        let n = self.default_n();
        self.focus(key, n);
        let placement = self.client.ring().placement(key, n);
        say_all(
            sink,
            format::where_lines(self.config(), self.client.ring(), key, &placement, n),
        );
        OK
    }

    /// `ring`: the nodes, with the servers' live states when supervised.
    pub(super) fn ring(&self, sink: Sink<'_>) -> LineOutcome {
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

    /// `health`: every server's counters, as a table.
    pub(super) async fn health(&self, sink: Sink<'_>) -> LineOutcome {
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

    /// `status`: every server's state, with the last error line of a
    /// supervised server that failed.
    pub(super) async fn status(&self, sink: Sink<'_>) -> LineOutcome {
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

    /// `dump [server]`: the stored pairs of every server, or of one.
    pub(super) async fn dump(&mut self, server: Option<usize>, sink: Sink<'_>) -> LineOutcome {
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
                                "dump {addr}: no answer within {}",
                                crate::units::format_duration(timeout)
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
                badge: None,
            })
            .collect()
    }
}
