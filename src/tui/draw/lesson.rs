//! The lesson panel: the running lesson's current step (title, heading,
//! text, the command the student must type) beside the live cluster, and
//! where it goes on the screen.
//!
//! It takes the bottom row (events and server log) while a lesson runs,
//! taller than that row is otherwise. A step's text is word-wrapped to the
//! panel; one too long for it is cut with `…` (no scrolling: steps are meant
//! to be short), but the heading and the expected command always show.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::block;
use crate::repl::LessonView;
use crate::tui::app::{App, MainView};
use crate::tui::theme::Theme;

/// Below this width the lesson takes the whole bottom row (the events and
/// the server log are hidden while it runs).
const SHARED_FROM: u16 = 120;
/// The widest the panel gets: longer lines are hard to read.
const MAX_WIDTH: u16 = 100;
/// What is left of the row beside the panel must be this wide to hold two
/// panes (events and the small pane) rather than one.
const TWO_PANES_FROM: u16 = 100;

/// How tall the bottom row is while a lesson runs, for a screen `height`
/// rows tall (the events row is 5 to 9 otherwise).
pub(super) fn lesson_rows(height: u16) -> u16 {
    match height {
        0..30 => 8,
        30..40 => 10,
        _ => 12,
    }
}

/// Splits the bottom `row` while a lesson runs into (lesson, events, small
/// pane); an empty `Rect` is a pane not shown. The small pane holds the
/// results when the big pane shows a log (`view` is [`MainView::Log`]) and
/// is then always shown, so the results stay on screen.
pub(super) fn split_row(row: Rect, view: MainView) -> (Rect, Rect, Rect) {
    let results_small = view == MainView::Log;
    let lesson_w = if row.width < SHARED_FROM {
        if results_small {
            row.width * 3 / 5
        } else {
            row.width
        }
    } else {
        (row.width * 3 / 5).min(MAX_WIDTH)
    };
    let [lesson, rest] =
        Layout::horizontal([Constraint::Length(lesson_w), Constraint::Fill(1)]).areas(row);
    if rest.is_empty() {
        return (lesson, Rect::ZERO, Rect::ZERO);
    }
    if rest.width >= TWO_PANES_FROM {
        let [events, small] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(rest);
        (lesson, events, small)
    } else if results_small {
        (lesson, Rect::ZERO, rest)
    } else {
        (lesson, rest, Rect::ZERO)
    }
}

/// Draws the lesson panel (nothing when no lesson runs).
pub(super) fn render_lesson(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(lesson) = &app.view.lesson else {
        return;
    };
    if area.is_empty() {
        return;
    }
    let t = app.theme;
    let b = block(
        t,
        format!(
            " Lesson: {} · step {}/{} ",
            lesson.title, lesson.step, lesson.steps
        ),
        false,
    );
    let inner = b.inner(area);
    let lines = lesson_lines(lesson, inner.width, inner.height, t);
    Paragraph::new(lines).block(b).render(area, buf);
}

/// The panel's lines for a `width`×`height` inside: the heading, the
/// text, then what the student should do. Blank lines set the parts apart
/// where there is room; without room the text is cut and ends with `…`.
pub fn lesson_lines(lesson: &LessonView, width: u16, height: u16, t: Theme) -> Vec<Line<'static>> {
    let width = usize::from(width).max(1);
    let height = usize::from(height);
    let heading = Line::styled(cut(&lesson.heading, width), t.title());
    let tail = tail_lines(lesson, width, t);
    let paragraphs: Vec<Vec<String>> = lesson
        .text
        .iter()
        .map(|p| wrap_words(p, width))
        .filter(|p| !p.is_empty())
        .collect();
    let body_rows: usize = paragraphs.iter().map(Vec::len).sum();
    // Blank lines where there is room: between the paragraphs first, then
    // before what to do, then after the heading.
    let mut spare = height.saturating_sub(1 + body_rows + tail.len());
    let gaps = paragraphs.len().saturating_sub(1);
    let between = spare >= gaps;
    if between {
        spare -= gaps;
    }
    let before_tail = !tail.is_empty() && spare > 0;
    spare -= usize::from(before_tail);
    let after_heading = !paragraphs.is_empty() && spare > 0;
    let room = height.saturating_sub(1 + tail.len());
    let mut body: Vec<Line<'static>> = Vec::new();
    if after_heading {
        body.push(Line::default());
    }
    for (i, p) in paragraphs.iter().enumerate() {
        if i > 0 && between {
            body.push(Line::default());
        }
        body.extend(p.iter().map(|l| Line::from(l.clone())));
    }
    if before_tail {
        body.push(Line::default());
    }
    if body.len() > room {
        body.truncate(room);
        if let Some(last) = body.last_mut() {
            let text: String = last.spans.iter().map(|s| s.content.as_ref()).collect();
            *last = Line::from(ellipsis(&text, width));
        }
    }
    let mut lines = vec![heading];
    lines.extend(body);
    lines.extend(tail);
    lines.truncate(height);
    lines
}

