//! What the man pages say besides `--help`: the EXIT STATUS, ENVIRONMENT,
//! FILES and EXAMPLES sections of each tool, and the finishing of the page
//! clap_mangen renders from the clap definition.
//!
//! Why here: the pages are generated (`tests/man_pages.rs`), so what they
//! add to `--help` must live beside the definitions it describes. The
//! finishing is plain text work: the sections go before SEE ALSO, the
//! option headings of `--help` (Network, Limits…) become subsections of
//! OPTIONS, and help texts' `code` spans are set in bold instead of
//! showing their backticks.

/// One tool's man page sections beyond `--help`. Text may hold `code`
/// spans; it is escaped for roff when rendered.
#[derive(Debug, Clone, Copy)]
pub struct Extras {
    /// Each status and what it means.
    pub exit_status: &'static [(&'static str, &'static str)],
    /// Each variable read and what for.
    pub environment: &'static [(&'static str, &'static str)],
    /// Each file read or written and what for.
    pub files: &'static [(&'static str, &'static str)],
    /// Each example: what it does, then the command lines.
    pub examples: &'static [(&'static str, &'static str)],
}

/// The course convention's paragraph, the same under every tool's EXIT
/// STATUS.
const COURSE_CODES: (&str, &str) = (
    "--exit-codes course",
    "(or `DKVS_EXIT_CODES=course`): the statuses of the original course's error.h instead, \
     for its test suites: 2 becomes 134, 3 becomes 133, 4 becomes 137, 5 becomes 132, \
     any other failure 130; docs/TEACHING.md",
);

/// The variables every tool reads.
const LOGGING_ENV: [(&str, &str); 3] = [
    (
        "DKVS_LOG, RUST_LOG",
        "Log filter (`info`, `debug`, `trace` or tracing-subscriber syntax); `DKVS_LOG` first; \
         wins over -v and -q.",
    ),
    (
        "NO_COLOR",
        "Set and not empty: no colour under `--color auto`.",
    ),
    (
        "DKVS_EXIT_CODES",
        "`course`: exit statuses of the original course (as `--exit-codes course`).",
    ),
];

/// The variables of the tools that read a cluster file.
const CLUSTER_ENV: [(&str, &str); 2] = [
    (
        "DKVS_SERVERS",
        "The cluster file when none is given (servers.txt format, or cluster.toml when it ends \
         in .toml).",
    ),
    (
        "DKVS_KEY_FILE",
        "The key file when --key-file is not given; wins over `key_file` of cluster.toml.",
    ),
];

/// The default cluster files of the tools that read one.
const CLUSTER_FILES: [(&str, &str); 2] = [
    (
        "./servers.txt",
        "The cluster file when neither -s nor DKVS_SERVERS names one; see servers.txt(5).",
    ),
    (
        "./cluster.toml",
        "The cluster file when there is no ./servers.txt; see cluster.toml(5).",
    ),
];

/// `dkvs-client`'s sections.
/// The environment of a tool that reads the cluster file.
const CLIENT_TOOL_ENV: [(&str, &str); 5] = [
    CLUSTER_ENV[0],
    CLUSTER_ENV[1],
    LOGGING_ENV[0],
    LOGGING_ENV[1],
    LOGGING_ENV[2],
];

const CLIENT: Extras = Extras {
    exit_status: &[
        ("0", "Success."),
        (
            "1",
            "The operation failed on its own terms (substr out of range, cat too long, put or \
             del refused).",
        ),
        ("2", "Usage error."),
        (
            "3",
            "Configuration error (missing or invalid cluster file, key file).",
        ),
        ("4", "Not found: R servers said the key is absent."),
        (
            "5",
            "Quorum not reached or network error (also when servers refused the request as \
             unauthenticated: pass --key-file).",
        ),
        (
            "6",
            "This machine's clock is off: servers refused a write stamped too far ahead of \
             their clocks.",
        ),
        COURSE_CODES,
    ],
    environment: &CLIENT_TOOL_ENV,
    files: &CLUSTER_FILES,
    examples: &[
        (
            "Store a value on 2 of 3 servers, read it back, delete it:",
            "dkvs-client put -- greeting hello\n\
             dkvs-client get -- greeting\n\
             dkvs-client del -- greeting",
        ),
        (
            "Read a value from standard input, with a 2 s deadline and all three replicas:",
            "printf 'hello' | dkvs-client put -t 2s -n 3 -w 3 -- greeting -",
        ),
        (
            "One JSON object per answer, for scripts; the servers' counters:",
            "dkvs-client --json get -- greeting\n\
             dkvs-client stats",
        ),
    ],
};

