//! Sizes and durations as people type and read them, the same in every
//! tool.
//!
//! Why one module: `--max-memory 512MB`, `--tombstone-grace 10d`, the
//! STATS table's `1.5GiB` and a help text's `[default: 10s]` must mean the
//! same thing everywhere. Sizes are read by the `parse-size` crate and
//! durations by `humantime`; each has one formatting function here
//! ([`format_size`], [`format_duration`]) whose output its parser reads
//! back. The rules (docs/CLI.md, "Sizes and durations"):
//!
//! - A size is a number of bytes with an optional unit, decimals allowed:
//!   `65536`, `64K`, `512MB`, `1.5GiB`. K, KB and KiB all mean 1024 (and so
//!   on up to E): binary throughout, as Redis's `mb`, PostgreSQL, the JVM and
//!   Cassandra's `MiB` read them, and as dkvs always read `64K`.
//! - A duration is one or more numbers each with a unit (ns, us, ms, s, m,
//!   h, d, w), decimals allowed: `500ms`, `1.5s`, `1h30m`, `10d`. Months and
//!   years are refused (their length varies, and `1M` is easily taken for a
//!   minute). A bare number keeps the unit the option always had
//!   ([`Bare`]).

use std::time::Duration;

/// How sizes are read: K, KB and KiB all 1024 ([module docs](self)).
const SIZES: parse_size::Config = parse_size::Config::new().with_binary();

/// The binary units [`format_size`] writes, from the smallest.
const SIZE_UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// Why text is not a size ([`parse_size`]); clap prints the message after
/// the option and the text given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not a number of bytes with a known unit.
    #[error("not a size; use e.g. 512MiB, 1.5GB or a number of bytes")]
    NotASize,
    /// More than 64 bits of bytes.
    #[error("too large: sizes stop below 16EiB")]
    TooLarge,
    /// Beyond the option's limit ([`parse_size_at_most`]).
    #[error("must be at most {max} bytes")]
    AboveLimit {
        /// The limit, in bytes.
        max: u64,
    },
}

/// Parses a size: a number of bytes with an optional unit, decimals
/// allowed (`65536`, `64K`, `512MB`, `1.5GiB`, `2 TiB`); K, KB and KiB are
/// all 1024. Used by every size option (`--max-memory`, `--max-disk`, the
/// rates and buffers).
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    // parse-size reads a sign or an empty number as an error already; a
    // lone unit ("K") too.
    SIZES.parse_size(t).map_err(|e| match e {
        parse_size::Error::PosOverflow => SizeError::TooLarge,
        _ => SizeError::NotASize,
    })
}

/// [`parse_size`], refusing more than `max` bytes.
pub fn parse_size_at_most(text: &str, max: u64) -> Result<u64, SizeError> {
    match parse_size(text)? {
        n if n <= max => Ok(n),
        _ => Err(SizeError::AboveLimit { max }),
    }
}

/// `bytes` for people, as every tool prints a size: `512B`, `1KiB`,
/// `1.5KiB`, `3.2MiB`, `1GiB`. One decimal at most (dropped when it is
/// 0), so values that are not a round number of their unit are rounded;
/// [`parse_size`] reads the text back.
pub fn format_size(bytes: u64) -> String {
    let mut unit = 0usize;
    let mut scale: u128 = 1;
    while unit + 1 < SIZE_UNITS.len() && u128::from(bytes) >= scale * 1024 {
        unit += 1;
        scale *= 1024;
    }
    // Tenths of the unit, rounded to the nearest; 1023.96KiB is 1MiB.
    let mut tenths = (u128::from(bytes) * 10 + scale / 2) / scale;
    if tenths >= 10_240 && unit + 1 < SIZE_UNITS.len() {
        unit += 1;
        scale *= 1024;
        tenths = (u128::from(bytes) * 10 + scale / 2) / scale;
    }
    // Never above 64 bits, so that the text parses back (16EiB does not).
    if tenths * scale > u128::from(u64::MAX) * 10 {
        tenths -= 1;
    }
    let name = SIZE_UNITS.get(unit).copied().unwrap_or("B");
    match tenths % 10 {
        0 => format!("{}{name}", tenths / 10),
        d => format!("{}.{d}{name}", tenths / 10),
    }
}

