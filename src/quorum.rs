//! Choosing N, W and R for one operation (SPEC §6 option rules).
//!
//! The CLI's `-n/-w/-r` flags and the REPL's `n=`/`w=`/`r=` words follow the
//! same rules, so they are decided here once: values the user gave are
//! checked (N <= S, W <= N, R <= N, all >= 1); values not given come from the
//! configuration's `[defaults]` (or 3/2/2) and are lowered to what the ring
//! can serve, so a one-server ring works with no options at all.

use crate::config::{DEFAULT_N, DEFAULT_R, DEFAULT_W, Defaults};

/// The options one operation was given; `None` = not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuorumOptions {
    /// Replication factor.
    pub n: Option<u32>,
    /// Write quorum.
    pub w: Option<u32>,
    /// Read quorum.
    pub r: Option<u32>,
}

impl QuorumOptions {
    /// Sets N.
    pub fn n(mut self, n: u32) -> Self {
        self.n = Some(n);
        self
    }
    /// Sets W.
    pub fn w(mut self, w: u32) -> Self {
        self.w = Some(w);
        self
    }
    /// Sets R.
    pub fn r(mut self, r: u32) -> Self {
        self.r = Some(r);
        self
    }
}

/// The resolved quorum of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quorum {
    /// Number of servers the request goes to.
    pub n: usize,
    /// Acknowledgements a put needs.
    pub w: usize,
    /// Identical values a get needs.
    pub r: usize,
}

/// An option the ring cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuorumError {
    /// A value of 0.
    #[error("{0} must be a strictly positive integer")]
    Zero(&'static str),
    /// N larger than the number of servers.
    #[error("N = {n} is larger than the number of servers ({s}); use at most -n {s}")]
    NTooLarge {
        /// Requested N.
        n: u32,
        /// Servers in the ring.
        s: usize,
    },
    /// W or R larger than N.
    #[error("{name} = {value} is larger than N = {n}; a quorum cannot exceed the replicas")]
    QuorumTooLarge {
        /// "W" or "R".
        name: &'static str,
        /// Requested value.
        value: u32,
        /// N in force.
        n: usize,
    },
}

impl QuorumOptions {
    /// Applies the rules of SPEC §6 for a ring of `servers` servers.
    pub fn resolve(&self, defaults: &Defaults, servers: usize) -> Result<Quorum, QuorumError> {
        for (value, name) in [(self.n, "N"), (self.w, "W"), (self.r, "R")] {
            if value == Some(0) {
                return Err(QuorumError::Zero(name));
            }
        }
        let n = match self.n {
            Some(n) if n as usize > servers => {
                return Err(QuorumError::NTooLarge { n, s: servers });
            }
            Some(n) => n as usize,
            None => (defaults.n.unwrap_or(DEFAULT_N) as usize).min(servers),
        };
        let pick = |given: Option<u32>, default: Option<u32>, fallback: u32, name| match given {
            Some(v) if v as usize > n => Err(QuorumError::QuorumTooLarge { name, value: v, n }),
            Some(v) => Ok(v as usize),
            None => Ok((default.unwrap_or(fallback) as usize).min(n)),
        };
        Ok(Quorum {
            n,
            w: pick(self.w, defaults.w, DEFAULT_W, "W")?,
            r: pick(self.r, defaults.r, DEFAULT_R, "R")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(o: QuorumOptions, s: usize) -> Result<Quorum, QuorumError> {
        o.resolve(&Defaults::default(), s)
    }

    #[test]
    fn defaults_lowered_to_ring() {
        let d = QuorumOptions::default();
        assert_eq!(q(d, 5), Ok(Quorum { n: 3, w: 2, r: 2 }));
        assert_eq!(q(d, 1), Ok(Quorum { n: 1, w: 1, r: 1 }));
        assert_eq!(q(d, 2), Ok(Quorum { n: 2, w: 2, r: 2 }));
        assert_eq!(q(d.n(1), 3), Ok(Quorum { n: 1, w: 1, r: 1 }));
        assert_eq!(q(d.r(1), 3), Ok(Quorum { n: 3, w: 2, r: 1 }));
        assert_eq!(q(d.n(4).w(3), 5), Ok(Quorum { n: 4, w: 3, r: 2 }));
    }

    #[test]
    fn explicit_values_checked() {
        let d = QuorumOptions::default();
        assert_eq!(q(d.n(4), 3), Err(QuorumError::NTooLarge { n: 4, s: 3 }));
        assert!(matches!(
            q(d.w(4), 5),
            Err(QuorumError::QuorumTooLarge { name: "W", .. })
        ));
        assert!(matches!(
            q(d.n(2).r(3), 5),
            Err(QuorumError::QuorumTooLarge { name: "R", .. })
        ));
        assert!(matches!(
            q(d.w(2), 1),
            Err(QuorumError::QuorumTooLarge { .. })
        ));
        assert_eq!(q(d.n(0), 3), Err(QuorumError::Zero("N")));
        assert_eq!(q(d.w(0), 3), Err(QuorumError::Zero("W")));
        assert_eq!(q(d.r(0), 3), Err(QuorumError::Zero("R")));
    }

    #[test]
    fn config_defaults_used_and_lowered() {
        let defaults = Defaults {
            n: Some(4),
            w: Some(3),
            r: Some(1),
            timeout_ms: 100,
        };
        let o = QuorumOptions::default();
        assert_eq!(o.resolve(&defaults, 5), Ok(Quorum { n: 4, w: 3, r: 1 }));
        assert_eq!(o.resolve(&defaults, 2), Ok(Quorum { n: 2, w: 2, r: 1 }));
        assert_eq!(
            o.n(2).resolve(&defaults, 5),
            Ok(Quorum { n: 2, w: 2, r: 1 })
        );
    }
}
