//! The REPL input line: a one-line editor with a cursor (counted in
//! characters) and an Up/Down history with the draft kept aside.

use super::MAX_HISTORY;

/// The REPL input line with its cursor and history.
#[derive(Debug, Clone, Default)]
pub struct InputLine {
    /// The text being edited.
    pub text: String,
    /// Cursor position, in characters.
    pub cursor: usize,
    /// Lines entered, oldest first.
    pub history: Vec<String>,
    /// Position in the history while browsing it with Up/Down.
    browsing: Option<usize>,
    /// The line being edited before browsing started.
    draft: String,
}

impl InputLine {
    fn byte_at(&self, char_index: usize) -> usize {
        self.text
            .char_indices()
            .nth(char_index)
            .map_or(self.text.len(), |(b, _)| b)
    }

    fn len(&self) -> usize {
        self.text.chars().count()
    }

    /// Inserts a character at the cursor.
    pub fn insert(&mut self, c: char) {
        let b = self.byte_at(self.cursor);
        self.text.insert(b, c);
        self.cursor += 1;
    }

    /// Deletes the character before the cursor.
    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            let b = self.byte_at(self.cursor);
            self.text.remove(b);
        }
    }

    /// Deletes the character under the cursor.
    pub fn delete(&mut self) {
        if self.cursor < self.len() {
            let b = self.byte_at(self.cursor);
            self.text.remove(b);
        }
    }

    /// Deletes the word before the cursor (Ctrl-W).
    pub fn delete_word(&mut self) {
        let chars: Vec<char> = self.text.chars().collect();
        let mut start = self.cursor;
        while start > 0 && chars.get(start - 1) == Some(&' ') {
            start -= 1;
        }
        while start > 0 && chars.get(start - 1).is_some_and(|&c| c != ' ') {
            start -= 1;
        }
        let (a, b) = (self.byte_at(start), self.byte_at(self.cursor));
        self.text.replace_range(a..b, "");
        self.cursor = start;
    }

    /// Deletes from the start of the line to the cursor (Ctrl-U).
    pub fn kill_to_start(&mut self) {
        let b = self.byte_at(self.cursor);
        self.text.replace_range(..b, "");
        self.cursor = 0;
    }

    /// Deletes from the cursor to the end of the line (Ctrl-K).
    pub fn kill_to_end(&mut self) {
        let b = self.byte_at(self.cursor);
        self.text.truncate(b);
    }

    /// Moves the cursor one character left.
    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    /// Moves the cursor one character right.
    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.len());
    }

    /// Moves the cursor to the start.
    pub fn home(&mut self) {
        self.cursor = 0;
    }

    /// Moves the cursor to the end.
    pub fn end(&mut self) {
        self.cursor = self.len();
    }

    fn set(&mut self, text: String) {
        self.text = text;
        self.cursor = self.len();
    }

    /// Shows the previous history line (Up).
    pub fn history_prev(&mut self) {
        if self.history.is_empty() {
            return;
        }
        let next = match self.browsing {
            None => {
                self.draft = self.text.clone();
                self.history.len() - 1
            }
            Some(0) => 0,
            Some(i) => i - 1,
        };
        self.browsing = Some(next);
        if let Some(line) = self.history.get(next).cloned() {
            self.set(line);
        }
    }

    /// Shows the next history line, or the draft after the last (Down).
    pub fn history_next(&mut self) {
        let Some(i) = self.browsing else {
            return;
        };
        if let Some(line) = self.history.get(i + 1).cloned() {
            self.browsing = Some(i + 1);
            self.set(line);
        } else {
            self.browsing = None;
            let draft = std::mem::take(&mut self.draft);
            self.set(draft);
        }
    }

    /// Takes the line for running: records it in the history (without
    /// repeating the previous entry) and clears the input.
    pub fn submit(&mut self) -> String {
        let line = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.browsing = None;
        self.draft.clear();
        if !line.trim().is_empty() && self.history.last() != Some(&line) {
            self.history.push(line.clone());
            if self.history.len() > MAX_HISTORY {
                self.history.remove(0);
            }
        }
        line
    }
}
