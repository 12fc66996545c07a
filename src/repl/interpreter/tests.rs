//! Unit tests of the interpreter: every command run against in-process
//! servers, checking the printed lines, the outcome and the view.

use super::*;
use crate::config::parse_servers_txt;
use crate::server::Server;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

struct Cluster {
    config: ClusterConfig,
    stops: Vec<Option<oneshot::Sender<()>>>,
}

impl Cluster {
    async fn new(nodes: &[u32]) -> Cluster {
        let mut lines = String::new();
        let mut stops = Vec::new();
        for k in nodes {
            let server = Server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let port = server.local_addr().unwrap().port();
            lines.push_str(&format!("127.0.0.1 {port} {k}\n"));
            let (tx, rx) = oneshot::channel::<()>();
            tokio::spawn(server.run(async move {
                let _ = rx.await;
            }));
            stops.push(Some(tx));
        }
        Cluster {
            config: parse_servers_txt(&lines, "t").unwrap(),
            stops,
        }
    }

    fn stop(&mut self, index: usize) {
        if let Some(tx) = self.stops[index].take() {
            let _ = tx.send(());
        }
    }

    fn interpreter(&self) -> Interpreter {
        let client = Client::new(self.config.clone()).with_timeout(Duration::from_millis(300));
        Interpreter::new(client, None)
    }
}

/// Runs a line, returns (outcome, lines, number of trace events).
async fn run(i: &mut Interpreter, line: &str) -> (LineOutcome, Vec<String>, usize) {
    let mut lines = Vec::new();
    let mut traces = 0;
    let outcome = i
        .run_line(line, &mut |e| match e {
            ReplEvent::Line(l) => lines.push(l),
            ReplEvent::Trace(_) => traces += 1,
            ReplEvent::Motion(_) => {}
        })
        .await;
    (outcome, lines, traces)
}

async fn ok(i: &mut Interpreter, line: &str) -> Vec<String> {
    let (o, lines, _) = run(i, line).await;
    assert!(o.ok && !o.quit, "{line}: {lines:#?}");
    lines
}

/// An invalid line: exactly one `ERROR:` line, not ok.
async fn error(i: &mut Interpreter, line: &str) -> String {
    let (o, lines, traces) = run(i, line).await;
    assert!(!o.ok && !o.quit, "{line} should fail: {lines:#?}");
    assert_eq!(lines.len(), 1, "{line}: {lines:#?}");
    assert_eq!(traces, 0, "{line} must not touch the network");
    assert!(lines[0].starts_with("ERROR: "), "{lines:?}");
    lines[0].clone()
}

