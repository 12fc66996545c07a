//! Why a workload is refused: a `--dist` that does not parse, or options
//! that parse but cannot run together. Each message is the exact text
//! `dkvs-bench` prints after `ERROR: ` (or clap after the option's name).

use crate::protocol;

use super::MAX_ZIPF_KEYS;

/// A key distribution that does not parse ([`super::Distribution`]'s
/// `FromStr`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}': expected uniform, zipf or zipf:S with 0 < S <= 10")]
pub struct DistributionError {
    /// The text given.
    pub text: String,
}

/// A workload the options describe but the benchmark cannot run
/// ([`super::Workload::check`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BenchError {
    /// A Zipf table over more than [`MAX_ZIPF_KEYS`] keys.
    #[error("a zipf workload takes at most {MAX_ZIPF_KEYS} keys, not {keys}")]
    TooManyZipfKeys {
        /// The key count asked for.
        keys: u64,
    },
    /// Values larger than the protocol carries.
    #[error("values are at most {} bytes", protocol::MAX_VALUE_LEN)]
    ValueTooLarge {
        /// The value size asked for.
        size: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages `dkvs-bench` printed before these were types.
    #[test]
    fn messages_are_unchanged() {
        assert_eq!(
            DistributionError {
                text: "zipf:0".into()
            }
            .to_string(),
            "'zipf:0': expected uniform, zipf or zipf:S with 0 < S <= 10"
        );
        assert_eq!(
            BenchError::TooManyZipfKeys { keys: 20_000_000 }.to_string(),
            "a zipf workload takes at most 10000000 keys, not 20000000"
        );
        assert_eq!(
            BenchError::ValueTooLarge { size: 1 << 20 }.to_string(),
            format!("values are at most {} bytes", protocol::MAX_VALUE_LEN)
        );
    }
}
