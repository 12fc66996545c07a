//! `replay`: the last data command again, travelling on the ring at any
//! pace, with its time line as text (the line shell has no ring).

use super::super::format::error_line;
use super::super::motion::replay_text;
use super::super::{Motion, ReplEvent};
use super::{FAILED, Interpreter, LineOutcome, OK, Sink, say, say_all};

/// The pace of `replay` when neither it nor `slow` sets one, in ms.
pub const DEFAULT_REPLAY_MS: u64 = 600;

impl Interpreter {
    /// `replay [<ms>]`: the last data command's operations, one after the
    /// other, `<ms>` between events (default: the slow-motion pace, else
    /// [`DEFAULT_REPLAY_MS`]).
    pub(super) fn replay(&mut self, step_ms: Option<u64>, sink: Sink<'_>) -> LineOutcome {
        if self.last_op.is_empty() {
            say(
                sink,
                error_line(
                    "replay: no operation to replay yet (run get, put, del, cat, substr or find first)",
                ),
            );
            return FAILED;
        }
        let step_ms = step_ms.or(self.view.slow_ms).unwrap_or(DEFAULT_REPLAY_MS);
        let motions: Vec<Motion> = self
            .last_op
            .iter()
            .map(|m| Motion {
                step_ms,
                ..m.clone()
            })
            .collect();
        if let Some(last) = motions.last() {
            let (key, n) = (last.trace.key.clone(), last.trace.quorum.n);
            self.focus(&key, n);
        }
        for motion in motions {
            say_all(sink, replay_text(&motion));
            sink(ReplEvent::Motion(Box::new(motion)));
        }
        OK
    }
}
