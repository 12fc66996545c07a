//! The network between the servers (issue 19): `partition` cuts links
//! between hosts in namespaces mode, `heal` alone removes every cut and
//! every proxy fault and watches the replicas converge, `net` lists what is
//! in force, and a quorum that fails across a cut says so.

use crate::supervisor::{NetEnd, NetInfo, Supervisor};
use crate::trace::Trace;

use super::super::NetView;
use super::super::format::error_line;
use super::super::heal_watch::{self, WatchOptions};
use super::super::lesson::restore::Cuts;
use super::super::parse::Partition;
use super::{FAILED, Interpreter, LineOutcome, OK, Sink, say, say_all};

/// Side letters, in group order.
const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

impl Interpreter {
    /// The supervisor, when its servers run on hosts of their own; else
    /// an error line saying how to get there.
    fn hosts_supervisor(&self, word: &str, sink: Sink<'_>) -> Option<Supervisor> {
        match &self.supervisor {
            Some(s) if s.has_hosts() => Some(s.clone()),
            _ => {
                say(
                    sink,
                    error_line(format!(
                        "{word}: the servers share this machine's loopback here, so there is no link to cut; start dkvs-tui as root with [cluster] network = \"namespaces\" in cluster.toml (`loss` and `delay` work on loopback)"
                    )),
                );
                None
            }
        }
    }

    /// `partition a,b | c,d` and `partition a -> b`.
    pub(super) async fn partition(&mut self, p: Partition, sink: Sink<'_>) -> LineOutcome {
        let Some(supervisor) = self.hosts_supervisor("partition", &mut *sink) else {
            return FAILED;
        };
        self.stop_heal_watch(&supervisor).await;
        let (sup, cut) = (supervisor.clone(), p.clone());
        let applied = blocking(move || match &cut {
            Partition::Groups(groups) => sup.partition(groups),
            Partition::OneWay(from, to) => sup.cut(from, to),
        });
        if let Err(e) = applied.await {
            say(sink, error_line(format!("partition: {}", e.text())));
            if e.changed() {
                self.reset_cuts(&supervisor, sink).await;
            }
            return FAILED;
        }
        match &p {
            Partition::Groups(groups) => {
                self.groups = groups.clone();
                self.one_way.clear();
                say_all(sink, groups_lines(groups));
            }
            Partition::OneWay(from, to) => {
                for a in from {
                    for b in to {
                        if !self.one_way.contains(&(*a, *b)) {
                            self.one_way.push((*a, *b));
                        }
                    }
                }
                say(
                    sink,
                    format!(
                        "one-way cut: packets from {} no longer reach {}; the other way still works (`heal` ends it)",
                        names(from),
                        names(to)
                    ),
                );
            }
        }
        supervisor.probe_soon();
        self.update_net_view();
        OK
    }

    /// `heal` alone: every cut and every proxy fault removed, then the
    /// replicas watched until they converge.
    pub(super) async fn heal_all(&mut self, sink: Sink<'_>) -> LineOutcome {
        let mut healed = Vec::new();
        // The hosts' own cuts count too (a change cut short, say).
        let in_hosts = self
            .supervisor
            .as_ref()
            .and_then(Supervisor::net_info)
            .is_some_and(|i| !i.cuts.is_empty());
        let had_cuts = in_hosts || !self.groups.is_empty() || !self.one_way.is_empty();
        if let Some(sup) = self.supervisor.clone().filter(Supervisor::has_hosts) {
            self.stop_heal_watch(&sup).await;
            let s = sup.clone();
            if let Err(e) = blocking(move || s.heal_cuts()).await {
                say(sink, error_line(format!("heal: {}", e.text())));
                return FAILED;
            }
            if had_cuts {
                healed.push("every cut removed".to_string());
            }
            sup.probe_soon();
        }
        self.groups.clear();
        self.one_way.clear();
        let mut faulty: Vec<usize> = self.proxies.keys().copied().collect();
        faulty.sort_unstable();
        for index in &faulty {
            self.client.set_route(*index, None);
            if let Some(proxy) = self.proxies.remove(index) {
                proxy.stop().await;
            }
        }
        if !faulty.is_empty() {
            let list: Vec<String> = faulty.iter().map(|i| (i + 1).to_string()).collect();
            healed.push(format!("loss and delay removed on {}", list.join(", ")));
        }
        self.update_net_view();
        if healed.is_empty() {
            say(sink, "heal: nothing to heal: no cut, no loss, no delay");
            return OK;
        }
        say(sink, format!("healed: {}", healed.join("; ")));
        if had_cuts && let Some(sup) = self.supervisor.clone() {
            say(
                sink,
                "watching the replicas converge (hints delivered, anti-entropy repairs): each server's progress shows in the server list and the event log until `in sync`",
            );
            self.start_heal_watch(sup);
        }
        OK
    }

