//! The text front-ends of the interpreter: the interactive line shell
//! (rustyline: history, completion of commands, options and server names,
//! Ctrl-C cancels the line, Ctrl-D quits) and the piped mode that reads one
//! command per line and prints each command's REPL text.
//!
//! Both run on the caller's thread and drive the interpreter with
//! `Runtime::block_on`, one line at a time, so background tasks (the
//! supervisor's prober and child owners, signal handlers) keep running on
//! the runtime's worker threads while the shell waits for input.
//!
//! Piped mode echoes each command as `> <line>` before its output (decision:
//! a transcript of a script is unreadable without the commands; the prefix
//! keeps it distinguishable from output and copy-pastable after stripping).

use std::io::{self, BufRead, Write};

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::config::ClusterConfig;
use crate::trace::Trace;

use super::parse::{COMMANDS, split_words};
use super::{Interpreter, ReplEvent, format};

/// The prompt of the interactive shell.
pub const PROMPT: &str = "dkvs> ";

/// Prints interpreter events as text: lines as they are; traces (only in
/// slow motion) as progress lines.
struct Printer<W: Write + Send> {
    out: W,
    slow: bool,
    previous: Option<Trace>,
    error: Option<io::Error>,
}

impl<W: Write + Send> Printer<W> {
    /// A printer for one line of `interpreter` (slow motion shows traces).
    fn new(out: W, interpreter: &Interpreter) -> Printer<W> {
        Printer {
            out,
            slow: interpreter.view().slow_ms.is_some(),
            previous: None,
            error: None,
        }
    }

    fn event(&mut self, event: ReplEvent) {
        let lines = match event {
            ReplEvent::Line(line) => vec![line],
            ReplEvent::Trace(trace) if self.slow => {
                let lines = format::trace_progress(self.previous.as_ref(), &trace);
                self.previous = Some(*trace);
                lines
            }
            ReplEvent::Trace(_) | ReplEvent::Motion(_) => Vec::new(),
        };
        for line in lines {
            if self.error.is_none() {
                let written = writeln!(self.out, "{line}").and_then(|_| self.out.flush());
                if let Err(e) = written {
                    self.error = Some(e);
                }
            }
        }
    }
}

/// How SIGINT is shared between "quit" and "cancel the running command".
///
/// In the interactive shell a Ctrl-C while a command runs cancels that
/// command (the terminal is not in raw mode then, so Ctrl-C is a SIGINT);
/// at the prompt rustyline reads Ctrl-C as a key and clears the line. Any
/// other SIGINT (from `kill`, or in piped mode) quits, stopping the servers.
#[derive(Debug, Default)]
pub struct Interrupts {
    in_command: std::sync::atomic::AtomicBool,
    cancel: tokio::sync::Notify,
}

impl Interrupts {
    /// A shared handle (one per process).
    pub fn new() -> std::sync::Arc<Interrupts> {
        std::sync::Arc::new(Interrupts::default())
    }

    /// Called by the SIGINT handler: true when a running command was asked
    /// to stop (so the process must not quit).
    pub fn cancel_command(&self) -> bool {
        if self.in_command.load(std::sync::atomic::Ordering::SeqCst) {
            self.cancel.notify_one();
            true
        } else {
            false
        }
    }
}

/// New supervisor events, printed between commands (`* <text>`): to
/// stderr in piped mode (the transcript on stdout stays the commands'
/// output), before the prompt in the interactive shell.
pub struct EventFeed {
    supervisor: Option<crate::supervisor::Supervisor>,
    seen: u64,
}

impl EventFeed {
    /// A feed of the interpreter's supervisor's events (none without one).
    pub fn new(interpreter: &Interpreter) -> EventFeed {
        EventFeed {
            supervisor: interpreter.supervisor().cloned(),
            seen: 0,
        }
    }

    /// Lines for the events since the last call.
    pub fn drain(&mut self) -> Vec<String> {
        let Some(supervisor) = &self.supervisor else {
            return Vec::new();
        };
        let (events, last) = supervisor.events_since(self.seen);
        self.seen = last;
        events.iter().map(format::event_line).collect()
    }