fn last(lines: &[String]) -> &str {
    lines.last().map(String::as_str).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_and_get_print_every_server_and_the_verdict() {
    let c = Cluster::new(&[3, 2, 2, 1, 1]).await;
    let mut i = c.interpreter();
    let (o, lines, traces) = run(&mut i, "put a b n=4 w=3").await;
    assert!(o.ok, "{lines:#?}");
    assert!(traces >= 5, "sent + 4 replies at least, got {traces}");
    assert_eq!(lines.len(), 5, "{lines:#?}");
    for l in &lines[..4] {
        assert!(
            l.contains("127.0.0.1:") && l.contains("stored") && l.contains("ms"),
            "{l}"
        );
        assert!(l.contains("counted"), "{l}");
    }
    assert_eq!(
        lines[..4]
            .iter()
            .filter(|l| l.ends_with(" counted"))
            .count(),
        3
    );
    assert!(last(&lines).starts_with("OK — W=3 reached"), "{lines:#?}");
    let (key, placement) = i.view().focus_key.clone().unwrap();
    assert_eq!(key, b"a");
    assert_eq!(placement.replicas.len(), 4);

    let lines = ok(&mut i, "get a").await;
    assert_eq!(lines.len(), 4);
    assert!(lines[0].contains("value \"b\""), "{lines:#?}");
    assert!(
        last(&lines).starts_with("OK b — R=2 reached with 127.0.0.1:"),
        "{lines:#?}"
    );
    let lines = ok(&mut i, "get a n=5 r=1").await;
    // The servers speak v2: the 5th replica, never written, answers
    // "not found" and is read-repaired after the verdict.
    assert_eq!(lines.len(), 8, "{lines:#?}");
    assert!(lines[5].starts_with("OK b — R=1 reached"), "{lines:#?}");
    assert!(lines[6].starts_with("read repair of \"a\""), "{lines:#?}");
}

/// `loss`, `delay` and `heal` route one server through a fault proxy;
/// the trace still names the server; heal talks to it directly again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_delay_and_heal() {
    let c = Cluster::new(&[1, 1, 1]).await;
    let server = c.config.servers[1].addr();
    let mut i = c.interpreter();
    // The first request to a server finds out its protocol (v2 first,
    // then v1 to a v1-only server: one more round trip, which the
    // 150 ms delay below would push past the 300 ms deadline).
    run(&mut i, "get k").await;
    let line = ok(&mut i, "loss 2 100").await;
    assert_eq!(line.len(), 1, "{line:?}");
    assert!(
        line[0].starts_with(&format!("{server}: 100% of datagrams lost each way")),
        "{line:?}"
    );
    assert!(line[0].contains("`heal 2`"), "{line:?}");
    let (o, lines, _) = run(&mut i, "put k v w=3").await;
    assert!(!o.ok, "{lines:#?}");
    let silent: Vec<&String> = lines.iter().filter(|l| l.contains("timeout")).collect();
    assert_eq!(silent.len(), 1, "{lines:#?}");
    assert!(silent[0].contains(&server.to_string()), "{lines:#?}");
    // W=2 still works without it.
    ok(&mut i, "put k v w=2").await;

    let line = ok(&mut i, "delay 2 150").await;
    assert!(
        line[0].contains("100% of datagrams lost each way, requests delayed 150ms"),
        "{line:?}"
    );
    ok(&mut i, "loss 2 0").await;
    let lines = ok(&mut i, "put k v2 w=3").await;
    assert!(last(&lines).starts_with("OK"), "{lines:#?}");
    let slow = i.client().destination(1).unwrap();
    assert_ne!(slow, server, "still through the proxy");

    let line = ok(&mut i, "heal 2").await;
    assert_eq!(
        line,
        [format!(
            "{server}: healed, requests go to the server directly again"
        )]
    );
    assert_eq!(i.client().destination(1), Some(server));
    assert_eq!(
        ok(&mut i, "heal 2").await,
        [format!("{server}: no fault to heal")]
    );
    ok(&mut i, "get k r=3").await;
    assert!(error(&mut i, "loss 2 200").await.contains("usage: loss"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_print_fail_and_why() {
    let mut c = Cluster::new(&[1, 1, 1]).await;
    let mut i = c.interpreter();
    let (o, lines, _) = run(&mut i, "get nothing").await;
    assert!(!o.ok);
    assert!(last(&lines).starts_with("FAIL — not found"), "{lines:#?}");
    assert!(lines[..3].iter().all(|l| l.contains("not found")));
    ok(&mut i, "put k v w=3").await;
    c.stop(0);
    c.stop(1);
    // Let the two server tasks see their stop signal and close.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (o, lines, _) = run(&mut i, "put k x w=3").await;
    assert!(!o.ok);
    assert!(last(&lines).starts_with("FAIL — "), "{lines:#?}");
    assert_eq!(
        lines.iter().filter(|l| l.contains("timeout")).count(),
        2,
        "{lines:#?}"
    );
    assert!(last(&lines).contains("timed out"), "{lines:#?}");
    // The failed put still stored x on the server that answered
    // (no rollback, as in Dynamo); R=1 reads it.
    let lines = ok(&mut i, "get k r=1").await;
    assert!(last(&lines).starts_with("OK x — R=1 reached"), "{lines:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cat_substr_find() {
    let c = Cluster::new(&[1, 2, 3]).await;
    let mut i = c.interpreter();
    ok(&mut i, "put h \"hello bbb\"").await;
    ok(&mut i, "put n bbb").await;
    let lines = ok(&mut i, "find h n").await;
    assert!(
        last(&lines).starts_with("OK 6 — 2 operations"),
        "{lines:#?}"
    );
    assert_eq!(lines.iter().filter(|l| l.starts_with("get \"")).count(), 2);
    let lines = ok(&mut i, "find n h").await;
    assert!(last(&lines).starts_with("OK -1"));
    let lines = ok(&mut i, "cat h n d").await;
    assert!(last(&lines).starts_with("OK — 3 operations"), "{lines:#?}");
    let lines = ok(&mut i, "get d").await;
    assert!(last(&lines).starts_with("OK hello bbbbbb —"));
    ok(&mut i, "substr h -5 4 s").await;
    assert!(last(&ok(&mut i, "get s").await).starts_with("OK o bb —"));
    let (o, lines, _) = run(&mut i, "substr h 3 7 s").await;
    assert!(!o.ok);
    assert!(
        last(&lines).starts_with("FAIL — position 3 length 7 is outside"),
        "{lines:#?}"
    );
    let (o, lines, _) = run(&mut i, "cat nope h d").await;
    assert!(!o.ok);
    assert!(last(&lines).starts_with("FAIL — not found"), "{lines:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_ring_status_dump_without_supervisor() {
    let mut c = Cluster::new(&[1, 2, 3]).await;
    let mut i = c.interpreter();
    let lines = ok(&mut i, "where coucou").await;
    assert!(
        lines[0].contains("5ed25af7b1ed23fb00122e13d7f74c4d8262acd8"),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.contains("used")));
    assert!(last(&lines).starts_with("preference list: 127.0.0.1:"));
    assert_eq!(i.view().focus_key.as_ref().unwrap().0, b"coucou");

    let lines = ok(&mut i, "ring").await;
    assert_eq!(lines.len(), 7, "{lines:#?}");
    assert!(lines[0].starts_with("ring: 6 nodes on 3 servers"));
    assert!(lines[1].contains(" node "));

    ok(&mut i, "put a b w=3").await;
    let lines = ok(&mut i, "dump").await;
    assert_eq!(lines[0], "Ring nodes:");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("storing 1 key-value"))
            .count(),
        3
    );
    let lines = ok(&mut i, "dump 2").await;
    assert!(lines[0].ends_with(':'));
    assert_eq!(lines[1], "storing 1 key-value pairs:");
    assert_eq!(lines[2], "a --> b");

    c.stop(1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lines = error(&mut i, "dump 2").await;
    assert!(lines.contains("no answer"), "{lines}");
    let lines = ok(&mut i, "health").await;
    assert!(
        lines[0].starts_with("server") && lines[0].contains("hints"),
        "{lines:#?}"
    );
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("no answer")), "{lines:#?}");
    let lines = ok(&mut i, "status").await;
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(lines[1].contains("up"), "{lines:#?}");
    assert!(
        lines[2].contains("unreachable") && lines[2].contains("never"),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_actions_need_a_supervisor() {
    let c = Cluster::new(&[1, 1]).await;
    let mut i = c.interpreter();
    for action in ["kill", "stop", "start", "restart", "pause", "resume"] {
        let e = error(&mut i, &format!("{action} 1")).await;
        assert!(e.contains("supervises no process"), "{e}");
    }
    // Membership changes too, and they change nothing.
    let e = error(&mut i, "add 127.0.0.1:9 nodes=2").await;
    assert!(
        e.starts_with("ERROR: add: this session supervises no process"),
        "{e}"
    );
    let e = error(&mut i, "remove 2").await;
    assert!(
        e.starts_with("ERROR: remove: this session supervises no process"),
        "{e}"
    );
    assert_eq!(i.client().config().servers.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_quit_slow() {
    let c = Cluster::new(&[1]).await;
    let mut i = c.interpreter();
    let lines = ok(&mut i, "help").await;
    assert!(lines.len() > COMMAND_COUNT);
    assert!(ok(&mut i, "help put").await[0].starts_with("put <key> <value>"));
    assert!(
        error(&mut i, "help nope")
            .await
            .contains("no help for `nope`")
    );
    for q in ["quit", "q"] {
        let (o, lines, _) = run(&mut i, q).await;
        assert_eq!(
            o,
            LineOutcome {
                ok: true,
                quit: true
            }
        );
        assert!(lines.is_empty());
    }
    assert_eq!(ok(&mut i, "slow on").await.len(), 1);
    assert_eq!(i.view().slow_ms, Some(super::super::parse::DEFAULT_SLOW_MS));
    ok(&mut i, "slow 40").await;
    assert_eq!(i.view().slow_ms, Some(40));
    let started = Instant::now();
    let (o, _, traces) = run(&mut i, "put k v").await;
    assert!(o.ok);
    assert!(traces >= 2);
    // At least one pause between the snapshot after sending and the reply.
    assert!(started.elapsed() >= Duration::from_millis(40));
    ok(&mut i, "slow off").await;
    assert_eq!(i.view().slow_ms, None);
    let (o, lines, _) = run(&mut i, "   ").await;
    assert!(o.ok && lines.is_empty());
}

const COMMAND_COUNT: usize = 19;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatif_add_remove_off() {
    let c = Cluster::new(&[3, 2, 2]).await;
    let mut i = c.interpreter();
    for k in 0..20 {
        ok(&mut i, &format!("put key{k} v w=3")).await;
    }
    let lines = ok(&mut i, "whatif add 127.0.0.1:9 nodes=3").await;
    assert!(lines[0].starts_with("whatif add 127.0.0.1:9 nodes=3: 10 nodes on 4 servers"));
    let report = i.view().whatif.clone().unwrap();
    assert_eq!(report.servers.len(), 4);
    assert_eq!(report.ring.nodes().len(), 10);
    assert!(
        // Random ports: the share depends on the ring (it can even be
        // 100% when the new nodes are spread evenly).
        report.moved_fraction > 0.0 && report.moved_fraction <= 1.0,
        "{}",
        report.moved_fraction
    );
    let (moving, total) = report.stored_keys.unwrap();
    assert_eq!(total, 20);
    assert!(moving <= total);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("{moving} of 20 would move")))
    );
    ok(&mut i, "whatif remove 1").await;
    let report = i.view().whatif.clone().unwrap();
    assert_eq!(report.servers.len(), 2);
    // N=3 on 3 servers: every key is on every server; removing one changes all.
    assert!((report.moved_fraction - 1.0).abs() < 1e-9);
    assert_eq!(report.stored_keys, Some((20, 20)));
    ok(&mut i, "whatif off").await;
    assert!(i.view().whatif.is_none());
}

/// A key of 33 KB is quoted by its first characters and its length in
/// every line (issue 16, item 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_keys_are_cut_in_every_line() {
    let c = Cluster::new(&[1]).await;
    let mut i = c.interpreter();
    // Too long to send: the verdict quotes it.
    let (o, lines, _) = run(&mut i, &format!("get {}", "k".repeat(33_000))).await;
    assert!(!o.ok, "{lines:?}");
    let cut = format!("{}…\" (33000 bytes)", "k".repeat(40));
    assert!(last(&lines).contains(&cut), "{lines:?}");
    // Sent, or placed on the ring: every line stays short.
    for line in [
        format!("put {} v", "k".repeat(30_000)),
        format!("get {}", "k".repeat(30_000)),
        format!("where {}", "k".repeat(30_000)),
    ] {
        let (_, lines, _) = run(&mut i, &line).await;
        assert!(lines.iter().all(|l| l.len() < 300), "{lines:?}");
    }
    let lines = ok(&mut i, &format!("where {}", "k".repeat(30_000))).await;
    let cut = format!("key \"{}…\" (30000 bytes) sha1", "k".repeat(40));
    assert!(lines[0].starts_with(&cut), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_lines_print_one_error_and_change_nothing() {
    let c = Cluster::new(&[1, 1, 1]).await;
    let mut i = c.interpreter();
    ok(&mut i, "where a").await;
    ok(&mut i, "slow 10").await;
    let before = format!("{:?}", i.view());
    for (line, expected) in [
        ("frobnicate x", "unknown command `frobnicate`"),
        ("put \"a b", "unterminated quote"),
        ("get a w=2", "does not take w="),
        ("get a n=0", "strictly positive"),
        // Spelled as the REPL's options, not the tools' `-n 3`.
        (
            "get a n=4",
            "larger than the number of servers (3); use at most n=3",
        ),
        ("put a b w=3 n=2", "larger than N"),
        ("kill 9", "unknown server `9`"),
        ("dump 127.0.0.1:1", "unknown server"),
        ("whatif remove nobody", "unknown server"),
        ("whatif add nowhere", "not an ip:port"),
        ("slow fast", "usage: slow"),
        ("get", "usage: get"),
        ("ring please", "usage: ring"),
    ] {
        let e = error(&mut i, line).await;
        assert!(e.contains(expected), "{line}: {e}");
    }
    assert_eq!(format!("{:?}", i.view()), before);
}