    /// Puts exactly these cuts in force (a lesson leaving the cluster as
    /// it found it); one line saying so. True when it worked.
    pub(super) async fn set_cuts(&mut self, cuts: &Cuts, sink: Sink<'_>) -> bool {
        let Some(supervisor) = self.supervisor.clone().filter(Supervisor::has_hosts) else {
            say(sink, error_line("no hosts to cut or heal"));
            return false;
        };
        self.stop_heal_watch(&supervisor).await;
        let (groups, one_way) = cuts.clone();
        let sup = supervisor.clone();
        let (g, o) = (groups.clone(), one_way.clone());
        let applied = blocking(move || {
            sup.heal_cuts()?;
            if !g.is_empty() {
                sup.partition(&g)?;
            }
            for (a, b) in &o {
                sup.cut(&[*a], &[*b])?;
            }
            Ok(())
        })
        .await;
        supervisor.probe_soon();
        if let Err(why) = applied {
            say(
                sink,
                error_line(format!("cuts not restored: {}", why.text())),
            );
            self.reset_cuts(&supervisor, sink).await;
            return false;
        }
        let empty = groups.is_empty() && one_way.is_empty();
        self.groups = groups;
        self.one_way = one_way;
        self.update_net_view();
        let line = if empty {
            "every cut healed".to_string()
        } else {
            self.cuts_line(None)
        };
        say(sink, line);
        true
    }

    /// `net`: the network mode, each server's host and side, the cuts and
    /// the faults in force.
    pub(super) fn net(&self, sink: Sink<'_>) -> LineOutcome {
        let info = self.supervisor.as_ref().and_then(Supervisor::net_info);
        let mut lines = Vec::new();
        match &info {
            None => lines.push(
                "network: loopback — every server is a process on this machine's loopback; cuts need [cluster] network = \"namespaces\" (as root)".to_string(),
            ),
            Some(info) => {
                lines.push(format!(
                    "network: namespaces — one host per server on {}, this machine at {} (bridge {})",
                    info.subnet, info.bridge.1, info.bridge.0
                ));
                lines.extend(self.host_lines(info));
            }
        }
        lines.push(self.cuts_line(info.as_ref()));
        lines.push(self.faults_line());
        say_all(sink, lines);
        OK
    }

    /// One line per server: address, namespace, side.
    fn host_lines(&self, info: &NetInfo) -> Vec<String> {
        let view = self.net_view();
        let mut lines = vec![format!(
            "  {:<3} {:<22} {:<22} side",
            "#", "address", "host"
        )];
        for (i, spec) in self.config().servers.iter().enumerate() {
            let host = info
                .namespaces
                .get(i)
                .cloned()
                .flatten()
                .unwrap_or_else(|| "(not a host)".into());
            let side = view.label(i).unwrap_or_else(|| "reaches all".into());
            lines.push(format!(
                "  {:<3} {:<22} {:<22} {side}",
                i + 1,
                spec.addr().to_string(),
                host
            ));
        }
        let client = view
            .client_side
            .map_or("reaches all".to_string(), |c| c.to_string());
        lines.push(format!(
            "  {:<3} {:<22} {:<22} {client}",
            "-", "client (this machine)", "-"
        ));
        lines
    }

