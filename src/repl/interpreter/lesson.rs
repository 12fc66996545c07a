//! `lesson`: runs guided lessons (format and snapshots in
//! [`crate::repl::lesson`]). A step's `$` commands run through this
//! interpreter as if typed, each echoed as `$ <line>`, in the output of
//! the `lesson …` line that entered the step; leaving or finishing a
//! lesson undoes what happened during it with the interpreter's own
//! commands (restore.rs plans, this module acts).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::commands::Command;
use crate::quorum::QuorumOptions;
use crate::supervisor::ServerState;

use super::super::format::error_line;
use super::super::lesson::restore::{self, RunState, ServerSnap, Snapshot, Undo};
use super::super::lesson::{self as lessons, Lesson, LessonError, bundled};
use super::super::parse::{Fault, LessonCommand, LessonSource, ReplCommand, Slow, WhatIf};
use super::super::{LessonView, ReplEvent, parse_line};
use super::{FAILED, Interpreter, LineOutcome, OK, Sink, say};

/// Width of the step text printed by the line shell.
const TEXT_WIDTH: usize = 76;

/// How long leaving a lesson waits for restarted servers to answer.
const UP_WAIT: Duration = Duration::from_secs(5);

/// A lesson being run.
#[derive(Debug)]
pub(super) struct Run {
    lesson: Lesson,
    /// Its number when it is bundled.
    number: Option<usize>,
    /// The current step (0-based).
    step: usize,
    /// The student typed what the step waits for (or it waits for nothing).
    met: bool,
    /// The cluster when the lesson started.
    start: Snapshot,
    /// The cluster when each step was last entered going forward.
    entered: Vec<Option<Snapshot>>,
    /// Keys written since the lesson started.
    keys: BTreeSet<Vec<u8>>,
}

impl Run {
    fn current(&self) -> Option<&lessons::Step> {
        self.lesson.steps.get(self.step)
    }

    /// What the lesson panel shows.
    fn view(&self) -> Option<LessonView> {
        let step = self.current()?;
        Some(LessonView {
            title: self.lesson.title.clone(),
            step: self.step + 1,
            steps: self.lesson.steps.len(),
            heading: step.heading.clone(),
            text: step.text.clone(),
            expect: step.expect.as_ref().map(|e| e.shown.clone()),
            expect_met: self.met,
        })
    }

    /// "Lesson 2/7" for a bundled lesson, "Lesson <file>" for a file.
    fn name(&self) -> String {
        match self.number {
            Some(n) => format!("Lesson {n}/{}", bundled::count()),
            None => format!("Lesson {}", self.lesson.file),
        }
    }
}

impl Interpreter {
    /// Prints a lesson step's heading and text into the output (the line
    /// shell, which has no lesson panel) when true; the TUI leaves it false.
    pub fn set_lesson_text_in_output(&mut self, on: bool) {
        self.lesson_text = on;
    }

    /// True while a guided lesson runs (Enter, Backspace and Esc on an
    /// empty REPL line then mean `lesson next`, `back` and `end`).
    pub fn lesson_running(&self) -> bool {
        self.lesson.is_some()
    }

    /// Keeps `view.lesson` in step with the running lesson.
    pub(super) fn update_lesson_view(&mut self) {
        self.view.lesson = self.lesson.as_ref().and_then(Run::view);
    }

    /// Notes the keys a data command writes, while a lesson runs.
    pub(super) fn note_written(&mut self, command: &Command) {
        let Some(run) = &mut self.lesson else {
            return;
        };
        match command {
            Command::Put { key, .. } => run.keys.insert(key.clone()),
            Command::Cat { dest, .. } | Command::Substr { dest, .. } => {
                run.keys.insert(dest.clone())
            }
            _ => false,
        };
    }

    /// After a line the student typed (not a `lesson` line): does it
    /// match what the current step waits for?
    pub(super) fn check_expect(&mut self, line: &str, sink: Sink<'_>) {
        let text = self.lesson_text;
        let Some(run) = &mut self.lesson else {
            return;
        };
        let last = run.step + 1 == run.lesson.steps.len();
        let Some(expect) = run.current().and_then(|s| s.expect.as_ref()) else {
            return;
        };
        if run.met || !expect.pattern.matches(line) {
            return;
        }
        run.met = true;
        let next = match (text, last) {
            (false, false) => "Enter for the next step",
            (false, true) => "Enter to finish the lesson",
            (true, false) => "`lesson next` for the next step",
            (true, true) => "`lesson next` to finish the lesson",
        };
        say(sink, format!("✓ that is it — {next}"));
    }