    /// Writes the new events to `out`, ignoring errors (best effort).
    pub fn print(&mut self, out: &mut impl Write) {
        for line in self.drain() {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }
}

/// Runs one line and prints its output to `out`. Returns (ok, quit).
pub fn run_one<W: Write + Send>(
    runtime: &tokio::runtime::Runtime,
    interpreter: &mut Interpreter,
    line: &str,
    out: W,
) -> io::Result<(bool, bool)> {
    let mut printer = Printer::new(out, interpreter);
    let outcome = runtime.block_on(interpreter.run_line(line, &mut |e| printer.event(e)));
    if let Some(e) = printer.error {
        return Err(e);
    }
    Ok((outcome.ok, outcome.quit))
}

/// Like [`run_one`], but a Ctrl-C (see [`Interrupts`]) cancels the command:
/// prints ` — cancelled (Ctrl-C)` and reports a failure.
pub fn run_one_cancellable<W: Write + Send>(
    runtime: &tokio::runtime::Runtime,
    interpreter: &mut Interpreter,
    line: &str,
    out: W,
    interrupts: &Interrupts,
) -> io::Result<(bool, bool)> {
    use std::sync::atomic::Ordering;
    let mut printer = Printer::new(out, interpreter);
    let cancelled = interrupts.cancel.notified();
    tokio::pin!(cancelled);
    // Register before allowing cancellation, so no notification is lost.
    cancelled.as_mut().enable();
    interrupts.in_command.store(true, Ordering::SeqCst);
    let outcome = runtime.block_on(async {
        let mut sink = |e| printer.event(e);
        tokio::select! {
            outcome = interpreter.run_line(line, &mut sink) => Some(outcome),
            _ = &mut cancelled => None,
        }
    });
    interrupts.in_command.store(false, Ordering::SeqCst);
    if let Some(e) = printer.error {
        return Err(e);
    }
    match outcome {
        Some(o) => Ok((o.ok, o.quit)),
        None => {
            writeln!(printer.out, " — cancelled (Ctrl-C)")?;
            Ok((false, false))
        }
    }
}

/// The longest wait for the first probe round before the first command
/// (a round lasts the probe timeout when a server is silent).
const FIRST_PROBE_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Waits until the supervisor has probed every server once: the servers
/// it did not start are `unreachable` until a probe answers, so a `status`
/// typed or piped as the first command would show them so.
fn wait_first_probe(runtime: &tokio::runtime::Runtime, interpreter: &Interpreter) {
    if let Some(supervisor) = interpreter.supervisor() {
        runtime.block_on(supervisor.probed_once(FIRST_PROBE_LIMIT));
    }
}

/// Lines a session runs besides the user's: `dkvs-tui --lesson` before the
/// first one, as if typed, and `--export` after the last, when the session
/// ends (`quit`, end of input, Ctrl-D; the full screen also on Ctrl-C and
/// SIGTERM), before the servers are stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionLines {
    /// Run before the user's first line.
    pub first: Vec<String>,
    /// Run when the session ends.
    pub last: Vec<String>,
}