    /// The cuts in force, in the words they were made with.
    fn cuts_line(&self, info: Option<&NetInfo>) -> String {
        let mut parts = Vec::new();
        if !self.groups.is_empty() {
            let sides: Vec<String> = self.groups.iter().map(|g| names(g)).collect();
            parts.push(format!("partition {} (both ways)", sides.join(" | ")));
        }
        for (a, b) in &self.one_way {
            parts.push(format!("{a} -> {b} (one way)"));
        }
        match (parts.is_empty(), info.is_some_and(|i| !i.cuts.is_empty())) {
            (true, false) => "cuts: none — every host reaches every other".into(),
            (true, true) => format!(
                "cuts: {} one-way rules in the hosts (`heal` removes them)",
                info.map_or(0, |i| i.cuts.len())
            ),
            (false, _) => format!("cuts: {}", parts.join("; ")),
        }
    }

    /// The proxy faults in force (`loss`, `delay`).
    fn faults_line(&self) -> String {
        let mut faulty: Vec<(&usize, &crate::fault_proxy::FaultProxy)> =
            self.proxies.iter().collect();
        faulty.sort_by_key(|(i, _)| **i);
        if faulty.is_empty() {
            return "faults: none (`loss` and `delay` add some between this client and a server)"
                .into();
        }
        let parts: Vec<String> = faulty
            .iter()
            .map(|(i, proxy)| {
                let f = proxy.faults();
                let mut what = Vec::new();
                if f.request.drop > 0.0 {
                    what.push(format!("{}% loss", (f.request.drop * 100.0).round()));
                }
                if !f.request.delay.is_zero() {
                    what.push(format!(
                        "{} delay",
                        crate::units::format_duration(f.request.delay)
                    ));
                }
                format!("{} {}", *i + 1, what.join(" + "))
            })
            .collect();
        format!("faults: {}", parts.join(", "))
    }

    /// Why a quorum failed when the partition cut the client off from
    /// some of the key's servers; `None` when no cut explains it.
    pub(super) fn partition_reason(&self, trace: &Trace) -> Option<String> {
        if self.groups.is_empty() && self.one_way.is_empty() {
            return None;
        }
        let info = self.supervisor.as_ref()?.net_info()?;
        let cut_off = |server: usize| {
            info.cuts.iter().any(|&(a, b)| {
                (a, b) == (NetEnd::Client, NetEnd::Server(server))
                    || (a, b) == (NetEnd::Server(server), NetEnd::Client)
            })
        };
        let mut silent: Vec<usize> = trace
            .replicas
            .iter()
            .filter(|r| {
                r.hint_for.is_none()
                    && matches!(r.reply, None | Some(crate::trace::Reply::Timeout))
                    && cut_off(r.server)
            })
            .map(|r| r.server)
            .collect();
        silent.sort_unstable();
        if silent.is_empty() {
            return None;
        }
        let n = trace
            .replicas
            .iter()
            .filter(|r| r.hint_for.is_none())
            .count();
        let reachable = n.saturating_sub(silent.len());
        let list: Vec<String> = silent.iter().map(|s| (s + 1).to_string()).collect();
        Some(format!(
            "why: the partition cuts this client off from {} — only {reachable} of the key's {n} servers {} on its side",
            if list.len() == 1 {
                format!("server {}", list.join(""))
            } else {
                format!("servers {}", list.join(", "))
            },
            if reachable == 1 { "is" } else { "are" }
        ))
    }

    /// The sides as the screen shows them.
    pub(super) fn net_view(&self) -> NetView {
        let count = self.config().servers.len();
        let mut view = NetView {
            sides: vec![None; count],
            client_side: None,
            one_way: self.one_way.clone(),
        };
        for (g, group) in self.groups.iter().enumerate() {
            let letter = LETTERS.chars().nth(g).unwrap_or('?');
            for end in group {
                match end {
                    NetEnd::Client => view.client_side = Some(letter),
                    NetEnd::Server(i) => {
                        if let Some(side) = view.sides.get_mut(*i) {
                            *side = Some(letter);
                        }
                    }
                }
            }
        }
        view
    }

