//! `export transcript FILE.md`: the session's commands and what they
//! printed (traces, verdicts, tables: already text lines), as Markdown for
//! course notes.
//!
//! The interpreter records each line it runs in a [`Transcript`], bounded
//! to its last [`MAX_LINES`] lines (commands and output together) so a
//! session of a whole day stays small; the file says how many commands
//! were dropped. Each command is a heading with ✓ or ✗, its output a
//! fenced block whose fence is longer than any run of backticks inside, so
//! no output can close it early.

use std::collections::VecDeque;

use super::clean_str;

/// Lines (commands and their output) a transcript keeps.
pub const MAX_LINES: usize = 10_000;

/// One command of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptEntry {
    /// The line as typed.
    pub line: String,
    /// What it printed.
    pub output: Vec<String>,
    /// Whether it succeeded.
    pub ok: bool,
}

/// The session so far, bounded.
#[derive(Debug, Clone)]
pub struct Transcript {
    entries: VecDeque<TranscriptEntry>,
    /// Lines held: one per command plus its output.
    lines: usize,
    /// Commands dropped from the front to stay under `max_lines`.
    dropped: usize,
    max_lines: usize,
}

impl Default for Transcript {
    fn default() -> Transcript {
        Transcript::new(MAX_LINES)
    }
}

/// What the file's header says about the session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// The cluster file, as named.
    pub cluster_file: Option<String>,
    /// Each server: `127.0.0.1:1234 (up)`.
    pub servers: Vec<String>,
    /// When it was exported.
    pub date: Option<String>,
}

impl Transcript {
    /// An empty transcript keeping at most `max_lines` lines (at least 2).
    pub fn new(max_lines: usize) -> Transcript {
        Transcript {
            entries: VecDeque::new(),
            lines: 0,
            dropped: 0,
            max_lines: max_lines.max(2),
        }
    }

    /// Records one command and its output, dropping the oldest commands
    /// when over the bound (one command's own output is cut to fit).
    pub fn record(&mut self, line: &str, mut output: Vec<String>, ok: bool) {
        let room = self.max_lines - 1;
        if output.len() > room {
            let cut = output.len() - (room - 1);
            output.truncate(room - 1);
            output.push(format!("… ({cut} more lines not kept)"));
        }
        self.lines += 1 + output.len();
        self.entries.push_back(TranscriptEntry {
            line: line.to_string(),
            output,
            ok,
        });
        while self.lines > self.max_lines && self.entries.len() > 1 {
            if let Some(old) = self.entries.pop_front() {
                self.lines -= 1 + old.output.len();
                self.dropped += 1;
            }
        }
    }

    /// The commands kept.
    pub fn entries(&self) -> impl Iterator<Item = &TranscriptEntry> {
        self.entries.iter()
    }

    /// How many commands are kept.
    pub fn commands(&self) -> usize {
        self.entries.len()
    }

    /// How many of the first commands were dropped.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// The Markdown document.
    pub fn render(&self, header: &Header) -> String {
        let mut out = String::from("# dkvs-tui session\n\n");
        if let Some(file) = &header.cluster_file {
            out.push_str(&format!("- cluster file: {}\n", code_span(file)));
        }
        if !header.servers.is_empty() {
            let list: Vec<String> = header.servers.iter().map(|s| clean_str(s)).collect();
            out.push_str(&format!(
                "- servers: {} — {}\n",
                header.servers.len(),
                list.join(", ")
            ));
        }
        if let Some(date) = &header.date {
            out.push_str(&format!("- exported: {}\n", clean_str(date)));
        }
        let failed = self.entries.iter().filter(|e| !e.ok).count();
        out.push_str(&format!(
            "- commands: {} ({failed} failed)\n",
            self.entries.len()
        ));
        if self.dropped > 0 {
            out.push_str(&format!(
                "\n> The first {} commands of the session are not here: a transcript keeps the last {} lines.\n",
                self.dropped, self.max_lines
            ));
        }
        for (i, e) in self.entries.iter().enumerate() {
            let mark = if e.ok { "✓" } else { "✗" };
            out.push_str(&format!(
                "\n## {}. {mark} {}\n\n",
                self.dropped + i + 1,
                code_span(&e.line)
            ));
            if e.output.is_empty() {
                out.push_str("(no output)\n");
                continue;
            }
            let lines: Vec<String> = e.output.iter().map(|l| clean_str(l)).collect();
            let fence = "`".repeat(longest_backticks(lines.iter().map(String::as_str)).max(2) + 1);
            out.push_str(&format!("{fence}text\n"));
            for l in &lines {
                out.push_str(l);
                out.push('\n');
            }
            out.push_str(&fence);
            out.push('\n');
        }
        out
    }
}

