//! The chaos checker on real v2 servers: concurrent writers (puts and
//! deletes, each followed by a get) through the library client against
//! three `dkvs-server` processes, each behind a fault proxy that loses,
//! duplicates and reorders datagrams both ways; the history is checked
//! with the versioned model of `crates/client/src/checker.rs`: every read is a version
//! some write produced, the newest version wins, and no read returns a
//! value older than one acknowledged before it began. (`tests/chaos.rs`
//! checks the v1 model; `tests/v2_client.rs` runs the same load against
//! test-thread responders.)

use std::time::Duration;

use crate::common::*;
use dkvs::client::Client;
use dkvs::config::parse_servers_txt;
use dkvs::fault_proxy::{Direction, FaultConfig, Faults};

/// Three real servers; the client with a 2 s deadline.
fn cluster() -> (Cluster, Client) {
    let mut c = Cluster::new(&[1, 1, 1]);
    c.start_all();
    let config = parse_servers_txt(&servers_txt(&c.servers), "servers.txt").unwrap();
    let client = Client::new(config).with_timeout(Duration::from_secs(2));
    (c, client)
}

/// Loss, duplication and reordering (10 % each, both ways): no violation.
#[test]
fn v2_writers_and_deletes_under_faults_pass_the_versioned_checker() {
    let (c, client) = cluster();
    let targets: Vec<_> = (0..3).map(|i| c.addr(i)).collect();
    let faults = Faults {
        drop: 0.1,
        duplicate: 0.1,
        reorder: 0.1,
        ..Faults::NONE
    };
    let history = versioned_writers_history(
        &client,
        &targets,
        Some(FaultConfig::on(Direction::Both, faults)),
        4,
        Duration::from_secs(3),
    );
    let report = history.check(true);
    println!("v2 chaos on real servers: {report}");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert!(report.deletes > 0 && report.gets > 20, "{report}");
}

/// Without faults, almost every operation succeeds, and still no violation.
#[test]
fn v2_writers_and_deletes_without_faults_pass_the_versioned_checker() {
    let (c, client) = cluster();
    let targets: Vec<_> = (0..3).map(|i| c.addr(i)).collect();
    let history = versioned_writers_history(&client, &targets, None, 4, Duration::from_secs(1));
    let report = history.check(true);
    println!("v2 writers on real servers: {report}");
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert!(report.deletes > 0 && report.gets > 20, "{report}");
    assert!(report.success_rate() > 0.8, "{report}");
}