/// `dkvs-server`'s sections.
const SERVER: Extras = Extras {
    exit_status: &[
        ("0", "Clean stop (SIGINT or SIGTERM)."),
        (
            "1",
            "Cannot serve (address in use, initial pairs beyond --max-memory, ...); with \
             --check, damage was found.",
        ),
        (
            "2",
            "Usage error (a bad option value such as `--max-memory 12XB`).",
        ),
        (
            "3",
            "Unusable data directory (in use by another server, foreign, corrupt), or a key \
             file or --servers file that cannot be used; with --check, DIR is not a dkvs data \
             directory.",
        ),
        COURSE_CODES,
    ],
    environment: &[
        (
            "DKVS_KEY_FILE",
            "The key file when --key-file is not given.",
        ),
        LOGGING_ENV[0],
        LOGGING_ENV[1],
        LOGGING_ENV[2],
    ],
    files: &[
        (
            "DIR (--data-dir)",
            "The durable store: append-only segment files of checksummed records, their hint \
             files and a lock (a directory created by an older dkvs keeps its redb database and \
             write-ahead log); one server per directory. See docs/STORAGE.md.",
        ),
        (
            "FILE (--servers)",
            "The cluster's servers.txt or cluster.toml, reread on SIGHUP.",
        ),
        (
            "FILE (--key-file)",
            "The keys: one `<id> <hex secret>` per line. See docs/SECURITY.md.",
        ),
    ],
    examples: &[
        (
            "Serve in memory on port 1234, at most 512 MiB of pairs:",
            "dkvs-server --max-memory 512MiB 127.0.0.1 1234",
        ),
        (
            "Keep the pairs on disk, syncing every 250 ms, tombstones kept 3 days:",
            "dkvs-server --data-dir /var/lib/dkvs --sync periodic --sync-interval 250ms \\\n  \
             --tombstone-grace 3d 127.0.0.1 1234",
        ),
        (
            "Know the ring and repair replicas every 30 s; metrics for Prometheus:",
            "dkvs-server --servers cluster.toml --anti-entropy-interval 30s \\\n  \
             --metrics 127.0.0.1:9100 127.0.0.1 1234",
        ),
        (
            "Check a data directory offline (a server may be using it): every bad record, then \
             a summary; exit 1 when damage was found:",
            "dkvs-server --check /var/lib/dkvs",
        ),
    ],
};

/// `dkvs-dump-ring`'s sections.
const DUMP_RING: Extras = Extras {
    exit_status: &[
        ("0", "Printed."),
        ("2", "Usage error."),
        ("3", "Configuration error."),
        (
            "5",
            "A server refused its dump for want of the cluster's key, or, with --health, a \
             server was silent.",
        ),
        COURSE_CODES,
    ],
    environment: &CLIENT_TOOL_ENV,
    files: &CLUSTER_FILES,
    examples: &[
        (
            "The ring and every server's pairs, then each server's health:",
            "dkvs-dump-ring -s cluster.toml\n\
             dkvs-dump-ring --health",
        ),
        (
            "Wait up to half a second for each next datagram of a dump:",
            "dkvs-dump-ring --idle 500ms",
        ),
    ],
};

/// `dkvs-bench`'s sections.
const BENCH: Extras = Extras {
    exit_status: &[
        ("0", "At least one operation succeeded."),
        ("2", "Usage error."),
        ("3", "Configuration error."),
        ("5", "Every operation failed."),
        COURSE_CODES,
    ],
    environment: &CLIENT_TOOL_ENV,
    files: &CLUSTER_FILES,
    examples: &[
        (
            "Load every key once, then 30 seconds of gets with 32 in flight:",
            "dkvs-bench --server 127.0.0.1:7000 --fill --keys 10000 -c 32\n\
             dkvs-bench --server 127.0.0.1:7000 --mix get -c 32 -d 30s",
        ),
        (
            "The ring through quorum operations, 4 KiB values, Zipf keys:",
            "dkvs-bench -s cluster.toml -n 3 -w 2 -r 2 --value-size 4KiB --dist zipf --requests 100000",
        ),
    ],
};

