//! The full-screen UI of `dkvs-tui` (docs/TUI.md).
//!
//! Split the way gitui and bottom split theirs: [`app`] holds the state and
//! the pure key handling, [`draw`] and [`ring_view`] turn the state into
//! cells, [`theme`] holds the colours, [`rates`] the servers' ops/s and
//! [`poller`] the task feeding them, and this module owns the terminal and the
//! event loop.
//!
//! The loop blocks on one channel that merges everything that can change the
//! screen — key and mouse events (read by a small input thread), supervisor
//! changes (its `watch` channel), interpreter output, action answers and
//! signals — with a one-second timeout for the age column. It redraws only
//! after a message or that tick, so an idle screen costs almost no CPU and a
//! supervisor change is on screen within a frame. REPL lines run on a tokio
//! task that owns the interpreter, so a slow quorum never blocks the keys.
//!
//! The terminal is restored on every way out: normal quit, error (a guard's
//! `Drop`), panic (a hook that restores the terminal and then calls the hook
//! that was there before — the binary's, which stops the children) and
//! SIGINT/SIGTERM/SIGHUP (which end the loop normally).

pub mod app;
pub mod draw;
pub mod poller;
pub mod rates;
pub mod ring_arcs;
pub mod ring_legend;
pub mod ring_motion;
pub mod ring_view;
pub mod theme;

use std::io::{self, BufWriter, Stdout, stdout};
use std::panic::PanicHookInfo;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::Show;
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::layout::Rect;
use tokio::runtime::Runtime;

use crate::repl::shell::SessionLines;
use crate::repl::{Interpreter, LineOutcome, ProcessAction, ReplEvent, View};
use crate::supervisor::{ActionError, Supervisor};

use app::{Action, App, LogSnapshot};
use theme::{Theme, ThemeKind};

/// Environment variable that arms the test-only panic line (`__panic`).
pub const TEST_PANIC_ENV: &str = "DKVS_TUI_TEST_PANIC";

/// How often the screen is redrawn when nothing happens (for the ages).
const TICK: Duration = Duration::from_secs(1);
/// How long the input thread blocks before checking whether to stop.
const INPUT_POLL: Duration = Duration::from_millis(250);

/// Everything that can change the screen.
enum Msg {
    Input(Event),
    InputFailed(io::Error),
    Changed,
    Repl(u64, ReplEvent),
    LineDone(u64, LineOutcome, Box<View>),
    ActDone(u64, Result<String, ActionError>),
    Rates(Instant, Vec<Option<rates::Reading>>),
    /// Every server's key count and pending hints (the list's keys and
    /// hints columns).
    Keys(Vec<Option<u64>>, Vec<Option<u64>>),
    Signal,
    Panicked,
}

/// Set by the panic hook: the terminal has been restored, so the loop must
/// not draw again.
static PANICKED: AtomicBool = AtomicBool::new(false);

/// Puts the terminal back as it was: raw mode off, main screen, mouse
/// released, cursor shown. Idempotent and safe to call from a panic hook.
pub fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(stdout(), DisableMouseCapture, LeaveAlternateScreen, Show);
}

/// The terminal backend: stdout behind a buffer large enough for a whole
/// frame, so each frame reaches the terminal in one write (no half-drawn
/// frames, no flicker); ratatui flushes it at the end of every draw.
type Screen = CrosstermBackend<BufWriter<Stdout>>;

/// Bytes buffered per frame (a full 300×100 redraw with colours fits).
const FRAME_BUFFER_BYTES: usize = 1 << 20;

/// Owns the terminal while the UI runs; restores it when dropped (also
/// while unwinding).
struct TerminalGuard {
    terminal: Terminal<Screen>,
}

impl TerminalGuard {
    fn enter(mouse: bool) -> io::Result<TerminalGuard> {
        enable_raw_mode()?;
        let setup = (|| {
            execute!(stdout(), EnterAlternateScreen)?;
            if mouse {
                execute!(stdout(), EnableMouseCapture)?;
            }
            Terminal::new(CrosstermBackend::new(BufWriter::with_capacity(
                FRAME_BUFFER_BYTES,
                stdout(),
            )))
        })();
        match setup {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore_terminal();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Installs a panic hook that restores the terminal and then runs the hook
/// that was installed before; puts that hook back when dropped.
///
/// A panic on another thread (a tokio task) also ends the UI: the hook wakes
/// the loop, which returns an error instead of drawing on the restored
/// terminal.
struct PanicHookGuard {
    previous: Arc<Hook>,
}

impl PanicHookGuard {
    fn install(wake: mpsc::Sender<Msg>) -> PanicHookGuard {
        let previous: Arc<Hook> = Arc::new(std::panic::take_hook());
        let prev = Arc::clone(&previous);
        PANICKED.store(false, Ordering::SeqCst);
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::SeqCst);
            restore_terminal();
            prev(info);
            let _ = wake.send(Msg::Panicked);
        }));
        PanicHookGuard { previous }
    }
}

