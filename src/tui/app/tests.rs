//! Unit tests of the key, mouse and event handling.

use std::sync::Arc;
use std::time::Instant;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

use super::*;
use crate::config::parse_servers_txt;
use crate::repl::{LineOutcome, ReplEvent};
use crate::supervisor::ActionError;

fn app() -> App {
    let c = parse_servers_txt(
        "127.0.0.1 1234 3\n127.0.0.1 1235 2\n127.0.0.1 1236 2\n",
        "t",
    )
    .unwrap();
    App::new(Arc::new(c), Theme::new(ThemeKind::Mono), Instant::now())
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        assert_eq!(app.handle_key(key(KeyCode::Char(c))), Action::None);
    }
}

#[test]
fn starts_in_the_repl_and_typing_goes_there() {
    let mut a = app();
    assert_eq!(a.focus, Focus::Repl);
    typed(&mut a, "put a b n=4 w=3");
    assert_eq!(a.input.text, "put a b n=4 w=3");
    // `k`, `q`, `s` are letters here, not actions.
    typed(&mut a, " kqs");
    assert_eq!(a.input.text, "put a b n=4 w=3 kqs");
}

#[test]
fn enter_runs_the_line_and_records_history() {
    let mut a = app();
    typed(&mut a, "  get a ");
    match a.handle_key(key(KeyCode::Enter)) {
        Action::Run { id, line } => {
            assert_eq!(line, "get a");
            assert_eq!(a.entries.back().unwrap().id, id);
            assert_eq!(a.entries.back().unwrap().command, "get a");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(a.input.text, "");
    assert_eq!(a.busy(), 1);
    // An empty line does nothing.
    assert_eq!(a.handle_key(key(KeyCode::Enter)), Action::None);
    assert_eq!(a.input.history, vec!["  get a ".to_string()]);
}

#[test]
fn history_up_down_and_draft() {
    let mut a = app();
    for l in ["one", "two", "two", "three"] {
        typed(&mut a, l);
        a.handle_key(key(KeyCode::Enter));
    }
    assert_eq!(a.input.history, vec!["one", "two", "three"]);
    typed(&mut a, "dra");
    a.handle_key(key(KeyCode::Up));
    assert_eq!(a.input.text, "three");
    a.handle_key(key(KeyCode::Up));
    a.handle_key(key(KeyCode::Up));
    a.handle_key(key(KeyCode::Up));
    assert_eq!(a.input.text, "one");
    a.handle_key(key(KeyCode::Down));
    assert_eq!(a.input.text, "two");
    a.handle_key(key(KeyCode::Down));
    a.handle_key(key(KeyCode::Down));
    assert_eq!(a.input.text, "dra");
    assert_eq!(a.input.cursor, 3);
    a.handle_key(key(KeyCode::Down));
    assert_eq!(a.input.text, "dra");
}

#[test]
fn editing_keys() {
    let mut a = app();
    typed(&mut a, "put kéy value");
    a.handle_key(key(KeyCode::Home));
    a.handle_key(key(KeyCode::Right));
    a.handle_key(key(KeyCode::Delete));
    assert_eq!(a.input.text, "pt kéy value");
    a.handle_key(key(KeyCode::End));
    a.handle_key(key(KeyCode::Backspace));
    assert_eq!(a.input.text, "pt kéy valu");
    a.handle_key(ctrl('w'));
    assert_eq!(a.input.text, "pt kéy ");
    a.handle_key(key(KeyCode::Left));
    a.handle_key(key(KeyCode::Left));
    typed(&mut a, "X");
    assert_eq!(a.input.text, "pt kéXy ");
    a.handle_key(ctrl('k'));
    assert_eq!(a.input.text, "pt kéX");
    a.handle_key(ctrl('a'));
    typed(&mut a, ">");
    assert_eq!(a.input.text, ">pt kéX");
    a.handle_key(ctrl('e'));
    a.handle_key(key(KeyCode::Left));
    a.handle_key(ctrl('u'));
    assert_eq!(a.input.text, "X");
    assert_eq!(a.input.cursor, 0);
    a.handle_key(key(KeyCode::Esc));
    assert_eq!(a.input.text, "");
    // Edits at the edges never panic.
    a.handle_key(key(KeyCode::Backspace));
    a.handle_key(key(KeyCode::Delete));
    a.handle_key(ctrl('w'));
    a.handle_key(ctrl('k'));
    a.handle_key(key(KeyCode::Left));
    a.handle_key(key(KeyCode::Right));
}

#[test]
fn tab_switches_focus_and_list_keys_act() {
    let mut a = app();
    a.handle_key(key(KeyCode::Tab));
    assert_eq!(a.focus, Focus::Servers);
    a.handle_key(key(KeyCode::Down));
    a.handle_key(key(KeyCode::Down));
    a.handle_key(key(KeyCode::Down));
    assert_eq!(a.selected, 2, "selection stops at the last server");
    a.handle_key(key(KeyCode::Up));
    assert_eq!(a.selected, 1);
    for (c, want) in [
        ('k', ProcessAction::Kill),
        ('s', ProcessAction::Stop),
        ('S', ProcessAction::Start),
        ('r', ProcessAction::Restart),
        ('p', ProcessAction::Pause),
        ('u', ProcessAction::Resume),
    ] {
        match a.handle_key(key(KeyCode::Char(c))) {
            Action::Act { action, index, .. } => {
                assert_eq!((action, index), (want, 1));
            }
            other => panic!("{c}: {other:?}"),
        }
    }
    assert!(a.entries.back().unwrap().command.starts_with("resume 2"));
    a.handle_key(key(KeyCode::Char('3')));
    assert_eq!(a.selected, 2);
    a.handle_key(key(KeyCode::Char('9')));
    assert_eq!(a.selected, 2);
    a.handle_key(key(KeyCode::Tab));
    assert_eq!(a.focus, Focus::Repl);
}

#[test]
fn help_opens_from_any_focus_and_closes_with_esc() {
    let mut a = app();
    a.handle_key(key(KeyCode::F(1)));
    assert!(a.help_open);
    // While open, typing does not reach the line.
    typed(&mut a, "x");
    assert_eq!(a.input.text, "");
    a.handle_key(key(KeyCode::Esc));
    assert!(!a.help_open);
    // `?` is text in the REPL line…
    typed(&mut a, "?");
    assert!(!a.help_open);
    assert_eq!(a.input.text, "?");
    // …and help in the list.
    a.handle_key(key(KeyCode::Tab));
    a.handle_key(key(KeyCode::Char('?')));
    assert!(a.help_open);
    a.handle_key(key(KeyCode::Down));
    assert_eq!(a.help_scroll, 1);
    a.handle_key(key(KeyCode::F(1)));
    assert!(!a.help_open);
}

#[test]
fn quitting() {
    let mut a = app();
    assert_eq!(a.handle_key(ctrl('c')), Action::Quit);
    typed(&mut a, "q");
    assert_eq!(a.input.text, "q", "q is a letter in the REPL line");
    a.handle_key(key(KeyCode::Backspace));
    typed(&mut a, "quit");
    assert_eq!(a.handle_key(key(KeyCode::Enter)), Action::Quit);
    a.handle_key(key(KeyCode::Tab));
    assert_eq!(a.handle_key(key(KeyCode::Char('q'))), Action::Quit);
    assert_eq!(a.handle_key(ctrl('c')), Action::Quit);
    a.handle_key(key(KeyCode::F(1)));
    assert_eq!(a.handle_key(ctrl('c')), Action::Quit);
    // Ctrl-D on an empty line quits too.
    let mut b = app();
    assert_eq!(b.handle_key(ctrl('d')), Action::Quit);
}

#[test]
fn mouse_and_theme_toggles() {
    let mut a = app();
    assert!(a.mouse);
    assert_eq!(a.handle_key(key(KeyCode::F(2))), Action::SetMouse(false));
    a.handle_key(key(KeyCode::Tab));
    assert_eq!(
        a.handle_key(key(KeyCode::Char('m'))),
        Action::SetMouse(true)
    );
    let before = a.theme.kind;
    a.handle_key(key(KeyCode::Char('t')));
    assert_ne!(a.theme.kind, before);
    a.handle_key(key(KeyCode::F(3)));
}

#[test]
fn test_panic_line_only_when_armed() {
    let mut a = app();
    typed(&mut a, TEST_PANIC_LINE);
    assert!(matches!(
        a.handle_key(key(KeyCode::Enter)),
        Action::Run { .. }
    ));
    a.test_panic = true;
    typed(&mut a, TEST_PANIC_LINE);
    assert_eq!(a.handle_key(key(KeyCode::Enter)), Action::TestPanic);
}

#[test]
fn page_keys_scroll_results() {
    let mut a = app();
    a.handle_key(key(KeyCode::PageUp));
    assert_eq!(a.scroll, PAGE);
    a.handle_key(key(KeyCode::PageDown));
    a.handle_key(key(KeyCode::PageDown));
    assert_eq!(a.scroll, 0);
}

#[test]
fn no_key_panics_in_any_state() {
    let codes = [
        KeyCode::Backspace,
        KeyCode::Enter,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Delete,
        KeyCode::Insert,
        KeyCode::Esc,
        KeyCode::F(1),
        KeyCode::F(2),
        KeyCode::F(3),
        KeyCode::F(12),
        KeyCode::Null,
        KeyCode::Char('k'),
        KeyCode::Char('S'),
        KeyCode::Char('é'),
        KeyCode::Char(' '),
    ];
    let mods = [
        KeyModifiers::NONE,
        KeyModifiers::SHIFT,
        KeyModifiers::CONTROL,
        KeyModifiers::ALT,
    ];
    let mut a = app();
    for _ in 0..3 {
        for c in codes {
            for m in mods {
                if m == KeyModifiers::CONTROL && c == KeyCode::Char('k') {
                    continue;
                }
                let _ = a.handle_key(KeyEvent::new(c, m));
            }
        }
    }
    // An empty configuration cannot be selected or acted on.
    let mut e = app();
    e.config = Arc::new(ClusterConfig {
        source: None,
        servers: Vec::new(),
        defaults: Default::default(),
        network: Default::default(),
    });
    e.handle_key(key(KeyCode::Tab));
    for c in ['k', 's', 'S', 'r', 'p', 'u', '1'] {
        assert_eq!(e.handle_key(key(KeyCode::Char(c))), Action::None);
    }
    e.handle_key(key(KeyCode::End));
    e.handle_key(key(KeyCode::Down));
}

#[test]
fn mouse_selects_scrolls_and_focuses() {
    use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut a = app();
    let areas = super::super::draw::layout(Rect::new(0, 0, 120, 40), 3).unwrap();
    let ev = |kind, column, row| MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    };
    let s = areas.servers;
    // Third row of the list (after the border and the header).
    a.handle_mouse(
        ev(MouseEventKind::Down(MouseButton::Left), s.x + 5, s.y + 4),
        Some(&areas),
    );
    assert_eq!((a.focus, a.selected), (Focus::Servers, 2));
    // A click below the last row keeps the selection.
    a.handle_mouse(
        ev(MouseEventKind::Down(MouseButton::Left), s.x + 5, s.y + 1),
        Some(&areas),
    );
    assert_eq!(a.selected, 2);
    a.handle_mouse(ev(MouseEventKind::ScrollUp, s.x + 5, s.y + 3), Some(&areas));
    assert_eq!(a.selected, 1);
    let r = areas.results;
    a.handle_mouse(ev(MouseEventKind::ScrollUp, r.x + 3, r.y + 3), Some(&areas));
    assert_eq!(a.scroll, 3);
    a.handle_mouse(
        ev(MouseEventKind::ScrollDown, r.x + 3, r.y + 3),
        Some(&areas),
    );
    assert_eq!(a.scroll, 0);
    let i = areas.input;
    a.handle_mouse(
        ev(MouseEventKind::Down(MouseButton::Left), i.x + 3, i.y + 1),
        Some(&areas),
    );
    assert_eq!(a.focus, Focus::Repl);
    // The wheel over the small pane scrolls what it shows.
    a.server_log = (0..20).map(|i| format!("line {i}")).collect();
    let l = areas.log;
    a.handle_mouse(ev(MouseEventKind::ScrollUp, l.x + 3, l.y + 2), Some(&areas));
    assert_eq!((a.log_scroll, a.scroll), (3, 0));
    a.toggle_log();
    a.handle_mouse(ev(MouseEventKind::ScrollUp, l.x + 3, l.y + 2), Some(&areas));
    assert_eq!((a.log_scroll, a.scroll), (0, 3));
    a.handle_mouse(ev(MouseEventKind::ScrollUp, r.x + 3, r.y + 3), Some(&areas));
    assert_eq!((a.log_scroll, a.scroll), (3, 3));
    a.handle_mouse(
        ev(MouseEventKind::ScrollDown, l.x + 3, l.y + 2),
        Some(&areas),
    );
    assert_eq!((a.log_scroll, a.scroll), (3, 0));
    a.toggle_log();
    // Without a layout (terminal too small) the mouse does nothing.
    a.handle_mouse(ev(MouseEventKind::ScrollUp, 0, 0), None);
    assert_eq!(a.scroll, 0);
}

fn log(server: usize, n: u64) -> LogSnapshot {
    LogSnapshot {
        server,
        lines: (1..=n.min(5)).map(|i| format!("line {i}")).collect(),
        total: n,
    }
}

#[test]
fn f4_and_l_swap_the_panes_and_page_keys_scroll_the_big_one() {
    let mut a = app();
    let now = a.now;
    a.set_snapshot(Vec::new(), Vec::new(), log(0, 5), now);
    assert_eq!(a.main_view, MainView::Results);
    a.handle_key(key(KeyCode::F(4)));
    assert_eq!(a.main_view, MainView::Log);
    // In the REPL line `l` is a letter.
    typed(&mut a, "l");
    assert_eq!((a.main_view, a.input.text.as_str()), (MainView::Log, "l"));
    a.handle_key(key(KeyCode::PageUp));
    assert_eq!(
        (a.log_scroll, a.scroll),
        (4, 0),
        "at most to the first line"
    );
    a.handle_key(key(KeyCode::PageDown));
    assert_eq!(a.log_scroll, 0);
    a.handle_key(key(KeyCode::Tab));
    a.handle_key(key(KeyCode::Char('l')));
    assert_eq!(a.main_view, MainView::Results);
    a.handle_key(key(KeyCode::PageUp));
    assert_eq!((a.log_scroll, a.scroll), (0, PAGE));
    // Help takes F4 as nothing.
    a.handle_key(key(KeyCode::F(1)));
    a.handle_key(key(KeyCode::F(4)));
    assert_eq!(a.main_view, MainView::Results);
}

#[test]
fn a_scrolled_log_keeps_its_place_and_another_server_starts_at_the_tail() {
    let mut a = app();
    let now = a.now;
    a.toggle_log();
    a.set_snapshot(Vec::new(), Vec::new(), log(0, 5), now);
    a.handle_key(key(KeyCode::Up));
    a.handle_key(key(KeyCode::PageUp));
    assert_eq!(a.log_scroll, 4);
    a.log_scroll = 1;
    // Three new lines (two dropped from the bounded log): same place.
    a.set_snapshot(Vec::new(), Vec::new(), log(0, 8), now);
    assert_eq!(a.log_scroll, 4);
    // Following the tail stays at the tail.
    a.log_scroll = 0;
    a.set_snapshot(Vec::new(), Vec::new(), log(0, 9), now);
    assert_eq!(a.log_scroll, 0);
    a.log_scroll = 3;
    a.handle_key(key(KeyCode::Tab));
    a.handle_key(key(KeyCode::Down));
    a.set_snapshot(Vec::new(), Vec::new(), log(1, 2), now);
    assert_eq!(a.log_scroll, 0, "another server's log starts at its tail");
}

#[test]
fn rates_reach_the_state() {
    let mut a = app();
    let t0 = a.now;
    let r = |operations| {
        Some(super::super::rates::Reading {
            operations,
            probes: 0,
        })
    };
    a.on_rates(t0, &[r(0), r(0), None]);
    a.on_rates(t0 + std::time::Duration::from_secs(1), &[r(7), r(0), None]);
    assert_eq!(a.rates.history(0).unwrap().current(), Some(7));
    assert_eq!(a.rates.history(1).unwrap().current(), Some(0));
    assert_eq!(a.rates.history(2).unwrap().current(), None);
}

#[test]
fn act_answers_and_line_events_fill_entries() {
    let mut a = app();
    a.handle_key(key(KeyCode::Tab));
    let Action::Act { id, .. } = a.handle_key(key(KeyCode::Char('k'))) else {
        panic!()
    };
    a.on_act_done(
        id,
        Err(ActionError::UnknownServer {
            number: 9,
            count: 3,
        }),
    );
    let e = a.entries.back().unwrap();
    assert_eq!(e.done, Some(false));
    assert_eq!(
        e.lines().collect::<Vec<_>>(),
        vec!["ERROR: unknown server 9: there are 3 servers"]
    );
    a.handle_key(key(KeyCode::Tab));
    typed(&mut a, "where a");
    let Action::Run { id, .. } = a.handle_key(key(KeyCode::Enter)) else {
        panic!()
    };
    a.on_repl_event(id, ReplEvent::Line("line 1".into()));
    a.on_repl_event(9999, ReplEvent::Line("lost".into()));
    a.on_line_done(
        id,
        LineOutcome {
            ok: true,
            quit: false,
        },
        View::default(),
    );
    assert_eq!(a.busy(), 0);
    assert_eq!(
        a.entries.back().unwrap().lines().collect::<Vec<_>>(),
        vec!["line 1"]
    );
}

/// A lesson at step `step` of 3, as the interpreter's view shows it.
fn lesson_view(step: usize) -> View {
    View {
        lesson: Some(crate::repl::LessonView {
            title: "The ring".into(),
            step,
            steps: 3,
            heading: "Where does a key go?".into(),
            text: vec!["Every key is hashed.".into()],
            expect: None,
            expect_met: true,
        }),
        ..View::default()
    }
}

/// Finishes the running entry `id` with the interpreter's `view`.
fn finish(a: &mut App, id: u64, view: View) {
    a.on_line_done(
        id,
        LineOutcome {
            ok: true,
            quit: false,
        },
        view,
    );
}

fn run_of(action: Action) -> (u64, String) {
    match action {
        Action::Run { id, line } => (id, line),
        other => panic!("{other:?}"),
    }
}

#[test]
fn lesson_keys_on_an_empty_line_drive_the_lesson() {
    let mut a = app();
    a.view = lesson_view(1);
    for (code, want) in [
        (KeyCode::Enter, "lesson next"),
        (KeyCode::Backspace, "lesson back"),
        (KeyCode::Esc, "lesson end"),
    ] {
        let (id, line) = run_of(a.handle_key(key(code)));
        assert_eq!(line, want);
        // A results entry like a typed line, but not in the history.
        assert_eq!(a.entries.back().unwrap().command, want);
        assert!(a.input.history.is_empty());
        let view = if want == "lesson end" {
            View::default()
        } else {
            lesson_view(2)
        };
        finish(&mut a, id, view);
    }
    // The lesson is over: the keys are back to their usual meaning.
    assert!(a.view.lesson.is_none());
    assert_eq!(a.handle_key(key(KeyCode::Enter)), Action::None);
    assert_eq!(a.handle_key(key(KeyCode::Backspace)), Action::None);
    assert_eq!(a.handle_key(key(KeyCode::Esc)), Action::None);
    assert_eq!(a.busy(), 0);
}

#[test]
fn with_text_in_the_line_lesson_keys_edit_and_run_it() {
    let mut a = app();
    a.view = lesson_view(1);
    typed(&mut a, "get ab");
    assert_eq!(a.handle_key(key(KeyCode::Backspace)), Action::None);
    assert_eq!(a.input.text, "get a");
    let (_, line) = run_of(a.handle_key(key(KeyCode::Enter)));
    assert_eq!(line, "get a");
    assert_eq!(a.input.history, vec!["get a".to_string()]);
    typed(&mut a, "oops");
    assert_eq!(a.handle_key(key(KeyCode::Esc)), Action::None);
    assert_eq!(a.input.text, "");
    // Ctrl-H (a backspace) and Alt-Enter are not lesson keys.
    assert_eq!(a.handle_key(ctrl('h')), Action::None);
    assert_eq!(
        a.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT)),
        Action::None
    );
    assert_eq!(a.entries.len(), 1);
}

