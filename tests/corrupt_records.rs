//! Records that fail their check on one replica (issue 18), with three real
//! `dkvs-server` processes on the log engine: keys are written with N=3,
//! one server is stopped cleanly, bytes inside some of its records are
//! flipped, and it is restarted. Then a direct v2 GET of each damaged key
//! is REFUSED 12 (*corrupt*) — never a wrong value, never NOT FOUND — and
//! a v1 get is the empty refusal; the refusals are counted in STATS and
//! logged once per key; a quorum get returns the right value and its read
//! repair refills the server; anti-entropy refills the keys nobody reads
//! (its time is measured and bounded). A second test flips random bytes
//! in every segment and hint file of one replica, over several seeds.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use dkvs::client::Client;
use dkvs::protocol_v2::{self as v2, Message, Reason};
use dkvs::quorum::{Quorum, QuorumOptions};
use dkvs::stats::ServerStats;
use dkvs::trace::{Reply, Verdict};

/// Keys written, all damaged on the victim: the first [`READ`] are read
/// through the client (read repair), the rest are left to anti-entropy.
const DAMAGED: usize = 200;
/// Damaged keys read through a quorum get.
const READ: usize = 30;
/// Keys written after the damaged ones and left intact, so that no damaged
/// record is the newest segment's tail (a bad tail is a torn write, cut
/// off at start: DECISIONS #805).
const TAIL: usize = 50;
/// The bound on anti-entropy's refill of the unread keys (rounds every
/// 0.5 s; measured at about 1 s, see the report line).
const AE_LIMIT: Duration = Duration::from_secs(20);

/// The key and value of damaged key `i`: 16 bytes, too short to be
/// compressed, so the value's bytes are found verbatim in the segment.
fn damaged(i: usize) -> (String, String) {
    (format!("c{i}"), format!("value-of-c{i:05}!"))
}

fn socket() -> UdpSocket {
    UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap()
}

/// A direct v2 GET of `key`: the reply's message (retried on silence).
fn v2_get(s: &UdpSocket, addr: SocketAddrV4, key: &str) -> Message<'static> {
    let request = v2::encode(
        11,
        &Message::Get {
            key: key.as_bytes(),
        },
        None,
    )
    .unwrap();
    for _ in 0..5 {
        if let Some(reply) = udp_request(s, addr, &request, Duration::from_millis(500)) {
            let reply: &'static [u8] = Box::leak(reply.into_boxed_slice());
            let frame = v2::decode(reply).unwrap();
            assert_eq!(frame.id, 11);
            return frame.message;
        }
    }
    panic!("no reply to GET {key} from {addr}");
}

fn stats_of(addr: SocketAddrV4) -> ServerStats {
    let request = v2::encode(5, &Message::Stats, None).unwrap();
    let reply = udp_request(&socket(), addr, &request, Duration::from_secs(3)).expect("STATS");
    match v2::decode(&reply).unwrap().message {
        Message::StatsReply { pairs } => ServerStats::from_pairs(&pairs),
        other => panic!("not a STATS reply: {other:?}"),
    }
}

