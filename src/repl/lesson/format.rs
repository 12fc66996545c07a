//! The lesson file format (docs/TUI.md, "Lessons"): a title, optional
//! headers, then steps of text, `$` commands and at most one `?` pattern.
//! Parsing never panics; every error names the file and the line.

use crate::config::ClusterConfig;

use super::super::parse::{ReplCommand, parse_line};
use super::matching::Pattern;

/// The largest lesson file read, in bytes.
pub const MAX_LESSON_BYTES: usize = 256 * 1024;

/// The most servers `needs:` may ask for.
pub const MAX_NEEDS: usize = 1000;

/// A parsed lesson.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lesson {
    /// The file name used in errors (`03-replication.lesson`, or the path).
    pub file: String,
    /// The title (the `# ` line).
    pub title: String,
    /// `needs: <k> servers`.
    pub needs: Option<usize>,
    /// `needs: …, namespaces`: the lesson cuts links between servers, so
    /// it runs only in namespaces mode.
    pub namespaces: bool,
    /// The steps, at least one.
    pub steps: Vec<Step>,
}

/// One step of a lesson.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The heading (the `## ` line).
    pub heading: String,
    /// The heading's line number (1-based).
    pub line: usize,
    /// The paragraphs, each joined into one line.
    pub text: Vec<String>,
    /// The `$` commands, with their line numbers, in file order.
    pub commands: Vec<(usize, String)>,
    /// The `?` line: what the step waits for the student to type.
    pub expect: Option<Expect>,
}

/// What a step waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// The pattern a typed line must match.
    pub pattern: Pattern,
    /// What is shown to the student (the text after ` | `, else the
    /// pattern).
    pub shown: String,
    /// Its line number.
    pub line: usize,
}

/// Why a lesson cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LessonError {
    /// The file could not be read.
    #[error("{file}: cannot read it: {reason}")]
    Read {
        /// The file.
        file: String,
        /// The system's reason.
        reason: String,
    },
    /// The file is larger than [`MAX_LESSON_BYTES`].
    #[error("{file}: the file is too large ({size} bytes; a lesson has at most 256 KiB)")]
    TooLarge {
        /// The file.
        file: String,
        /// Its size in bytes.
        size: usize,
    },
    /// Something wrong on one line.
    #[error("{file}:{line}: {error}")]
    At {
        /// The file.
        file: String,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        error: LineError,
    },
}

impl LessonError {
    /// The line number, when the error is about one line.
    pub fn line(&self) -> Option<usize> {
        match self {
            LessonError::At { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// What is wrong on a line of a lesson file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Bytes that are not UTF-8.
    #[error("the file is not UTF-8 text")]
    NotUtf8,
    /// The first line is not the title.
    #[error("a lesson starts with its title: write \"# <title>\"")]
    MissingTitle,
    /// `#` with nothing after it.
    #[error("the title is empty: write \"# <title>\"")]
    EmptyTitle,
    /// A second `# ` line.
    #[error("a lesson has one title (a step heading is \"## <heading>\")")]
    SecondTitle,
    /// Text or commands before the first `## `.
    #[error("text and commands belong to a step: write \"## <heading>\" before them")]
    BeforeFirstStep,
    /// `##` with nothing after it.
    #[error("a step needs a heading: write \"## <heading>\"")]
    EmptyHeading,
    /// A header other than `needs`.
    #[error(
        "unknown header `{0}`: the only header is \"needs: <k> servers\" (or \"needs: <k> servers, namespaces\")"
    )]
    UnknownHeader(String),
    /// A `needs` header that is not `<k> servers`.
    #[error(
        "bad header `needs: {0}`: write \"needs: <k> servers\" with k from 1 to 1000, and \", namespaces\" after it for a lesson that cuts links"
    )]
    BadNeeds(String),
    /// `needs` twice.
    #[error("`needs` is given twice")]
    SecondNeeds,
    /// `$` with nothing after it.
    #[error("a `$` line needs a REPL command: write \"$ <command>\"")]
    EmptyCommand,
    /// A `$` line the REPL cannot parse.
    #[error("`$ {command}`: {reason}")]
    BadCommand {
        /// The command.
        command: String,
        /// The REPL's parse error.
        reason: String,
    },
    /// A `$ lesson …` or `$ quit` line.
    #[error("`$ {0}`: a lesson cannot run `lesson` or `quit`")]
    ForbiddenCommand(String),
    /// A second `?` in one step.
    #[error("a step waits for one command at most (its `?` is on line {0})")]
    SecondExpect(usize),
    /// `?` with no pattern.
    #[error("a `?` line needs a pattern: write \"? <command> [| <what to show>]\"")]
    EmptyPattern,
    /// A pattern that does not split into words.
    #[error("bad pattern: {0}")]
    BadPattern(String),
    /// No `## ` at all.
    #[error("the lesson has no step: write \"## <heading>\" and its text")]
    NoSteps,
}