#[test]
fn esc_closes_the_help_and_leaves_the_server_list_before_the_lesson() {
    let mut a = app();
    a.view = lesson_view(2);
    a.handle_key(key(KeyCode::F(1)));
    assert!(a.help_open);
    assert_eq!(a.handle_key(key(KeyCode::Esc)), Action::None);
    assert!(!a.help_open);
    // Backspace and Enter in the help do not reach the lesson either
    // (Enter closes the help).
    a.handle_key(key(KeyCode::F(1)));
    assert_eq!(a.handle_key(key(KeyCode::Backspace)), Action::None);
    assert_eq!(a.handle_key(key(KeyCode::Enter)), Action::None);
    assert!(!a.help_open);
    a.handle_key(key(KeyCode::Tab));
    assert_eq!(a.focus, Focus::Servers);
    assert_eq!(a.handle_key(key(KeyCode::Esc)), Action::None);
    assert_eq!(a.focus, Focus::Repl);
    assert!(a.entries.is_empty());
    let (_, line) = run_of(a.handle_key(key(KeyCode::Esc)));
    assert_eq!(line, "lesson end");
}

#[test]
fn a_held_lesson_key_does_not_skip_steps() {
    let mut a = app();
    a.view = lesson_view(1);
    let (id, _) = run_of(a.handle_key(key(KeyCode::Enter)));
    // Still running: more Enter and Backspace are swallowed.
    assert_eq!(a.handle_key(key(KeyCode::Enter)), Action::None);
    assert_eq!(a.handle_key(key(KeyCode::Backspace)), Action::None);
    // Esc may queue a `lesson end`, once.
    let (end, line) = run_of(a.handle_key(key(KeyCode::Esc)));
    assert_eq!(line, "lesson end");
    assert_eq!(a.handle_key(key(KeyCode::Esc)), Action::None);
    assert_eq!(a.busy(), 2);
    finish(&mut a, id, lesson_view(2));
    finish(&mut a, end, View::default());
    assert_eq!(a.entries.len(), 2);
    // A typed line running does not hold the lesson keys back.
    a.view = lesson_view(1);
    typed(&mut a, "get a");
    run_of(a.handle_key(key(KeyCode::Enter)));
    let (_, line) = run_of(a.handle_key(key(KeyCode::Enter)));
    assert_eq!(line, "lesson next");
}