    /// Leaves the running lesson, if any, restoring the cluster (the
    /// screen calls it before quitting by a key; `quit` does it itself).
    /// False when something could not be restored.
    pub async fn leave_lesson(&mut self, sink: &mut (dyn FnMut(ReplEvent) + Send)) -> bool {
        if self.lesson.is_none() {
            return true;
        }
        self.end_lesson(false, sink).await.ok
    }

    /// `quit`: a running lesson is left first, so a cluster file its `add`
    /// or `remove` rewrote is put back.
    pub(super) async fn quit(&mut self, sink: Sink<'_>) -> LineOutcome {
        let ok = self.leave_lesson(sink).await;
        self.update_lesson_view();
        LineOutcome { ok, quit: true }
    }

    /// `lesson …`.
    pub(super) async fn lesson(&mut self, command: LessonCommand, sink: Sink<'_>) -> LineOutcome {
        let outcome = match command {
            LessonCommand::List => self.list_lessons(sink),
            LessonCommand::Start(source) => self.start_lesson(source, sink).await,
            LessonCommand::Next => self.next_step(sink).await,
            LessonCommand::Back => self.previous_step(sink).await,
            LessonCommand::End => self.end_lesson(false, sink).await,
        };
        self.update_lesson_view();
        outcome
    }

    fn list_lessons(&self, sink: Sink<'_>) -> LineOutcome {
        say(sink, "lessons:");
        for number in 1..=bundled::count() {
            let line = match bundled::bundled(number) {
                Some(Ok(l)) => format!(
                    "  {number:>2}  {:<50} {} step{}",
                    l.title,
                    l.steps.len(),
                    if l.steps.len() == 1 { "" } else { "s" }
                ),
                Some(Err(e)) => format!("  {number:>2}  {}", error_line(e)),
                None => continue,
            };
            say(sink, line);
        }
        say(
            sink,
            "start one with `lesson <number>`; run a lesson file of your own with `lesson <file>`",
        );
        OK
    }

    /// Reads the lesson and checks it against this cluster.
    fn load_lesson(&self, source: &LessonSource) -> Result<(Lesson, Option<usize>), String> {
        let (lesson, number) = match source {
            LessonSource::Bundled(n) => match bundled::bundled(*n) {
                Some(l) => (l, Some(*n)),
                None => {
                    return Err(format!(
                        "no lesson {n}: there are {} (type `lesson`)",
                        bundled::count()
                    ));
                }
            },
            LessonSource::File(path) => (lessons::format::read_file(path), None),
        };
        let lesson = lesson.map_err(|e: LessonError| e.to_string())?;
        let servers = self.config().servers.len();
        if let Some(needs) = lesson.needs
            && servers < needs
        {
            return Err(format!(
                "lesson \"{}\" needs {needs} servers; this cluster has {servers} (start dkvs-tui with a larger cluster.toml, or `add` servers first)",
                lesson.title
            ));
        }
        if lesson.namespaces && !self.supervisor.as_ref().is_some_and(|s| s.has_hosts()) {
            return Err(format!(
                "lesson \"{}\" cuts links between servers, so it needs the namespaces mode: start dkvs-tui as root with [cluster] network = \"namespaces\" in cluster.toml (docs/TEACHING.md)",
                lesson.title
            ));
        }
        lesson
            .check_commands(self.config())
            .map_err(|e| e.to_string())?;
        Ok((lesson, number))
    }

    async fn start_lesson(&mut self, source: LessonSource, sink: Sink<'_>) -> LineOutcome {
        let (lesson, number) = match self.load_lesson(&source) {
            Ok(l) => l,
            Err(e) => {
                say(sink, error_line(e));
                return FAILED;
            }
        };
        if self.lesson.is_some() {
            self.end_lesson(false, &mut *sink).await;
        }
        let keys = BTreeSet::new();
        let start = self.snapshot(&keys);
        let steps = lesson.steps.len();
        let run = Run {
            entered: vec![None; steps],
            lesson,
            number,
            step: 0,
            met: false,
            start,
            keys,
        };
        say(
            sink,
            format!(
                "{}: {} — {steps} step{}",
                run.name(),
                run.lesson.title,
                if steps == 1 { "" } else { "s" }
            ),
        );
        self.lesson = Some(run);
        self.enter_step(0, true, sink).await
    }