/// Flips one byte inside the value of every damaged key in `dir`'s
/// segment files; panics unless each value is found exactly once.
fn flip_values(dir: &Path) {
    let mut segments: Vec<(std::path::PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    assert!(!segments.is_empty(), "no segment in {}", dir.display());
    for i in 0..DAMAGED {
        let value = damaged(i).1.into_bytes();
        let mut found = 0;
        for (_, bytes) in &mut segments {
            if let Some(at) = bytes.windows(value.len()).position(|w| w == value) {
                // A different byte at a place that varies with the key.
                bytes[at + 3 + i % 8] ^= 0x5a;
                found += 1;
            }
        }
        assert_eq!(found, 1, "value of key {i} in {}", dir.display());
    }
    for (path, bytes) in segments {
        std::fs::write(path, bytes).unwrap();
    }
}

/// Writes `keys` with N=3 W=3 (every replica holds every key).
fn write_all(rt: &tokio::runtime::Runtime, client: &Client, keys: Vec<(String, String)>) {
    let client = Arc::new(client.clone());
    let keys = Arc::new(keys);
    rt.block_on(async {
        let quorum = QuorumOptions::default().n(3).w(3);
        let mut tasks = Vec::new();
        for lane in 0..16 {
            let (client, keys) = (Arc::clone(&client), Arc::clone(&keys));
            tasks.push(tokio::spawn(async move {
                for (k, v) in keys.iter().skip(lane).step_by(16) {
                    client
                        .put(k.as_bytes(), v.as_bytes(), quorum)
                        .await
                        .unwrap_or_else(|e| panic!("put {k}: {e}"));
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

fn options(dir: &Path, servers: &Path, ae_interval: &str) -> Vec<OsString> {
    let words = [
        "--data-dir".into(),
        dir.as_os_str().to_owned(),
        "--engine".into(),
        "log".into(),
        "--servers".into(),
        servers.as_os_str().to_owned(),
        "--anti-entropy-interval".into(),
        ae_interval.into(),
    ];
    words.to_vec()
}

fn start(c: &mut Cluster, i: usize, options: &[OsString]) {
    let refs: Vec<&std::ffi::OsStr> = options.iter().map(OsString::as_os_str).collect();
    c.start_with_options(i, &refs);
}

/// The whole story on one victim, server 2 (see the module's comment).
#[test]
fn a_damaged_replica_refuses_and_is_refilled() {
    const VICTIM: usize = 2;
    let rt = test_runtime();
    let mut c = Cluster::new(&[1, 1, 1]);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let servers = c.config_path.clone();
    for (i, dir) in dirs.iter().enumerate() {
        start(&mut c, i, &options(dir.path(), &servers, "0"));
    }
    let client = Client::new(c.config.clone()).with_timeout(Duration::from_secs(2));
    // Each damaged record between three intact ones: a run of damaged
    // entries longer than the log engine follows by their lengths at start
    // loses its keys (DECISIONS #805), which is not what is tested here.
    let mixed = (0..DAMAGED).flat_map(|i| {
        let intact = (0..3).map(move |j| (format!("i{i}.{j}"), format!("intact {i}.{j}")));
        std::iter::once(damaged(i)).chain(intact)
    });
    write_all(&rt, &client, mixed.collect());
    let tail = (0..TAIL).map(|i| (format!("t{i}"), format!("tail {i}")));
    write_all(&rt, &client, tail.collect());

    c.terminate(VICTIM);
    flip_values(dirs[VICTIM].path());
    start(&mut c, VICTIM, &options(dirs[VICTIM].path(), &servers, "0"));
    let victim = c.addr(VICTIM);

    // Every damaged key is refused as corrupt: never a value, never
    // NOT FOUND. Intact keys are served.
    let s = socket();
    for i in 0..DAMAGED {
        let (key, _) = damaged(i);
        let reply = v2_get(&s, victim, &key);
        assert_eq!(
            reply,
            Message::Refused {
                reason: Reason::Corrupt
            },
            "{key}: {}",
            c.server_output(VICTIM).1
        );
    }
    for i in 0..TAIL {
        let want = format!("tail {i}");
        assert!(
            matches!(v2_get(&s, victim, &format!("t{i}")), Message::Value { value, .. } if value == want.as_bytes())
        );
    }
    // v1: the empty refusal.
    let v1 = udp_request(&s, victim, b"c0", Duration::from_secs(2)).expect("a v1 reply");
    assert!(v1.is_empty(), "{v1:?}");
    let stats = stats_of(victim);
    assert_eq!(stats.number("refused_corrupt"), Some(DAMAGED as u64 + 1));
    assert!(stats.number("corrupt_reads") >= Some(DAMAGED as u64 + 1));
    assert!(stats.number("refused") >= Some(DAMAGED as u64 + 1));
    // Logged once per key (c0 was asked twice).
    let log = c.server_output(VICTIM).1;
    let logged = |key: &str| {
        log.lines()
            .filter(|l| l.contains("refused a get") && l.contains(&format!("\"{key}\"")))
            .count()
    };
    assert_eq!(logged("c0"), 1, "{log}");
    assert_eq!(logged("c1"), 1);

    // Read repair uses the replies the get waited for, as for a stale
    // replica: a client that keeps listening after its verdict (the REPL's)
    // sees every refusal.
    read_repair(&rt, &client.clone().with_complete_traces(true), victim);

    // The keys nobody read: anti-entropy, once the victim runs rounds.
    c.terminate(VICTIM);
    start(
        &mut c,
        VICTIM,
        &options(dirs[VICTIM].path(), &servers, "0.5"),
    );
    let started = Instant::now();
    let mut left: Vec<usize> = (READ..DAMAGED).collect();
    let done = eventually(AE_LIMIT, || {
        left.retain(|&i| {
            let (key, value) = damaged(i);
            match v2_get(&s, victim, &key) {
                Message::Value { value: got, .. } => {
                    assert_eq!(got, value.as_bytes(), "{key}: a wrong value");
                    false
                }
                Message::Refused {
                    reason: Reason::Corrupt,
                } => true,
                other => panic!("{key}: {other:?} while waiting for anti-entropy"),
            }
        });
        left.is_empty()
    });
    let took = started.elapsed();
    assert!(
        done,
        "{} keys not refilled by anti-entropy within {AE_LIMIT:?}",
        left.len()
    );
    eprintln!(
        "anti-entropy refilled {} corrupt records in {took:?}",
        DAMAGED - READ
    );
    for i in 0..DAMAGED {
        let (key, value) = damaged(i);
        assert!(
            matches!(v2_get(&s, victim, &key), Message::Value { value: got, .. } if got == value.as_bytes()),
            "{key}"
        );
    }
}

/// Quorum gets (N=3, R=2) of the first [`READ`] damaged keys return the
/// right value; the victim's refusal is traced as `refused: corrupt`, not
/// counted, and read repair refills it: one get per key.
fn read_repair(rt: &tokio::runtime::Runtime, client: &Client, victim: SocketAddrV4) {
    let s = socket();
    let quorum = Quorum { n: 3, w: 2, r: 2 };
    for i in 0..READ {
        let (key, value) = damaged(i);
        let trace = rt.block_on(client.get_traced(key.as_bytes(), quorum, &mut |_| {}));
        assert_eq!(trace.value.as_deref(), Some(value.as_bytes()), "{trace:#?}");
        let mine = trace.replicas.iter().find(|r| r.addr == victim).unwrap();
        assert_eq!(
            mine.reply,
            Some(Reply::Refused(Some(Reason::Corrupt))),
            "{trace:#?}"
        );
        assert_eq!(mine.reply.as_ref().unwrap().to_string(), "refused: corrupt");
        assert!(!mine.counted);
        assert_eq!(mine.repair, trace.version);
        let repairs = rt.block_on(client.finish_repairs());
        assert_eq!(repairs.len(), 1);
        assert_eq!(repairs[0].verdict, Verdict::Reached, "{:#?}", repairs[0]);
        let got = v2_get(&s, victim, &key);
        assert!(
            matches!(got, Message::Value { value: v, .. } if v == value.as_bytes()),
            "{key}: {got:?} after read repair"
        );
    }
}

/// Keys of [`random_flips_in_every_file_never_serve_a_wrong_value`].
const RANDOM_KEYS: usize = 300;
/// Bytes flipped in each `.seg` and `.hint` file of the victim.
const FLIPS_PER_FILE: usize = 24;

/// A small deterministic generator (xorshift64*), one per seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        usize::try_from(x % n.max(1) as u64).unwrap()
    }
}

/// Flips [`FLIPS_PER_FILE`] random bytes in every segment and hint file of
/// `dir`; returns how many files were damaged.
fn flip_random(dir: &Path, rng: &mut Rng) -> usize {
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.extension().is_some_and(|e| e == "seg" || e == "hint") {
            continue;
        }
        let mut bytes = std::fs::read(&path).unwrap();
        if bytes.is_empty() {
            continue;
        }
        for _ in 0..FLIPS_PER_FILE {
            let at = rng.below(bytes.len());
            bytes[at] ^= 1 + u8::try_from(rng.below(255)).unwrap();
        }
        std::fs::write(&path, bytes).unwrap();
        files += 1;
    }
    files
}

/// Random bytes flipped in every data file of one replica, over several
/// seeds (`DKVS_CORRUPTION_SEEDS`, default 3; the engine's own test runs
/// many more without servers): the victim starts, never panics, never
/// serves a wrong value (a damaged record is refused; one whose frame was
/// hit reads as missing, as on a replica that missed the write), and after
/// anti-entropy every key reads correctly from it.
#[test]
fn random_flips_in_every_file_never_serve_a_wrong_value() {
    const VICTIM: usize = 0;
    let seeds: u64 = std::env::var("DKVS_CORRUPTION_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let rt = test_runtime();
    for seed in 1..=seeds {
        let mut c = Cluster::new(&[1, 1, 1]);
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let servers = c.config_path.clone();
        for (i, dir) in dirs.iter().enumerate() {
            start(&mut c, i, &options(dir.path(), &servers, "0"));
        }
        let client = Client::new(c.config.clone()).with_timeout(Duration::from_secs(2));
        let want: Vec<(String, String)> = (0..RANDOM_KEYS)
            .map(|i| {
                (
                    format!("r{i}"),
                    format!("seed {seed} value {i} {}", "x".repeat(i % 40)),
                )
            })
            .collect();
        write_all(&rt, &client, want.clone());
        c.terminate(VICTIM);
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let files = flip_random(dirs[VICTIM].path(), &mut rng);
        assert!(files >= 1, "seed {seed}: no data file flipped");
        start(&mut c, VICTIM, &options(dirs[VICTIM].path(), &servers, "0"));
        let victim = c.addr(VICTIM);
        let s = socket();
        let mut refused = 0;
        let mut missing = 0;
        for (key, value) in &want {
            match v2_get(&s, victim, key) {
                Message::Value { value: got, .. } => {
                    assert_eq!(got, value.as_bytes(), "seed {seed} {key}: a wrong value")
                }
                Message::Refused {
                    reason: Reason::Corrupt,
                } => refused += 1,
                Message::NotFound { .. } => missing += 1,
                other => panic!("seed {seed} {key}: {other:?}"),
            }
        }
        assert!(
            c.is_running(VICTIM),
            "seed {seed}: {}",
            c.server_output(VICTIM).1
        );
        // Anti-entropy brings every key back on the victim.
        c.terminate(VICTIM);
        start(
            &mut c,
            VICTIM,
            &options(dirs[VICTIM].path(), &servers, "0.5"),
        );
        let started = Instant::now();
        let mut left: Vec<&(String, String)> = want.iter().collect();
        let done = eventually(AE_LIMIT, || {
            left.retain(|(key, value)| match v2_get(&s, victim, key) {
                Message::Value { value: got, .. } => {
                    assert_eq!(got, value.as_bytes(), "seed {seed} {key}: a wrong value");
                    false
                }
                _ => true,
            });
            left.is_empty()
        });
        assert!(
            done,
            "seed {seed}: {} keys not refilled: {:?}\n{}",
            left.len(),
            left.iter().take(5).collect::<Vec<_>>(),
            c.server_output(VICTIM).1
        );
        eprintln!(
            "seed {seed}: {files} files, {refused} refused, {missing} missing, refilled in {:?}",
            started.elapsed()
        );
    }
}
