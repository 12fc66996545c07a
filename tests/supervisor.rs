//! The supervisor against real child processes (`dkvs-tui --serve-internal`):
//! every process action and its refusals, probing, logs and events, and
//! shutdown — which stops every child it started and nothing else.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use dkvs::config::{ClusterConfig, ServerSpec};
use dkvs::repl::ProcessAction;
use dkvs::supervisor::{ActionError, Launcher, SERVE_FLAG, ServerState, SpawnError, Supervisor};

const TUI: &str = env!("CARGO_BIN_EXE_dkvs-tui");

fn launcher() -> Launcher {
    Launcher::new(TUI, vec![SERVE_FLAG.into(), "-v".into()])
}

/// `spawn` flags of each server; returns the config (ports free on a
/// random loopback address).
fn config(spawn: &[bool]) -> ClusterConfig {
    let ip = loopback_ip();
    let ports = free_ports(ip, spawn.len());
    let servers = ports
        .iter()
        .zip(spawn)
        .map(|(&port, &spawn)| {
            let mut s = ServerSpec::new(ip, port, 1);
            s.spawn = spawn;
            s
        })
        .collect();
    ClusterConfig::from_servers(servers).unwrap()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

async fn wait_for(sup: &Supervisor, index: usize, state: ServerState) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sup.statuses()[index].state != state {
        assert!(
            Instant::now() < deadline,
            "server {index} never became {}: {:?}\nevents: {:#?}",
            state.word(),
            sup.statuses()[index],
            sup.events()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_probes_logs_and_shutdown() {
    let config = config(&[true, true, false]);
    // The third server is not ours: a dkvs-server the test runs itself.
    let foreign = config.servers[2].clone();
    let mut procs = Procs::new();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = clean_command(SERVER, dir.path());
    cmd.arg(foreign.ip.to_string())
        .arg(foreign.port.to_string());
    let foreign_handle = procs.spawn("foreign dkvs-server", &mut cmd);
    let foreign_pid = procs.pid(foreign_handle);

    let sup = Supervisor::start(Arc::new(config), launcher());
    let changes = sup.subscribe();
    assert!(
        sup.wait_started(Duration::from_secs(10)).await,
        "{:#?}",
        sup.events()
    );
    wait_for(&sup, 0, ServerState::Up).await;
    wait_for(&sup, 1, ServerState::Up).await;
    wait_for(&sup, 2, ServerState::Up).await;
    assert!(changes.has_changed().unwrap());
    let st = sup.statuses();
    assert!(st[0].managed && st[1].managed && !st[2].managed);
    assert!(st[2].pid.is_none());
    let first_pid = st[0].pid.unwrap();
    assert!(alive(first_pid));
    assert!(st[0].last_answer.is_some());
    assert!(
        sup.events()
            .iter()
            .any(|e| e.text.contains(&format!("(pid {first_pid})")))
    );
    // -v: the child's own log reaches the per-server log.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sup.server_log(0).iter().any(|l| l.contains("serving")) {
        assert!(Instant::now() < deadline, "{:?}", sup.server_log(0));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(sup.server_log(99).is_empty());

    // Never touches what it did not start.
    for action in [
        ProcessAction::Kill,
        ProcessAction::Stop,
        ProcessAction::Start,
        ProcessAction::Restart,
        ProcessAction::Pause,
        ProcessAction::Resume,
    ] {
        let e = sup.act(action, 2).await.unwrap_err();
        assert!(e.to_string().contains("not started by dkvs-tui"), "{e}");
    }
    assert!(
        sup.act(ProcessAction::Kill, 7)
            .await
            .unwrap_err()
            .to_string()
            .contains("unknown server")
    );

    // Wrong states are refused.
    assert!(
        sup.act(ProcessAction::Start, 0)
            .await
            .unwrap_err()
            .to_string()
            .contains("already running")
    );
    assert!(
        sup.act(ProcessAction::Resume, 0)
            .await
            .unwrap_err()
            .to_string()
            .contains("not paused")
    );

    // pause / resume
    let m = sup.act(ProcessAction::Pause, 0).await.unwrap();
    assert!(m.contains("SIGSTOP"), "{m}");
    assert_eq!(sup.statuses()[0].state, ServerState::Paused);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        sup.statuses()[0].state,
        ServerState::Paused,
        "probes must not override paused"
    );
    assert!(
        !dkvs::supervisor::probe(sup.statuses()[0].spec.addr(), Duration::from_millis(200)).await
    );
    assert!(
        sup.act(ProcessAction::Pause, 0)
            .await
            .unwrap_err()
            .to_string()
            .contains("already paused")
    );
    sup.act(ProcessAction::Resume, 0).await.unwrap();
    wait_for(&sup, 0, ServerState::Up).await;

    // stop: clean exit; then the refusals of a stopped server.
    let m = sup.act(ProcessAction::Stop, 0).await.unwrap();
    assert!(m.contains("SIGTERM"), "{m}");
    let st = &sup.statuses()[0];
    assert_eq!(st.state, ServerState::Down);
    assert_eq!(st.pid, None);
    assert_eq!(st.last_exit.as_deref(), Some("exited with status 0"));
    assert!(!alive(first_pid));
    for action in [
        ProcessAction::Kill,
        ProcessAction::Stop,
        ProcessAction::Pause,
        ProcessAction::Resume,
    ] {
        let e = sup.act(action, 0).await.unwrap_err();
        assert!(e.to_string().contains("is not running"), "{e}");
    }

    // start, restart, kill
    let m = sup.act(ProcessAction::Start, 0).await.unwrap();
    assert!(m.starts_with("started"), "{m}");
    wait_for(&sup, 0, ServerState::Up).await;
    let started = sup.statuses()[0].pid.unwrap();
    assert_ne!(started, first_pid);
    sup.act(ProcessAction::Restart, 0).await.unwrap();
    let restarted = sup.statuses()[0].pid.unwrap();
    assert_ne!(restarted, started);
    assert!(!alive(started));
    wait_for(&sup, 0, ServerState::Up).await;
    let m = sup.act(ProcessAction::Kill, 0).await.unwrap();
    assert!(m.contains("SIGKILL"), "{m}");
    assert_eq!(
        sup.statuses()[0].last_exit.as_deref(),
        Some("killed by SIGKILL")
    );
    assert_eq!(sup.statuses()[0].state, ServerState::Down);
    assert!(
        sup.events()
            .iter()
            .any(|e| e.text.contains("killed by SIGKILL"))
    );
    // A stopped server is down for the prober too, not unreachable.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(sup.statuses()[0].state, ServerState::Down);

    // Shutdown with a paused child: SIGCONT first, so SIGTERM ends it cleanly.
    sup.act(ProcessAction::Pause, 1).await.unwrap();
    let paused_pid = sup.statuses()[1].pid.unwrap();
    let begun = Instant::now();
    sup.shutdown().await;
    assert!(
        begun.elapsed() < Duration::from_secs(2),
        "a paused child needed SIGKILL"
    );
    assert!(!alive(paused_pid));
    assert_eq!(
        sup.statuses()[1].last_exit.as_deref(),
        Some("exited with status 0")
    );
    assert!(sup.child_pids().is_empty());
    assert!(
        sup.act(ProcessAction::Start, 0)
            .await
            .unwrap_err()
            .to_string()
            .contains("shutting down")
    );
    // The foreign server still runs.
    assert!(procs.is_running(foreign_handle));
    assert!(alive(foreign_pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_all_now_and_a_missing_executable() {
    let config = Arc::new(config(&[true, true]));
    let sup = Supervisor::start(config.clone(), launcher());
    sup.wait_started(Duration::from_secs(10)).await;
    // Concurrent actions on one server run one at a time: of two starts of
    // a stopped server, exactly one starts it.
    sup.act(ProcessAction::Stop, 0).await.unwrap();
    let (a, b) = tokio::join!(
        sup.act(ProcessAction::Start, 0),
        sup.act(ProcessAction::Start, 0)
    );
    assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
    assert!(a.or(b).is_ok());
    let pids = sup.child_pids();
    assert_eq!(pids.len(), 2);
    sup.kill_all_now();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| alive(p)) {
        assert!(Instant::now() < deadline, "children survived kill_all_now");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sup.shutdown().await;

    let missing = Launcher::new("/nonexistent/dkvs-tui", vec![SERVE_FLAG.into()]);
    let sup = Supervisor::start(config, missing);
    let st = sup.statuses();
    assert!(
        st.iter()
            .all(|s| s.pid.is_none() && s.state == ServerState::Down)
    );
    assert!(
        sup.events()
            .iter()
            .any(|e| e.text.starts_with("cannot start"))
    );
    let e = sup.act(ProcessAction::Start, 0).await.unwrap_err();
    // The launch error keeps the system's error as its source; its message
    // is the event log's line.
    let ActionError::Spawn(SpawnError::Launch { source, .. }) = &e else {
        panic!("{e:?}");
    };
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    let addr = sup.statuses()[0].spec.addr();
    assert_eq!(
        e.to_string(),
        format!("cannot start {addr}: /nonexistent/dkvs-tui {SERVE_FLAG}: {source}")
    );
    assert!(sup.events().iter().any(|ev| ev.text == e.to_string()));
    sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_remote_server() {
    // A server that is not ours and does not run: unreachable, never down.
    let mut spec = ServerSpec::new(Ipv4Addr::new(127, 0, 0, 1), 1, 1);
    spec.spawn = false;
    let config = Arc::new(ClusterConfig::from_servers(vec![spec]).unwrap());
    let sup = Supervisor::start(config, launcher());
    tokio::time::sleep(Duration::from_millis(800)).await;
    let st = &sup.statuses()[0];
    assert_eq!(st.state, ServerState::Unreachable);
    assert!(st.last_answer.is_none() && !st.managed);
    sup.shutdown().await;
}

/// The §10 process commands through the interpreter, with a supervisor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interpreter_process_commands() {
    use dkvs::repl::{Interpreter, ReplEvent};
    let config = Arc::new(config(&[true, true, true]));
    let sup = Supervisor::start(config.clone(), launcher());
    assert!(sup.wait_started(Duration::from_secs(10)).await);
    let client = dkvs::Client::new((*config).clone()).with_timeout(Duration::from_millis(400));
    let mut i = Interpreter::new(client, Some(sup.clone()));
    async fn run(i: &mut Interpreter, line: &str) -> (bool, Vec<String>) {
        let mut lines = Vec::new();
        let o = i
            .run_line(line, &mut |e| {
                if let ReplEvent::Line(l) = e {
                    lines.push(l)
                }
            })
            .await;
        (o.ok, lines)
    }
    let addr = config.servers[0].addr().to_string();
    let (ok, lines) = run(&mut i, "put k v w=3").await;
    assert!(ok, "{lines:#?}");
    let (ok, lines) = run(&mut i, "kill 1").await;
    assert!(
        ok && lines[0].starts_with(&format!("killed {addr}")),
        "{lines:#?}"
    );
    let (ok, lines) = run(&mut i, "status").await;
    assert!(ok);
    let row = lines.iter().find(|l| l.contains(&addr)).unwrap();
    assert!(
        row.contains("down") && row.contains("killed by SIGKILL"),
        "{row}"
    );
    let (_, lines) = run(&mut i, "ring").await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&addr) && l.contains("✖ down")),
        "{lines:#?}"
    );
    let (ok, lines) = run(&mut i, "get k").await;
    assert!(
        ok && lines.last().unwrap().starts_with("OK v"),
        "{lines:#?}"
    );
    let (ok, lines) = run(&mut i, "kill 1").await;
    assert!(
        !ok && lines.len() == 1 && lines[0].starts_with("ERROR: kill:"),
        "{lines:#?}"
    );
    let (ok, _) = run(&mut i, &format!("start {addr}")).await;
    assert!(ok);
    let (ok, lines) = run(&mut i, "pause 2").await;
    assert!(ok, "{lines:#?}");
    let (ok, lines) = run(&mut i, "get k r=3").await;
    // The verdict, then (v2 servers) the read repair of the restarted,
    // empty server.
    assert!(
        !ok && lines.iter().any(|l| l.starts_with("FAIL")),
        "{lines:#?}"
    );
    let (ok, _) = run(&mut i, "resume 2").await;
    assert!(ok);
    let (ok, _) = run(&mut i, "restart 3").await;
    assert!(ok);
    let (ok, _) = run(&mut i, "stop 3").await;
    assert!(ok);
    sup.shutdown().await;
    assert!(sup.child_pids().is_empty());
}
