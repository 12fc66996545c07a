//! Colours and text styles of the screen.
//!
//! The screen is used by colour-blind users and on washed-out classroom
//! projectors, so colour never carries meaning alone: every state is shown as
//! a glyph *and* a word, every server by its number. Colours only help. The
//! default palette is Okabe–Ito (distinguishable with the common colour-vision
//! deficiencies); a high-contrast theme uses bright colours and bold text; a
//! monochrome theme (chosen automatically when `NO_COLOR` is set) uses only
//! bold, underline and reverse video.

use ratatui::style::{Color, Modifier, Style};

use crate::supervisor::ServerState;

/// Which theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThemeKind {
    /// Okabe–Ito colours on the terminal's own background.
    Default,
    /// Bright, bold colours on black, for projectors.
    HighContrast,
    /// No colour at all (`NO_COLOR`).
    Mono,
}

/// Colour number `index` of `colors`, starting over after the last (`None`
/// only for an empty palette).
fn cycled(colors: &[Color], index: usize) -> Option<Color> {
    colors.get(index.checked_rem(colors.len())?).copied()
}

impl ThemeKind {
    /// The theme's name as shown on screen.
    pub fn name(self) -> &'static str {
        match self {
            ThemeKind::Default => "default",
            ThemeKind::HighContrast => "high-contrast",
            ThemeKind::Mono => "monochrome",
        }
    }

    /// The next theme in the cycle default → high-contrast → monochrome.
    pub fn next(self) -> ThemeKind {
        match self {
            ThemeKind::Default => ThemeKind::HighContrast,
            ThemeKind::HighContrast => ThemeKind::Mono,
            ThemeKind::Mono => ThemeKind::Default,
        }
    }

    /// The theme chosen by the environment: `NO_COLOR` (non-empty) gives
    /// monochrome; otherwise `DKVS_TUI_THEME` may name `high-contrast`
    /// (or `contrast`), `mono` or `default`.
    pub fn from_env() -> ThemeKind {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let named = std::env::var("DKVS_TUI_THEME").unwrap_or_default();
        ThemeKind::choose(no_color, &named)
    }

    /// The pure part of [`ThemeKind::from_env`].
    pub fn choose(no_color: bool, named: &str) -> ThemeKind {
        if no_color {
            return ThemeKind::Mono;
        }
        match named.trim().to_ascii_lowercase().as_str() {
            "high-contrast" | "highcontrast" | "contrast" | "hc" => ThemeKind::HighContrast,
            "mono" | "monochrome" | "none" => ThemeKind::Mono,
            _ => ThemeKind::Default,
        }
    }
}

/// Okabe–Ito, in an order that keeps neighbours apart: orange, sky blue,
/// bluish green, blue, vermillion, reddish purple. Its yellow is left out:
/// it is the highlight of the focus key's walk, which must never look like
/// a server's arc.
const OKABE_ITO: [Color; 6] = [
    Color::Rgb(230, 159, 0),
    Color::Rgb(86, 180, 233),
    Color::Rgb(0, 158, 115),
    Color::Rgb(0, 114, 178),
    Color::Rgb(213, 94, 0),
    Color::Rgb(204, 121, 167),
];

/// Bright ANSI colours for the high-contrast theme (light yellow is its
/// highlight, so no server has it).
const BRIGHT: [Color; 6] = [
    Color::LightCyan,
    Color::LightGreen,
    Color::LightMagenta,
    Color::White,
    Color::LightRed,
    Color::LightBlue,
];

/// The colour of a server that is not serving (down, paused,
/// unreachable): its own colour, darker.
fn faded(c: Color) -> Color {
    let scale = |v: u8| (u16::from(v) * 11 / 20) as u8;
    match c {
        Color::Rgb(r, g, b) => Color::Rgb(scale(r), scale(g), scale(b)),
        Color::LightCyan => Color::Cyan,
        Color::LightGreen => Color::Green,
        Color::LightMagenta => Color::Magenta,
        Color::White => Color::Gray,
        Color::LightRed => Color::Red,
        Color::LightBlue => Color::Blue,
        Color::LightYellow => Color::Yellow,
        other => other,
    }
}

/// All styles the drawing code uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Which theme this is.
    pub kind: ThemeKind,
}

impl Theme {
    /// A theme of the given kind.
    pub fn new(kind: ThemeKind) -> Theme {
        Theme { kind }
    }

    fn color(self, c: Color) -> Style {
        match self.kind {
            ThemeKind::Mono => Style::new(),
            _ => Style::new().fg(c),
        }
    }