impl Drop for PanicHookGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The hook cannot be changed while panicking; ours stays, which
            // is harmless (restoring twice is fine).
            return;
        }
        let _ = std::panic::take_hook();
        let prev = Arc::clone(&self.previous);
        std::panic::set_hook(Box::new(move |info| prev(info)));
    }
}

/// Reads terminal events on a thread of its own until told to stop.
struct InputThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl InputThread {
    fn spawn(tx: mpsc::Sender<Msg>) -> io::Result<InputThread> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("dkvs-tui-input".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match event::poll(INPUT_POLL) {
                        Ok(false) => {}
                        Ok(true) => match event::read() {
                            Ok(ev) => {
                                if tx.send(Msg::Input(ev)).is_err() {
                                    return;
                                }
                            }
                            Err(e) => {
                                let _ = tx.send(Msg::InputFailed(e));
                                return;
                            }
                        },
                        Err(e) => {
                            let _ = tx.send(Msg::InputFailed(e));
                            return;
                        }
                    }
                }
            })?;
        Ok(InputThread {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for InputThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wait a little for the thread to see the flag, but never forever:
        // when the terminal has gone away (SIGHUP, a killed tmux session)
        // crossterm's poll can keep spinning on the dead tty and never
        // return; the thread is then left behind and ends with the process.
        let Some(h) = self.handle.take() else { return };
        let deadline = Instant::now() + INPUT_POLL * 2;
        while !h.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if h.is_finished() {
            let _ = h.join();
        }
    }
}

/// Aborts the background tasks of one run when dropped.
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Runs the full-screen UI until the user quits (or a signal arrives).
///
/// Call it from the main thread, outside `rt.block_on`: it blocks the calling
/// thread and runs the interpreter, the supervisor watcher and the signal
/// listener as tasks on `rt`. It takes over the terminal and restores it on
/// every exit path, including a panic. It does not stop the servers: the
/// caller does (`supervisor.shutdown()`) once it returns.
///
/// `session`'s first lines run as if typed once the servers answered
/// (`--lesson`); its last lines (`--export`) run when the user quits (or a
/// signal ends the screen), after the terminal is restored, their output
/// printed. Returns false when one of those last lines failed.
pub fn run(
    rt: &Runtime,
    interpreter: Interpreter,
    supervisor: Supervisor,
    session: &SessionLines,
) -> io::Result<bool> {
    let config = Arc::new(interpreter.client().config().clone());
    let mut app = App::new(config, Theme::new(ThemeKind::from_env()), Instant::now());
    app.test_panic = std::env::var(TEST_PANIC_ENV).is_ok_and(|v| v == "1");

    let (tx, rx) = mpsc::channel::<Msg>();
    let mut tasks = Tasks(Vec::new());

    // The interpreter runs lines one after the other on its own task.
    let (line_tx, line_rx) = tokio::sync::mpsc::unbounded_channel::<(u64, String)>();
    let first_wait = (!session.first.is_empty()).then(|| supervisor.clone());
    tasks.0.push(spawn_interpreter(
        rt,
        interpreter,
        line_rx,
        tx.clone(),
        first_wait,
    ));
    // Supervisor changes.
    {
        let tx = tx.clone();
        let mut changes = supervisor.subscribe();
        tasks.0.push(rt.spawn(async move {
            while changes.changed().await.is_ok() {
                if tx.send(Msg::Changed).is_err() {
                    return;
                }
            }
        }));
    }
    // Every server's operation counters, once a second (the sparklines).
    {
        let tx = tx.clone();
        let source = Arc::new(poller::RingStats::new(
            &app.config,
            Some(supervisor.clone()),
        ));
        let keys = Arc::clone(&source);
        let _enter = rt.enter();
        tasks
            .0
            .push(poller::spawn_poller(source, move |at, totals| {
                tx.send(Msg::Keys(keys.key_counts(), keys.hint_counts()))
                    .is_ok()
                    && tx.send(Msg::Rates(at, totals)).is_ok()
            }));
    }
    // Signals end the loop like a quit.
    {
        let tx = tx.clone();
        tasks.0.push(rt.spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
                signal(SignalKind::hangup()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
                _ = hup.recv() => {}
            }
            let _ = tx.send(Msg::Signal);
        }));
    }

    for line in &session.first {
        if let Action::Run { id, line } = app.run_as_typed(line) {
            let _ = line_tx.send((id, line));
        }
    }

    let _hook = PanicHookGuard::install(tx.clone());
    let mut guard = TerminalGuard::enter(app.mouse)?;
    let input = InputThread::spawn(tx.clone())?;

    let result = event_loop(
        &mut guard.terminal,
        &mut app,
        &rx,
        &tx,
        rt,
        &supervisor,
        &line_tx,
    );
    drop(input);
    drop(guard);
    let last = last_lines(&app, session);
    let finished = result.map(|()| finish_session(&rx, &line_tx, &last));
    drop(tasks);
    finished
}

