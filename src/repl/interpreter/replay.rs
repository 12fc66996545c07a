//! `replay`: the last operation again, travelling on the ring (being built).

use super::super::format::error_line;
use super::{FAILED, Interpreter, LineOutcome, Sink, say};

impl Interpreter {
    /// `replay [<ms>]`.
    pub(super) fn replay(&mut self, step_ms: Option<u64>, sink: Sink<'_>) -> LineOutcome {
        let _ = step_ms;
        say(sink, error_line("replay: not built yet"));
        FAILED
    }
}
