//! Guided lessons (docs/TUI.md, "Lessons"): the lesson file format, the
//! lessons bundled in the binary, the patterns a step waits for, and the
//! snapshots that let a finished lesson leave the cluster as it found it.
//!
//! Everything here is independent of the network and of the interpreter
//! (the runner lives in `interpreter::lesson`), so it is tested alone.

pub mod bundled;
pub mod format;
pub mod matching;
pub mod restore;

#[cfg(test)]
mod format_tests;

pub use format::{Expect, Lesson, LessonError, LineError, Step, parse_bytes, parse_lesson};
pub use matching::Pattern;

/// Wraps `text` into lines of at most `width` characters (longer words
/// stand alone on their line), for the line shell which has no panel.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let fits = line.chars().count() + 1 + word.chars().count() <= width;
        if !line.is_empty() && !fits {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod wrap_tests {
    use super::*;

    #[test]
    fn wrap_keeps_lines_short_and_words_whole() {
        let text = "one two three four five six seven";
        assert_eq!(
            wrap(text, 9),
            ["one two", "three", "four five", "six seven"]
        );
        assert_eq!(
            wrap("averyveryverylongword x", 5),
            ["averyveryverylongword", "x"]
        );
        assert!(wrap("   ", 10).is_empty());
    }
}