    /// The whole screen's base style.
    pub fn base(self) -> Style {
        match self.kind {
            ThemeKind::HighContrast => Style::new().fg(Color::White).bg(Color::Black),
            _ => Style::new(),
        }
    }

    /// Style of server number `index` (0-based) on the ring and in legends.
    pub fn server(self, index: usize) -> Style {
        match self.kind {
            ThemeKind::Default => {
                cycled(&OKABE_ITO, index).map_or(Style::new(), |c| Style::new().fg(c))
            }
            ThemeKind::HighContrast => cycled(&BRIGHT, index)
                .map_or(Style::new(), |c| Style::new().fg(c))
                .add_modifier(Modifier::BOLD),
            ThemeKind::Mono => Style::new(),
        }
    }

    /// Style of the ring's arcs owned by server number `index` while it
    /// is not serving: its colour, darker (no colour in monochrome).
    pub fn server_faded(self, index: usize) -> Style {
        let style = self.server(index);
        match style.fg {
            Some(c) => Style::new().fg(faded(c)),
            None => style,
        }
    }

    /// Style of a server state (its glyph and word are always shown too).
    pub fn state(self, state: ServerState) -> Style {
        let style = match state {
            ServerState::Up => self.color(Color::Rgb(0, 158, 115)),
            ServerState::Starting => self.color(Color::Rgb(86, 180, 233)),
            ServerState::Down => self
                .color(Color::Rgb(213, 94, 0))
                .add_modifier(Modifier::BOLD),
            ServerState::Paused => self.color(Color::Rgb(240, 228, 66)),
            ServerState::Unreachable => self.color(Color::Rgb(204, 121, 167)),
        };
        match (self.kind, state) {
            (ThemeKind::HighContrast, ServerState::Up) => Style::new().fg(Color::LightGreen),
            (ThemeKind::HighContrast, ServerState::Starting) => Style::new().fg(Color::LightCyan),
            (ThemeKind::HighContrast, ServerState::Down) => Style::new()
                .fg(Color::LightRed)
                .add_modifier(Modifier::BOLD),
            (ThemeKind::HighContrast, ServerState::Paused) => Style::new().fg(Color::LightYellow),
            (ThemeKind::HighContrast, ServerState::Unreachable) => {
                Style::new().fg(Color::LightMagenta)
            }
            (ThemeKind::Mono, ServerState::Down | ServerState::Unreachable) => {
                Style::new().add_modifier(Modifier::BOLD)
            }
            _ => style,
        }
    }

    /// Borders of an unfocused pane.
    pub fn border(self) -> Style {
        match self.kind {
            ThemeKind::Default => Style::new().fg(Color::DarkGray),
            ThemeKind::HighContrast => Style::new().fg(Color::Gray),
            ThemeKind::Mono => Style::new(),
        }
    }

    /// Borders of the pane that has the keyboard focus.
    pub fn border_focus(self) -> Style {
        match self.kind {
            ThemeKind::Default => Style::new()
                .fg(Color::Rgb(86, 180, 233))
                .add_modifier(Modifier::BOLD),
            ThemeKind::HighContrast => Style::new()
                .fg(Color::LightYellow)
                .add_modifier(Modifier::BOLD),
            ThemeKind::Mono => Style::new().add_modifier(Modifier::BOLD),
        }
    }

