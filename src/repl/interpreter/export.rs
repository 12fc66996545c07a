//! `export ring FILE.svg` and `export transcript FILE.md`: slides from the
//! live cluster ([`crate::export`]), and the transcript they come from:
//! every line run is recorded here with what it printed.

use std::path::Path;
use std::time::SystemTime;

use crate::export::{self, Header, RingPicture};
use crate::quorum::QuorumOptions;
use crate::supervisor::ServerState;

use super::super::format::error_line;
use super::super::parse::{ExportKind, split_words};
use super::{FAILED, Interpreter, LineOutcome, OK, Sink, say};

impl Interpreter {
    /// Records a line run and what it printed in the transcript: not an
    /// empty line, and not an `export` line (a transcript of slides being
    /// made would be full of them).
    pub(super) fn record(&mut self, line: &str, printed: Vec<String>, outcome: LineOutcome) {
        let first = split_words(line)
            .ok()
            .and_then(|w| w.into_iter().next())
            .map(|w| w.text);
        match first.as_deref() {
            None | Some("export") => {}
            Some(_) => self.transcript.record(line.trim(), printed, outcome.ok),
        }
    }

    /// `export ring|transcript <file>`.
    pub(super) fn export(&mut self, kind: ExportKind, path: &Path, sink: Sink<'_>) -> LineOutcome {
        let want = match kind {
            ExportKind::Ring => "svg",
            ExportKind::Transcript => "md",
        };
        let ext = path.extension().and_then(|e| e.to_str());
        if !ext.is_some_and(|e| e.eq_ignore_ascii_case(want)) {
            say(
                sink,
                format!(
                    "WARNING: export: {} does not end in .{want}; writing {} there anyway",
                    path.display(),
                    match kind {
                        ExportKind::Ring => "an SVG picture",
                        ExportKind::Transcript => "Markdown",
                    }
                ),
            );
        }
        let (text, what, summary) = match kind {
            ExportKind::Ring => {
                let (svg, servers, nodes) = self.ring_svg();
                (
                    svg,
                    "the ring",
                    format!("{}, {}", plural(servers, "server"), plural(nodes, "node")),
                )
            }
            ExportKind::Transcript => {
                let n = self.transcript.commands();
                (
                    self.transcript.render(&self.transcript_header()),
                    "the transcript",
                    plural(n, "command"),
                )
            }
        };
        match export::write_replacing(path, text.as_bytes()) {
            Ok(()) => {
                say(
                    sink,
                    format!("exported {what} to {} ({summary})", path.display()),
                );
                OK
            }
            Err(e) => {
                say(
                    sink,
                    error_line(format!(
                        "export: cannot write {}: {}",
                        path.display(),
                        export::io_message(&e)
                    )),
                );
                FAILED
            }
        }
    }

    /// Each configured server's live state (by address: the supervisor
    /// drops servers that are leaving).
    fn live_states(&self) -> Vec<Option<ServerState>> {
        let statuses = self.supervisor().map(|s| s.statuses()).unwrap_or_default();
        self.config()
            .servers
            .iter()
            .map(|spec| {
                statuses
                    .iter()
                    .find(|st| st.spec.addr() == spec.addr())
                    .map(|st| st.state)
            })
            .collect()
    }

    /// The ring as SVG, with its servers and nodes counted.
    fn ring_svg(&self) -> (String, usize, usize) {
        let config = self.config();
        let ring = self.client.ring();
        let states = self.live_states();
        // The walk again on today's ring (a server may have joined since).
        let focus = self.view.focus_key.as_ref().map(|(key, placement)| {
            let n = placement.replicas.len().max(1);
            (key.clone(), ring.placement(key, n))
        });
        let quorum = self
            .client
            .quorum(QuorumOptions::default())
            .ok()
            .map(|q| (q.n, q.w, q.r));
        let svg = export::render_svg(&RingPicture {
            config,
            ring,
            states: &states,
            focus: focus.as_ref().map(|(k, p)| (k.as_slice(), p)),
            quorum,
            date: Some(export::utc_minute(SystemTime::now())),
        });
        (svg, config.servers.len(), ring.nodes().len())
    }

    /// The transcript's header: the cluster file, its servers and their
    /// states, the date.
    fn transcript_header(&self) -> Header {
        let states = self.live_states();
        Header {
            cluster_file: self
                .config()
                .source
                .as_ref()
                .map(|p| p.display().to_string()),
            servers: self
                .config()
                .servers
                .iter()
                .zip(&states)
                .map(|(s, st)| match st {
                    Some(st) => format!("{} ({})", s.addr(), st.word()),
                    None => s.addr().to_string(),
                })
                .collect(),
            date: Some(export::utc_minute(SystemTime::now())),
        }
    }
}

/// `1 server`, `5 servers`.
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
