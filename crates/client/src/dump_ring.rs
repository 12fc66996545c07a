//! `dkvs-dump-ring` output (docs/CLI.md): the ring's nodes, then each server's
//! contents in ring order. Kept in the library so the REPL's `dump` and the
//! binary print the very same text.
//!
//! A server is read with the paginated v2 DUMP ([`dump_paged`]: one bounded
//! page per request, a cursor, retransmission per page) and its live pairs
//! are written back as the very text a v1 dump of the same data gives
//! (`protocol::encode_dump`, pairs in key order as the server's v1 dump
//! sends them); a v1-only server is read with the v1 dump
//! ([`dump_server`]).

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::client::{
    DUMP_MAX_FOREIGN, DUMP_MAX_TIME, DumpReply, ProtocolMode, RetryPolicy, dump_server,
};
use crate::config::{ClusterConfig, ServerSpec};
use crate::net::retry::{Received, Resends, Wake, recv_until};
use crate::protocol::{self, MAX_DATAGRAM};
use crate::protocol_v2::{self as v2, AuthKey, Dialect, EntryValue, Message, Page, Reason};
use crate::ring::Ring;

/// Entries asked for per DUMP page (a page also stops at one datagram).
pub const PAGE_LIMIT: u16 = 512;

/// How [`dump_paged`] reads one server.
#[derive(Debug, Clone)]
pub struct DumpOptions {
    /// How long each page (and the v1 dump's first datagram) is waited for.
    pub first: Duration,
    /// The v1 fallback's wait between datagrams.
    pub idle: Duration,
    /// Resends of an unanswered page request.
    pub retry: RetryPolicy,
    /// Entries asked for per page (0: as many as fit a datagram).
    pub page_limit: u16,
    /// [`ProtocolMode::V1`] reads with the v1 dump only.
    pub protocol: ProtocolMode,
    /// Signs every request with this key (the cluster's first key); a
    /// dump with a key never falls back to the unsigned v1 dump.
    pub key: Option<AuthKey>,
}

impl DumpOptions {
    /// Defaults: [`RetryPolicy::DEFAULT`], [`PAGE_LIMIT`], v2 first.
    pub fn new(first: Duration, idle: Duration) -> DumpOptions {
        DumpOptions {
            first,
            idle,
            retry: RetryPolicy::DEFAULT,
            page_limit: PAGE_LIMIT,
            protocol: ProtocolMode::Auto,
            key: None,
        }
    }
}

/// Asks every server of `config` for its contents, all at once, waiting up to
/// `first` for a first datagram and `idle` between datagrams, signing with
/// the cluster's key when it has one (see [`dump_all_with`]).
pub async fn dump_all(
    config: &ClusterConfig,
    first: Duration,
    idle: Duration,
) -> Vec<io::Result<DumpReply>> {
    let options = DumpOptions {
        key: signer(config),
        ..DumpOptions::new(first, idle)
    };
    dump_all_with(config, options).await
}

/// The key that signs a cluster's requests: the first of its key file.
pub fn signer(config: &ClusterConfig) -> Option<AuthKey> {
    config
        .defaults
        .keys
        .as_ref()
        .and_then(|k| k.signer())
        .cloned()
}

