//! Clusters that dkvs-tui spawns in the tests: a cluster file on free
//! ports in a temporary directory, and the check that every server it
//! started is gone afterwards (killed by pid if not, so none is left).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use dkvs::config::ClusterConfig;

use super::{cluster_toml, free_ports, loopback_ip};

/// A temporary directory holding `cluster.toml` for one server per entry
/// of `nodes` (its virtual nodes), on free ports of one loopback address;
/// and that configuration.
pub fn spawned_cluster(nodes: &[u32]) -> (tempfile::TempDir, ClusterConfig) {
    let ip = loopback_ip();
    let ports = free_ports(ip, nodes.len());
    let servers: Vec<(Ipv4Addr, u16, u32)> =
        ports.iter().zip(nodes).map(|(&p, &k)| (ip, p, k)).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.toml");
    std::fs::write(&path, cluster_toml(&servers, "")).unwrap();
    let config = ClusterConfig::load(&path).unwrap();
    (dir, config)
}

/// True while a process with this pid runs the hidden server mode.
pub fn server_alive(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("--serve-internal"))
        .unwrap_or(false)
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
}

/// Waits (at most 5 s) for these servers to be gone; kills any left, by
/// pid, then fails.
pub fn assert_all_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| server_alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let alive: Vec<u32> = pids.iter().copied().filter(|&p| server_alive(p)).collect();
    // Never leave them behind, even when the assertion fails.
    for &p in &alive {
        let _ = std::process::Command::new("kill")
            .arg("-KILL")
            .arg(p.to_string())
            .status();
    }
    assert!(alive.is_empty(), "servers still running: {alive:?}");
}