#[test]
fn clicks_still_land_while_a_lesson_runs() {
    use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut a = app();
    a.view = lesson_view(1);
    let ev = |kind, column, row| MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    };
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        let areas = super::super::draw::screen_layout(&a, Rect::new(0, 0, w, h)).unwrap();
        assert!(!areas.lesson.is_empty(), "{w}x{h}");
        let s = areas.servers;
        a.handle_mouse(
            ev(MouseEventKind::Down(MouseButton::Left), s.x + 5, s.y + 3),
            Some(&areas),
        );
        assert_eq!((a.focus, a.selected), (Focus::Servers, 1), "{w}x{h}");
        let r = areas.results;
        a.handle_mouse(ev(MouseEventKind::ScrollUp, r.x + 3, r.y + 1), Some(&areas));
        assert_eq!(a.scroll, 3, "{w}x{h}");
        a.scroll = 0;
        // The lesson panel is not a click target: the focus stays.
        let l = areas.lesson;
        a.handle_mouse(
            ev(MouseEventKind::Down(MouseButton::Left), l.x + 3, l.y + 2),
            Some(&areas),
        );
        assert_eq!(a.focus, Focus::Servers);
        let i = areas.input;
        a.handle_mouse(
            ev(MouseEventKind::Down(MouseButton::Left), i.x + 3, i.y + 1),
            Some(&areas),
        );
        assert_eq!(a.focus, Focus::Repl);
        a.selected = 0;
    }
}
