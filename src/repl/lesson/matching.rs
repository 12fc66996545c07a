//! The `?` patterns of lesson steps: does the line a student typed match
//! the command the step waits for? Words are compared one by one, split as
//! the REPL splits them (quotes honoured); an unquoted `*` matches any one
//! word and a final unquoted `...` matches any rest, nothing included.

use super::super::parse::{ParseError, Word, split_words};

/// One word of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// This word exactly.
    Literal(String),
    /// Any one word (`*`).
    Any,
}

/// A parsed `?` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    parts: Vec<Part>,
    /// Ends with `...`: any further words match.
    rest: bool,
}

impl Pattern {
    /// Parses a pattern; `Err` for an unterminated quote or an empty
    /// pattern.
    pub fn parse(text: &str) -> Result<Pattern, ParseError> {
        let words = split_words(text)?;
        if words.is_empty() {
            return Err(ParseError("the pattern is empty".into()));
        }
        let mut parts: Vec<Part> = words.iter().map(part).collect();
        let rest = words.last().is_some_and(|w| !w.quoted && w.text == "...");
        if rest {
            parts.pop();
        }
        Ok(Pattern { parts, rest })
    }

    /// True when `line` matches. A line that does not split into words
    /// (an unterminated quote) matches nothing.
    pub fn matches(&self, line: &str) -> bool {
        let Ok(words) = split_words(line) else {
            return false;
        };
        let count_ok = if self.rest {
            words.len() >= self.parts.len()
        } else {
            words.len() == self.parts.len()
        };
        count_ok
            && self.parts.iter().zip(&words).all(|(p, w)| match p {
                Part::Any => true,
                Part::Literal(text) => *text == w.text,
            })
    }
}

fn part(word: &Word) -> Part {
    if !word.quoted && word.text == "*" {
        Part::Any
    } else {
        Part::Literal(word.text.clone())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn m(pattern: &str, line: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(line)
    }

    #[test]
    fn literal_words_match_exactly_and_spacing_does_not_matter() {
        assert!(m("get apple", "get apple"));
        assert!(m("get apple", "  get   apple "));
        assert!(!m("get apple", "get apples"));
        assert!(!m("get apple", "get apple r=2"));
        assert!(!m("get apple", "get"));
        assert!(!m("get apple", "Get apple"));
    }

    #[test]
    fn star_matches_exactly_one_word() {
        assert!(m("kill *", "kill 2"));
        assert!(m("kill *", "kill 127.0.0.1:1235"));
        assert!(!m("kill *", "kill"));
        assert!(!m("kill *", "kill 1 2"));
        assert!(m("put * *", "put k \"a value\""));
        assert!(!m("put * *", "get k v"));
    }

    #[test]
    fn final_dots_match_any_rest_including_nothing() {
        assert!(m("get apple ...", "get apple"));
        assert!(m("get apple ...", "get apple r=1 n=3"));
        assert!(!m("get apple ...", "get pear r=1"));
        assert!(m("get * ...", "get pear r=1"));
        assert!(!m("get * ...", "get"));
        // `...` elsewhere is a literal word.
        assert!(m("get ... x", "get ... x"));
        assert!(!m("get ... x", "get a b x"));
    }

    #[test]
    fn quotes_are_honoured_on_both_sides() {
        assert!(m("put k \"a b\"", "put k \"a b\""));
        assert!(!m("put k \"a b\"", "put k a b"));
        assert!(m("put \"k\" v", "put k v"));
        assert!(m("put k v", "put \"k\" \"v\""));
        // A quoted star or dots is a literal word.
        assert!(m("get \"*\"", "get *"));
        assert!(!m("get \"*\"", "get x"));
        assert!(!m("get \"...\"", "get x y"));
        // A line with an unterminated quote matches nothing.
        assert!(!m("put ...", "put \"k"));
    }

    #[test]
    fn bad_patterns_are_errors() {
        assert!(Pattern::parse("").is_err());
        assert!(Pattern::parse("   ").is_err());
        assert!(Pattern::parse("get \"x").is_err());
    }
}