    async fn next_step(&mut self, sink: Sink<'_>) -> LineOutcome {
        let text = self.lesson_text;
        let Some(run) = &self.lesson else {
            return no_lesson("next", sink);
        };
        if !run.met
            && let Some(expect) = run.current().and_then(|s| s.expect.as_ref())
        {
            let leave = if text { "`lesson end`" } else { "Esc" };
            say(
                sink,
                format!(
                    "this step waits for you to type: {} ({leave} leaves the lesson)",
                    expect.shown
                ),
            );
            return FAILED;
        }
        if run.step + 1 >= run.lesson.steps.len() {
            return self.end_lesson(true, sink).await;
        }
        let next = run.step + 1;
        self.enter_step(next, true, sink).await
    }

    async fn previous_step(&mut self, sink: Sink<'_>) -> LineOutcome {
        let Some(run) = &self.lesson else {
            return no_lesson("back", sink);
        };
        if run.step == 0 {
            say(
                sink,
                "this is the first step of the lesson: nothing to go back to",
            );
            return FAILED;
        }
        let back = run.step - 1;
        let then = run.entered.get(back).cloned().flatten();
        let mut ok = true;
        if let Some(then) = then {
            let keys = run.keys.clone();
            ok = self.restore_to(&then, &keys, &mut *sink).await == 0;
            if let Some(run) = &mut self.lesson {
                run.keys = then.keys.clone();
            }
        }
        let entered = self.enter_step(back, false, sink).await;
        LineOutcome {
            ok: ok && entered.ok,
            quit: false,
        }
    }

    /// Leaves the lesson (`finished`: after its last step), restoring the
    /// cluster as it was when the lesson started.
    async fn end_lesson(&mut self, finished: bool, sink: Sink<'_>) -> LineOutcome {
        let Some(run) = self.lesson.take() else {
            return no_lesson("end", sink);
        };
        self.update_lesson_view();
        let failed = self.restore_to(&run.start, &run.keys, &mut *sink).await;
        let what = if finished {
            "lesson finished"
        } else {
            "left the lesson"
        };
        if failed == 0 {
            say(sink, format!("{what}: the cluster is as it was"));
            OK
        } else {
            say(
                sink,
                error_line(format!(
                    "{what}, but {failed} thing{} could not be restored (above)",
                    if failed == 1 { "" } else { "s" }
                )),
            );
            FAILED
        }
    }

    /// Enters step `index`: its header (and text, in the line shell),
    /// then its `$` commands as if typed. Going `forward`, the cluster is
    /// snapshotted first, for `lesson back`.
    async fn enter_step(&mut self, index: usize, forward: bool, sink: Sink<'_>) -> LineOutcome {
        let text = self.lesson_text;
        let snapshot = match &self.lesson {
            Some(run) if forward => Some(self.snapshot(&run.keys)),
            _ => None,
        };
        let Some(run) = &mut self.lesson else {
            return FAILED;
        };
        let Some(step) = run.lesson.steps.get(index).cloned() else {
            return FAILED;
        };
        if let (Some(snapshot), Some(slot)) = (snapshot, run.entered.get_mut(index)) {
            *slot = Some(snapshot);
        }
        run.step = index;
        run.met = step.expect.is_none();
        let steps = run.lesson.steps.len();
        say(
            sink,
            format!(
                "── {} · step {}/{steps}: {} ──",
                run.name(),
                index + 1,
                step.heading
            ),
        );
        if text {
            for paragraph in &step.text {
                for line in lessons::wrap(paragraph, TEXT_WIDTH) {
                    say(sink, line);
                }
            }
        }
        self.update_lesson_view();
        let mut ok = true;
        for (_, command) in &step.commands {
            say(sink, format!("$ {command}"));
            ok &= self.run_step_line(command, &mut *sink).await.ok;
        }
        if text {
            let prompt = match &step.expect {
                Some(expect) => format!("→ your turn: {}", expect.shown),
                None if index + 1 == steps => "(`lesson next` finishes the lesson)".to_string(),
                None => "(`lesson next` for the next step, `lesson back`, `lesson end`)".into(),
            };
            say(sink, prompt);
        }
        self.update_lesson_view();
        LineOutcome { ok, quit: false }
    }

