//! `export`: pictures and transcripts for slides (being built).

use std::path::Path;

use super::super::format::error_line;
use super::super::parse::ExportKind;
use super::{FAILED, Interpreter, LineOutcome, Sink, say};

impl Interpreter {
    /// `export ring|transcript <file>`.
    pub(super) fn export(&mut self, kind: ExportKind, path: &Path, sink: Sink<'_>) -> LineOutcome {
        let _ = (kind, path);
        say(sink, error_line("export: not built yet"));
        FAILED
    }
}
