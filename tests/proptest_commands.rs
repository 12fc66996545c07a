//! Properties of the pure parts of `substr` and `find` (docs/CLI.md) against a
//! naive model: the model walks the value byte by byte with wide integers,
//! so it cannot share an overflow or off-by-one with the real code.

use dkvs::commands::{find_position, substr_range};
use proptest::prelude::*;

/// `substr` the slow way: positions from 0 at the start or from -1 at the
/// end, `length` bytes, all inside the value, else `None`.
fn naive_substr(value: &[u8], position: i64, length: i64) -> Option<Vec<u8>> {
    let len = value.len() as i128;
    let start = if position < 0 {
        len + i128::from(position)
    } else {
        i128::from(position)
    };
    let end = start + i128::from(length);
    if length < 0 || start < 0 || end > len {
        return None;
    }
    Some((start..end).map(|i| value[i as usize]).collect())
}

/// `find` the slow way: the first position where every needle byte matches.
fn naive_find(haystack: &[u8], needle: &[u8]) -> i64 {
    (0..=haystack.len())
        .find(|&at| {
            at + needle.len() <= haystack.len()
                && needle
                    .iter()
                    .enumerate()
                    .all(|(i, &b)| haystack[at + i] == b)
        })
        .map_or(-1, |p| p as i64)
}

/// Positions and lengths around the interesting places: small, near the
/// value's length, and at the ends of i64.
fn offset() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -40i64..40,
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => Just(i64::MIN + 1),
        1 => any::<i64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10000))]

    #[test]
    fn substr_matches_the_model(
        value in proptest::collection::vec(any::<u8>(), 0..32),
        position in offset(),
        length in offset(),
    ) {
        let real = substr_range(value.len(), position, length).map(|r| value[r].to_vec());
        prop_assert_eq!(real, naive_substr(&value, position, length));
    }

    #[test]
    fn find_matches_the_model(
        haystack in proptest::collection::vec(b'a'..=b'c', 0..24),
        needle in proptest::collection::vec(b'a'..=b'c', 0..4),
    ) {
        prop_assert_eq!(find_position(&haystack, &needle), naive_find(&haystack, &needle));
    }

    /// A needle cut out of the haystack is always found, at or before the cut.
    #[test]
    fn a_substring_is_found(
        haystack in proptest::collection::vec(any::<u8>(), 1..64),
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
    ) {
        let (x, y) = (a.index(haystack.len() + 1), b.index(haystack.len() + 1));
        let (from, to) = (x.min(y), x.max(y));
        let found = find_position(&haystack, &haystack[from..to]);
        prop_assert!(found >= 0 && found as usize <= from);
    }
}
