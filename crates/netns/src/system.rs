//! What the machine has: whether namespaces can be made here (root, the
//! capabilities, `ip` and `nft`), which namespaces, links and IPv4
//! addresses exist, and whether a PID is alive.

use std::io::ErrorKind;
use std::net::Ipv4Addr;

use crate::error::NetnsError;
use crate::names::{parse_link_list, parse_netns_list};
use crate::run::run;

/// What to do when something is missing.
const ADVICE: &str =
    "run as root and install iproute2 and nftables (apt-get install iproute2 nftables)";

/// CAP_NET_ADMIN (links, addresses, rules) and CAP_SYS_ADMIN (`ip netns add`).
const CAPS: [(u32, &str); 2] = [(12, "CAP_NET_ADMIN"), (21, "CAP_SYS_ADMIN")];

/// Whether this process can make hosts: Linux, root with the network and
/// admin capabilities, and the `ip` and `nft` commands.
pub fn available() -> Result<(), NetnsError> {
    let unavailable = |reason: String| NetnsError::Unavailable { reason };
    if !cfg!(target_os = "linux") {
        return Err(unavailable(format!(
            "network namespaces need Linux; {ADVICE}"
        )));
    }
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| unavailable(format!("cannot read /proc/self/status ({e}); {ADVICE}")))?;
    if status_field(&status, "Uid:", 1) != Some(0) {
        return Err(unavailable(format!("not root; {ADVICE}")));
    }
    let caps = status_hex(&status, "CapEff:").unwrap_or(0);
    for (bit, name) in CAPS {
        if caps & (1 << bit) == 0 {
            return Err(unavailable(format!(
                "root without {name} (a container without --privileged?); {ADVICE}"
            )));
        }
    }
    for (program, arg) in [("ip", "-V"), ("nft", "--version")] {
        match run(program, [arg], None) {
            Ok(_) => {}
            Err(NetnsError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                return Err(unavailable(format!(
                    "`{program}` is not installed; {ADVICE}"
                )));
            }
            Err(e) => return Err(unavailable(format!("{e}; {ADVICE}"))),
        }
    }
    Ok(())
}

/// Field `index` (decimal) of the `/proc/self/status` line `key`.
fn status_field(status: &str, key: &str, index: usize) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(index + 1)?.parse().ok()
}

/// The hexadecimal value of the `/proc/self/status` line `key`.
fn status_hex(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
}

/// Whether a process with this PID exists (in our PID namespace).
pub(crate) fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The named network namespaces (`ip netns list`).
pub(crate) fn namespaces() -> Result<Vec<String>, NetnsError> {
    Ok(parse_netns_list(&run("ip", ["netns", "list"], None)?))
}

/// The interfaces of the root namespace (`ip -o link show`).
pub(crate) fn links() -> Result<Vec<String>, NetnsError> {
    Ok(parse_link_list(&run("ip", ["-o", "link", "show"], None)?))
}

/// Every IPv4 address of the root namespace, with its interface.
pub(crate) fn addresses() -> Result<Vec<(String, Ipv4Addr)>, NetnsError> {
    Ok(parse_addr_list(&run(
        "ip",
        ["-o", "-4", "addr", "show"],
        None,
    )?))
}

/// Reads `ip -o -4 addr show` (`4: eth0    inet 192.0.2.2/24 brd …`).
pub(crate) fn parse_addr_list(text: &str) -> Vec<(String, Ipv4Addr)> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace().skip(1);
            let name = words.next()?.to_owned();
            let _inet = words.find(|w| *w == "inet")?;
            let addr = words.next()?.split('/').next()?.parse().ok()?;
            Some((name, addr))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_status_are_parsed() {
        let text = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n\
                    4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\n";
        assert_eq!(
            parse_addr_list(text),
            [
                ("lo".to_owned(), Ipv4Addr::LOCALHOST),
                ("eth0".to_owned(), Ipv4Addr::new(192, 0, 2, 2))
            ]
        );
        let status = "Name:\tx\nUid:\t1000\t0\t0\t0\nCapEff:\t0000000000201000\n";
        assert_eq!(status_field(status, "Uid:", 1), Some(0));
        assert_eq!(status_field(status, "Uid:", 0), Some(1000));
        assert_eq!(status_hex(status, "CapEff:"), Some((1 << 12) | (1 << 21)));
        assert!(pid_alive(std::process::id()));
    }
}
