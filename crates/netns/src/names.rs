//! The names of what a `Hosts` creates, carrying the owner's PID so that
//! leftovers of a dead process can be found, and short enough for Linux's
//! 15-byte interface names.
//!
//! - namespace `dkvs-<pid>-<run>-<host>` (decimal: users type these);
//! - bridge `dkvb<pid>-<run>` and veth root end `dkvh<pid>-<run>-<host>`,
//!   in base 36: at most 4 + 5 + 1 + 2 + 1 + 2 = 15 bytes, as a Linux PID
//!   is below 2^22 (5 base-36 digits), `run` below 36² and a host below
//!   36². The veth's other end is `eth0` inside the namespace.

/// Linux's longest interface name (IFNAMSIZ - 1).
pub(crate) const IFNAME_MAX: usize = 15;
/// Runs (`Hosts` made by one process) are numbered modulo this.
pub(crate) const RUNS: u32 = 36 * 36;
/// Hosts per run: a /24 has 253 addresses besides the client's.
pub(crate) const MAX_HOSTS: usize = 253;

const NAMESPACE: &str = "dkvs-";
const BRIDGE: &str = "dkvb";
const VETH: &str = "dkvh";

/// The names of one run of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Names {
    pub(crate) pid: u32,
    pub(crate) run: u32,
}

impl Names {
    pub(crate) fn namespace(&self, host: usize) -> String {
        format!("{NAMESPACE}{}-{}-{host}", self.pid, self.run)
    }

    pub(crate) fn bridge(&self) -> String {
        format!("{BRIDGE}{}-{}", base36(self.pid), base36(self.run))
    }

    pub(crate) fn veth(&self, host: usize) -> String {
        format!(
            "{VETH}{}-{}-{}",
            base36(self.pid),
            base36(self.run),
            base36(u32::try_from(host).unwrap_or(u32::MAX))
        )
    }

    /// Whether every interface name of `hosts` hosts fits in 15 bytes.
    pub(crate) fn fit(&self, hosts: usize) -> bool {
        self.bridge().len() <= IFNAME_MAX
            && (hosts == 0 || self.veth(hosts - 1).len() <= IFNAME_MAX)
    }
}

/// What a name we made is, and the PID that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owned {
    Namespace(u32),
    Bridge(u32),
    Veth(u32),
}

impl Owned {
    pub(crate) fn pid(self) -> u32 {
        match self {
            Owned::Namespace(p) | Owned::Bridge(p) | Owned::Veth(p) => p,
        }
    }
}

/// Reads a namespace name of ours (`None` for anyone else's).
pub(crate) fn parse_namespace(name: &str) -> Option<Owned> {
    let parts = numbers(name.strip_prefix(NAMESPACE)?, 10)?;
    match parts.as_slice() {
        [pid, _, _] => Some(Owned::Namespace(*pid)),
        _ => None,
    }
}

/// Reads an interface name of ours (`None` for anyone else's).
pub(crate) fn parse_link(name: &str) -> Option<Owned> {
    if let Some(rest) = name.strip_prefix(BRIDGE) {
        return match numbers(rest, 36)?.as_slice() {
            [pid, _] => Some(Owned::Bridge(*pid)),
            _ => None,
        };
    }
    match numbers(name.strip_prefix(VETH)?, 36)?.as_slice() {
        [pid, _, _] => Some(Owned::Veth(*pid)),
        _ => None,
    }
}

/// `a-b-c` in `radix`, lowercase digits only.
fn numbers(text: &str, radix: u32) -> Option<Vec<u32>> {
    text.split('-')
        .map(|part| {
            let plain = !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase());
            if plain {
                u32::from_str_radix(part, radix).ok()
            } else {
                None
            }
        })
        .collect()
}

/// `n` in base 36, lowercase.
pub(crate) fn base36(mut n: u32) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit(n % 36, 36).unwrap_or('0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

/// The names listed by `ip netns list` (`name (id: 3)` or `name`).
pub(crate) fn parse_netns_list(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The interface names listed by `ip -o link show` (`5: name@if2: <…`).
pub(crate) fn parse_link_list(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux's largest PID (PID_MAX_LIMIT on 64-bit systems).
    const PID_MAX: u32 = 4_194_304;

    #[test]
    fn names_fit_for_the_largest_pid_run_and_host() {
        let n = Names {
            pid: PID_MAX,
            run: RUNS - 1,
        };
        assert!(n.fit(MAX_HOSTS));
        assert!(n.bridge().len() <= IFNAME_MAX, "{}", n.bridge());
        assert!(n.veth(MAX_HOSTS - 1).len() <= IFNAME_MAX, "{}", n.veth(252));
        assert_eq!(n.veth(MAX_HOSTS - 1), "dkvh2hwcg-zz-70");
        assert!(
            !Names {
                pid: u32::MAX,
                run: 0
            }
            .fit(MAX_HOSTS)
        );
    }

    #[test]
    fn names_parse_back_to_their_pid() {
        let n = Names {
            pid: 98_765,
            run: 40,
        };
        assert_eq!(n.namespace(2), "dkvs-98765-40-2");
        assert_eq!(
            parse_namespace(&n.namespace(2)),
            Some(Owned::Namespace(98_765))
        );
        assert_eq!(parse_link(&n.bridge()), Some(Owned::Bridge(98_765)));
        assert_eq!(parse_link(&n.veth(200)), Some(Owned::Veth(98_765)));
        for other in [
            "dkvs",
            "dkvs-1-2",
            "dkvs-a-1-2",
            "dkb",
            "dkv1-2",
            "eth0",
            "dkvX-1-2",
        ] {
            assert_eq!(parse_namespace(other), None, "{other}");
            assert_eq!(parse_link(other), None, "{other}");
        }
        assert_eq!(base36(0), "0");
        assert_eq!(base36(36), "10");
    }

    #[test]
    fn ip_listings_are_parsed() {
        let netns = "dkvs-12-0-1 (id: 3)\ndkvs-12-0-0\n\nother (id: 0)\n";
        assert_eq!(
            parse_netns_list(netns),
            ["dkvs-12-0-1", "dkvs-12-0-0", "other"]
        );
        let links = "1: lo: <LOOPBACK,UP> mtu 65536 qdisc noqueue\\    link/loopback\n\
                     5: dkvbc-0: <BROADCAST> mtu 1500\n\
                     6: dkvhc-0-0@if2: <BROADCAST,UP> mtu 1500 master dkvbc-0\n";
        assert_eq!(parse_link_list(links), ["lo", "dkvbc-0", "dkvhc-0-0"]);
    }
}
