//! The version a stored value carries.
//!
//! Protocol v1 cannot tell an old value from a new one. Protocol v2 (issue 7)
//! gives every value a version assigned by the client coordinating the put:
//! a hybrid-logical-clock timestamp plus the writer's id, so two versions are
//! always ordered and replicas converge whatever order puts arrive in. The
//! storage engines (issue 6) keep a version and a tombstone flag with every
//! record already, so data written today needs no migration when v2 lands.
//! Values written through v1 get [`Version::ZERO`].

/// A totally ordered version: timestamp first, writer id to break ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version {
    /// Hybrid logical clock reading of the coordinating client.
    pub timestamp: u64,
    /// Id of the writer that assigned the timestamp.
    pub writer: u64,
}

impl Version {
    /// The version of values written without one (protocol v1 puts).
    pub const ZERO: Version = Version {
        timestamp: 0,
        writer: 0,
    };

    /// Bytes of [`Version::to_bytes`]: timestamp then writer, 8 bytes each.
    pub const ENCODED_LEN: usize = 16;

    /// The wire and disk form: timestamp then writer, both big-endian, so
    /// the byte order of two encodings is the order of the versions.
    pub fn to_bytes(self) -> [u8; Self::ENCODED_LEN] {
        let mut b = [0; Self::ENCODED_LEN];
        let (t, w) = b.split_at_mut(8);
        t.copy_from_slice(&self.timestamp.to_be_bytes());
        w.copy_from_slice(&self.writer.to_be_bytes());
        b
    }

    /// Reads back [`Version::to_bytes`].
    pub fn from_bytes(b: [u8; Self::ENCODED_LEN]) -> Version {
        // Both chunks exist (16 bytes); the fallback is never taken.
        let word = |c: Option<&[u8; 8]>| c.map_or(0, |c| u64::from_be_bytes(*c));
        Version {
            timestamp: word(b.first_chunk()),
            writer: word(b.last_chunk()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_by_timestamp_then_writer() {
        let a = Version {
            timestamp: 1,
            writer: 9,
        };
        let b = Version {
            timestamp: 2,
            writer: 0,
        };
        let c = Version {
            timestamp: 2,
            writer: 1,
        };
        assert!(Version::ZERO < a && a < b && b < c);
    }

    #[test]
    fn bytes_round_trip_and_keep_the_order() {
        let v = Version {
            timestamp: 0x0102_0304_0506_0708,
            writer: 0x1112_1314_1516_1718,
        };
        assert_eq!(
            v.to_bytes(),
            [
                1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18
            ]
        );
        assert_eq!(Version::from_bytes(v.to_bytes()), v);
        assert_eq!(Version::ZERO.to_bytes(), [0; 16]);
        let w = Version {
            timestamp: v.timestamp,
            writer: v.writer + 1,
        };
        assert!(v.to_bytes() < w.to_bytes());
    }
}