/// The longest run of backticks in any of `lines`.
fn longest_backticks<'a>(lines: impl Iterator<Item = &'a str>) -> usize {
    let mut longest = 0;
    for line in lines {
        let mut run = 0;
        for c in line.chars() {
            run = if c == '`' { run + 1 } else { 0 };
            longest = longest.max(run);
        }
    }
    longest
}

/// `text` as a Markdown code span: controls dropped, delimited by more
/// backticks than any run inside, padded with a space when it starts or
/// ends with a backtick.
pub fn code_span(text: &str) -> String {
    let text = clean_str(text);
    let ticks = "`".repeat(longest_backticks(std::iter::once(text.as_str())) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            cluster_file: Some("cluster.toml".into()),
            servers: vec!["127.0.0.1:1234 (up)".into(), "127.0.0.1:1235 (down)".into()],
            date: Some("2026-12-07 05:31 UTC".into()),
        }
    }

    #[test]
    fn commands_are_headings_and_outputs_fenced() {
        let mut t = Transcript::default();
        t.record(
            "put a b",
            vec!["  [1] …".into(), "OK — W=2 reached".into()],
            true,
        );
        t.record("get zz", vec!["FAIL — not found".into()], false);
        t.record("slow off", vec![], true);
        let md = t.render(&header());
        assert!(md.starts_with("# dkvs-tui session\n"), "{md}");
        assert!(md.contains("- cluster file: `cluster.toml`"), "{md}");
        assert!(md.contains("- servers: 2 — 127.0.0.1:1234 (up), 127.0.0.1:1235 (down)"));
        assert!(md.contains("- commands: 3 (1 failed)"), "{md}");
        assert!(
            md.contains("## 1. ✓ `put a b`\n\n```text\n  [1] …\nOK — W=2 reached\n```\n"),
            "{md}"
        );
        assert!(md.contains("## 2. ✗ `get zz`"), "{md}");
        assert!(md.contains("## 3. ✓ `slow off`\n\n(no output)\n"), "{md}");
    }

    #[test]
    fn fences_outlast_any_backticks_inside() {
        let mut t = Transcript::default();
        t.record(
            "put `k` ``v``",
            vec![
                "```".into(),
                "a ````` b".into(),
                "\u{1b}[31mred\u{7}".into(),
            ],
            true,
        );
        let md = t.render(&Header::default());
        assert!(md.contains("## 1. ✓ ``` put `k` ``v`` ```\n"), "{md}");
        assert!(
            md.contains("\n``````text\n```\na ````` b\n[31mred\n``````\n"),
            "{md}"
        );
        assert_eq!(code_span("`x"), "`` `x ``");
        assert_eq!(code_span("plain"), "`plain`");
    }

    #[test]
    fn memory_is_bounded_and_drops_are_said() {
        let mut t = Transcript::new(10);
        for i in 0..10 {
            t.record(&format!("get k{i}"), vec!["a".into(), "b".into()], true);
        }
        assert_eq!(t.commands(), 3);
        assert_eq!(t.dropped(), 7);
        let md = t.render(&Header::default());
        assert!(
            md.contains("The first 7 commands of the session are not here"),
            "{md}"
        );
        assert!(md.contains("## 8. ✓ `get k7`"), "{md}");
        assert!(!md.contains("`get k6`"), "{md}");
        // One huge output is cut to fit, and said so.
        let mut t = Transcript::new(10);
        t.record("dump", (0..100).map(|i| i.to_string()).collect(), true);
        assert_eq!(t.commands(), 1);
        let e = t.entries().next().unwrap();
        assert_eq!(e.output.len(), 9);
        assert_eq!(e.output.last().unwrap(), "… (92 more lines not kept)");
    }
}