/// The lines to run once the screen is gone: `lesson end` when a lesson
/// still runs (so the cluster, and a cluster file its `add` or `remove`
/// rewrote, is put back), then the session's own (`--export`).
fn last_lines(app: &App, session: &SessionLines) -> Vec<String> {
    let leave = app.view.lesson.is_some().then(|| "lesson end".to_string());
    leave
        .into_iter()
        .chain(session.last.iter().cloned())
        .collect()
}

/// How long the session's last lines (`--export`) may take after a quit.
const LAST_LINES_LIMIT: Duration = Duration::from_secs(10);

/// Runs the session's `last` lines on the interpreter's task (after any
/// line still running) once the screen is gone, printing their output;
/// true when all succeeded within [`LAST_LINES_LIMIT`].
fn finish_session(
    rx: &mpsc::Receiver<Msg>,
    lines: &tokio::sync::mpsc::UnboundedSender<(u64, String)>,
    last: &[String],
) -> bool {
    // Ids the screen never uses (its own count up from 0).
    let first_id = u64::MAX - last.len() as u64;
    for (i, line) in last.iter().enumerate() {
        if lines.send((first_id + 1 + i as u64, line.clone())).is_err() {
            say_after(&format!(
                "ERROR: the interpreter stopped: {line} was not run"
            ));
            return false;
        }
    }
    let deadline = Instant::now() + LAST_LINES_LIMIT;
    let mut pending = last.len();
    let mut ok = true;
    while pending > 0 {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Msg::Repl(id, ReplEvent::Line(text))) if id > first_id => say_after(&text),
            Ok(Msg::LineDone(id, outcome, _)) if id > first_id => {
                pending -= 1;
                ok &= outcome.ok;
            }
            Ok(_) => {}
            Err(_) => {
                say_after(&format!(
                    "ERROR: {pending} of the session's last lines did not finish within {} s",
                    LAST_LINES_LIMIT.as_secs()
                ));
                return false;
            }
        }
    }
    ok
}

