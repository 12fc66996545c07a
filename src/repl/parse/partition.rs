//! `partition`: the words of a split between groups of servers (and the
//! client), or of a one-way cut, read into [`Partition`].

use std::collections::BTreeSet;

use crate::config::ClusterConfig;

use super::{NetEnd, ParseError, Partition, Word, resolve_server};

const USAGE: &str = "usage: partition <servers> | <servers> [| …]  or  partition <servers> -> <servers> (servers by number or ip:port, comma-separated; `client` is this machine)";

/// Reads `1,2 | 3,4,5`, `client,1 | 2,3`, `1 -> 2` (spaces optional).
pub(super) fn parse_partition(
    args: &[Word],
    config: &ClusterConfig,
) -> Result<Partition, ParseError> {
    let text: String = args
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    if text.trim().is_empty() {
        return Err(ParseError(USAGE.into()));
    }
    if let Some((from, to)) = text.split_once("->") {
        let from = ends(from, config)?;
        let to = ends(to, config)?;
        if let Some(both) = from.iter().find(|e| to.contains(e)) {
            return Err(ParseError(format!(
                "partition: {} is on both sides of `->`",
                name(*both)
            )));
        }
        return Ok(Partition::OneWay(from, to));
    }
    let groups = text
        .split('|')
        .map(|g| ends(g, config))
        .collect::<Result<Vec<_>, _>>()?;
    if groups.len() < 2 {
        return Err(ParseError(format!(
            "partition: one group only; separate the sides with `|` ({USAGE})"
        )));
    }
    let mut seen = BTreeSet::new();
    for end in groups.iter().flatten() {
        if !seen.insert(*end) {
            return Err(ParseError(format!(
                "partition: {} is in two groups",
                name(*end)
            )));
        }
    }
    Ok(Partition::Groups(groups))
}

/// `client` or `server 2`.
fn name(end: NetEnd) -> String {
    match end {
        NetEnd::Client => "client".into(),
        NetEnd::Server(i) => format!("server {}", i + 1),
    }
}

/// One comma-separated side: servers by number or ip:port, or `client`.
fn ends(text: &str, config: &ClusterConfig) -> Result<Vec<NetEnd>, ParseError> {
    let mut out = Vec::new();
    for item in text.split([',', ' ']).filter(|s| !s.is_empty()) {
        let end = if item.eq_ignore_ascii_case("client") {
            NetEnd::Client
        } else {
            NetEnd::Server(resolve_server(config, item)?)
        };
        if !out.contains(&end) {
            out.push(end);
        }
    }
    if out.is_empty() {
        return Err(ParseError(format!("partition: an empty side ({USAGE})")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::{ReplCommand, parse_line};
    use super::*;

    fn cfg() -> ClusterConfig {
        crate::config::parse_servers_txt(
            "127.0.0.1 1 1\n127.0.0.1 2 1\n127.0.0.1 3 1\n127.0.0.1 4 1\n127.0.0.1 5 1\n",
            "s.txt",
        )
        .unwrap()
    }

    fn ok(line: &str) -> Partition {
        match parse_line(line, &cfg()) {
            Ok(Some(ReplCommand::Partition(p))) => p,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn bad(line: &str) -> String {
        parse_line(line, &cfg()).unwrap_err().0
    }

    #[test]
    fn groups_and_one_way_cuts() {
        use NetEnd::{Client, Server};
        assert_eq!(
            ok("partition 1,2 | 3,4,5"),
            Partition::Groups(vec![
                vec![Server(0), Server(1)],
                vec![Server(2), Server(3), Server(4)]
            ])
        );
        assert_eq!(
            ok("partition client,1|2 , 3"),
            ok("partition client, 1 | 2,3")
        );
        assert_eq!(
            ok("partition client,1 | 127.0.0.1:2"),
            Partition::Groups(vec![vec![Client, Server(0)], vec![Server(1)]])
        );
        assert_eq!(
            ok("partition 1 -> 2"),
            Partition::OneWay(vec![Server(0)], vec![Server(1)])
        );
        assert_eq!(
            ok("partition 1,2->client"),
            Partition::OneWay(vec![Server(0), Server(1)], vec![Client])
        );
        assert!(bad("partition").starts_with("usage: partition"));
        assert!(bad("partition 1,2").contains("one group only"));
        assert!(bad("partition 1 | 1,2").contains("server 1 is in two groups"));
        assert!(bad("partition 1 | 9").contains("unknown server"));
        assert!(bad("partition 1 -> 1").contains("both sides"));
        assert!(bad("partition 1 | ").contains("empty side"));
        assert!(bad("partition 1 | 2 x=1").contains("takes no options"));
        assert_eq!(parse_line("heal", &cfg()), Ok(Some(ReplCommand::HealAll)));
        assert_eq!(parse_line("net", &cfg()), Ok(Some(ReplCommand::Net)));
    }
}