/// The unit of a bare number given to a duration option, which is also
/// the finest step the option counts in: what the option took before
/// units were accepted, so that existing command lines keep their
/// meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bare {
    /// Milliseconds (`--timeout 500`).
    Millis,
    /// Seconds (`--tombstone-grace 864000`, `--anti-entropy-interval 0.5`).
    Seconds,
}

impl Bare {
    /// The unit's name in messages.
    fn name(self) -> &'static str {
        match self {
            Bare::Millis => "milliseconds",
            Bare::Seconds => "seconds",
        }
    }

    /// One unit.
    fn one(self) -> Duration {
        match self {
            Bare::Millis => Duration::from_millis(1),
            Bare::Seconds => Duration::from_secs(1),
        }
    }
}

/// Why text is not a duration an option accepts ([`DurationSpec`]); clap
/// prints the message after the option and the text given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not numbers with known units.
    #[error("not a duration; use e.g. 500ms, 10s, 1h30m or 10d, or a number of {bare}")]
    NotADuration {
        /// What a bare number counts (`milliseconds`).
        bare: &'static str,
    },
    /// Months or years, which dkvs refuses.
    #[error("months and years are not accepted (their length varies); use days, e.g. 365d")]
    Calendar,
    /// Shorter or longer than the option allows.
    #[error("must be from {min} to {max}")]
    OutOfRange {
        /// The shortest accepted, formatted.
        min: String,
        /// The longest accepted, formatted.
        max: String,
    },
    /// Finer than the option counts ([`DurationSpec::parse_whole`]).
    #[error("must be a whole number of {bare}")]
    NotWhole {
        /// The option's unit (`seconds`).
        bare: &'static str,
    },
}

/// What one duration option accepts: the unit of a bare number and the
/// range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationSpec {
    /// The unit of a bare number, and of [`DurationSpec::parse_whole`].
    pub bare: Bare,
    /// The shortest accepted.
    pub min: Duration,
    /// The longest accepted.
    pub max: Duration,
}

/// Longest text read as a duration: with at most 12 digits a number and no
/// months or years, no sum of spans reaches the 64-bit limit of seconds.
const MAX_DURATION_TEXT: usize = 64;
/// Longest run of digits in a duration.
const MAX_DIGITS: usize = 12;

impl DurationSpec {
    /// An option whose bare numbers are milliseconds, from `min` to `max`
    /// milliseconds.
    pub const fn millis(min: u64, max: u64) -> DurationSpec {
        DurationSpec {
            bare: Bare::Millis,
            min: Duration::from_millis(min),
            max: Duration::from_millis(max),
        }
    }

    /// An option whose bare numbers are seconds, from `min` to `max`.
    pub const fn seconds(min: Duration, max: Duration) -> DurationSpec {
        DurationSpec {
            bare: Bare::Seconds,
            min,
            max,
        }
    }

    /// Parses `text` (`500ms`, `1h30m`, `10d`, or a bare number of
    /// [`DurationSpec::bare`]) and checks the range.
    pub fn parse(&self, text: &str) -> Result<Duration, DurationError> {
        let d = parse_duration(text, self.bare)?;
        if d < self.min || d > self.max {
            return Err(DurationError::OutOfRange {
                min: format_duration(self.min),
                max: format_duration(self.max),
            });
        }
        Ok(d)
    }

