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
}