/// Asks every server of `config` for its contents, all at once, each with
/// [`dump_paged`].
pub async fn dump_all_with(
    config: &ClusterConfig,
    options: DumpOptions,
) -> Vec<io::Result<DumpReply>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, server) in config.servers.iter().enumerate() {
        let addr = server.addr();
        let options = options.clone();
        tasks.spawn(async move { (index, dump_paged(addr, options).await) });
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

/// Writes the ring listing (`Ring nodes:`).
pub fn write_ring(out: &mut impl Write, config: &ClusterConfig, ring: &Ring) -> io::Result<()> {
    writeln!(out, "Ring nodes:")?;
    for node in ring.nodes() {
        let s = server_of(config, node.server)?;
        writeln!(out, "{} ({} {})", node.position, s.ip, s.port)?;
    }
    Ok(())
}

/// Writes the per-node sections, given each server's dump reply.
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

/// One warning per server whose dump was refused as unauthenticated (its
/// section is empty because this client has no key, not because the
/// server is), naming it and the fix; none in the ordinary case.
pub fn refusal_warnings(config: &ClusterConfig, replies: &[io::Result<DumpReply>]) -> Vec<String> {
    config
        .servers
        .iter()
        .zip(replies)
        .filter(|(_, reply)| matches!(reply, Ok(r) if r.refused == Some(Reason::Unauthenticated)))
        .map(|(server, _)| {
            crate::limits::refused_unauthenticated(&server.addr().to_string(), "dump")
        })
        .collect()
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
/// `/!\ FROM <ip>:<port>: `.
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

/// Reads one server's contents page by page over v2, and returns them as
/// the reply a v1 dump of the same data gives: one `storing <n> key-value
/// pairs:` header, then the live pairs in key order (tombstones are not
/// listed), split into datagrams exactly as the server splits a v1 dump.
///
/// Each page is waited for up to `options.first` and resent following
/// `options.retry`. A server that answers v2 with a non-v2 datagram (a
/// v1-only server), refuses it as unsupported, or stays silent for the
/// first half of the first page's wait is read with the v1 dump for the
/// rest of that wait. A server that refuses the dump as forbidden gets the
/// reply of a v1 dump from outside `--allow-dump`: nothing. One that
/// refuses it as unauthenticated (a keyed server asked without a key) gets
/// nothing either, with [`DumpReply::refused`] set. A page that
/// stays unanswered after the first is an error (the listing would be
/// partial). With a key, requests are signed and nothing falls back to
/// v1 (DECISIONS #65): a server that would need it prints its header
/// only. Datagrams from other addresses are kept, as in
/// [`dump_server`], and never extend a wait.
pub async fn dump_paged(addr: SocketAddrV4, options: DumpOptions) -> io::Result<DumpReply> {
    if options.protocol == ProtocolMode::V1 {
        return dump_server(addr, options.first, options.idle).await;
    }
    let started = Instant::now();
    let mut pager = Pager::open(addr, options.clone())?;
    let mut paging = Paging::new(addr, &options, started);
    loop {
        match paging.page(&mut pager).await? {
            Turn::More => {}
            Turn::Done => break,
            Turn::Nothing => return Ok(pager.into_reply(None)),
            Turn::Refused(reason) => {
                let mut reply = pager.into_reply(None);
                reply.refused = Some(reason);
                return Ok(reply);
            }
            Turn::FallBack => return pager.fall_back(started).await,
        }
    }
    Ok(pager.into_reply(Some(paging.datagrams())))
}

/// What one page request of [`dump_paged`] came to.
enum Turn {
    /// A page with more after it: ask for the next.
    More,
    /// The last page: every pair is in.
    Done,
    /// The dump ends with the server's header only (nothing from it).
    Nothing,
    /// The dump was refused for this reason ([`DumpReply::refused`]).
    Refused(Reason),
    /// The server is read with the v1 dump instead.
    FallBack,
}

/// The state of one [`dump_paged`]: the pairs read so far and the cursor
/// of the next page.
struct Paging {
    addr: SocketAddrV4,
    signed: bool,
    first: Duration,
    page_limit: u16,
    hard_stop: Instant,
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
    cursor: Vec<u8>,
}

impl Paging {
    fn new(addr: SocketAddrV4, options: &DumpOptions, started: Instant) -> Paging {
        Paging {
            addr,
            signed: options.key.is_some(),
            first: options.first,
            page_limit: options.page_limit,
            hard_stop: started + options.first + DUMP_MAX_TIME,
            pairs: Vec::new(),
            cursor: Vec::new(),
        }
    }

    /// Asks for the next page and takes in what it brings.
    async fn page(&mut self, pager: &mut Pager) -> io::Result<Turn> {
        let first_page = self.cursor.is_empty() && self.pairs.is_empty();
        let wait = if first_page {
            self.first / 2
        } else {
            self.first
        };
        let request = Message::Dump {
            cursor: &self.cursor,
            limit: self.page_limit,
        };
        match pager.exchange(&request, wait, self.hard_stop).await? {
            Answer::Reply(datagram) => self.reply(pager, &datagram, first_page).await,
            Answer::V1Only | Answer::Silent if first_page && self.signed => Ok(Turn::Nothing),
            Answer::V1Only | Answer::Silent if first_page => Ok(Turn::FallBack),
            Answer::V1Only => Err(invalid(self.addr, "answered v1 to a later page")),
            Answer::Silent => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "dump of {}: no answer to the page after {} pairs",
                    self.addr,
                    self.pairs.len()
                ),
            )),
        }
    }

    /// A v2 reply to a page request: a page, or a refusal of the dump.
    async fn reply(
        &mut self,
        pager: &mut Pager,
        datagram: &[u8],
        first_page: bool,
    ) -> io::Result<Turn> {
        let Ok(frame) = v2::decode(datagram) else {
            return Err(invalid(self.addr, "undecodable page"));
        };
        match frame.message {
            Message::Page(page) => self.take(pager, &page).await,
            Message::Refused {
                reason: Reason::Forbidden,
            } if first_page => Ok(Turn::Nothing),
            // A keyed server: it drops the v1 dump too, so there is
            // nothing to fall back to; the caller says why the
            // section is empty ([`refusal_warnings`]).
            Message::Refused {
                reason: reason @ Reason::Unauthenticated,
            } if first_page => Ok(Turn::Refused(reason)),
            Message::Refused { .. } if first_page && self.signed => Ok(Turn::Nothing),
            Message::Refused { .. } if first_page => Ok(Turn::FallBack),
            other => Err(invalid(
                self.addr,
                &format!(
                    "unexpected reply to a later page: opcode {}",
                    other.opcode()
                ),
            )),
        }
    }

    /// Keeps the live pairs of `page` (reading the values it omitted) and
    /// moves the cursor past it.
    async fn take(&mut self, pager: &mut Pager, page: &Page<'_>) -> io::Result<Turn> {
        let next = page.next_cursor().map(<[u8]>::to_vec);
        for entry in &page.entries {
            match entry.value {
                EntryValue::Live(value) => {
                    self.pairs.push((entry.key.to_vec(), value.to_vec()));
                }
                EntryValue::Tombstone => {}
                EntryValue::Omitted => {
                    if let Some(value) = pager.read_omitted(entry.key, self.hard_stop).await? {
                        self.pairs.push((entry.key.to_vec(), value));
                    }
                }
            }
        }
        match next {
            Some(next) if next > self.cursor => {
                self.cursor = next;
                Ok(Turn::More)
            }
            Some(_) => Err(invalid(self.addr, "page cursor went backwards")),
            None => Ok(Turn::Done),
        }
    }

    /// The pairs as the datagrams of a v1 dump.
    fn datagrams(&self) -> Vec<Vec<u8>> {
        protocol::encode_dump(
            self.pairs.len(),
            self.pairs.iter().map(|(k, v)| (&k[..], &v[..])),
        )
    }
}