/// `dkvs-tui`'s sections.
const TUI: Extras = Extras {
    exit_status: &[
        ("0", "Quit (or end of the piped commands)."),
        (
            "1",
            "The screen or the runtime failed, or a piped command failed.",
        ),
        ("2", "Usage error."),
        ("3", "Configuration error."),
        (
            "128+N",
            "In the shell modes, stopped by signal N (SIGINT, SIGTERM, SIGHUP) after stopping \
             the servers.",
        ),
        COURSE_CODES,
    ],
    environment: &[
        CLUSTER_ENV[0],
        CLUSTER_ENV[1],
        (
            "DKVS_TUI_THEME",
            "The colours: `default`, `contrast` or `mono`.",
        ),
        LOGGING_ENV[0],
        LOGGING_ENV[1],
        LOGGING_ENV[2],
    ],
    files: &[
        (
            "./cluster.toml",
            "The cluster file when none is named; it says which servers to spawn. See \
             cluster.toml(5).",
        ),
        (
            "./servers.txt",
            "The cluster file when there is no ./cluster.toml; see servers.txt(5).",
        ),
    ],
    examples: &[
        (
            "The bundled five-server cluster in one terminal:",
            "dkvs-tui cluster.toml",
        ),
        (
            "REPL commands from a script, without echo:",
            "printf 'put a 1\\nget a\\nstatus\\n' | dkvs-tui --no-echo cluster.toml",
        ),
        (
            "The first guided lesson (the ring and hashing); `lesson` in the REPL lists them all:",
            "dkvs-tui --lesson 1 cluster.toml",
        ),
        (
            "A picture of the ring with a key's walk, and the session's notes, for slides:",
            "printf 'put apple red\\nget apple\\n' | dkvs-tui --export ring.svg --export notes.md cluster.toml",
        ),
    ],
};

/// `dkvs-fault-proxy`'s sections.
const FAULT_PROXY: Extras = Extras {
    exit_status: &[
        ("0", "Stopped by SIGINT or SIGTERM."),
        ("1", "Cannot bind the listening address."),
        ("2", "Usage error."),
        COURSE_CODES,
    ],
    environment: &[LOGGING_ENV[0], LOGGING_ENV[1], LOGGING_ENV[2]],
    files: &[(
        "(none)",
        "It reads and writes no file. Point the clients at it with a servers.txt that lists \
         the --listen address instead of the server's.",
    )],
    examples: &[
        (
            "Drop 10% of the datagrams to and from one server and delay the rest by 20 ms \
             +/- 5 ms:",
            "dkvs-fault-proxy --listen 127.0.0.1:2234 --upstream 127.0.0.1:1234 \\\n  \
             --drop 10 --delay 20ms --jitter 5ms",
        ),
        (
            "Make the server look dead:",
            "dkvs-fault-proxy --listen 127.0.0.1:2234 --upstream 127.0.0.1:1234 --black-hole",
        ),
    ],
};

/// The sections of the tool named `name` (`dkvs-client`); `None` for the
/// pages of subcommands.
pub fn extras(name: &str) -> Option<&'static Extras> {
    match name {
        "dkvs-client" => Some(&CLIENT),
        "dkvs-server" => Some(&SERVER),
        "dkvs-dump-ring" => Some(&DUMP_RING),
        "dkvs-bench" => Some(&BENCH),
        "dkvs-tui" => Some(&TUI),
        "dkvs-fault-proxy" => Some(&FAULT_PROXY),
        _ => None,
    }
}

