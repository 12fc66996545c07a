//! Properties of the REPL parser (docs/TUI.md): `split_words` and `parse_line`
//! return on any line, and any words written double-quoted (with `\"` and
//! `\\` escapes) split back to the same words. The `repl` fuzz target's
//! invariants (fuzz/src/lib.rs) run here on proptest's lines.

use crate::fuzz_checks;

use dkvs::commands::Command;
use dkvs::repl::parse::split_words;
use dkvs::repl::{ReplCommand, parse_line};
use fuzz_checks::{quote, repl_config};
use proptest::prelude::*;

/// Pieces REPL lines are made of, valid and not.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("put".to_string()),
        Just("get".to_string()),
        Just("cat".to_string()),
        Just("substr".to_string()),
        Just("find".to_string()),
        Just("where".to_string()),
        Just("dump".to_string()),
        Just("kill".to_string()),
        Just("slow".to_string()),
        Just("whatif".to_string()),
        Just("add".to_string()),
        Just("remove".to_string()),
        Just("help".to_string()),
        Just("n=".to_string()),
        Just("w=2".to_string()),
        Just("r=0".to_string()),
        Just("nodes=99999999999".to_string()),
        Just("127.0.0.1:1239".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("\\\"".to_string()),
        Just("=".to_string()),
        Just("-9223372036854775808".to_string()),
        Just("18446744073709551616".to_string()),
        (0u32..8).prop_map(|n| n.to_string()),
        "[a-z=\"\\\\ ]{0,6}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any text: both functions return, and the fuzz target's invariants hold.
    #[test]
    fn any_line_parses_or_errs(line in any::<String>()) {
        fuzz_checks::repl(line.as_bytes());
    }

    /// Lines of plausible tokens reach every command's argument checks.
    #[test]
    fn plausible_lines_parse_or_err(tokens in proptest::collection::vec(token(), 0..7)) {
        let line = tokens.join(" ");
        fuzz_checks::repl(line.as_bytes());
    }

    /// Quoting round-trips any words, whitespace, quotes and backslashes
    /// included.
    #[test]
    fn quoted_words_round_trip(words in proptest::collection::vec(any::<String>(), 0..6)) {
        let line: Vec<String> = words.iter().map(|w| quote(w)).collect();
        let split = split_words(&line.join(" ")).unwrap();
        let texts: Vec<String> = split.iter().map(|w| w.text.clone()).collect();
        prop_assert_eq!(texts, words);
        prop_assert!(split.iter().all(|w| w.quoted));
    }

    /// A put of quoted key and value stores exactly those bytes, whatever
    /// they contain (a quoted `n=3` is a key, not an option).
    #[test]
    fn quoted_put_keeps_its_bytes(key in any::<String>(), value in any::<String>()) {
        let config = repl_config();
        let line = format!("put {} {}", quote(&key), quote(&value));
        let parsed = parse_line(&line, &config).unwrap();
        prop_assert_eq!(
            parsed,
            Some(ReplCommand::Data(
                Command::Put { key: key.into_bytes(), value: value.into_bytes() },
                Default::default()
            ))
        );
    }
}
