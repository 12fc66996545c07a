//! The v1 dump of one server's whole contents, outside any quorum: one
//! request, then every datagram until the pairs it announced arrived or the
//! server falls silent (`dump_ring` uses it for v1-only servers).

use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::time::Duration;

use tokio::time::Instant;

use super::Client;
use super::socket::{is_transient, open_socket};
use crate::protocol::{Dump, trim_dump_padding};

impl Client {
    /// Asks one server for its contents (the v1 dump, docs/PROTOCOL-V1.md). Waits up to the
    /// deadline for the first datagram, then until every announced pair has
    /// arrived or no datagram came for `idle`.
    /// An index outside the configuration is an `InvalidInput` error.
    pub async fn dump(&self, server: usize, idle: Duration) -> io::Result<DumpReply> {
        let Some(spec) = self.config.servers.get(server) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no server number {server} in the configuration"),
            ));
        };
        dump_server(spec.addr(), self.timeout, idle).await
    }
}

/// Everything a server sent back to a dump request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpReply {
    /// Every datagram received, in arrival order: `None` when it came from
    /// the server asked (without NUL padding after its last line), else
    /// the other address it came from.
    pub received: Vec<(Option<SocketAddr>, Vec<u8>)>,
    /// The server's datagrams parsed into pairs.
    pub parsed: Dump,
    /// Why the server refused the dump, when it did (a paged dump's first
    /// page refused, e.g. unsigned pages to a keyed server): its contents
    /// are then unknown, not empty.
    pub refused: Option<crate::protocol_v2::Reason>,
}

impl DumpReply {
    /// True when the server answered at all.
    pub fn answered(&self) -> bool {
        self.received.iter().any(|(from, _)| from.is_none())
    }
}

/// Sends a dump request to `addr` and gathers its reply (see [`Client::dump`]).
pub async fn dump_server(
    addr: SocketAddrV4,
    first: Duration,
    idle: Duration,
) -> io::Result<DumpReply> {
    let socket = open_socket()?;
    socket.send_to(&[], addr).await?;
    let mut reply = DumpReply::default();
    let mut buf = vec![0u8; 65536];
    let started = Instant::now();
    let hard_stop = started + first + DUMP_MAX_TIME;
    let mut foreign = 0usize;
    let mut deadline = started + first;
    loop {
        let (len, from) = match tokio::time::timeout_at(
            deadline.min(hard_stop),
            socket.recv_from(&mut buf),
        )
        .await
        {
            Err(_) => break,
            Ok(Ok(r)) => r,
            Ok(Err(e)) if is_transient(&e) => continue,
            Ok(Err(e)) => return Err(e),
        };
        let datagram = buf.get(..len).unwrap_or_default();
        if from == SocketAddr::V4(addr) {
            // A course server's NUL padding after the last pair is neither
            // parsed nor shown.
            let datagram = trim_dump_padding(datagram).to_vec();
            reply.parsed.add_datagram(&datagram);
            reply.received.push((None, datagram));
            if let Some(count) = reply.parsed.announced
                && reply.parsed.pairs.len() >= count
            {
                break;
            }
        } else {
            // Anyone can send to our port: keep a few such datagrams to show,
            // and never let them keep the dump reading.
            foreign += 1;
            if foreign <= DUMP_MAX_FOREIGN {
                reply.received.push((Some(from), datagram.to_vec()));
            }
            continue;
        }
        deadline = Instant::now() + idle;
    }
    Ok(reply)
}

/// A dump stops reading this long after its first wait, whatever arrives.
pub const DUMP_MAX_TIME: Duration = Duration::from_secs(60);
/// Datagrams from other addresses kept (and shown) by one dump; more are
/// dropped, and none of them extends the wait for the server.
pub const DUMP_MAX_FOREIGN: usize = 64;