    /// [`DurationSpec::parse`] as a whole number of the option's unit
    /// (`1.5s` is 1500 for an option in milliseconds, an error for one in
    /// seconds).
    pub fn parse_whole(&self, text: &str) -> Result<u64, DurationError> {
        let d = self.parse(text)?;
        let one = self.bare.one().as_nanos();
        let nanos = d.as_nanos();
        if !nanos.is_multiple_of(one) {
            return Err(DurationError::NotWhole {
                bare: self.bare.name(),
            });
        }
        u64::try_from(nanos / one).map_err(|_| DurationError::OutOfRange {
            min: format_duration(self.min),
            max: format_duration(self.max),
        })
    }
}

/// Parses a duration: numbers each with a unit (`500ms`, `1.5s`, `1h30m`,
/// `2h 15m`, `10d`), or a bare number (decimals allowed) of `bare`.
pub fn parse_duration(text: &str, bare: Bare) -> Result<Duration, DurationError> {
    let t = text.trim();
    let not_one = DurationError::NotADuration { bare: bare.name() };
    if t.is_empty() || t.len() > MAX_DURATION_TEXT {
        return Err(not_one);
    }
    // A bare number reads as it always did: any whole number, or a
    // decimal (`.5`, `5.`, `1e1`) of the option's unit.
    if let Ok(n) = t.parse::<u64>() {
        return Ok(match bare {
            Bare::Millis => Duration::from_millis(n),
            Bare::Seconds => Duration::from_secs(n),
        });
    }
    if t.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return match t.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => {
                Duration::try_from_secs_f64(x * bare.one().as_secs_f64()).map_err(|_| not_one)
            }
            _ => Err(not_one),
        };
    }
    let mut digits = 0usize;
    for c in t.chars() {
        digits = if c.is_ascii_digit() { digits + 1 } else { 0 };
        if digits > MAX_DIGITS {
            return Err(not_one);
        }
    }
    if t.split(|c: char| !c.is_alphabetic()).any(|unit| {
        matches!(
            unit,
            "M" | "month" | "months" | "y" | "yr" | "yrs" | "year" | "years"
        )
    }) {
        return Err(DurationError::Calendar);
    }
    humantime::parse_duration(t).map_err(|_| not_one)
}