/// `text` escaped for a roff text line: backslashes and dashes, and a
/// leading period or apostrophe; code spans in bold.
fn escape(text: &str) -> String {
    let escaped = code_as_bold(&text.replace('\\', "\\e").replace('-', "\\-"));
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// One `.TP` section: a title and tagged paragraphs.
fn tagged(title: &str, items: &[(&str, &str)]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut out = format!(".SH {title}\n");
    for (tag, text) in items {
        out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", escape(tag), escape(text)));
    }
    out
}

/// The roff of `extras`' four sections, in the order of man-pages(7).
pub fn render(extras: &Extras) -> String {
    let mut out = tagged("\"EXIT STATUS\"", extras.exit_status);
    out.push_str(&tagged("ENVIRONMENT", extras.environment));
    out.push_str(&tagged("FILES", extras.files));
    if !extras.examples.is_empty() {
        out.push_str(".SH EXAMPLES\n");
        for (what, lines) in extras.examples {
            out.push_str(&format!(".PP\n{}\n.PP\n.RS 4\n.nf\n", escape(what)));
            for line in lines.lines() {
                out.push_str(&format!("\\fB{}\\fR\n", escape(line)));
            }
            out.push_str(".fi\n.RE\n");
        }
    }
    out
}

/// `line` with each pair of backticks around a code span turned into bold
/// (`\fB…\fR`); an unpaired backtick stays.
fn code_as_bold(line: &str) -> String {
    let spans: Vec<&str> = line.split('`').collect();
    if spans.len() < 3 {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len() + 8);
    let pairs = (spans.len() - 1) / 2 * 2;
    for (i, span) in spans.iter().enumerate() {
        if i > 0 {
            if i <= pairs {
                out.push_str(if i % 2 == 1 { "\\fB" } else { "\\fR" });
            } else {
                out.push('`');
            }
        }
        out.push_str(span);
    }
    out
}

/// Finishes a page clap_mangen rendered for `cmd`: the `--help` headings
/// of its options become subsections of OPTIONS, code spans are set in
/// bold, the after-help paragraph is titled SEE ALSO, and the tool's
/// [`Extras`] go before it.
pub fn finish(page: &str, cmd: &clap::Command) -> String {
    let mut headings: Vec<String> = Vec::new();
    for heading in cmd.get_arguments().filter_map(|a| a.get_help_heading()) {
        if !headings.iter().any(|h| h == heading) {
            headings.push(heading.to_string());
        }
    }
    let extras = extras(cmd.get_name()).map(render).unwrap_or_default();
    let mut out = String::with_capacity(page.len() + extras.len());
    let mut placed = false;
    for line in page.lines() {
        if let Some(title) = line.strip_prefix(".SH ") {
            if let Some(heading) = headings.iter().find(|h| h.to_uppercase() == title) {
                out.push_str(&format!(".SS \"{heading} options\"\n"));
                continue;
            }
            if !placed && (title == "EXTRA" || title == "VERSION") {
                out.push_str(&extras);
                placed = true;
            }
            if title == "EXTRA" {
                out.push_str(".SH \"SEE ALSO\"\n");
                continue;
            }
        }
        if line.starts_with('.') {
            out.push_str(line);
        } else {
            out.push_str(&code_as_bold(line));
        }
        out.push('\n');
    }
    if !placed {
        out.push_str(&extras);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_become_bold() {
        assert_eq!(code_as_bold("a `b` c"), "a \\fBb\\fR c");
        assert_eq!(
            code_as_bold("`x` and `y`, `z"),
            "\\fBx\\fR and \\fBy\\fR, `z"
        );
        assert_eq!(code_as_bold("none"), "none");
        assert_eq!(code_as_bold("one ` only"), "one ` only");
    }

    #[test]
    fn text_is_escaped_for_roff() {
        assert_eq!(escape("--max-memory"), "\\-\\-max\\-memory");
        assert_eq!(escape(".hidden"), "\\&.hidden");
        assert_eq!(escape("a\\nb"), "a\\enb");
    }

    #[test]
    fn every_tool_has_its_sections() {
        for cmd in super::super::commands() {
            let extras = extras(cmd.get_name()).expect("sections for every tool");
            assert!(!extras.exit_status.is_empty() && !extras.examples.is_empty());
            let roff = render(extras);
            for title in ["\"EXIT STATUS\"", "ENVIRONMENT", "EXAMPLES"] {
                assert!(roff.contains(&format!(".SH {title}\n")), "{roff}");
            }
        }
    }
}
