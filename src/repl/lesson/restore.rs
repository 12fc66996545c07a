//! Leaving the cluster as a lesson found it: a [`Snapshot`] of what a
//! lesson can change (servers, their processes, faults, slow motion, clock
//! skew, the what-if view, the keys it wrote), and the [`plan`] of
//! [`Undo`] actions that turns the cluster as it is back into a snapshot.
//! The interpreter takes the snapshots and runs the plan with its own
//! commands.

use std::collections::BTreeSet;
use std::net::SocketAddrV4;

use crate::config::ServerSpec;
use crate::fault_proxy::FaultConfig;
use crate::supervisor::{NetEnd, ProcessAction};

/// A server's process, as far as a lesson changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Its process runs.
    Running,
    /// It has no process (killed or stopped).
    Stopped,
    /// Its process is paused (SIGSTOP).
    Paused,
}

/// One configured server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSnap {
    /// Its configuration.
    pub spec: ServerSpec,
    /// Its process; `None` when dkvs-tui does not control it.
    pub state: Option<RunState>,
}

/// What a lesson may change, at one moment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// The configured servers, in order.
    pub servers: Vec<ServerSnap>,
    /// Slow motion (`slow`).
    pub slow_ms: Option<u64>,
    /// This session's clock offset (`skew`), in milliseconds.
    pub skew_ms: i64,
    /// Sloppy quorum (`sloppy on`).
    pub sloppy: bool,
    /// The fault proxies in force (`loss`, `delay`), by server address.
    pub faults: Vec<(SocketAddrV4, FaultConfig)>,
    /// A what-if view is shown.
    pub whatif: bool,
    /// The cuts in force (namespaces mode): the partition's groups and
    /// the one-way cuts, as `partition` made them.
    pub cuts: Cuts,
    /// The keys written since the lesson started.
    pub keys: BTreeSet<Vec<u8>>,
}

/// The cuts in force: a partition's groups, then one-way cuts.
pub type Cuts = (Vec<Vec<NetEnd>>, Vec<(NetEnd, NetEnd)>);

/// One thing to undo, in the order [`plan`] gives them.
#[derive(Debug, Clone, PartialEq)]
pub enum Undo {
    /// `whatif off`.
    WhatIfOff,
    /// `heal` the server at this address.
    Heal(SocketAddrV4),
    /// `remove` a server the lesson added.
    Remove(SocketAddrV4),
    /// `add` back a server the lesson removed.
    Add(ServerSpec),
    /// A process action on the server at this address.
    Process(ProcessAction, SocketAddrV4),
    /// `del` a key the lesson wrote.
    Del(Vec<u8>),
    /// Put a fault proxy back as it was.
    Fault(SocketAddrV4, FaultConfig),
    /// `slow` as it was.
    Slow(Option<u64>),
    /// `skew` as it was.
    Skew(i64),
    /// `sloppy` as it was.
    Sloppy(bool),
    /// The cuts as they were (none: every link healed).
    Net(Cuts),
}

/// The process actions that take a server from `now` to `then`.
fn process_actions(then: RunState, now: RunState) -> &'static [ProcessAction] {
    use ProcessAction::{Kill, Pause, Resume, Start, Stop};
    match (then, now) {
        (RunState::Running, RunState::Stopped) => &[Start],
        (RunState::Running, RunState::Paused) => &[Resume],
        (RunState::Stopped, RunState::Running) => &[Stop],
        (RunState::Stopped, RunState::Paused) => &[Kill],
        (RunState::Paused, RunState::Running) => &[Pause],
        (RunState::Paused, RunState::Stopped) => &[Start, Pause],
        _ => &[],
    }
}