    fn update_net_view(&mut self) {
        let cut = !self.groups.is_empty() || !self.one_way.is_empty();
        self.view.net = cut.then(|| self.net_view());
    }

    fn start_heal_watch(&mut self, supervisor: Supervisor) {
        let options = WatchOptions {
            stats: crate::stats::FetchOptions::of_client(&self.client),
            dump: self.dump_options(),
            n: self.default_n(),
        };
        self.healing = Some(tokio::spawn(heal_watch::watch(supervisor, options)));
    }

    /// Ends the heal watch, if one runs (waiting until it has stopped, so
    /// no late reading of it lands after), and clears its badges.
    async fn stop_heal_watch(&mut self, supervisor: &Supervisor) {
        if let Some(watch) = self.healing.take() {
            watch.abort();
            let _ = watch.await;
        }
        supervisor.set_badges(&[]);
    }

    /// After a change of the rules failed half-way: every cut removed, so
    /// that what the screen and `net` say is what the hosts do.
    async fn reset_cuts(&mut self, supervisor: &Supervisor, sink: Sink<'_>) {
        let sup = supervisor.clone();
        let healed = blocking(move || sup.heal_cuts()).await;
        self.groups.clear();
        self.one_way.clear();
        self.update_net_view();
        supervisor.probe_soon();
        say(
            sink,
            match healed {
                Ok(()) => {
                    "every cut was removed, so that the network is as `net` shows it".to_string()
                }
                Err(e) => error_line(format!(
                    "the cuts could not be removed either ({}): `net` may not show what the hosts do; quit to remove everything",
                    e.text()
                )),
            },
        );
    }
}

/// Why a change of the hosts' rules failed.
enum RuleError {
    /// Refused before anything changed (an end that is no host).
    Refused(String),
    /// A command failed: some rules may have changed.
    Failed(String),
}

impl RuleError {
    fn text(&self) -> &str {
        match self {
            RuleError::Refused(t) | RuleError::Failed(t) => t,
        }
    }

    /// Whether the rules may have changed.
    fn changed(&self) -> bool {
        matches!(self, RuleError::Failed(_))
    }
}

/// Runs a change of the hosts' rules (`ip` and `nft` commands, a few
/// milliseconds each) off the runtime's threads.
async fn blocking(
    f: impl FnOnce() -> Result<(), dkvs_netns::NetnsError> + Send + 'static,
) -> Result<(), RuleError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e @ dkvs_netns::NetnsError::Invalid { .. })) => {
            Err(RuleError::Refused(e.to_string()))
        }
        Ok(Err(e)) => Err(RuleError::Failed(e.to_string())),
        Err(e) => Err(RuleError::Failed(e.to_string())),
    }
}

/// `side A = servers 1, 2; side B = …` and who the client reaches.
fn groups_lines(groups: &[Vec<NetEnd>]) -> Vec<String> {
    let mut client = None;
    let sides: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(g, group)| {
            let letter = LETTERS.chars().nth(g).unwrap_or('?');
            if group.contains(&NetEnd::Client) {
                client = Some(letter);
            }
            format!("side {letter} = {}", names(group))
        })
        .collect();
    let client_line = match client {
        Some(letter) => format!(
            "this client is on side {letter}: servers on the other sides cannot answer it, so their writes go to hints on side {letter} and a quorum needing them fails"
        ),
        None => "this client reaches every side: only the servers are split (hint delivery and anti-entropy stop across the cut)".to_string(),
    };
    vec![
        format!(
            "partition: {} — cut both ways between sides (`net` lists it, `heal` ends it)",
            sides.join("; ")
        ),
        client_line,
    ]
}

/// `client, 1, 2` as the user typed them (servers by number).
fn names(ends: &[NetEnd]) -> String {
    let words: Vec<String> = ends.iter().map(NetEnd::to_string).collect();
    words.join(",")
}