/// The units [`format_duration`] writes, from the largest, in nanoseconds.
const DURATION_UNITS: [(&str, u128); 7] = [
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// `d` for people, as every tool prints a duration: its two largest units
/// (`45s`, `12m5s`, `3h4m`, `2d3h`, `1s500ms`, `10d`); smaller ones are
/// dropped, so `2d3h59m` shows as `2d3h`. [`parse_duration`] (and
/// humantime) read the text back.
pub fn format_duration(d: Duration) -> String {
    let mut rest = d.as_nanos();
    let mut out = String::new();
    let mut written = 0;
    for (name, size) in DURATION_UNITS {
        let count = rest / size;
        rest %= size;
        if written == 1 && count == 0 {
            break;
        }
        if count > 0 {
            out.push_str(&format!("{count}{name}"));
            written += 1;
            if written == 2 {
                break;
            }
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_people_type() {
        let ok = |text: &str, want: u64| assert_eq!(parse_size(text), Ok(want), "{text:?}");
        ok("0", 0);
        ok("1234", 1234);
        ok("512B", 512);
        ok("64K", 64 << 10);
        ok("64k", 64 << 10);
        ok("64KB", 64 << 10);
        ok("64KiB", 64 << 10);
        ok("512MB", 512 << 20);
        ok("512mb", 512 << 20);
        ok("512 MiB", 512 << 20);
        ok("1.5G", 3 << 29);
        ok("1.5GB", 3 << 29);
        ok("2G", 2 << 30);
        ok("1T", 1 << 40);
        ok("1TiB", 1 << 40);
        ok(" 4M ", 4 << 20);
        for bad in ["", "K", "-1", "12X", "12XB", "lots", "1..5M", "1KX"] {
            assert_eq!(parse_size(bad), Err(SizeError::NotASize), "{bad:?}");
        }
        for big in ["99999999999999999999", "16777216T", "17EiB"] {
            assert_eq!(parse_size(big), Err(SizeError::TooLarge), "{big:?}");
        }
        assert_eq!(parse_size_at_most("32K", 32 << 10), Ok(32 << 10));
        assert!(parse_size_at_most("33K", 32 << 10).is_err());
        assert_eq!(
            SizeError::NotASize.to_string(),
            "not a size; use e.g. 512MiB, 1.5GB or a number of bytes"
        );
    }

    #[test]
    fn sizes_people_read() {
        assert_eq!(format_size(0), "0B");
        assert_eq!(format_size(1023), "1023B");
        assert_eq!(format_size(1024), "1KiB");
        assert_eq!(format_size(1536), "1.5KiB");
        assert_eq!(format_size(5 << 20), "5MiB");
        assert_eq!(format_size(1 << 30), "1GiB");
        assert_eq!(format_size(3 << 29), "1.5GiB");
        assert_eq!(format_size((1 << 20) - 1), "1MiB");
        assert_eq!(format_size(u64::MAX), "15.9EiB");
        assert_eq!(format_size(1 << 60), "1EiB");
    }

    #[test]
    fn durations_people_type() {
        let ms = |text: &str| parse_duration(text, Bare::Millis);
        let s = |text: &str| parse_duration(text, Bare::Seconds);
        assert_eq!(ms("500"), Ok(Duration::from_millis(500)));
        assert_eq!(s("10"), Ok(Duration::from_secs(10)));
        assert_eq!(s("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(ms("0"), Ok(Duration::ZERO));
        assert_eq!(ms("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(ms("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(s("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(s("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(s("10d"), Ok(Duration::from_secs(864_000)));
        assert_eq!(s("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(s("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(s("1w"), Ok(Duration::from_secs(604_800)));
        // Bare numbers as the old parsers read them.
        assert_eq!(s(".5"), Ok(Duration::from_millis(500)));
        assert_eq!(s("5."), Ok(Duration::from_secs(5)));
        assert_eq!(s("1e1"), Ok(Duration::from_secs(10)));
        assert_eq!(
            s("1000000000000"),
            Ok(Duration::from_secs(1_000_000_000_000))
        );
        for bad in [
            "",
            "soon",
            "10x",
            "-1",
            "1..5s",
            "s",
            "10 d x",
            "1234567890123s",
        ] {
            assert!(
                matches!(s(bad), Err(DurationError::NotADuration { .. })),
                "{bad:?}: {:?}",
                s(bad)
            );
        }
        for calendar in ["1M", "2y", "1year", "3months"] {
            assert_eq!(s(calendar), Err(DurationError::Calendar), "{calendar:?}");
        }
        assert_eq!(
            s("x").unwrap_err().to_string(),
            "not a duration; use e.g. 500ms, 10s, 1h30m or 10d, or a number of seconds"
        );
    }

    #[test]
    fn specs_check_range_and_step() {
        let timeout = DurationSpec::millis(1, 3_600_000);
        assert_eq!(timeout.parse_whole("250"), Ok(250));
        assert_eq!(timeout.parse_whole("1.5s"), Ok(1500));
        assert_eq!(timeout.parse_whole("1h"), Ok(3_600_000));
        let e = timeout.parse_whole("0").unwrap_err();
        assert_eq!(e.to_string(), "must be from 1ms to 1h");
        assert!(timeout.parse_whole("2h").is_err());
        assert_eq!(
            timeout.parse_whole("100us"),
            Err(DurationError::OutOfRange {
                min: "1ms".into(),
                max: "1h".into()
            })
        );
        assert_eq!(
            timeout.parse_whole("1500us"),
            Err(DurationError::NotWhole {
                bare: "milliseconds"
            })
        );
        let grace = DurationSpec::seconds(Duration::ZERO, Duration::MAX);
        assert_eq!(grace.parse_whole("10d"), Ok(864_000));
        assert_eq!(grace.parse_whole("864000"), Ok(864_000));
        assert!(grace.parse_whole("1.5").is_err());
    }

    #[test]
    fn durations_people_read() {
        let f = |secs: u64| format_duration(Duration::from_secs(secs));
        assert_eq!(f(0), "0s");
        assert_eq!(f(45), "45s");
        assert_eq!(f(725), "12m5s");
        assert_eq!(f(3 * 3600 + 240), "3h4m");
        assert_eq!(f(2 * 86_400 + 3 * 3600 + 59 * 60), "2d3h");
        assert_eq!(f(864_000), "10d");
        assert_eq!(f(86_400 + 5 * 60), "1d");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_nanos(1)), "1ns");
    }

    /// A duration of at most two adjacent units, each below the next
    /// larger one (`3h59m`, not `25h`), as [`format_duration`] writes
    /// exactly (days up to about 27 years).
    fn two_units() -> impl Strategy<Value = Duration> {
        (0usize..6, 0u64..10_000, 0u64..1_000).prop_map(|(i, big, small)| {
            let (_, size) = DURATION_UNITS[i];
            let (_, next) = DURATION_UNITS[i + 1];
            let big = match i.checked_sub(1) {
                Some(p) => big % u64::try_from(DURATION_UNITS[p].1 / size).unwrap(),
                None => big,
            };
            let small = small % u64::try_from(size / next).unwrap();
            let nanos = u128::from(big) * size + u128::from(small) * next;
            Duration::from_nanos(u64::try_from(nanos).unwrap())
        })
    }

    proptest! {
        #[test]
        fn a_formatted_size_parses_back(bytes in any::<u64>()) {
            let text = format_size(bytes);
            let back = parse_size(&text).unwrap();
            // Rounded to a tenth of the unit (down at the very top, where
            // 16EiB would not fit): off by at most a tenth.
            let unit = 1u128 << (10 * SIZE_UNITS.iter().rposition(|u| text.ends_with(u)).unwrap());
            prop_assert!(u128::from(bytes.abs_diff(back)) * 10 <= unit, "{bytes} -> {text} -> {back}");
        }

        #[test]
        fn a_round_size_parses_back_exactly(m in 0u64..1024, unit in 0u32..6) {
            let bytes = m << (10 * unit);
            prop_assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
        }

        #[test]
        fn a_formatted_duration_parses_back(d in two_units()) {
            let text = format_duration(d);
            prop_assert_eq!(parse_duration(&text, Bare::Seconds), Ok(d), "{}", text);
            prop_assert_eq!(humantime::parse_duration(&text), Ok(d), "{}", text);
        }

        #[test]
        fn any_duration_parses_back_shortened(nanos in 0u64..(100 * 365 * 86_400 * 1_000_000_000)) {
            let d = Duration::from_nanos(nanos);
            let back = parse_duration(&format_duration(d), Bare::Millis).unwrap();
            prop_assert!(back <= d);
            // Off by less than the second unit written, 1/24 of the first at most.
            prop_assert!((d - back).as_nanos() * 24 <= d.as_nanos());
        }

        #[test]
        fn parsers_never_panic(text in "\\PC{0,40}") {
            let _ = parse_size(&text);
            let _ = parse_duration(&text, Bare::Millis);
            let _ = DurationSpec::millis(1, 1000).parse_whole(&text);
        }

        #[test]
        fn bare_numbers_keep_their_unit(n in 0u64..1_000_000_000) {
            prop_assert_eq!(parse_size(&n.to_string()), Ok(n));
            prop_assert_eq!(parse_duration(&n.to_string(), Bare::Millis), Ok(Duration::from_millis(n)));
            prop_assert_eq!(parse_duration(&n.to_string(), Bare::Seconds), Ok(Duration::from_secs(n)));
        }
    }
}
