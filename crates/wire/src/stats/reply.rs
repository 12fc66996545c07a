//! A server's STATS reply as the client sees it: the decoded counters and
//! what each server answered, free of any network code.

use std::net::SocketAddrV4;

use crate::protocol_v2::Reason;

/// One server's STATS reply, decoded: the figures dkvs knows as typed
/// fields (`None` when the server did not send them), and every pair as
/// received, so names this client does not know survive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerStats {
    /// Seconds since the server started.
    pub uptime_seconds: Option<u64>,
    /// `memory` or `durable`.
    pub engine: Option<String>,
    /// Datagrams received.
    pub requests: Option<u64>,
    /// Gets.
    pub gets: Option<u64>,
    /// Puts.
    pub puts: Option<u64>,
    /// Deletes.
    pub deletes: Option<u64>,
    /// Gets answered with a value.
    pub hits: Option<u64>,
    /// Gets answered not found.
    pub misses: Option<u64>,
    /// Records held.
    pub keys: Option<u64>,
    /// Accounted bytes held.
    pub bytes_stored: Option<u64>,
    /// Resident memory.
    pub memory_rss_bytes: Option<u64>,
    /// Failures inside the server.
    pub errors: Option<u64>,
    /// Refusals sent.
    pub refused: Option<u64>,
    /// Requests dropped without a reply.
    pub dropped: Option<u64>,
    /// Every pair of the reply, in the server's order (names and values
    /// as text; bytes that are not UTF-8 replaced).
    pub raw: Vec<(String, String)>,
}

impl ServerStats {
    /// Decodes the pairs of a STATS reply.
    pub fn from_pairs(pairs: &[(&[u8], &[u8])]) -> ServerStats {
        let raw: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        ServerStats::from_raw(raw)
    }

    /// The typed view of name/value pairs.
    pub fn from_raw(raw: Vec<(String, String)>) -> ServerStats {
        let n = |name: &str| {
            raw.iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<u64>().ok())
        };
        ServerStats {
            uptime_seconds: n("uptime_seconds"),
            engine: raw
                .iter()
                .find(|(k, _)| k == "engine")
                .map(|(_, v)| v.clone()),
            requests: n("requests"),
            gets: n("gets"),
            puts: n("puts"),
            deletes: n("deletes"),
            hits: n("hits"),
            misses: n("misses"),
            keys: n("keys"),
            bytes_stored: n("bytes_stored"),
            memory_rss_bytes: n("memory_rss_bytes"),
            errors: n("errors"),
            refused: n("refused"),
            dropped: n("dropped"),
            raw,
        }
    }

    /// The value of `name` as sent, if it was.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.raw
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` as a number, if it was sent and is one.
    pub fn number(&self, name: &str) -> Option<u64> {
        self.get(name)?.parse().ok()
    }

    /// Operations (gets + puts + deletes) so far: difference two readings
    /// and divide by the time between them for ops/s.
    pub fn operations(&self) -> Option<u64> {
        Some(
            self.gets?
                .saturating_add(self.puts?)
                .saturating_add(self.deletes.unwrap_or(0)),
        )
    }
}

/// What one server answered to STATS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsAnswer {
    /// Its counters (boxed: the other answers are small).
    Stats(Box<ServerStats>),
    /// It speaks only protocol v1 (it answered with the empty refusal), so
    /// it has no STATS.
    V1Only,
    /// It refused (`Unsupported`: a v2 server older than STATS;
    /// `Forbidden`: this source is outside its `--allow-dump`;
    /// `Unauthenticated`: no key or the wrong one).
    Refused(Reason),
    /// Nothing within the deadline (down, unreachable, or a keyed server
    /// not sharing this client's key).
    NoAnswer,
    /// This client could not ask (no socket, …).
    Error(String),
}

impl StatsAnswer {
    /// Whether the server answered at all (anything but
    /// [`StatsAnswer::NoAnswer`] and [`StatsAnswer::Error`]).
    pub fn answered(&self) -> bool {
        !matches!(self, StatsAnswer::NoAnswer | StatsAnswer::Error(_))
    }

    /// The counters, when it sent them.
    pub fn stats(&self) -> Option<&ServerStats> {
        match self {
            StatsAnswer::Stats(s) => Some(s),
            _ => None,
        }
    }

    /// One short phrase for a row without counters (`no answer`, `v1 only:
    /// no stats`, `refused: forbidden`…); empty for counters.
    pub fn describe(&self) -> String {
        match self {
            StatsAnswer::Stats(_) => String::new(),
            StatsAnswer::V1Only => "v1 only: no stats".into(),
            StatsAnswer::Refused(Reason::Unsupported) => "no stats (older dkvs server)".into(),
            StatsAnswer::Refused(Reason::Forbidden) => {
                "refused: forbidden (not in its --allow-dump)".into()
            }
            StatsAnswer::Refused(Reason::Unauthenticated) => "refused: unauthenticated".into(),
            StatsAnswer::Refused(r) => format!("refused: reason {}", r.code()),
            StatsAnswer::NoAnswer => "no answer".into(),
            StatsAnswer::Error(e) => format!("error: {e}"),
        }
    }
}

/// One server's row: its address and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReport {
    /// The server.
    pub addr: SocketAddrV4,
    /// What it answered.
    pub answer: StatsAnswer,
}
