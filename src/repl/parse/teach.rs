//! Parsing the teaching commands: `lesson`, `replay` and `export`. Kept
//! apart from the data and server commands they share nothing with.

use std::path::PathBuf;

use super::{ParseError, ReplCommand, Word, arity, err, exactly, millis, no_options};

/// What a `lesson` line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LessonCommand {
    /// `lesson`: list the bundled lessons.
    List,
    /// `lesson <number>` or `lesson <file>`: start one.
    Start(LessonSource),
    /// `lesson next` (Enter on an empty line while a lesson runs).
    Next,
    /// `lesson back` (Backspace on an empty line while a lesson runs).
    Back,
    /// `lesson end` (Esc while a lesson runs): leave it, restoring the
    /// cluster.
    End,
}

/// Which lesson to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LessonSource {
    /// A bundled lesson by its 1-based number.
    Bundled(usize),
    /// A lesson file.
    File(PathBuf),
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// `export ring FILE.svg`: the ring as drawn, as SVG.
    Ring,
    /// `export transcript FILE.md`: the session as Markdown.
    Transcript,
}

/// Longest pace `replay <ms>` accepts, in milliseconds.
pub const MAX_REPLAY_MS: u64 = 60_000;

/// Parses `lesson`, `replay` and `export` lines.
pub(super) fn parse_teach(
    name: &str,
    args: &[Word],
    options: &[(String, String)],
) -> Result<ReplCommand, ParseError> {
    no_options(name, options)?;
    Ok(match name {
        "lesson" => {
            arity("lesson", args, 0, 1, "[<number>|<file>|next|back|end]")?;
            ReplCommand::Lesson(match args.first().map(|w| w.text.as_str()) {
                None => LessonCommand::List,
                Some("next") => LessonCommand::Next,
                Some("back") => LessonCommand::Back,
                Some("end") => LessonCommand::End,
                Some("") => return err("lesson: name a lesson by its number or a file"),
                Some(word) => match word.parse::<usize>() {
                    Ok(0) => return err("lesson: lessons are numbered from 1 (type `lesson`)"),
                    Ok(n) => LessonCommand::Start(LessonSource::Bundled(n)),
                    Err(_) => LessonCommand::Start(LessonSource::File(PathBuf::from(word))),
                },
            })
        }
        "replay" => {
            arity("replay", args, 0, 1, "[<ms>]")?;
            ReplCommand::Replay(match args.first() {
                None => None,
                Some(w) => match millis(&w.text) {
                    Some(v) if (1..=MAX_REPLAY_MS).contains(&v) => Some(v),
                    _ => {
                        return err(format!(
                            "usage: replay [<ms>] (ms between events, from 1 to {MAX_REPLAY_MS})"
                        ));
                    }
                },
            })
        }
        "export" => {
            let [kind, file] = exactly("export", args, "ring <file.svg> | transcript <file.md>")?;
            let kind = match kind.text.as_str() {
                "ring" => ExportKind::Ring,
                "transcript" => ExportKind::Transcript,
                other => {
                    return err(format!(
                        "export: unknown picture `{other}`; use `export ring <file.svg>` or `export transcript <file.md>`"
                    ));
                }
            };
            if file.text.is_empty() {
                return err("export: the file name must not be empty");
            }
            ReplCommand::Export(kind, PathBuf::from(&file.text))
        }
        other => {
            return err(format!(
                "unknown command `{other}`; type `help` for the list"
            ));
        }
    })
}