/// Reads and parses a lesson from the bytes of `file`.
pub fn parse_bytes(bytes: &[u8], file: &str) -> Result<Lesson, LessonError> {
    if bytes.len() > MAX_LESSON_BYTES {
        return Err(LessonError::TooLarge {
            file: file.to_string(),
            size: bytes.len(),
        });
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_lesson(text, file),
        Err(e) => {
            let before = bytes.get(..e.valid_up_to()).unwrap_or_default();
            let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
            Err(at(file, line, LineError::NotUtf8))
        }
    }
}

/// Reads a lesson file from disk and parses it.
pub fn read_file(path: &std::path::Path) -> Result<Lesson, LessonError> {
    let file = path.display().to_string();
    let size = std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| LessonError::Read {
            file: file.clone(),
            reason: e.to_string(),
        })?;
    if size > MAX_LESSON_BYTES as u64 {
        return Err(LessonError::TooLarge {
            file,
            size: usize::try_from(size).unwrap_or(usize::MAX),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| LessonError::Read {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    parse_bytes(&bytes, &file)
}

fn at(file: &str, line: usize, error: LineError) -> LessonError {
    LessonError::At {
        file: file.to_string(),
        line,
        error,
    }
}

/// The parser's state while reading lines.
struct Reader<'a> {
    file: &'a str,
    title: Option<String>,
    needs: Option<usize>,
    namespaces: bool,
    steps: Vec<Step>,
    /// The paragraph being read (its lines joined).
    paragraph: Option<String>,
}

impl Reader<'_> {
    fn end_paragraph(&mut self) {
        if let Some(p) = self.paragraph.take()
            && let Some(step) = self.steps.last_mut()
        {
            step.text.push(p);
        }
    }

    /// The current step, or the error for a line outside any step.
    fn step(&mut self, number: usize) -> Result<&mut Step, LessonError> {
        let file = self.file;
        self.steps
            .last_mut()
            .ok_or_else(|| at(file, number, LineError::BeforeFirstStep))
    }

    fn line(&mut self, number: usize, raw: &str) -> Result<(), LessonError> {
        let line = raw.trim();
        let fail = |error| Err(at(self.file, number, error));
        if line.starts_with("//") {
            return Ok(());
        }
        if line.is_empty() {
            self.end_paragraph();
            return Ok(());
        }
        if self.title.is_none() {
            return match line.strip_prefix('#') {
                Some(rest) if !rest.starts_with('#') => {
                    let title = rest.trim();
                    if title.is_empty() {
                        return fail(LineError::EmptyTitle);
                    }
                    self.title = Some(title.to_string());
                    Ok(())
                }
                _ => fail(LineError::MissingTitle),
            };
        }
        if let Some(heading) = line.strip_prefix("##") {
            self.end_paragraph();
            let heading = heading.trim();
            if heading.is_empty() {
                return fail(LineError::EmptyHeading);
            }
            self.steps.push(Step {
                heading: heading.to_string(),
                line: number,
                text: Vec::new(),
                commands: Vec::new(),
                expect: None,
            });
            return Ok(());
        }
        if line.starts_with('#') && (line.len() == 1 || line.starts_with("# ")) {
            return fail(LineError::SecondTitle);
        }
        if self.steps.is_empty() {
            return self.header(number, line);
        }
        if let Some(command) = line.strip_prefix('$') {
            self.end_paragraph();
            return self.command(number, command.trim());
        }
        if let Some(expect) = line.strip_prefix('?') {
            self.end_paragraph();
            return self.expect(number, expect);
        }
        let paragraph = self.paragraph.get_or_insert_with(String::new);
        if !paragraph.is_empty() {
            paragraph.push(' ');
        }
        paragraph.push_str(line);
        Ok(())
    }

    /// A line between the title and the first step: a header.
    fn header(&mut self, number: usize, line: &str) -> Result<(), LessonError> {
        let fail = |error| Err(at(self.file, number, error));
        let Some((name, value)) = line.split_once(':') else {
            return fail(LineError::BeforeFirstStep);
        };
        let name = name.trim();
        let value = value.trim();
        let header_like = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !header_like || line.starts_with('$') || line.starts_with('?') {
            return fail(LineError::BeforeFirstStep);
        }
        if name != "needs" {
            return fail(LineError::UnknownHeader(name.to_string()));
        }
        if self.needs.is_some() {
            return fail(LineError::SecondNeeds);
        }
        let (servers, namespaces) = match value.split_once(',') {
            Some((servers, "namespaces")) => (servers, true),
            Some((servers, rest)) if rest.trim() == "namespaces" => (servers, true),
            Some(_) => return fail(LineError::BadNeeds(value.to_string())),
            None => (value, false),
        };
        let words: Vec<&str> = servers.split_whitespace().collect();
        let k = match words.as_slice() {
            [k, "server" | "servers"] => k.parse::<usize>().ok(),
            _ => None,
        };
        match k {
            Some(k) if (1..=MAX_NEEDS).contains(&k) => {
                self.needs = Some(k);
                self.namespaces = namespaces;
                Ok(())
            }
            _ => fail(LineError::BadNeeds(value.to_string())),
        }
    }

    fn command(&mut self, number: usize, command: &str) -> Result<(), LessonError> {
        let file = self.file;
        if command.is_empty() {
            return Err(at(file, number, LineError::EmptyCommand));
        }
        self.step(number)?
            .commands
            .push((number, command.to_string()));
        Ok(())
    }

    fn expect(&mut self, number: usize, text: &str) -> Result<(), LessonError> {
        let file = self.file;
        let (pattern, shown) = match text.split_once(" | ") {
            Some((p, s)) => (p.trim(), s.trim()),
            None => (text.trim(), ""),
        };
        let pattern_text = pattern.trim_end_matches(" |").trim();
        if pattern_text.is_empty() {
            return Err(at(file, number, LineError::EmptyPattern));
        }
        let pattern = Pattern::parse(pattern_text)
            .map_err(|e| at(file, number, LineError::BadPattern(e.0)))?;
        let step = self.step(number)?;
        if let Some(first) = &step.expect {
            let first = first.line;
            return Err(at(file, number, LineError::SecondExpect(first)));
        }
        step.expect = Some(Expect {
            pattern,
            shown: if shown.is_empty() {
                pattern_text.to_string()
            } else {
                shown.to_string()
            },
            line: number,
        });
        Ok(())
    }
}

/// Parses a lesson's text; `file` names it in errors. The `$` commands are
/// checked later, against the cluster ([`Lesson::check_commands`]).
pub fn parse_lesson(text: &str, file: &str) -> Result<Lesson, LessonError> {
    let mut reader = Reader {
        file,
        title: None,
        needs: None,
        namespaces: false,
        steps: Vec::new(),
        paragraph: None,
    };
    let mut last = 0;
    for (i, raw) in text.lines().enumerate() {
        last = i + 1;
        reader.line(i + 1, raw)?;
    }
    reader.end_paragraph();
    let Some(title) = reader.title else {
        return Err(at(file, last.max(1), LineError::MissingTitle));
    };
    if reader.steps.is_empty() {
        return Err(at(file, last.max(1), LineError::NoSteps));
    }
    Ok(Lesson {
        file: file.to_string(),
        title,
        needs: reader.needs,
        namespaces: reader.namespaces,
        steps: reader.steps,
    })
}

impl Lesson {
    /// Checks every `$` command against `config` as the REPL would parse
    /// it, following the servers the lesson's own `add` and `remove`
    /// commands add and remove (so `$ kill 4` after `$ add …` is fine on
    /// three servers).
    pub fn check_commands(&self, config: &ClusterConfig) -> Result<(), LessonError> {
        let mut config = config.clone();
        for (number, command) in self.steps.iter().flat_map(|s| &s.commands) {
            let fail = |error| Err(at(&self.file, *number, error));
            match parse_line(command, &config) {
                Ok(Some(ReplCommand::Lesson(_) | ReplCommand::Quit)) => {
                    return fail(LineError::ForbiddenCommand(command.clone()));
                }
                Ok(Some(ReplCommand::Add { addr, server })) => {
                    let mut spec = crate::config::ServerSpec::new(*addr.ip(), addr.port(), 1);
                    spec.nodes = server.nodes;
                    config.servers.push(spec);
                }
                Ok(Some(ReplCommand::Remove(index))) => {
                    if index < config.servers.len() && config.servers.len() > 1 {
                        config.servers.remove(index);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    return fail(LineError::BadCommand {
                        command: command.clone(),
                        reason: e.0,
                    });
                }
            }
        }
        Ok(())
    }

    /// Every `$` command's line number and text, in file order.
    pub fn commands(&self) -> impl Iterator<Item = &(usize, String)> {
        self.steps.iter().flat_map(|s| &s.commands)
    }
}
