//! `lesson`: guided lessons (being built).

use super::super::format::error_line;
use super::super::parse::LessonCommand;
use super::{FAILED, Interpreter, LineOutcome, Sink, say};

impl Interpreter {
    /// `lesson …`.
    pub(super) async fn lesson(&mut self, command: LessonCommand, sink: Sink<'_>) -> LineOutcome {
        let _ = command;
        say(sink, error_line("lesson: not built yet"));
        FAILED
    }
}
