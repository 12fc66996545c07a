//! `dkvs-bench --protocol v1|v2` on the ring (issue 7, "Figures"): both
//! modes drive three real servers; v1 sends no v2 datagram (a v1-only
//! server answers every operation); a bad value is a usage error.

use crate::common::*;

const BENCH: &str = env!("CARGO_BIN_EXE_dkvs-bench");

fn bench(c: &Cluster, args: &[&str]) -> Output {
    let mut cmd = clean_command(BENCH, c.dir.path());
    cmd.args(["-s"])
        .arg(&c.config_path)
        .args(["--requests", "200", "-c", "4"])
        .args(args);
    run(&mut cmd, RUN_LIMIT)
}

#[test]
fn both_protocols_drive_the_ring() {
    let mut c = Cluster::new(&[1, 1, 1]);
    c.start_all();
    let v1 = bench(&c, &["--protocol", "v1", "-n", "3", "-w", "2", "-r", "2"]);
    assert_eq!(v1.code, Some(0), "{v1}");
    assert!(v1.stdout.contains("R=2, protocol v1)"), "{v1}");
    let v2 = bench(&c, &["--protocol", "v2", "-n", "3", "-w", "2", "-r", "2"]);
    assert_eq!(v2.code, Some(0), "{v2}");
    assert!(v2.stdout.contains("R=2)"), "{v2}");
    let bad = bench(&c, &["--protocol", "v3"]);
    assert_eq!(bad.code, Some(2), "{bad}");
    assert!(bad.stderr.contains("expected v1 or v2"), "{bad}");
}

/// In v1 mode every request is a v1 datagram: a server that answers only
/// protocol v1 (docs/PROTOCOL-V1.md) gets no NUL-led datagram.
#[test]
fn v1_mode_sends_only_v1() {
    let seen_v2 = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen_v2.clone();
    let fake = FakeServer::spawn(bind_socket(loopback_ip()), move |socket, datagram, from| {
        if datagram.first() == Some(&0) {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let _ = socket.send_to(b"\0", from);
    });
    let c = Cluster::from_servers(
        vec![(*fake.addr.ip(), fake.addr.port(), 1)],
        Format::ServersTxt,
        "",
    );
    let out = bench(&c, &["--protocol", "v1", "--mix", "put"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(seen_v2.load(std::sync::atomic::Ordering::Relaxed), 0);
}
