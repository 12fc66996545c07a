//! The client's side of STATS: asking one server, or every server of a ring at
//! once, for its counters over the network (`dkvs-client stats`, the TUI).

use std::net::SocketAddrV4;
use std::time::Duration;

use crate::client::RetryPolicy;
use crate::config::ClusterConfig;
use crate::dump_ring::{Answer, DumpOptions, Pager};
use crate::protocol_v2::{AuthKey, Message};
use dkvs_wire::stats::{ServerReport, ServerStats, StatsAnswer};

/// How [`fetch_server`] and [`fetch_all`] ask: the deadline per server,
/// the resend schedule, and the key that signs (the cluster's first).
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// How long to wait for each server (its reply or nothing).
    pub timeout: Duration,
    /// Resends of an unanswered request.
    pub retry: RetryPolicy,
    /// Signs each request; only replies signed with it count.
    pub key: Option<AuthKey>,
}

impl FetchOptions {
    /// The options a client of `config` uses: `timeout`, the default
    /// resend schedule, the cluster's key.
    pub fn new(config: &ClusterConfig, timeout: Duration) -> FetchOptions {
        FetchOptions {
            timeout,
            retry: RetryPolicy::DEFAULT,
            key: crate::dump_ring::signer(config),
        }
    }

    /// The options of an existing client: its deadline, resends and key.
    pub fn of_client(client: &crate::client::Client) -> FetchOptions {
        FetchOptions {
            timeout: client.timeout(),
            retry: client.retry(),
            key: client.key().cloned(),
        }
    }
}

/// Asks one server for its counters: a STATS request (signed with
/// `options.key`), resent on `options.retry`'s schedule until a reply
/// with its id comes or `options.timeout` passes.
pub async fn fetch_server(addr: SocketAddrV4, options: &FetchOptions) -> StatsAnswer {
    let dump_options = DumpOptions {
        retry: options.retry,
        key: options.key.clone(),
        ..DumpOptions::new(options.timeout, options.timeout)
    };
    let mut pager = match Pager::open(addr, dump_options) {
        Ok(p) => p,
        Err(e) => return StatsAnswer::Error(e.to_string()),
    };
    let until = tokio::time::Instant::now() + options.timeout;
    let datagram = match pager
        .exchange(&Message::Stats, options.timeout, until)
        .await
    {
        Ok(Answer::Reply(d)) => d,
        Ok(Answer::V1Only) => return StatsAnswer::V1Only,
        Ok(Answer::Silent) => return StatsAnswer::NoAnswer,
        Err(e) => return StatsAnswer::Error(e.to_string()),
    };
    match crate::protocol_v2::decode(&datagram).map(|f| f.message) {
        Ok(Message::StatsReply { pairs }) => {
            StatsAnswer::Stats(Box::new(ServerStats::from_pairs(&pairs)))
        }
        Ok(Message::Refused { reason }) => StatsAnswer::Refused(reason),
        Ok(other) => StatsAnswer::Error(format!("unexpected reply: opcode {}", other.opcode())),
        Err(e) => StatsAnswer::Error(e.to_string()),
    }
}

/// Asks every server of `config` at once ([`fetch_server`] each, in
/// parallel); one report per server, in configuration order. Takes about
/// `options.timeout` when a server is silent, less otherwise.
pub async fn fetch_all(config: &ClusterConfig, options: &FetchOptions) -> Vec<ServerReport> {
    let addrs: Vec<SocketAddrV4> = config.servers.iter().map(|s| s.addr()).collect();
    fetch_many(&addrs, options).await
}

/// [`fetch_all`] for a list of addresses.
pub async fn fetch_many(addrs: &[SocketAddrV4], options: &FetchOptions) -> Vec<ServerReport> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, addr) in addrs.iter().copied().enumerate() {
        let options = options.clone();
        tasks.spawn(async move { (index, fetch_server(addr, &options).await) });
    }
    let mut answers: Vec<Option<StatsAnswer>> = addrs.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, answer)) => {
                if let Some(slot) = answers.get_mut(index) {
                    *slot = Some(answer);
                }
            }
            Err(e) => tracing::error!(error = %e, "stats task failed"),
        }
    }
    addrs
        .iter()
        .zip(answers)
        .map(|(addr, answer)| ServerReport {
            addr: *addr,
            answer: answer.unwrap_or_else(|| StatsAnswer::Error("task failed".into())),
        })
        .collect()
}
