//! The supervisor's membership changes against real child processes
//! (`dkvs-tui --serve-internal`): `add_server` starts a server and makes
//! the larger configuration current; `remove_server` takes one out of the
//! configuration (no longer listed or probed) while its process lives on;
//! `retire` stops it; `reload` signals the running children; shutdown
//! stops every child ever started. Refusals change nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use dkvs::config::{ClusterConfig, ServerSpec};
use dkvs::repl::ProcessAction;
use dkvs::supervisor::{Launcher, SERVE_FLAG, ServerState, Supervisor};

const TUI: &str = env!("CARGO_BIN_EXE_dkvs-tui");

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

async fn all_up(sup: &Supervisor) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sup.statuses().iter().all(|s| s.state == ServerState::Up) {
        assert!(
            Instant::now() < deadline,
            "not all up: {:#?}",
            sup.statuses()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_remove_retire_and_shutdown() {
    let ip = loopback_ip();
    let ports = free_ports(ip, 3);
    let spec = |port| ServerSpec::new(ip, port, 1);
    let two = ClusterConfig::from_servers(vec![spec(ports[0]), spec(ports[1])]).unwrap();
    // The servers know the ring (all three, from the start), so they
    // handle SIGHUP by reloading it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.toml");
    let listed: Vec<_> = ports.iter().map(|&p| (ip, p, 1)).collect();
    std::fs::write(&file, cluster_toml(&listed, "")).unwrap();
    let sup = Supervisor::start(
        Arc::new(two.clone()),
        Launcher::new(
            TUI,
            vec![SERVE_FLAG.into(), "--servers".into(), file.clone().into()],
        ),
    );
    all_up(&sup).await;

    // A configuration that is not "the current one plus one" is refused.
    let wrong = ClusterConfig::from_servers(vec![spec(ports[2])]).unwrap();
    assert!(sup.add_server(Arc::new(wrong)).is_err());
    assert_eq!(sup.config().servers.len(), 2);

    let three =
        ClusterConfig::from_servers(vec![spec(ports[0]), spec(ports[1]), spec(ports[2])]).unwrap();
    let pid = sup.add_server(Arc::new(three)).unwrap().unwrap();
    assert_eq!(sup.config().servers.len(), 3);
    all_up(&sup).await;
    let statuses = sup.statuses();
    assert_eq!(statuses.len(), 3);
    assert_eq!(statuses[2].pid, Some(pid));
    assert_eq!(statuses[2].index, 2);
    assert_eq!(sup.probes_sent().len(), 3);
    // The added server takes process actions like the others.
    sup.act(ProcessAction::Pause, 2).await.unwrap();
    sup.act(ProcessAction::Resume, 2).await.unwrap();

    // SIGHUP to every running child but one; they reload and stay up.
    let reloaded = sup.reload(Some(spec(ports[2]).addr())).await;
    assert_eq!(reloaded, [spec(ports[0]).addr(), spec(ports[1]).addr()]);
    let first = statuses[0].pid.unwrap();

    // Remove the first: the list, the probes and the numbering shift; its
    // process lives on until retired.
    let without = ClusterConfig::from_servers(vec![spec(ports[1]), spec(ports[2])]).unwrap();
    assert!(
        sup.remove_server(0, Arc::new(two.clone())).is_err(),
        "not the current configuration without server 1"
    );
    let leaving = sup.remove_server(0, Arc::new(without)).unwrap();
    assert_eq!(leaving.addr, spec(ports[0]).addr());
    assert_eq!(leaving.pid, Some(first));
    let statuses = sup.statuses();
    assert_eq!(statuses.len(), 2);
    assert_eq!(statuses[0].spec.port, ports[1]);
    assert_eq!(statuses[1].pid, Some(pid));
    assert_eq!(sup.probes_sent().len(), 2);
    assert!(alive(first));
    assert_eq!(sup.child_pids().len(), 3);
    assert!(sup.act(ProcessAction::Kill, 2).await.is_err());
    // Probing goes on with the new numbering; the leaving one is signalled too.
    assert!(sup.next_probe_round(Duration::from_secs(5)).await);
    all_up(&sup).await;
    assert_eq!(sup.reload(None).await.len(), 3);
    assert!(sup.next_probe_round(Duration::from_secs(5)).await);
    all_up(&sup).await;
    assert!(alive(first) && alive(pid));

    let how = sup.retire(leaving).await;
    assert_eq!(how, "stopped with SIGTERM");
    assert!(!alive(first));
    assert_eq!(sup.child_pids().len(), 2);
    assert!(
        sup.events()
            .iter()
            .any(|e| e.text.ends_with("removed from the configuration"))
    );

    sup.shutdown().await;
    assert!(sup.child_pids().is_empty());
    assert!(!alive(pid));
}
