//! Plain-string formatting shared by the panes (no cells, no styles):
//! ages and clock times, and fitting long lines into a narrow pane.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A duration as a short age: `0.3s`, `12s`, `4m`, `2h`.
pub fn format_age(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1}s")
    } else if s < 120.0 {
        format!("{}s", d.as_secs())
    } else if s < 7200.0 {
        format!("{}m", d.as_secs() / 60)
    } else {
        format!("{}h", d.as_secs() / 3600)
    }
}

/// A wall-clock time as `HH:MM:SS` (UTC).
pub fn format_clock(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `text` with its inner runs of spaces (column padding) squeezed to one
/// space, keeping the indentation: how a too-wide table line is shown in a
/// narrow pane without losing a word.
pub fn squeeze(text: &str) -> String {
    let body = text.trim_start_matches(' ');
    let indent = text.len() - body.len();
    let mut out = " ".repeat(indent);
    let mut space = false;
    for c in body.chars() {
        if c == ' ' {
            if !space {
                out.push(c);
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out
}

/// Splits `text` into pieces of at most `width` characters; continuation
/// pieces are indented by two spaces.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(4);
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= width {
        return vec![text.to_string()];
    }
    let mut out = Vec::new();
    let mut start = 0;
    let mut first = true;
    while start < chars.len() {
        let room = if first { width } else { width - 2 };
        let mut end = (start + room).min(chars.len());
        // Prefer breaking at a space.
        if end < chars.len()
            && let Some(sp) = (start + room / 2..end)
                .rev()
                .find(|&i| chars.get(i) == Some(&' '))
        {
            end = sp + 1;
        }
        let piece: String = chars.get(start..end).unwrap_or_default().iter().collect();
        out.push(if first { piece } else { format!("  {piece}") });
        first = false;
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_clocks() {
        assert_eq!(format_age(Duration::from_millis(300)), "0.3s");
        assert_eq!(format_age(Duration::from_secs(42)), "42s");
        assert_eq!(format_age(Duration::from_secs(600)), "10m");
        assert_eq!(format_age(Duration::from_secs(7300)), "2h");
        assert_eq!(
            format_clock(UNIX_EPOCH + Duration::from_secs(86_400 * 3 + 3600 * 13 + 61)),
            "13:01:01"
        );
    }

    #[test]
    fn wrap_keeps_everything() {
        let s = "127.0.0.1:1234 node 3 stored 0.4ms counted toward W=3";
        let w = wrap(s, 20);
        assert!(w.iter().all(|l| l.chars().count() <= 20), "{w:?}");
        let joined: String = w
            .iter()
            .enumerate()
            .map(|(i, l)| {
                if i == 0 {
                    l.clone()
                } else {
                    l[2..].to_string()
                }
            })
            .collect();
        assert_eq!(joined, s);
        assert_eq!(wrap("short", 20), vec!["short"]);
        assert_eq!(squeeze("  [1] a    b  c "), "  [1] a b c ");
    }
}