/// What to undo so that the cluster `now` is as it was `then`: the
/// what-if view, faults healed (membership changes need none), servers
/// added removed and removed added back, processes started, stopped,
/// paused or resumed, slow motion and skew, the keys written deleted
/// (with the clock as it was), then faults put back.
pub fn plan(then: &Snapshot, now: &Snapshot) -> Vec<Undo> {
    let mut undo = Vec::new();
    if now.whatif && !then.whatif {
        undo.push(Undo::WhatIfOff);
    }
    // Links first: the other undos need to reach the servers.
    let cuts_changed = now.cuts != then.cuts;
    let no_cuts = |c: &Cuts| c.0.is_empty() && c.1.is_empty();
    if cuts_changed && !no_cuts(&now.cuts) {
        undo.push(Undo::Net(Cuts::default()));
    }
    let fault_of = |snap: &Snapshot, addr: SocketAddrV4| {
        snap.faults
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(_, f)| *f)
    };
    for (addr, fault) in &now.faults {
        if fault_of(then, *addr) != Some(*fault) {
            undo.push(Undo::Heal(*addr));
        }
    }
    let find = |snap: &Snapshot, addr: SocketAddrV4| {
        snap.servers.iter().find(|s| s.spec.addr() == addr).cloned()
    };
    for server in &now.servers {
        if find(then, server.spec.addr()).is_none() {
            undo.push(Undo::Remove(server.spec.addr()));
        }
    }
    for server in &then.servers {
        let addr = server.spec.addr();
        let current = match find(now, addr) {
            Some(s) => s.state,
            None => {
                undo.push(Undo::Add(server.spec.clone()));
                // An added server runs.
                server.state.map(|_| RunState::Running)
            }
        };
        if let (Some(then_state), Some(now_state)) = (server.state, current) {
            for action in process_actions(then_state, now_state) {
                undo.push(Undo::Process(*action, addr));
            }
        }
    }
    if now.slow_ms != then.slow_ms {
        undo.push(Undo::Slow(then.slow_ms));
    }
    if now.skew_ms != then.skew_ms {
        undo.push(Undo::Skew(then.skew_ms));
    }
    if now.sloppy != then.sloppy {
        undo.push(Undo::Sloppy(then.sloppy));
    }
    // With the clock put back (a clock the lesson set far ahead would have
    // its deletes refused; a write stamped ahead within the servers' bound
    // is passed by re-stamping) and before faults come back.
    for key in now.keys.difference(&then.keys) {
        undo.push(Undo::Del(key.clone()));
    }
    for (addr, fault) in &then.faults {
        let still = fault_of(now, *addr) == Some(*fault);
        if !still && find(then, *addr).is_some() {
            undo.push(Undo::Fault(*addr, *fault));
        }
    }
    if cuts_changed && !no_cuts(&then.cuts) {
        undo.push(Undo::Net(then.cuts.clone()));
    }
    undo
}

