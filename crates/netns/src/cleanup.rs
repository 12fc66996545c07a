//! Removing what earlier runs left behind: a process killed before it
//! dropped its `Hosts` leaves namespaces, veth pairs and a bridge whose
//! names carry its PID; those of PIDs no longer alive are deleted.

use crate::error::NetnsError;
use crate::names::{Owned, parse_link, parse_namespace};
use crate::run::run;
use crate::system::{links, namespaces, pid_alive};

/// Deletes the namespaces and links made by processes that are gone;
/// returns how many it deleted (one another process deleted meanwhile is
/// skipped). Those of live processes are left alone.
pub fn cleanup_stale() -> Result<usize, NetnsError> {
    let dead = |owned: Option<Owned>| owned.is_some_and(|o| !pid_alive(o.pid()));
    let all_links = links()?;
    let veths = all_links
        .iter()
        .filter(|l| matches!(parse_link(l), Some(Owned::Veth(_))) && dead(parse_link(l)));
    let bridges = all_links
        .iter()
        .filter(|l| matches!(parse_link(l), Some(Owned::Bridge(_))) && dead(parse_link(l)));
    let all_ns = namespaces()?;
    let stale_ns = all_ns.iter().filter(|n| dead(parse_namespace(n)));
    let mut removed = 0;
    // Another process may be removing the same leftovers at this moment:
    // one already gone is not an error.
    let mut delete = |args: [&str; 3]| match run("ip", args, None) {
        Ok(_) => removed += 1,
        Err(e) => tracing::debug!(error = %e, "netns: leftover not removed (gone already?)"),
    };
    // Veth pairs first: a deleted namespace frees its links only later.
    for link in veths {
        delete(["link", "del", link.as_str()]);
    }
    for ns in stale_ns {
        delete(["netns", "del", ns.as_str()]);
    }
    for link in bridges {
        delete(["link", "del", link.as_str()]);
    }
    if removed > 0 {
        tracing::info!(removed, "netns: stale namespaces and links removed");
    }
    Ok(removed)
}