/// What the student should do now: type the expected command, or press
/// Enter once it is done or when this is the last step.
fn tail_lines(lesson: &LessonView, width: usize, t: Theme) -> Vec<Line<'static>> {
    let last = lesson.step >= lesson.steps;
    let (text, style): (String, Style) = match (&lesson.expect, lesson.expect_met) {
        (Some(expect), false) => (format!("▶ type: {expect}"), t.highlight()),
        (Some(_), true) if last => ("✓ done — Enter finishes the lesson".into(), t.ok()),
        (Some(_), true) => ("✓ done — Enter for the next step".into(), t.ok()),
        (None, _) if last => ("Enter finishes the lesson".into(), t.dim()),
        (None, _) => return Vec::new(),
    };
    wrap_words(&text, width)
        .into_iter()
        .map(|l| Line::from(Span::styled(l, style)))
        .collect()
}

/// `text` on one line of at most `width` characters, cut with `…`.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// A line that goes on but was cut: ` …` at its end, within `width`.
fn ellipsis(text: &str, width: usize) -> String {
    let text = text.trim_end();
    if text.chars().count() + 2 <= width {
        format!("{text} …")
    } else {
        let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// Word-wraps prose to lines of at most `width` characters (a word longer
/// than a line is split); runs of spaces become one.
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split_whitespace() {
        let mut chars: Vec<char> = word.chars().collect();
        while chars.len() > width {
            if len > 0 {
                out.push(std::mem::take(&mut line));
                len = 0;
            }
            let rest = chars.split_off(width);
            out.push(chars.into_iter().collect());
            chars = rest;
        }
        if len > 0 && len + 1 + chars.len() > width {
            out.push(std::mem::take(&mut line));
            len = 0;
        }
        if len > 0 {
            line.push(' ');
            len += 1;
        }
        len += chars.len();
        line.extend(chars);
    }
    if len > 0 {
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{MIN_HEIGHT, MIN_WIDTH};
    use super::*;
    use crate::tui::theme::ThemeKind;

    fn text(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    fn step(text: &[&str], expect: Option<&str>, met: bool, step: usize) -> LessonView {
        LessonView {
            title: "The ring".into(),
            step,
            steps: 3,
            heading: "Where does a key go?".into(),
            text: text.iter().map(|s| s.to_string()).collect(),
            expect: expect.map(String::from),
            expect_met: met,
        }
    }

    #[test]
    fn words_wrap_within_the_width() {
        let w = wrap_words("the  first node clockwise from it is the key's home", 12);
        assert_eq!(
            w,
            [
                "the first",
                "node",
                "clockwise",
                "from it is",
                "the key's",
                "home"
            ]
        );
        assert!(w.iter().all(|l| l.chars().count() <= 12));
        assert_eq!(wrap_words("abcdefghij xy", 4), ["abcd", "efgh", "ij", "xy"]);
        assert!(wrap_words("   ", 10).is_empty());
        assert_eq!(wrap_words("a b", 0), ["a", "b"]);
    }

    #[test]
    fn blank_lines_where_there_is_room_then_cut() {
        let t = Theme::new(ThemeKind::Mono);
        let l = step(&["One two.", "Three."], Some("get apple"), false, 1);
        assert_eq!(
            text(&lesson_lines(&l, 40, 10, t)),
            [
                "Where does a key go?",
                "",
                "One two.",
                "",
                "Three.",
                "",
                "▶ type: get apple"
            ]
        );
        assert_eq!(
            text(&lesson_lines(&l, 40, 4, t)),
            [
                "Where does a key go?",
                "One two.",
                "Three.",
                "▶ type: get apple"
            ]
        );
        // Some room: between the paragraphs first, then before the tail.
        assert_eq!(
            text(&lesson_lines(&l, 40, 5, t)),
            [
                "Where does a key go?",
                "One two.",
                "",
                "Three.",
                "▶ type: get apple"
            ]
        );
        assert_eq!(text(&lesson_lines(&l, 40, 6, t))[4], "");
        assert_eq!(text(&lesson_lines(&l, 40, 6, t))[1], "One two.");
        // Cut at the end of a paragraph: ` …`.
        assert_eq!(
            text(&lesson_lines(&l, 40, 3, t)),
            ["Where does a key go?", "One two. …", "▶ type: get apple"]
        );
        // Too long: cut with …, the heading and the command still shown.
        let long = step(&["aaaa bbbb cccc dddd eeee ffff"], Some("kill *"), false, 1);
        assert_eq!(
            text(&lesson_lines(&long, 10, 4, t)),
            ["Where doe…", "aaaa bbbb…", "▶ type:", "kill *"]
        );
        // Nothing to type: nothing below the text, but on the last step.
        let free = step(&["x"], None, false, 2);
        assert_eq!(
            text(&lesson_lines(&free, 30, 2, t)),
            ["Where does a key go?", "x"]
        );
        let last = step(&["x"], None, false, 3);
        assert_eq!(
            text(&lesson_lines(&last, 30, 3, t)),
            ["Where does a key go?", "x", "Enter finishes the lesson"]
        );
        let met = step(&["x"], Some("get a"), true, 1);
        assert_eq!(
            text(&lesson_lines(&met, 40, 3, t)),
            [
                "Where does a key go?",
                "x",
                "✓ done — Enter for the next step"
            ]
        );
        let met_last = step(&["x"], Some("get a"), true, 3);
        assert_eq!(
            text(&lesson_lines(&met_last, 40, 3, t))[2],
            "✓ done — Enter finishes the lesson"
        );
        // Never more lines than rows, even when they are very few.
        for h in 0..3 {
            assert!(lesson_lines(&long, 10, h, t).len() <= usize::from(h));
        }
    }

    #[test]
    fn the_lesson_takes_the_bottom_row_and_the_results_stay() {
        use super::super::{arrange, layout};
        for (w, h) in [(80, 24), (100, 30), (120, 40), (160, 50), (200, 60)] {
            let area = Rect::new(0, 0, w, h);
            let plain = layout(area, 5).unwrap();
            assert!(plain.lesson.is_empty());
            for view in [MainView::Results, MainView::Log] {
                let a = arrange(area, 5, Some(view)).unwrap();
                let at = format!("{w}x{h} {view:?}");
                assert!(a.lesson.height > plain.events.height, "{at}");
                assert!(a.lesson.width >= 48 && a.lesson.width <= MAX_WIDTH, "{at}");
                assert!(a.ring.height >= 13 && a.servers.height >= 4, "{at}");
                assert!(a.results.height >= 5, "{at}");
                // The results are on screen: in the big pane, or in the
                // small one beside the lesson when the big one shows a log.
                if view == MainView::Log {
                    assert!(a.log.width >= 30, "{at}");
                }
                let panes = [
                    a.ring, a.servers, a.results, a.events, a.log, a.input, a.footer, a.lesson,
                ];
                for (i, p) in panes.iter().enumerate() {
                    assert!(area.contains(p.as_position()) || p.is_empty(), "{at}");
                    for q in panes.iter().skip(i + 1) {
                        assert!(p.is_empty() || q.is_empty() || !p.intersects(*q), "{at}");
                    }
                }
            }
        }
        let narrow = arrange(Rect::new(0, 0, 80, 24), 5, Some(MainView::Results)).unwrap();
        assert_eq!((narrow.lesson.width, narrow.lesson.height), (80, 8));
        assert!(narrow.events.is_empty() && narrow.log.is_empty());
        let wide = arrange(Rect::new(0, 0, 200, 60), 5, Some(MainView::Results)).unwrap();
        assert_eq!((wide.lesson.width, wide.lesson.height), (100, 12));
        assert!(!wide.events.is_empty() && !wide.log.is_empty());
    }

    /// Every step of every bundled lesson fits the panel at 80×24 (78×6
    /// inside) without being cut, whether its command is met or not.
    #[test]
    fn every_bundled_step_fits_at_80_by_24() {
        let t = Theme::new(ThemeKind::Mono);
        let inside = (MIN_WIDTH - 2, lesson_rows(MIN_HEIGHT) - 2);
        let mut too_long = Vec::new();
        for number in 1..=crate::repl::lesson::bundled::count() {
            let Some(Ok(lesson)) = crate::repl::lesson::bundled::bundled(number) else {
                panic!("bundled lesson {number} does not parse");
            };
            for (i, s) in lesson.steps.iter().enumerate() {
                for met in [false, true] {
                    let view = LessonView {
                        title: lesson.title.clone(),
                        step: i + 1,
                        steps: lesson.steps.len(),
                        heading: s.heading.clone(),
                        text: s.text.clone(),
                        expect: s.expect.as_ref().map(|e| e.shown.clone()),
                        expect_met: met,
                    };
                    let lines = text(&lesson_lines(&view, inside.0, inside.1, t));
                    let rows: usize = s
                        .text
                        .iter()
                        .map(|p| wrap_words(p, usize::from(inside.0)).len())
                        .sum();
                    if lines.iter().any(|l| l.ends_with('…')) || lines.len() > 6 {
                        too_long.push(format!(
                            "{} step {} \"{}\": {rows} rows of text",
                            lesson.file,
                            i + 1,
                            s.heading
                        ));
                    }
                }
            }
        }
        too_long.dedup();
        assert!(
            too_long.is_empty(),
            "cut at 80×24:\n{}",
            too_long.join("\n")
        );
    }
}
