//! How a key or a value appears inside a message: a key may be 32 KB and a
//! value as long, and an `ERROR:` line, a log line or a REPL trace that
//! echoed it whole would bury the message. Every message that quotes user
//! data goes through [`quoted`], in this crate because the client, the
//! server and the app all print such messages.

/// Characters of a key or value a message shows before it is cut.
pub const PREVIEW_CHARS: usize = 40;

/// How [`quoted`] escapes characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// As Rust's `{:?}` of a string: `"`, `\` and control characters
    /// escaped (`ERROR:` lines and logs).
    Debug,
    /// Control characters only (the REPL's text, whose words are typed
    /// back as they are shown).
    Controls,
}

/// `bytes` in double quotes for a message, as text (UTF-8, invalid bytes
/// as U+FFFD), escaped by `escape`. Up to `max` characters it is shown
/// whole; a longer one shows its first `max` characters, `…`, and the
/// whole length: `"kkkk…" (33000 bytes)`.
pub fn quoted(bytes: &[u8], max: usize, escape: Escape) -> String {
    let text = String::from_utf8_lossy(bytes);
    let cut = text.char_indices().nth(max).map(|(at, _)| at);
    let shown = cut.and_then(|at| text.get(..at)).unwrap_or(&text);
    let mut out = match escape {
        Escape::Debug => format!("{shown:?}"),
        Escape::Controls => {
            let mut out = String::with_capacity(shown.len() + 2);
            out.push('"');
            for c in shown.chars() {
                if c.is_control() {
                    out.extend(c.escape_debug());
                } else {
                    out.push(c);
                }
            }
            out.push('"');
            out
        }
    };
    if cut.is_some() {
        // Before the closing quote: the text goes on.
        out.pop();
        out.push_str("…\"");
        out.push_str(&format!(" ({} bytes)", bytes.len()));
    }
    out
}

/// A key or value in an `ERROR:` line or a log: [`quoted`] with
/// [`PREVIEW_CHARS`] and [`Escape::Debug`], so a key of normal size reads
/// as `{:?}` always printed it.
pub fn for_message(bytes: &[u8]) -> String {
    quoted(bytes, PREVIEW_CHARS, Escape::Debug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_data_is_shown_as_debug_did() {
        for key in ["a", "a b", "quote\"back\\slash", "tab\tnew\nline", "é€"] {
            assert_eq!(for_message(key.as_bytes()), format!("{key:?}"));
        }
        let forty = "k".repeat(PREVIEW_CHARS);
        assert_eq!(for_message(forty.as_bytes()), format!("{forty:?}"));
        assert_eq!(for_message(&[0xff]), "\"\u{fffd}\"");
    }

    #[test]
    fn long_data_is_cut_and_its_length_named() {
        let key = vec![b'k'; 33_000];
        let shown = for_message(&key);
        assert_eq!(shown, format!("\"{}…\" (33000 bytes)", "k".repeat(40)));
        assert!(shown.len() < 100);
        // Cut on characters, never inside one; escapes kept.
        let text = "é\n".repeat(30);
        assert_eq!(
            for_message(text.as_bytes()),
            format!("\"{}…\" (90 bytes)", "é\\n".repeat(20))
        );
    }

    #[test]
    fn repl_style_escapes_controls_only() {
        assert_eq!(quoted(b"a\"b\nc", 10, Escape::Controls), "\"a\"b\\nc\"");
        assert_eq!(quoted(b"abcdef", 3, Escape::Controls), "\"abc…\" (6 bytes)");
        assert_eq!(quoted(b"abc", 3, Escape::Controls), "\"abc\"");
    }
}