/// Runs `lines` one after the other, each shown as `<prefix><line>` first
/// when there is a prefix; returns (every one succeeded, one was `quit`).
/// An output that fails does not stop them (the files of `--export` are
/// still written); its first error is returned at the end.
fn run_lines<W: Write + Send>(
    runtime: &tokio::runtime::Runtime,
    interpreter: &mut Interpreter,
    lines: &[String],
    out: &mut W,
    prefix: Option<&str>,
) -> io::Result<(bool, bool)> {
    let mut all_ok = true;
    let mut failed: Option<io::Error> = None;
    let mut quit = false;
    for line in lines {
        if let Some(prefix) = prefix
            && let Err(e) = writeln!(out, "{prefix}{line}").and_then(|_| out.flush())
        {
            failed.get_or_insert(e);
        }
        match run_one(runtime, interpreter, line, &mut *out) {
            Ok((ok, q)) => {
                all_ok &= ok;
                quit = q;
            }
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
        if quit {
            break;
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok((all_ok, quit)),
    }
}

/// Reads commands from `input` one per line until `quit` or the end, echoing
/// each as `> <line>` (when `echo`) before its output, once every server
/// was probed; `session`'s first lines run before, its last lines after.
/// Returns true when every command succeeded.
pub fn run_piped<W: Write + Send>(
    runtime: &tokio::runtime::Runtime,
    interpreter: &mut Interpreter,
    input: impl BufRead,
    out: &mut W,
    echo: bool,
    session: &SessionLines,
) -> io::Result<bool> {
    wait_first_probe(runtime, interpreter);
    // No lesson panel here: a lesson step's text goes into the output.
    interpreter.set_lesson_text_in_output(true);
    let mut events = EventFeed::new(interpreter);
    events.print(&mut io::stderr());
    let prefix = echo.then_some("> ");
    let body = run_lines(runtime, interpreter, &session.first, out, prefix).and_then(
        |(first_ok, quit)| {
            events.print(&mut io::stderr());
            if quit {
                return Ok(first_ok);
            }
            let read_ok = read_piped(runtime, interpreter, input, out, echo, &mut events)?;
            Ok(first_ok && read_ok)
        },
    );
    // The session's last lines run however it ended.
    let last = run_lines(runtime, interpreter, &session.last, out, prefix);
    events.print(&mut io::stderr());
    let (last_ok, _) = last?;
    Ok(body? && last_ok)
}

/// The body of [`run_piped`]: the lines of `input`.
fn read_piped<W: Write + Send>(
    runtime: &tokio::runtime::Runtime,
    interpreter: &mut Interpreter,
    input: impl BufRead,
    out: &mut W,
    echo: bool,
    events: &mut EventFeed,
) -> io::Result<bool> {
    let mut all_ok = true;
    for line in input.lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                writeln!(out, "{}", format::error_line("the line is not valid UTF-8"))?;
                all_ok = false;
                continue;
            }
            Err(e) => return Err(e),
        };
        let line = line.trim_end_matches('\r');
        if echo && !line.trim().is_empty() {
            writeln!(out, "> {line}")?;
            out.flush()?;
        }
        let (ok, quit) = run_one(runtime, interpreter, line, &mut *out)?;
        events.print(&mut io::stderr());
        all_ok &= ok;
        if quit {
            break;
        }
    }
    Ok(all_ok)
}

/// Completion of commands, option names and server names.
pub struct ShellHelper {
    servers: Vec<String>,
}

impl ShellHelper {
    /// A helper for a configuration's servers (by position and ip:port).
    pub fn new(config: &ClusterConfig) -> ShellHelper {
        let mut servers: Vec<String> = (1..=config.servers.len()).map(|i| i.to_string()).collect();
        servers.extend(config.servers.iter().map(|s| s.addr().to_string()));
        ShellHelper { servers }
    }

    /// Candidates for the word under the cursor: (start of that word,
    /// candidates).
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = line.get(..pos).unwrap_or(line);
        let start = before.rfind(' ').map_or(0, |i| i + 1);
        let partial = &before[start..];
        let previous: Vec<String> = split_words(&before[..start])
            .map(|w| w.into_iter().map(|w| w.text).collect())
            .unwrap_or_default();
        let options: &[&str] = match previous.first().map(String::as_str) {
            None => COMMANDS,
            Some("put") => &["n=", "w="],
            Some("get") | Some("find") => &["n=", "r="],
            Some("cat") | Some("substr") => &["n=", "r=", "w="],
            Some("slow") if previous.len() == 1 => &["on", "off", "100", "700"],
            Some("whatif") if previous.len() == 1 => &["add", "remove", "nodes", "off"],
            Some("whatif") if previous.get(1).is_some_and(|w| w == "add") => &["nodes="],
            Some("add") if previous.len() == 2 => &["nodes="],
            Some("help") if previous.len() == 1 => COMMANDS,
            Some("export") if previous.len() == 1 => &["ring", "transcript"],
            _ => &[],
        };
        let takes_server = match previous.first().map(String::as_str) {
            Some(
                "kill" | "stop" | "start" | "restart" | "pause" | "resume" | "dump" | "remove",
            ) => previous.len() == 1,
            Some("whatif") => matches!(previous.as_slice(), [_, second] if second == "remove"),
            _ => false,
        };
        let mut found: Vec<String> = options
            .iter()
            .filter(|o| o.starts_with(partial))
            .map(|o| o.to_string())
            .collect();
        if takes_server {
            found.extend(
                self.servers
                    .iter()
                    .filter(|s| s.starts_with(partial))
                    .cloned(),
            );
        }
        (start, found)
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, found) = self.candidates(line, pos);
        Ok((
            start,
            found
                .into_iter()
                .map(|c| Pair {
                    display: c.clone(),
                    replacement: if c.ends_with('=') { c } else { format!("{c} ") },
                })
                .collect(),
        ))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