    /// Pane titles.
    pub fn title(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// Secondary text (hints, times, the ring's circle).
    pub fn dim(self) -> Style {
        match self.kind {
            ThemeKind::Default => Style::new().fg(Color::Gray),
            ThemeKind::HighContrast => Style::new().fg(Color::White),
            ThemeKind::Mono => Style::new(),
        }
    }

    /// The ring's circle.
    pub fn ring_line(self) -> Style {
        match self.kind {
            ThemeKind::Default => Style::new().fg(Color::DarkGray),
            ThemeKind::HighContrast => Style::new().fg(Color::Gray),
            ThemeKind::Mono => Style::new(),
        }
    }

    /// The focus key, its walk and its replicas.
    pub fn highlight(self) -> Style {
        match self.kind {
            ThemeKind::Default => Style::new()
                .fg(Color::Rgb(240, 228, 66))
                .add_modifier(Modifier::BOLD),
            ThemeKind::HighContrast => Style::new()
                .fg(Color::LightYellow)
                .add_modifier(Modifier::BOLD),
            ThemeKind::Mono => Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        }
    }

    /// Skipped nodes of the focus key's walk.
    pub fn skipped(self) -> Style {
        match self.kind {
            ThemeKind::Mono => Style::new().add_modifier(Modifier::DIM),
            _ => Style::new().fg(Color::Gray).add_modifier(Modifier::DIM),
        }
    }

    /// What-if overlay (the hypothetical ring and the moving arcs).
    pub fn whatif(self) -> Style {
        match self.kind {
            ThemeKind::Default => Style::new().fg(Color::Rgb(204, 121, 167)),
            ThemeKind::HighContrast => Style::new()
                .fg(Color::LightMagenta)
                .add_modifier(Modifier::BOLD),
            ThemeKind::Mono => Style::new().add_modifier(Modifier::ITALIC),
        }
    }

    /// A verdict line beginning with `OK`.
    pub fn ok(self) -> Style {
        self.color(Color::Rgb(0, 158, 115))
            .add_modifier(Modifier::BOLD)
            .patch(match self.kind {
                ThemeKind::HighContrast => Style::new().fg(Color::LightGreen),
                _ => Style::new(),
            })
    }

    /// A verdict or error line beginning with `FAIL` or `ERROR`.
    pub fn fail(self) -> Style {
        self.color(Color::Rgb(213, 94, 0))
            .add_modifier(Modifier::BOLD)
            .patch(match self.kind {
                ThemeKind::HighContrast => Style::new().fg(Color::LightRed),
                _ => Style::new(),
            })
    }

    /// Something to watch, not yet wrong: a server still catching up after
    /// `heal` ("3 hints to deliver", "2 keys differ").
    pub fn warn(self) -> Style {
        self.color(Color::Rgb(240, 228, 66))
            .add_modifier(Modifier::BOLD)
            .patch(match self.kind {
                ThemeKind::HighContrast => Style::new().fg(Color::LightYellow),
                _ => Style::new(),
            })
    }

    /// The echoed command line in the results pane.
    pub fn command(self) -> Style {
        self.highlight().remove_modifier(Modifier::UNDERLINED)
    }

    /// The selected row of the server list.
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// A key name in the footer and the help.
    pub fn key(self) -> Style {
        match self.kind {
            ThemeKind::Default => Style::new()
                .fg(Color::Rgb(86, 180, 233))
                .add_modifier(Modifier::BOLD),
            ThemeKind::HighContrast => Style::new()
                .fg(Color::LightCyan)
                .add_modifier(Modifier::BOLD),
            ThemeKind::Mono => Style::new().add_modifier(Modifier::BOLD),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_wins() {
        assert_eq!(ThemeKind::choose(true, "contrast"), ThemeKind::Mono);
        assert_eq!(
            ThemeKind::choose(false, "contrast"),
            ThemeKind::HighContrast
        );
        assert_eq!(ThemeKind::choose(false, "MONO"), ThemeKind::Mono);
        assert_eq!(ThemeKind::choose(false, ""), ThemeKind::Default);
    }

    #[test]
    fn mono_has_no_colour() {
        let t = Theme::new(ThemeKind::Mono);
        for s in [
            t.server(0),
            t.server(3),
            t.state(ServerState::Down),
            t.highlight(),
            t.ok(),
            t.fail(),
            t.border_focus(),
            t.whatif(),
        ] {
            assert_eq!(s.fg, None);
            assert_eq!(s.bg, None);
        }
    }

    #[test]
    fn the_highlight_is_no_servers_colour() {
        for kind in [ThemeKind::Default, ThemeKind::HighContrast] {
            let t = Theme::new(kind);
            let hl = t.highlight().fg;
            assert!(hl.is_some(), "{kind:?}");
            for i in 0..64 {
                assert_ne!(t.server(i).fg, hl, "{kind:?} server {}", i + 1);
                assert_ne!(t.server_faded(i).fg, hl, "{kind:?} server {}", i + 1);
                assert_ne!(t.server_faded(i).fg, t.server(i).fg, "{kind:?} {}", i + 1);
            }
        }
        for c in OKABE_ITO.iter().chain(BRIGHT.iter()) {
            for kind in [ThemeKind::Default, ThemeKind::HighContrast] {
                assert_ne!(Some(*c), Theme::new(kind).highlight().fg);
            }
        }
        assert_eq!(Theme::new(ThemeKind::Mono).server_faded(2).fg, None);
    }

    #[test]
    fn cycle_visits_all() {
        let k = ThemeKind::Default;
        assert_eq!(k.next().next().next(), k);
        assert_ne!(k.next(), k);
    }
}