    /// Runs a step's `$` line (never `lesson` or `quit`: checked when the
    /// lesson started). Boxed: `lesson` runs lines that run commands.
    async fn run_step_line(&mut self, line: &str, sink: Sink<'_>) -> LineOutcome {
        match parse_line(line, self.config()) {
            Ok(Some(ReplCommand::Lesson(_) | ReplCommand::Quit)) => {
                say(sink, error_line("a lesson cannot run `lesson` or `quit`"));
                FAILED
            }
            Ok(Some(command)) => Box::pin(self.dispatch(command, sink)).await,
            Ok(None) => OK,
            Err(e) => {
                say(sink, error_line(e));
                FAILED
            }
        }
    }

    /// What a lesson may change, now; `keys`: the keys written so far.
    fn snapshot(&self, keys: &BTreeSet<Vec<u8>>) -> Snapshot {
        let statuses = self.supervisor.as_ref().map(|s| s.statuses());
        let state_of = |addr| {
            let status = statuses
                .as_ref()?
                .iter()
                .find(|s| s.spec.addr() == addr && s.managed)?;
            Some(match (status.pid, status.state) {
                (None, _) => RunState::Stopped,
                (Some(_), ServerState::Paused) => RunState::Paused,
                (Some(_), _) => RunState::Running,
            })
        };
        let servers = self
            .config()
            .servers
            .iter()
            .map(|spec| ServerSnap {
                spec: spec.clone(),
                state: state_of(spec.addr()),
            })
            .collect();
        let mut faults: Vec<_> = self
            .proxies
            .iter()
            .filter_map(|(i, p)| Some((self.config().servers.get(*i)?.addr(), p.faults())))
            .collect();
        faults.sort_by_key(|(addr, _)| *addr);
        Snapshot {
            servers,
            slow_ms: self.view.slow_ms,
            skew_ms: self.client.clock_offset_ms(),
            sloppy: self.client.hints() == crate::client::HintMode::Count,
            faults,
            whatif: self.view.whatif.is_some(),
            cuts: (self.groups.clone(), self.one_way.clone()),
            keys: keys.clone(),
        }
    }

    /// Puts the cluster back as it was in `then` (`keys`: written so far),
    /// one line per thing undone; returns how many could not be undone.
    async fn restore_to(
        &mut self,
        then: &Snapshot,
        keys: &BTreeSet<Vec<u8>>,
        sink: Sink<'_>,
    ) -> usize {
        let now = self.snapshot(keys);
        let plan = restore::plan(then, &now);
        let mut failed = 0;
        let mut waited = false;
        for undo in plan {
            // Servers come back before keys are deleted (plan's order).
            if !waited
                && matches!(
                    undo,
                    Undo::Del(_) | Undo::Fault(..) | Undo::Slow(_) | Undo::Skew(_)
                )
            {
                waited = true;
                self.wait_up(&mut *sink, &mut failed).await;
            }
            let mut lines: Vec<String> = Vec::new();
            let ok = {
                let mut capture = |e: ReplEvent| {
                    if let ReplEvent::Line(l) = e {
                        lines.push(l);
                    }
                };
                self.undo(&undo, &mut capture).await
            };
            if ok {
                if let Some(first) = lines.first() {
                    say(sink, format!("restored: {first}"));
                }
            } else {
                failed += 1;
                let errors: Vec<&String> =
                    lines.iter().filter(|l| l.starts_with("ERROR")).collect();
                match errors.first() {
                    Some(_) => errors.into_iter().for_each(|l| say(sink, l.clone())),
                    None => say(
                        sink,
                        error_line(format!(
                            "could not restore: {}",
                            lines.last().map_or("(no reason given)", String::as_str)
                        )),
                    ),
                }
            }
        }
        if !waited {
            self.wait_up(&mut *sink, &mut failed).await;
        }
        failed
    }

