//! The operations travelling on the ring: when each playback started, which
//! one is on screen at a given moment, and the last finished operation the
//! timeline strip shows. The loop hands in the time; nothing here reads a
//! clock.

use std::time::{Duration, Instant};

use crate::repl::Motion;
use crate::repl::motion::schedule;
use crate::trace::Trace;

use super::super::ring_motion::MotionFrame;
use super::App;

/// How long the last frame of a playback stays on the ring.
pub const HOLD: Duration = Duration::from_secs(4);
/// How often the screen is redrawn while a playback runs.
pub const FRAME: Duration = Duration::from_millis(40);

/// One operation's playback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playing {
    /// The operation and its pace.
    pub motion: Motion,
    /// When its playback starts.
    pub start: Instant,
}

impl Playing {
    /// How long it plays (the hold aside).
    fn length(&self) -> Duration {
        let s = schedule(&self.motion.trace, &self.motion.hints);
        Duration::from_secs_f64(s.total_ms(self.motion.step_ms.max(1) as f64) / 1000.0)
    }

    /// When it has played.
    fn end(&self) -> Instant {
        self.start + self.length()
    }
}

impl App {
    /// Takes an operation to play, arrived at `now`: it starts at once, or
    /// when the one playing ends (the operations of one `cat` or `replay`
    /// play one after the other).
    pub fn on_motion(&mut self, motion: Motion, now: Instant) {
        let start = match self.motions.last() {
            Some(p) if p.end() > now => p.end(),
            _ => {
                self.motions.clear();
                now
            }
        };
        let placement = self
            .ring
            .placement(&motion.trace.key, motion.trace.quorum.n);
        self.view.focus_key = Some((motion.trace.key.clone(), placement));
        self.last_op = Some(motion.clone());
        self.motions.push(Playing { motion, start });
    }

    /// Notes a finished operation (full speed: the timeline strip shows it).
    pub fn on_finished_trace(&mut self, trace: &Trace) {
        if self.last_op.as_ref().is_some_and(|m| m.trace == *trace) {
            return;
        }
        self.last_op = Some(Motion {
            trace: trace.clone(),
            step_ms: 0,
            hints: Vec::new(),
        });
    }

    /// The playback on screen at `self.now`, if any.
    fn playing(&self) -> Option<&Playing> {
        let now = self.now;
        let current = self.motions.iter().rev().find(|p| p.start <= now)?;
        let last = self
            .motions
            .last()
            .is_some_and(|l| std::ptr::eq(l, current));
        (!last || now < current.end() + HOLD).then_some(current)
    }

    /// What the ring draws of the playback at `self.now`.
    pub fn motion_frame(&self) -> Option<MotionFrame> {
        let p = self.playing()?;
        let at = self.now.saturating_duration_since(p.start);
        Some(MotionFrame::new(&p.motion, at.as_secs_f64() * 1000.0))
    }

    /// While the last operation is playing, the steps it has reached (the
    /// timeline strip shows only what has landed); `None` otherwise.
    pub fn timeline_upto(&self) -> Option<usize> {
        let p = self.playing()?;
        let last = self.last_op.as_ref()?;
        if p.motion.trace != last.trace || self.now >= p.end() {
            return None;
        }
        let at = self.now.saturating_duration_since(p.start).as_millis();
        Some(usize::try_from(at / u128::from(p.motion.step_ms.max(1))).unwrap_or(usize::MAX))
    }

    /// How soon the screen must be redrawn for the playbacks, at `now`:
    /// every [`FRAME`] while one plays, once more when the last frame's hold
    /// ends, else `None`.
    pub fn motion_tick(&self, now: Instant) -> Option<Duration> {
        let last = self.motions.last()?;
        let end = last.end();
        if now < end {
            Some(FRAME)
        } else {
            (end + HOLD)
                .checked_duration_since(now)
                .filter(|d| !d.is_zero())
        }
    }
}