fn invalid(addr: SocketAddrV4, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("dump of {addr}: {what}"),
    )
}

/// What one v2 request got (also used by `crate::stats`).
pub(crate) enum Answer {
    /// A v2 reply with the request's id that answers it.
    Reply(Vec<u8>),
    /// The server answered with a non-v2 datagram: it speaks v1 only.
    V1Only,
    /// Nothing usable before the wait ran out.
    Silent,
}

/// One server's paged dump: its socket, request ids, foreign datagrams.
/// `crate::stats` asks STATS through it too ([`Pager::exchange`]).
pub(crate) struct Pager {
    socket: UdpSocket,
    addr: SocketAddrV4,
    options: DumpOptions,
    next_id: u64,
    foreign: Vec<(Option<SocketAddr>, Vec<u8>)>,
    foreign_seen: usize,
    buf: Vec<u8>,
}

impl Pager {
    pub(crate) fn open(addr: SocketAddrV4, options: DumpOptions) -> io::Result<Pager> {
        let std_socket =
            crate::net::bind_udp(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)))?;
        let socket = UdpSocket::from_std(std_socket)?;
        let next_id = {
            use rand::RngExt;
            rand::rng().random::<u64>() >> 1
        };
        Ok(Pager {
            socket,
            addr,
            options,
            next_id,
            foreign: Vec::new(),
            foreign_seen: 0,
            buf: vec![0u8; MAX_DATAGRAM + 1],
        })
    }

    /// Sends `message` with a fresh id, resending per the retry policy,
    /// until a reply that answers it arrives or `wait` (at most until
    /// `hard_stop`) runs out.
    pub(crate) async fn exchange(
        &mut self,
        message: &Message<'_>,
        wait: Duration,
        hard_stop: Instant,
    ) -> io::Result<Answer> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let auth = self.options.key.as_ref().map(|key| {
            let now_ms = crate::hlc::Clock::now_ms(&crate::hlc::SystemClock);
            (key, now_ms)
        });
        let request = v2::encode(id, message, auth)
            .map_err(|e| invalid(self.addr, &format!("cannot encode: {e}")))?;
        let sent = Instant::now();
        let mut timer = Resends::new(self.options.retry, sent, (sent + wait).min(hard_stop));
        self.socket.send_to(&request, self.addr).await?;
        loop {
            let wake = timer.wake();
            let (len, from) = match recv_until(&self.socket, &mut self.buf, wake).await? {
                Received::Datagram { len, from } => (len, from),
                Received::Timeout => match timer.fire(wake) {
                    Wake::Resend(_) => {
                        self.socket.send_to(&request, self.addr).await?;
                        continue;
                    }
                    Wake::Deadline => return Ok(Answer::Silent),
                },
            };
            let datagram = self.buf.get(..len).unwrap_or_default();
            if from != SocketAddr::V4(self.addr) {
                self.foreign_seen += 1;
                if self.foreign_seen <= DUMP_MAX_FOREIGN {
                    self.foreign.push((Some(from), datagram.to_vec()));
                }
                continue;
            }
            // With a key, only a reply signed with it counts (servers sign
            // with the request's key): an unsigned, forged or stale datagram
            // is ignored like a foreign one, and there is no v1 fallback.
            if let Some((key, _)) = auth {
                let now_ms = crate::hlc::Clock::now_ms(&crate::hlc::SystemClock);
                if let Err(error) = v2::verify(
                    datagram,
                    std::slice::from_ref(key),
                    now_ms,
                    crate::limits::AUTH_WINDOW_MS,
                ) {
                    tracing::debug!(server = %self.addr, %error, "ignored a dump reply that is not authentic");
                    continue;
                }
            } else if v2::dialect(datagram) != Dialect::V2 {
                return Ok(Answer::V1Only);
            }
            match v2::decode(datagram) {
                Ok(frame) if frame.id == id && frame.message.answers(message.opcode()) => {
                    return Ok(Answer::Reply(datagram.to_vec()));
                }
                // A late copy of an earlier page, or garbage: not ours.
                _ => continue,
            }
        }
    }

    /// The value of an entry sent without it (too large for a page), read
    /// with GET; `None` when it is gone meanwhile.
    async fn read_omitted(
        &mut self,
        key: &[u8],
        hard_stop: Instant,
    ) -> io::Result<Option<Vec<u8>>> {
        let first = self.options.first;
        match self
            .exchange(&Message::Get { key }, first, hard_stop)
            .await?
        {
            Answer::Reply(datagram) => match v2::decode(&datagram).map(|f| f.message) {
                Ok(Message::Value { value, .. }) => Ok(Some(value.to_vec())),
                Ok(_) => Ok(None),
                Err(_) => Err(invalid(self.addr, "undecodable reply to a get")),
            },
            Answer::V1Only | Answer::Silent => Err(invalid(
                self.addr,
                "no answer to the get of a value too large for a page",
            )),
        }
    }

    /// The v1 dump, within what is left of the first wait, with the foreign
    /// datagrams seen so far in front.
    async fn fall_back(self, started: Instant) -> io::Result<DumpReply> {
        let left = self.options.first.saturating_sub(started.elapsed());
        let mut reply = dump_server(self.addr, left, self.options.idle).await?;
        let mut received = self.foreign;
        received.append(&mut reply.received);
        reply.received = received;
        Ok(reply)
    }

    /// The reply: foreign datagrams first, then the server's `datagrams`.
    fn into_reply(self, datagrams: Option<Vec<Vec<u8>>>) -> DumpReply {
        let mut reply = DumpReply {
            received: self.foreign,
            ..DumpReply::default()
        };
        for datagram in datagrams.into_iter().flatten() {
            reply.parsed.add_datagram(&datagram);
            reply.received.push((None, datagram));
        }
        reply
    }
}