/// The `server_option=NAME=VALUE` pairs of a server's command-line words
/// (`--name value`, `--flag`), to add a removed server back with them.
pub fn options_of_args(args: &[String]) -> Vec<(String, String)> {
    let mut options = Vec::new();
    let mut words = args.iter().peekable();
    while let Some(word) = words.next() {
        let Some(name) = word.strip_prefix("--") else {
            continue;
        };
        let value = match words.peek() {
            Some(next) if !next.starts_with("--") => words.next().cloned(),
            _ => None,
        };
        options.push((name.to_string(), value.unwrap_or_else(|| "true".into())));
    }
    options
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn server(port: u16, state: RunState) -> ServerSnap {
        ServerSnap {
            spec: ServerSpec::new(Ipv4Addr::LOCALHOST, port, 2),
            state: Some(state),
        }
    }

    fn addr(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
    }

    fn snapshot(servers: Vec<ServerSnap>) -> Snapshot {
        Snapshot {
            servers,
            ..Snapshot::default()
        }
    }

    #[test]
    fn nothing_changed_nothing_to_undo() {
        let s = snapshot(vec![
            server(1, RunState::Running),
            server(2, RunState::Paused),
        ]);
        assert!(plan(&s, &s).is_empty());
    }

    #[test]
    fn processes_go_back_to_their_state() {
        use ProcessAction::*;
        let then = snapshot(vec![
            server(1, RunState::Running),
            server(2, RunState::Running),
            server(3, RunState::Stopped),
            server(4, RunState::Paused),
            server(5, RunState::Paused),
        ]);
        let now = snapshot(vec![
            server(1, RunState::Stopped),
            server(2, RunState::Paused),
            server(3, RunState::Running),
            server(4, RunState::Running),
            server(5, RunState::Stopped),
        ]);
        assert_eq!(
            plan(&then, &now),
            [
                Undo::Process(Start, addr(1)),
                Undo::Process(Resume, addr(2)),
                Undo::Process(Stop, addr(3)),
                Undo::Process(Pause, addr(4)),
                Undo::Process(Start, addr(5)),
                Undo::Process(Pause, addr(5)),
            ]
        );
    }

    #[test]
    fn membership_faults_keys_slow_and_skew_in_order() {
        let mut then = snapshot(vec![
            server(1, RunState::Running),
            server(2, RunState::Stopped),
        ]);
        then.keys.insert(b"old".to_vec());
        then.faults.push((addr(1), FaultConfig::default()));
        let mut now = snapshot(vec![
            server(1, RunState::Running),
            server(3, RunState::Running),
        ]);
        now.whatif = true;
        now.slow_ms = Some(700);
        now.skew_ms = -5000;
        now.keys = [b"old".to_vec(), b"new".to_vec()].into_iter().collect();
        let mut lossy = FaultConfig::default();
        lossy.request.drop = 0.5;
        now.faults.push((addr(1), lossy));
        now.faults.push((addr(3), lossy));
        let undo = plan(&then, &now);
        assert_eq!(
            undo,
            [
                Undo::WhatIfOff,
                Undo::Heal(addr(1)),
                Undo::Heal(addr(3)),
                Undo::Remove(addr(3)),
                Undo::Add(ServerSpec::new(Ipv4Addr::LOCALHOST, 2, 2)),
                // Added back, it runs: it was stopped.
                Undo::Process(ProcessAction::Stop, addr(2)),
                Undo::Slow(None),
                Undo::Skew(0),
                Undo::Del(b"new".to_vec()),
                Undo::Fault(addr(1), FaultConfig::default()),
            ]
        );
    }

    #[test]
    fn cuts_are_healed_first_and_put_back_last_and_sloppy_too() {
        use NetEnd::{Client, Server};
        let servers = vec![server(1, RunState::Running)];
        let mut then = snapshot(servers.clone());
        let mut now = snapshot(servers);
        now.cuts = (vec![vec![Client, Server(0)], vec![Server(1)]], vec![]);
        now.sloppy = true;
        now.keys.insert(b"k".to_vec());
        // The lesson made the cuts: healed before the keys are deleted.
        assert_eq!(
            plan(&then, &now),
            [
                Undo::Net(Cuts::default()),
                Undo::Sloppy(false),
                Undo::Del(b"k".to_vec())
            ]
        );
        // Cuts in force before the lesson: healed first, put back last.
        then.cuts = (vec![], vec![(Server(0), Server(1))]);
        let undo = plan(&then, &now);
        assert_eq!(undo.first(), Some(&Undo::Net(Cuts::default())));
        assert_eq!(undo.last(), Some(&Undo::Net(then.cuts.clone())));
        // The same cuts: nothing to do about them.
        now.cuts = then.cuts.clone();
        assert!(!plan(&then, &now).iter().any(|u| matches!(u, Undo::Net(_))));
    }

    #[test]
    fn server_options_come_back_from_their_words() {
        let args: Vec<String> = ["--max-memory", "512MiB", "--quiet", "--allow", "10.0.0.0/8"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            options_of_args(&args),
            [
                ("max-memory".to_string(), "512MiB".to_string()),
                ("quiet".into(), "true".into()),
                ("allow".into(), "10.0.0.0/8".into()),
            ]
        );
    }
}
