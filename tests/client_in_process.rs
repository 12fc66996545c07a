//! End-to-end tests of the client against real in-process servers, fakes
//! and a fault proxy: what no single part of the client shows alone.

use dkvs::client::{Client, OpError, ProtocolMode, RetryPolicy};
use dkvs::config::{ClusterConfig, parse_servers_txt};
use dkvs::quorum::QuorumOptions;
use dkvs::server::Server;
use dkvs::trace::{Failure, Reply, Verdict};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

async fn cluster(count: usize) -> (ClusterConfig, Vec<tokio::sync::oneshot::Sender<()>>) {
    let mut lines = String::new();
    let mut stops = Vec::new();
    for _ in 0..count {
        let server = Server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = server.local_addr().unwrap().port();
        lines.push_str(&format!("127.0.0.1 {port} 2\n"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        stops.push(tx);
    }
    (parse_servers_txt(&lines, "t").unwrap(), stops)
}

/// A server that drops the first copy of every request is answered by a
/// resend; with retransmission disabled the same operation times out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_recovers_a_lost_request() {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = seen.clone();
    let fake = tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        let mut first: std::collections::HashSet<SocketAddr> = Default::default();
        while let Ok((_, from)) = socket.recv_from(&mut buf).await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if first.insert(from) {
                continue; // lose the first copy
            }
            let _ = socket.send_to(b"\0", from).await;
        }
    });
    let config = parse_servers_txt(&format!("127.0.0.1 {port} 1\n"), "t").unwrap();
    // v1 only: this fake answers NUL to anything, v2 included, and the
    // test counts copies of one request.
    let client = Client::new(config)
        .with_timeout(Duration::from_millis(400))
        .with_protocol(ProtocolMode::V1);
    assert_eq!(client.retry(), RetryPolicy::DEFAULT);
    client
        .put(b"k", b"v", QuorumOptions::default())
        .await
        .unwrap();
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 2);
    let once = client.with_retry(RetryPolicy::DISABLED);
    assert!(
        once.put(b"k", b"v", QuorumOptions::default())
            .await
            .is_err()
    );
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 3);
    fake.abort();
}

/// Requests of a routed server go through a proxy; the trace keeps the
/// server's own address; unrouting goes back to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_a_server_through_a_proxy() {
    use dkvs::fault_proxy::FaultProxy;
    let (config, _stops) = cluster(1).await;
    let server = config.servers[0].addr();
    let proxy = FaultProxy::builder("127.0.0.1:0".parse().unwrap(), server)
        .black_hole(true)
        .start()
        .await
        .unwrap();
    let mut client = Client::new(config).with_timeout(Duration::from_millis(300));
    assert_eq!(client.destination(0), Some(server));
    client.set_route(0, Some(proxy.local_addr()));
    assert_eq!(client.destination(0), Some(proxy.local_addr()));
    let q = client.quorum(QuorumOptions::default()).unwrap();
    let trace = client.put_traced(b"k", b"v", q, &mut |_| {}).await;
    assert_eq!(trace.verdict, Verdict::Failed(Failure::Timeout));
    assert_eq!(trace.replicas[0].addr, server);
    assert!(
        proxy.stats().black_holed >= 2,
        "sent and resent to the proxy"
    );
    proxy.heal();
    let trace = client.put_traced(b"k", b"v", q, &mut |_| {}).await;
    assert_eq!(trace.verdict, Verdict::Reached);
    assert_eq!(trace.replicas[0].addr, server);
    client.set_route(0, None);
    assert_eq!(client.destination(0), Some(server));
    assert_eq!(
        client.get(b"k", QuorumOptions::default()).await.unwrap(),
        b"v"
    );
    assert_eq!(client.destination(7), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_then_get_in_process() {
    let (config, _stops) = cluster(3).await;
    let client = Client::new(config).with_timeout(Duration::from_millis(500));
    assert_eq!(
        client.get(b"k", QuorumOptions::default()).await,
        Err(OpError::NotFound)
    );
    client
        .put(b"k", b"v", QuorumOptions::default().w(3))
        .await
        .unwrap();
    assert_eq!(
        client
            .get(b"k", QuorumOptions::default().r(3))
            .await
            .unwrap(),
        b"v"
    );
    assert!(matches!(
        client.get(b"", QuorumOptions::default()).await,
        Err(OpError::Failed(_))
    ));
    assert!(matches!(
        client.get(b"k", QuorumOptions::default().n(9)).await,
        Err(OpError::Quorum(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_records_every_server_and_observer_sees_changes() {
    let (config, _stops) = cluster(3).await;
    let client = Client::new(config).with_complete_traces(true);
    let q = client.quorum(QuorumOptions::default()).unwrap();
    let mut snapshots = 0;
    let trace = client
        .put_traced(b"key", b"value", q, &mut |_| snapshots += 1)
        .await;
    assert_eq!(trace.verdict, Verdict::Reached);
    assert!(
        trace
            .replicas
            .iter()
            .all(|r| r.reply == Some(Reply::Stored))
    );
    assert_eq!(trace.counted(), 2);
    assert!(snapshots >= 4, "sent + 3 replies + finish, got {snapshots}");
}
