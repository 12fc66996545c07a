//! `dkvs-dump-ring` output (SPEC §7): the ring's nodes, then each server's
//! contents in ring order. Kept in the library so the REPL's `dump` and the
//! binary print the very same text.

use std::collections::HashMap;
use std::io::{self, Write};
use std::time::Duration;

use crate::client::{DumpReply, dump_server};
use crate::config::{ClusterConfig, ServerSpec};
use crate::ring::Ring;

/// Asks every server of `config` for its contents, all at once, waiting up to
/// `first` for a first datagram and `idle` between datagrams.
pub async fn dump_all(
    config: &ClusterConfig,
    first: Duration,
    idle: Duration,
) -> Vec<io::Result<DumpReply>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, server) in config.servers.iter().enumerate() {
        let addr = server.addr();
        tasks.spawn(async move { (index, dump_server(addr, first, idle).await) });
    }
    let mut replies: Vec<Option<io::Result<DumpReply>>> =
        (0..config.servers.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, reply)) => {
                if let Some(slot) = replies.get_mut(index) {
                    *slot = Some(reply);
                }
            }
            Err(e) => tracing::error!(error = %e, "dump task failed"),
        }
    }
    replies
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(io::Error::other("dump task failed"))))
        .collect()
}

/// Writes the §7 ring listing.
pub fn write_ring(out: &mut impl Write, config: &ClusterConfig, ring: &Ring) -> io::Result<()> {
    writeln!(out, "Ring nodes:")?;
    for node in ring.nodes() {
        let s = server_of(config, node.server)?;
        writeln!(out, "{} ({} {})", node.position, s.ip, s.port)?;
    }
    Ok(())
}

/// Writes the §7 per-node sections, given each server's dump reply.
pub fn write_sections(
    out: &mut impl Write,
    config: &ClusterConfig,
    ring: &Ring,
    replies: &[io::Result<DumpReply>],
) -> io::Result<()> {
    let mut first_shown: HashMap<usize, usize> = HashMap::new();
    for (index, node) in ring.nodes().iter().enumerate() {
        let s = server_of(config, node.server)?;
        write!(out, "\n{}:{}:", s.ip, s.port)?;
        if let Some(first) = first_shown.get(&node.server) {
            writeln!(out, " node {index} has same server as node {first}")?;
            continue;
        }
        first_shown.insert(node.server, index);
        writeln!(out)?;
        match replies.get(node.server) {
            Some(Ok(reply)) => write_reply(out, reply)?,
            Some(Err(e)) => tracing::warn!(server = %s, error = %e, "dump failed"),
            None => tracing::warn!(server = %s, "no dump reply"),
        }
    }
    Ok(())
}

/// The server a ring node points to; an error (not a panic) when the ring
/// was built from another configuration.
fn server_of(config: &ClusterConfig, index: usize) -> io::Result<&ServerSpec> {
    config.servers.get(index).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("ring node of server {index} is not in the configuration"),
        )
    })
}

/// Writes what one server sent back to a dump, datagram by datagram in
/// arrival order; a datagram from another address is prefixed with
/// `/!\ FROM <ip>:<port>: ` (SPEC §7).
pub fn write_reply(out: &mut impl Write, reply: &DumpReply) -> io::Result<()> {
    for (from, datagram) in &reply.received {
        match from {
            None => write_datagram(out, "", datagram)?,
            Some(from) => write_datagram(out, &format!("/!\\ FROM {from}: "), datagram)?,
        }
    }
    Ok(())
}

fn write_datagram(out: &mut impl Write, prefix: &str, datagram: &[u8]) -> io::Result<()> {
    if datagram.is_empty() {
        return Ok(());
    }
    out.write_all(prefix.as_bytes())?;
    out.write_all(datagram)?;
    if !datagram.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    Ok(())
}
