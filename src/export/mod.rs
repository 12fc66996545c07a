//! Slides from the live cluster: the ring as an SVG picture ([`svg`]) and
//! the session as Markdown ([`transcript`]), for `export ring FILE.svg`,
//! `export transcript FILE.md` and `dkvs-tui --export FILE`.
//!
//! Pure text builders over the ring, the configuration and the servers'
//! states, plus the few things both share: text made safe for XML or
//! Markdown, the date of a picture, writing a file by rename, and how
//! `--export FILE` becomes a REPL line. Nothing here knows the screen or
//! the interpreter, so both can use it.

pub mod svg;
pub mod transcript;

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

pub use svg::{RingPicture, render_svg};
pub use transcript::{Header, Transcript, TranscriptEntry};

/// Text for an SVG or Markdown file: user bytes as UTF-8 (invalid bytes as
/// U+FFFD), without control characters (tabs and newlines included) and
/// without the two characters XML forbids (U+FFFE, U+FFFF).
pub fn clean_text(bytes: &[u8]) -> String {
    clean_str(&String::from_utf8_lossy(bytes))
}

/// [`clean_text`] of a string.
pub fn clean_str(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() && *c != '\u{fffe}' && *c != '\u{ffff}')
        .collect()
}

/// `time` as `2026-12-07 05:31 UTC`.
pub fn utc_minute(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    let rest = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rest / 3600,
        (rest % 3600) / 60
    )
}

/// Year, month and day of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Writes `bytes` to `path`, creating or replacing it whole: written to a
/// temporary file in the same directory, synced, then renamed over it, so
/// a reader (a slide deck being rebuilt) never sees half a file.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// An I/O error as a message: the system's words without `(os error N)`.
pub fn io_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text.get(..at).unwrap_or(&text).to_string(),
        None => text,
    }
}

/// `text` as one word of a REPL line: as it is when it needs no quotes,
/// else double-quoted with `"` and `\` escaped.
pub fn repl_word(text: &str) -> String {
    let plain = !text.is_empty()
        && !text.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\' || c == '=');
    if plain {
        return text.to_string();
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The REPL line `dkvs-tui --export FILE` runs at the end: `export ring`
/// for `.svg`, `export transcript` for `.md`; `Err` is the usage error.
pub fn export_line(path: &Path) -> Result<String, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let kind = match ext.as_deref() {
        Some("svg") => "ring",
        Some("md") => "transcript",
        _ => {
            return Err(format!(
                "--export {}: the file must end in .svg (the ring) or .md (the transcript)",
                path.display()
            ));
        }
    };
    Ok(format!(
        "export {kind} {}",
        repl_word(&path.to_string_lossy())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn clean_text_drops_controls_and_bad_bytes_become_replacement() {
        assert_eq!(clean_text(b"a\x00b\x1b[1m\tc\n"), "ab[1mc");
        assert_eq!(clean_text(b"\xff"), "\u{fffd}");
        assert_eq!(clean_str("x\u{fffe}y\u{ffff}"), "xy");
    }

    #[test]
    fn dates() {
        assert_eq!(utc_minute(UNIX_EPOCH), "1970-01-01 00:00 UTC");
        let t = UNIX_EPOCH + Duration::from_secs(1_796_621_460);
        assert_eq!(utc_minute(t), "2026-12-07 05:31 UTC");
        // 2000-02-29 12:00.
        let leap = UNIX_EPOCH + Duration::from_secs(951_825_600);
        assert_eq!(utc_minute(leap), "2000-02-29 12:00 UTC");
    }

    #[test]
    fn export_lines_by_extension() {
        assert_eq!(
            export_line(Path::new("a.svg")).unwrap(),
            "export ring a.svg"
        );
        assert_eq!(
            export_line(Path::new("dir/Notes.MD")).unwrap(),
            "export transcript dir/Notes.MD"
        );
        assert_eq!(
            export_line(Path::new("my slides/a \"b\".svg")).unwrap(),
            r#"export ring "my slides/a \"b\".svg""#
        );
        let e = export_line(Path::new("foo.txt")).unwrap_err();
        assert!(e.contains("foo.txt") && e.contains(".svg"), "{e}");
        assert!(export_line(Path::new("noext")).is_err());
    }

    #[test]
    fn repl_words_round_trip_through_the_parser() {
        for text in ["plain", "with space", "q\"uote", "back\\slash", "a=b", ""] {
            let line = format!("x {}", repl_word(text));
            let words = crate::repl::parse::split_words(&line).unwrap();
            assert_eq!(words.len(), 2, "{line}");
            assert_eq!(words[1].text, text, "{line}");
        }
    }

    #[test]
    fn writing_replaces_and_reports_missing_directories() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.svg");
        write_replacing(&p, b"one").unwrap();
        write_replacing(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let e = write_replacing(&dir.path().join("no/such.svg"), b"x").unwrap_err();
        assert_eq!(io_message(&e), "No such file or directory");
    }
}