/// Prints a line on the restored terminal, ignoring errors: after a SIGHUP
/// there is no terminal any more, and the files must still be written.
fn say_after(line: &str) {
    use std::io::Write as _;
    let mut out = stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The interpreter's task: runs the lines it receives one after the other,
/// reporting their output and end to `tx`; with `first_wait`, only once
/// the servers were started and probed (the session's first lines).
fn spawn_interpreter(
    rt: &Runtime,
    mut interpreter: Interpreter,
    mut line_rx: tokio::sync::mpsc::UnboundedReceiver<(u64, String)>,
    tx: mpsc::Sender<Msg>,
    first_wait: Option<Supervisor>,
) -> tokio::task::JoinHandle<()> {
    rt.spawn(async move {
        if let Some(sup) = first_wait {
            // Like the shells: the servers answer before a lesson begins.
            sup.wait_started(Duration::from_secs(3)).await;
            sup.probed_once(Duration::from_secs(2)).await;
        }
        while let Some((id, line)) = line_rx.recv().await {
            let events = tx.clone();
            let mut sink = move |ev: ReplEvent| {
                let _ = events.send(Msg::Repl(id, ev));
            };
            let outcome = interpreter.run_line(&line, &mut sink).await;
            let view = Box::new(interpreter.view().clone());
            if tx.send(Msg::LineDone(id, outcome, view)).is_err() {
                return;
            }
        }
    })
}

fn refresh(app: &mut App, supervisor: &Supervisor) {
    // A membership change (`add`, `remove`) replaced the configuration.
    let config = supervisor.config();
    if config.servers != app.config.servers {
        app.set_config(config);
    }
    let selected = app.selected.min(app.server_count().saturating_sub(1));
    let (lines, total) = supervisor.server_log_counted(selected);
    app.set_snapshot(
        supervisor.statuses(),
        supervisor.events(),
        LogSnapshot {
            server: selected,
            lines,
            total,
        },
        Instant::now(),
    );
}

fn event_loop(
    terminal: &mut Terminal<Screen>,
    app: &mut App,
    rx: &mpsc::Receiver<Msg>,
    tx: &mpsc::Sender<Msg>,
    rt: &Runtime,
    supervisor: &Supervisor,
    lines: &tokio::sync::mpsc::UnboundedSender<(u64, String)>,
) -> io::Result<()> {
    loop {
        if PANICKED.load(Ordering::SeqCst) {
            return Err(io::Error::other(
                "the screen stopped after a panic (see above)",
            ));
        }
        refresh(app, supervisor);
        let frame = terminal.draw(|f| {
            if let Some((x, y)) = draw::render(app, f.area(), f.buffer_mut()) {
                f.set_cursor_position((x, y));
            }
        })?;
        let size = frame.area.as_size();
        let screen = Rect::new(0, 0, size.width, size.height);
        let drawn = Instant::now();

        // Wait for something to happen, or for the next tick.
        // A playback on the ring redraws every frame until it ends.
        let tick = app.motion_tick(drawn).map_or(TICK, |t| t.min(TICK));
        let first = match rx.recv_timeout(tick.saturating_sub(drawn.elapsed())) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        let mut next = Some(first);
        while let Some(msg) = next {
            match on_msg(app, msg, screen)? {
                Action::None => {}
                Action::Quit => return Ok(()),
                Action::Run { id, line } => {
                    if lines.send((id, line)).is_err() {
                        app.abandon_running("ERROR: the interpreter stopped");
                    }
                }
                Action::Act { id, action, index } => {
                    spawn_act(rt, supervisor, tx, id, action, index)
                }
                Action::SetMouse(on) => {
                    if on {
                        execute!(terminal.backend_mut(), EnableMouseCapture)?;
                    } else {
                        execute!(terminal.backend_mut(), DisableMouseCapture)?;
                    }
                }
                Action::TestPanic => test_panic(),
            }
            // Take everything else that is already waiting before drawing.
            next = rx.try_recv().ok();
        }
    }
}

/// Hands one message to the app, on a `screen` of the size last drawn;
/// returns what the event loop must do next. An input error or a panic
/// elsewhere stops the screen.
fn on_msg(app: &mut App, msg: Msg, screen: Rect) -> io::Result<Action> {
    Ok(match msg {
        Msg::Input(Event::Key(k)) => app.handle_key(k),
        Msg::Input(Event::Mouse(m)) => {
            let areas = draw::screen_layout(app, screen);
            app.handle_mouse(m, areas.as_ref())
        }
        Msg::Input(_) => Action::None,
        Msg::InputFailed(e) => return Err(e),
        Msg::Changed => Action::None,
        Msg::Repl(_, ReplEvent::Motion(m)) => {
            app.on_motion(*m, Instant::now());
            Action::None
        }
        Msg::Repl(id, ev) => {
            app.on_repl_event(id, ev);
            Action::None
        }
        Msg::LineDone(id, outcome, view) => {
            app.on_line_done(id, outcome, *view);
            if outcome.quit {
                Action::Quit
            } else {
                Action::None
            }
        }
        Msg::ActDone(id, result) => {
            app.on_act_done(id, result);
            Action::None
        }
        Msg::Keys(keys, hints) => {
            app.keys = keys;
            app.hints = hints;
            Action::None
        }
        Msg::Rates(at, totals) => {
            app.on_rates(at, &totals);
            Action::None
        }
        Msg::Signal => Action::Quit,
        Msg::Panicked => {
            return Err(io::Error::other(
                "the screen stopped after a panic (see above)",
            ));
        }
    })
}

/// Panics on purpose: the hidden REPL line armed by `DKVS_TUI_TEST_PANIC=1`
/// lets tests/tui_screen.rs check that a panic restores the terminal and
/// stops the servers. The only deliberate panic in the TUI; nothing else
/// reaches it.
#[expect(
    clippy::panic,
    reason = "a panic is what this test hook exists to produce"
)]
fn test_panic() -> ! {
    panic!("{TEST_PANIC_ENV}=1: test-only panic requested from the REPL line")
}

/// Runs a process action on its own task; the answer comes back as a message.
fn spawn_act(
    rt: &Runtime,
    supervisor: &Supervisor,
    tx: &mpsc::Sender<Msg>,
    id: u64,
    action: ProcessAction,
    index: usize,
) {
    let sup = supervisor.clone();
    let tx = tx.clone();
    rt.spawn(async move {
        let result = sup.act(action, index).await;
        let _ = tx.send(Msg::ActDone(id, result));
    });
}

#[cfg(test)]
mod tests;