    /// Waits (bounded) for the servers started again to answer.
    async fn wait_up(&self, sink: Sink<'_>, failed: &mut usize) {
        if let Some(supervisor) = &self.supervisor
            && !supervisor.wait_started(UP_WAIT).await
        {
            *failed += 1;
            say(
                sink,
                error_line(format!(
                    "some servers started again do not answer yet after {} s (see `status`)",
                    UP_WAIT.as_secs()
                )),
            );
        }
    }

    /// Runs one undo action with the interpreter's own commands.
    async fn undo(&mut self, undo: &Undo, sink: Sink<'_>) -> bool {
        let index_of =
            |me: &Interpreter, addr| me.config().servers.iter().position(|s| s.addr() == addr);
        let missing = |sink: Sink<'_>, addr| {
            say(
                sink,
                error_line(format!("{addr} is no longer in the cluster")),
            );
            false
        };
        match undo {
            Undo::WhatIfOff => self.whatif(&WhatIf::Off, sink).await.ok,
            Undo::Heal(addr) => match index_of(self, *addr) {
                Some(i) => self.fault(Fault::Heal, i, sink).await.ok,
                None => missing(sink, *addr),
            },
            Undo::Remove(addr) => match index_of(self, *addr) {
                Some(i) => self.remove(i, sink).await.ok,
                None => missing(sink, *addr),
            },
            Undo::Add(spec) => {
                let server = crate::membership::NewServer {
                    nodes: spec.nodes,
                    metrics: spec.metrics,
                    data_dir: spec.data_dir.clone(),
                    sync: spec.sync,
                    options: restore::options_of_args(&spec.server_args),
                };
                self.add(spec.addr(), server, sink).await.ok
            }
            Undo::Process(action, addr) => match index_of(self, *addr) {
                Some(i) => self.process(*action, i, sink).await.ok,
                None => missing(sink, *addr),
            },
            Undo::Del(key) => self.delete_quietly(key, sink).await,
            Undo::Fault(addr, fault) => {
                let Some(i) = index_of(self, *addr) else {
                    return missing(sink, *addr);
                };
                let mut ok = true;
                if fault.request.drop > 0.0 {
                    let percent = (fault.request.drop * 100.0).round().clamp(0.0, 100.0) as u32;
                    ok &= self.fault(Fault::Loss(percent), i, &mut *sink).await.ok;
                }
                if !fault.request.delay.is_zero() {
                    let ms = u64::try_from(fault.request.delay.as_millis()).unwrap_or(u64::MAX);
                    ok &= self.fault(Fault::Delay(ms), i, sink).await.ok;
                }
                ok
            }
            Undo::Slow(ms) => {
                let slow = ms.map_or(Slow::Off, Slow::On);
                self.slow(slow, sink).ok
            }
            Undo::Skew(ms) => self.skew(Some(*ms), sink).ok,
            Undo::Net(cuts) => self.set_cuts(cuts, sink).await,
            Undo::Sloppy(on) => self.sloppy(*on, sink).ok,
        }
    }

    /// `del <key>` without slow motion and without moving the focus: one
    /// line, `deleted key …` or why not.
    async fn delete_quietly(&mut self, key: &[u8], sink: Sink<'_>) -> bool {
        let slow = self.view.slow_ms.take();
        let focus = self.view.focus_key.clone();
        let mut lines: Vec<String> = Vec::new();
        let ok = {
            let mut capture = |e: ReplEvent| {
                if let ReplEvent::Line(l) = e {
                    lines.push(l);
                }
            };
            let command = Command::Del { key: key.to_vec() };
            // Every server: a lesson may have written with a larger N.
            let all = u32::try_from(self.config().servers.len()).unwrap_or(u32::MAX);
            self.data(&command, QuorumOptions::default().n(all), &mut capture)
                .await
                .ok
        };
        self.view.slow_ms = slow;
        self.view.focus_key = focus;
        let shown = super::super::format::quoted(key, 40);
        if ok {
            say(
                sink,
                format!("deleted key {shown} (written during the lesson)"),
            );
        } else {
            let why = lines.last().map_or("", String::as_str);
            say(
                sink,
                error_line(format!("cannot delete key {shown}: {why}")),
            );
        }
        ok
    }
}

fn no_lesson(word: &str, sink: Sink<'_>) -> LineOutcome {
    say(
        sink,
        error_line(format!(
            "lesson {word}: no lesson is running (type `lesson` for the list)"
        )),
    );
    FAILED
}