/// The interactive shell on a terminal; `session`'s first lines run before
/// the first prompt, its last lines when it ends. Returns false when any
/// command failed (as piped mode).
pub fn run_interactive(
    runtime: &tokio::runtime::Runtime,
    interpreter: &mut Interpreter,
    interrupts: &Interrupts,
    session: &SessionLines,
) -> io::Result<bool> {
    let mut editor: Editor<ShellHelper, DefaultHistory> =
        Editor::new().map_err(|e| io::Error::other(e.to_string()))?;
    editor.set_helper(Some(ShellHelper::new(interpreter.client().config())));
    println!(
        "dkvs-tui shell: type `help` for the commands, Tab completes, Ctrl-D or `quit` leaves."
    );
    wait_first_probe(runtime, interpreter);
    // No lesson panel here: a lesson step's text goes into the output.
    interpreter.set_lesson_text_in_output(true);
    let mut events = EventFeed::new(interpreter);
    let (mut all_ok, mut quit) = run_lines(
        runtime,
        interpreter,
        &session.first,
        &mut io::stdout(),
        Some(PROMPT),
    )?;
    while !quit {
        events.print(&mut io::stdout());
        match editor.readline(PROMPT) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                // Enter on an empty line moves a running lesson on.
                let line = if line.trim().is_empty() && interpreter.lesson_running() {
                    "lesson next".to_string()
                } else {
                    line
                };
                let (ok, stop) =
                    run_one_cancellable(runtime, interpreter, &line, io::stdout(), interrupts)?;
                all_ok &= ok;
                if stop {
                    quit = true;
                    continue;
                }
                // `add` and `remove` change the server names to complete.
                editor.set_helper(Some(ShellHelper::new(interpreter.client().config())));
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(io::Error::other(e.to_string())),
        }
    }
    let (last_ok, _) = run_lines(
        runtime,
        interpreter,
        &session.last,
        &mut io::stdout(),
        Some(PROMPT),
    )?;
    Ok(all_ok && last_ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_servers_txt;

    #[test]
    fn interrupts_cancel_only_a_running_command() {
        let i = Interrupts::new();
        assert!(!i.cancel_command());
        i.in_command
            .store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(i.cancel_command());
    }

    #[test]
    fn completion_candidates() {
        let config = parse_servers_txt("127.0.0.1 1234 3\n127.0.0.1 1235 1\n", "t").unwrap();
        let h = ShellHelper::new(&config);
        assert_eq!(h.candidates("pu", 2), (0, vec!["put".to_string()]));
        let (_, all) = h.candidates("", 0);
        assert_eq!(all.len(), COMMANDS.len());
        assert_eq!(h.candidates("st", 2).1, vec!["stop", "start", "status"]);
        assert_eq!(
            h.candidates("put a b ", 8),
            (8, vec!["n=".into(), "w=".into()])
        );
        assert_eq!(h.candidates("get a r", 7).1, vec!["r="]);
        assert_eq!(
            h.candidates("kill ", 5).1,
            vec!["1", "2", "127.0.0.1:1234", "127.0.0.1:1235"]
        );
        assert_eq!(
            h.candidates("kill 127.0.0.1:1235", 19).1,
            vec!["127.0.0.1:1235"]
        );
        assert!(h.candidates("kill 1 ", 7).1.is_empty());
        assert_eq!(h.candidates("whatif r", 8).1, vec!["remove"]);
        assert_eq!(h.candidates("whatif remove 2", 15).1, vec!["2"]);
        assert_eq!(
            h.candidates("whatif add 1.2.3.4:5 no", 23).1,
            vec!["nodes="]
        );
        assert_eq!(h.candidates("slow o", 6).1, vec!["on", "off"]);
        assert_eq!(h.candidates("help wh", 7).1, vec!["where", "whatif"]);
        // A cursor inside a multi-byte character must not panic.
        let _ = h.candidates("put é", 5);
    }
}
