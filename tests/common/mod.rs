//! Test harness shared by the integration tests in `tests/`.
//!
//! Everything here drives the real binaries (`dkvs-server`, `dkvs-client`,
//! `dkvs-dump-ring`, found through Cargo's `CARGO_BIN_EXE_*` variables) over
//! real UDP on loopback. The rules it enforces:
//!
//! - **No port collisions between parallel tests.** Each [`Cluster`] picks a
//!   random loopback address `127.X.Y.Z` (Linux routes all of 127/8 to `lo`)
//!   and ports below the kernel's ephemeral range that were checked free on
//!   that address; see [`loopback_ip`] and [`free_ports`]. Fake servers
//!   ([`FakeServer`], [`bind_socket`]) are sockets the test holds itself.
//! - **No stray processes.** Every child is registered in a [`Procs`] guard
//!   that SIGKILLs and reaps it by PID on drop, also when the test panics.
//! - **No unbounded waits.** Every process run ([`run`]), readiness probe
//!   ([`wait_ready`]) and stop ([`Procs::terminate`]) has a time limit.
//! - **A clean environment.** Child processes never inherit `DKVS_SERVERS`,
//!   `DKVS_LOG`, `RUST_LOG`, `DKVS_KEY_FILE`, `DKVS_EXIT_CODES` or `NO_COLOR`
//!   from the test runner ([`clean_command`]).
//!
//! Typical use:
//!
//! ```ignore
//! mod common;
//! use common::*;
//!
//! let mut cluster = Cluster::new(&[1, 1, 1]); // three servers, one node each
//! cluster.start_all();
//! cluster.client(&["put", "--", "k", "v"]).assert_stdout("OK\n");
//! cluster.client(&["get", "--", "k"]).assert_stdout("OK v\n");
//! // every server is killed when `cluster` goes out of scope
//! ```

#![allow(dead_code)]

pub mod chaos;
pub mod spawned;
pub mod tmux;

pub use spawned::{assert_all_gone, server_alive, spawned_cluster};

use std::fmt::Write as _;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use dkvs::ClusterConfig;
use dkvs::config::{parse_cluster_toml, parse_servers_txt};
use dkvs::ring::Ring;
use rand::RngExt;

/// Path of the `dkvs-server` binary under test.
pub const SERVER: &str = env!("CARGO_BIN_EXE_dkvs-server");
/// Path of the `dkvs-client` binary under test.
pub const CLIENT: &str = env!("CARGO_BIN_EXE_dkvs-client");
/// Path of the `dkvs-dump-ring` binary under test.
pub const DUMP_RING: &str = env!("CARGO_BIN_EXE_dkvs-dump-ring");

/// Default limit for one client or dump-ring run. Generous, because the
/// suite runs many processes in parallel on small machines; tests that care
/// about timing measure [`Output::elapsed`] themselves.
pub const RUN_LIMIT: Duration = Duration::from_secs(10);
/// How long a freshly spawned server has to start answering.
pub const READY_LIMIT: Duration = Duration::from_secs(5);

/// Exit codes of the tools, re-exported for brevity (see `dkvs::commands::exit`).
pub mod code {
    #[allow(unused_imports)]
    pub use dkvs::commands::exit::*;
}

/// A random loopback address `127.X.Y.Z` with X, Y, Z in 1..250, so that
/// tests running in parallel (each with its own address) never compete for
/// ports.
pub fn loopback_ip() -> Ipv4Addr {
    let mut rng = rand::rng();
    Ipv4Addr::new(
        127,
        rng.random_range(1..250),
        rng.random_range(1..250),
        rng.random_range(1..250),
    )
}

/// `count` distinct UDP ports that are free on `ip` right now.
///
/// They are drawn at random *below* the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`), so that the sockets every client opens
/// on `0.0.0.0:0` meanwhile can never take one of them before the server
/// that is meant to bind it starts. Each port is checked by binding it; all
/// sockets are held until every port is chosen.
pub fn free_ports(ip: Ipv4Addr, count: usize) -> Vec<u16> {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|&p| p > 2048)
        .unwrap_or(32768);
    let mut rng = rand::rng();
    let mut sockets: Vec<UdpSocket> = Vec::with_capacity(count);
    let mut attempts = 0;
    while sockets.len() < count {
        attempts += 1;
        assert!(attempts < 10_000, "no free UDP port on {ip}");
        let port = rng.random_range(1024..low);
        if let Ok(socket) = UdpSocket::bind((ip, port)) {
            sockets.push(socket);
        }
    }
    sockets
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect()
}

/// A UDP socket bound to a fresh port of `ip` (used as a fake server: it
/// can read requests and answer — or not — as a test wishes).
pub fn bind_socket(ip: Ipv4Addr) -> UdpSocket {
    UdpSocket::bind((ip, 0)).expect("bind a UDP port on loopback")
}

/// Builds a command for `program` with stdin closed, run in `dir`, and with
/// the variables that would change the tools' behaviour removed.
pub fn clean_command(program: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    clean(&mut cmd, dir);
    cmd
}

/// What [`clean_command`] does to a command made elsewhere (in a host's
/// namespace, say): run in `dir`, stdin closed, the tools' variables
/// removed.
pub fn clean<'a>(cmd: &'a mut Command, dir: &Path) -> &'a mut Command {
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .env_remove(dkvs::config::SERVERS_ENV)
        .env_remove("DKVS_LOG")
        .env_remove("RUST_LOG")
        .env_remove("DKVS_KEY_FILE")
        .env_remove(dkvs::commands::exit::EXIT_CODES_ENV)
        .env_remove("NO_COLOR")
}

/// What one finished (or stopped) process produced.
#[derive(Debug, Clone)]
pub struct Output {
    /// Human-readable command line, for messages.
    pub command: String,
    /// Raw standard output.
    pub stdout_bytes: Vec<u8>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
    /// Exit code; `None` when killed by a signal (for instance on timeout).
    pub code: Option<i32>,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
    /// True when the process hit the time limit and was killed.
    pub timed_out: bool,
}

impl Output {
    /// Asserts exit 0 and exactly `stdout` on standard output.
    #[track_caller]
    pub fn assert_stdout(&self, stdout: &str) -> &Self {
        assert_eq!(
            (self.code, self.stdout.as_str()),
            (Some(0), stdout),
            "unexpected result of {}\n{self}",
            self.command
        );
        self.assert_no_panic()
    }

    /// Asserts the client's failure shape: exit `code`, `FAIL` alone on
    /// stdout, exactly one line starting with `ERROR: ` on stderr, no panic.
    #[track_caller]
    pub fn assert_fail(&self, code: u8) -> &Self {
        assert_eq!(
            (self.code, self.stdout.as_str()),
            (Some(i32::from(code)), "FAIL\n"),
            "unexpected result of {}\n{self}",
            self.command
        );
        self.assert_one_error_line()
    }

    /// Asserts exit `code` with nothing on stdout and exactly one `ERROR: `
    /// line on stderr (the shape of dkvs-server's and dkvs-dump-ring's errors).
    #[track_caller]
    pub fn assert_error(&self, code: u8) -> &Self {
        assert_eq!(
            (self.code, self.stdout.as_str()),
            (Some(i32::from(code)), ""),
            "unexpected result of {}\n{self}",
            self.command
        );
        self.assert_one_error_line()
    }

    /// Asserts that stderr holds exactly one line starting with `ERROR: `, that
    /// it is the first line, that it says something, and that nothing panicked.
    #[track_caller]
    pub fn assert_one_error_line(&self) -> &Self {
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("ERROR:"))
            .collect();
        assert_eq!(errors.len(), 1, "one ERROR line expected\n{self}");
        assert!(
            self.stderr.starts_with("ERROR: "),
            "stderr must start with the ERROR line\n{self}"
        );
        assert!(
            errors[0].len() > "ERROR: ".len() + 5,
            "the ERROR line must say what is wrong\n{self}"
        );
        self.assert_no_panic()
    }

    /// Asserts that neither stream mentions a panic.
    #[track_caller]
    pub fn assert_no_panic(&self) -> &Self {
        assert!(
            !self.stderr.contains("panicked") && !self.stdout.contains("panicked"),
            "a panic\n{self}"
        );
        assert!(!self.timed_out, "timed out\n{self}");
        self
    }

    /// The first `ERROR:` line of stderr (empty when there is none).
    pub fn error_line(&self) -> &str {
        self.stderr
            .lines()
            .find(|l| l.starts_with("ERROR:"))
            .unwrap_or("")
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "command: {}\nexit: {:?}{} after {:?}\n--- stdout ---\n{}--- stderr ---\n{}--------------",
            self.command,
            self.code,
            if self.timed_out { " (TIMED OUT)" } else { "" },
            self.elapsed,
            self.stdout,
            self.stderr
        )
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    if let Some(name) = Path::new(&s).file_name() {
        s = name.to_string_lossy().into_owned();
    }
    for a in cmd.get_args() {
        let _ = write!(s, " {:?}", a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion with stdout and stderr captured, killing it if it
/// is still running after `limit`. Stdin is closed.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    run_with_input(cmd, Stdio::null(), limit)
}

/// Like [`run`], with `stdin` as the command's standard input (a file with a
/// script, for example).
pub fn run_with_input(cmd: &mut Command, stdin: Stdio, limit: Duration) -> Output {
    let command = describe(cmd);
    cmd.stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {command}: {e}"));
    // Read both pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let (status, timed_out) = wait_bounded(&mut child, limit);
    let elapsed = start.elapsed();
    let stdout_bytes = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Output {
        command,
        stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
        stdout_bytes,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        code: status.code(),
        elapsed,
        timed_out,
    }
}

/// Waits for `child` at most `limit`; past it, SIGKILLs and reaps it.
/// Returns the exit status and whether the limit was hit.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> (ExitStatus, bool) {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return (status, false),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                return (child.wait().expect("reap a killed child"), true);
            }
        }
    }
}

/// Sends signal `name` (`"TERM"`, `"INT"`, `"STOP"`, …) to a process by PID,
/// through `kill(1)`, so the tests need no extra dependency.
pub fn send_signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run kill(1)");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Sends SIGTERM to a process by PID.
pub fn send_sigterm(pid: u32) {
    send_signal(pid, "TERM");
}

/// A guard over child processes: on drop, every child still registered is
/// SIGKILLed and reaped, whatever happened in the test (including panics).
#[derive(Debug, Default)]
pub struct Procs {
    children: Vec<(String, Option<Child>)>,
}

impl Procs {
    /// An empty guard.
    pub fn new() -> Procs {
        Procs::default()
    }

    /// Takes ownership of `child`; returns its handle (an index).
    pub fn add(&mut self, label: impl Into<String>, child: Child) -> usize {
        self.children.push((label.into(), Some(child)));
        self.children.len() - 1
    }

    /// Spawns `cmd` and registers it.
    pub fn spawn(&mut self, label: impl Into<String>, cmd: &mut Command) -> usize {
        let label = label.into();
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {label}: {e}"));
        self.add(label, child)
    }

    /// The PID of a registered, still-owned child.
    pub fn pid(&self, handle: usize) -> u32 {
        self.children[handle]
            .1
            .as_ref()
            .expect("child already stopped")
            .id()
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self, handle: usize) -> bool {
        match self.children[handle].1.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The child's exit status if it has exited (without waiting).
    pub fn try_status(&mut self, handle: usize) -> Option<ExitStatus> {
        self.children[handle].1.as_mut()?.try_wait().ok().flatten()
    }

    /// SIGKILLs and reaps the child.
    pub fn kill(&mut self, handle: usize) -> Option<ExitStatus> {
        let mut child = self.children[handle].1.take()?;
        let _ = child.kill();
        child.wait().ok()
    }

    /// SIGTERMs the child and waits up to `limit` for it to exit (SIGKILL
    /// after that). Returns its status and whether it had to be killed.
    pub fn terminate(&mut self, handle: usize, limit: Duration) -> (ExitStatus, bool) {
        self.signal_and_wait(handle, "TERM", limit)
    }

    /// Sends signal `name` (see [`send_signal`]) to the child and waits up
    /// to `limit` for it to exit (SIGKILL after that). Returns its status and
    /// whether it had to be killed.
    pub fn signal_and_wait(
        &mut self,
        handle: usize,
        name: &str,
        limit: Duration,
    ) -> (ExitStatus, bool) {
        let mut child = self.children[handle]
            .1
            .take()
            .expect("child already stopped");
        if let Ok(Some(status)) = child.try_wait() {
            return (status, false);
        }
        send_signal(child.id(), name);
        wait_bounded(&mut child, limit)
    }

    /// The child itself (to take its stdin/stdout pipes, for instance).
    pub fn child_mut(&mut self, handle: usize) -> &mut Child {
        self.children[handle]
            .1
            .as_mut()
            .expect("child already stopped")
    }

    /// Waits up to `limit` for a child that was already asked to stop (for
    /// instance with [`send_sigterm`]) to exit, without signalling it again;
    /// SIGKILLs it past the limit. Returns its status and whether the limit
    /// was hit.
    pub fn terminate_wait(&mut self, handle: usize, limit: Duration) -> (ExitStatus, bool) {
        let mut child = self.children[handle]
            .1
            .take()
            .expect("child already stopped");
        wait_bounded(&mut child, limit)
    }

    /// The label given when the child was registered.
    pub fn label(&self, handle: usize) -> &str {
        &self.children[handle].0
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            if let Some(mut c) = child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Sends a get request for a probe key to `addr` until any datagram comes
/// back from it, for at most `limit`. Returns whether it answered.
pub fn probe(addr: SocketAddrV4, limit: Duration) -> bool {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind a probe socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(25)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        let _ = socket.send_to(b"__dkvs_test_probe__", addr);
        let until = (Instant::now() + Duration::from_millis(100)).min(deadline);
        while Instant::now() < until {
            if let Ok((_, from)) = socket.recv_from(&mut buf)
                && from == SocketAddr::V4(addr)
            {
                return true;
            }
        }
    }
    false
}

/// Waits until the server at `addr` answers, panicking (with its stderr) if
/// it exits or stays silent for [`READY_LIMIT`].
pub fn wait_ready(procs: &mut Procs, handle: usize, addr: SocketAddrV4, stderr_file: &Path) {
    let deadline = Instant::now() + READY_LIMIT;
    while Instant::now() < deadline {
        if let Some(status) = procs.try_status(handle) {
            let log = std::fs::read_to_string(stderr_file).unwrap_or_default();
            panic!("server {addr} exited at start with {status}; stderr:\n{log}");
        }
        if probe(addr, Duration::from_millis(200)) {
            return;
        }
    }
    let log = std::fs::read_to_string(stderr_file).unwrap_or_default();
    panic!("server {addr} did not answer within {READY_LIMIT:?}; stderr:\n{log}");
}

/// The configuration file format a [`Cluster`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `servers.txt` (docs/CLI.md, `servers.txt`).
    ServersTxt,
    /// `cluster.toml` (docs/CLI.md, `cluster.toml`).
    ClusterToml,
}

/// `servers.txt` text for `(ip, port, nodes)` lines.
pub fn servers_txt(servers: &[(Ipv4Addr, u16, u32)]) -> String {
    servers
        .iter()
        .map(|(ip, port, nodes)| format!("{ip} {port} {nodes}\n"))
        .collect()
}

/// `cluster.toml` text for `(ip, port, nodes)` servers, with `defaults` (the
/// body of a `[defaults]` table, may be empty).
pub fn cluster_toml(servers: &[(Ipv4Addr, u16, u32)], defaults: &str) -> String {
    let mut s = String::new();
    if !defaults.is_empty() {
        let _ = writeln!(s, "[defaults]\n{defaults}");
    }
    for (ip, port, nodes) in servers {
        let _ = writeln!(
            s,
            "[[server]]\nip = \"{ip}\"\nport = {port}\nnodes = {nodes}\n"
        );
    }
    s
}

/// The `cluster.toml` text listing `servers` as not dkvs-tui's to start
/// (`spawn = false`): servers run by the test, watched by dkvs-tui.
pub fn not_spawned_toml(servers: &[(Ipv4Addr, u16, u32)]) -> String {
    servers
        .iter()
        .map(|(ip, port, nodes)| {
            format!("[[server]]\nip = \"{ip}\"\nport = {port}\nnodes = {nodes}\nspawn = false\n\n")
        })
        .collect()
}

/// A test cluster: a temporary directory holding its configuration file,
/// servers on a private loopback address, and the guard that stops them.
///
/// Servers are described by their node counts and numbered 0.. in file
/// order. Nothing runs until [`Cluster::start`] / [`Cluster::start_all`].
pub struct Cluster {
    /// The guard over every process started through this cluster (declared
    /// first so that it is dropped first: processes die before their
    /// directory is removed).
    pub procs: Procs,
    /// The temporary directory (the cwd of every process run through here).
    pub dir: tempfile::TempDir,
    /// The cluster's loopback address.
    pub ip: Ipv4Addr,
    /// `(ip, port, nodes)` of every server, in file order.
    pub servers: Vec<(Ipv4Addr, u16, u32)>,
    /// The configuration file.
    pub config_path: PathBuf,
    /// The parsed configuration (as the tools see it).
    pub config: ClusterConfig,
    /// The ring, computed by the library (used for expected orders).
    pub ring: Ring,
    running: Vec<Option<usize>>,
}

impl Cluster {
    /// A cluster with one server per entry of `nodes` (its node count), on a
    /// fresh loopback address, described by a `servers.txt`.
    pub fn new(nodes: &[u32]) -> Cluster {
        Cluster::with_format(nodes, Format::ServersTxt, "")
    }

    /// Like [`Cluster::new`] with a `cluster.toml` whose `[defaults]` table
    /// has body `defaults` (no table when empty).
    pub fn with_toml(nodes: &[u32], defaults: &str) -> Cluster {
        Cluster::with_format(nodes, Format::ClusterToml, defaults)
    }

    /// A cluster described in `format`.
    pub fn with_format(nodes: &[u32], format: Format, defaults: &str) -> Cluster {
        let ip = loopback_ip();
        let ports = free_ports(ip, nodes.len());
        let servers: Vec<_> = ports
            .iter()
            .zip(nodes)
            .map(|(&port, &n)| (ip, port, n))
            .collect();
        Cluster::from_servers(servers, format, defaults)
    }

    /// A cluster of explicitly given servers (addresses may be fake servers
    /// bound by the test).
    pub fn from_servers(
        servers: Vec<(Ipv4Addr, u16, u32)>,
        format: Format,
        defaults: &str,
    ) -> Cluster {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let (name, text) = match format {
            Format::ServersTxt => ("servers.txt", servers_txt(&servers)),
            Format::ClusterToml => ("cluster.toml", cluster_toml(&servers, defaults)),
        };
        let config_path = dir.path().join(name);
        std::fs::write(&config_path, &text).expect("write the configuration");
        let config = match format {
            Format::ServersTxt => parse_servers_txt(&text, name),
            Format::ClusterToml => parse_cluster_toml(&text, name),
        }
        .expect("the test configuration parses");
        let ring = Ring::new(&config);
        let ip = servers.first().map_or(Ipv4Addr::LOCALHOST, |s| s.0);
        Cluster {
            dir,
            ip,
            running: vec![None; servers.len()],
            servers,
            config_path,
            config,
            ring,
            procs: Procs::new(),
        }
    }

    /// Number of servers S.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// Address of server `i`.
    pub fn addr(&self, i: usize) -> SocketAddrV4 {
        SocketAddrV4::new(self.servers[i].0, self.servers[i].1)
    }

    /// Port of server `i`.
    pub fn port(&self, i: usize) -> u16 {
        self.servers[i].1
    }

    /// Server indices of the first `n` replicas of `key`, in preference order.
    pub fn replicas(&self, key: &str, n: usize) -> Vec<usize> {
        self.ring
            .replicas(key.as_bytes(), n)
            .iter()
            .map(|r| r.server)
            .collect()
    }

    /// A key (`<prefix><number>`) whose preference list of length `n`
    /// satisfies `want`.
    pub fn find_key(&self, prefix: &str, n: usize, want: impl Fn(&[usize]) -> bool) -> String {
        (0..1_000_000)
            .map(|i| format!("{prefix}{i}"))
            .find(|k| want(&self.replicas(k, n)))
            .expect("some key has the wanted preference list")
    }

    /// Spawns server `i` with no initial pairs and waits until it answers.
    pub fn start(&mut self, i: usize) {
        self.start_with(i, &[]);
    }

    /// Spawns server `i` with initial `<key> <value>` pairs and waits until it
    /// answers. Its stdout and stderr go to files in the cluster directory
    /// (`server-<i>.out` / `.err`).
    pub fn start_with(&mut self, i: usize, pairs: &[(&str, &str)]) {
        assert!(self.running[i].is_none(), "server {i} already running");
        let (ip, port, _) = self.servers[i];
        let out_path = self.dir.path().join(format!("server-{i}.out"));
        let err_path = self.dir.path().join(format!("server-{i}.err"));
        let mut cmd = clean_command(SERVER, self.dir.path());
        cmd.arg(ip.to_string()).arg(port.to_string());
        for (k, v) in pairs {
            cmd.arg(k).arg(v);
        }
        cmd.stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap());
        let handle = self
            .procs
            .spawn(format!("dkvs-server {ip} {port}"), &mut cmd);
        self.running[i] = Some(handle);
        let addr = self.addr(i);
        wait_ready(&mut self.procs, handle, addr, &err_path);
    }

    /// Starts every server (no initial pairs).
    pub fn start_all(&mut self) {
        for i in 0..self.len() {
            self.start(i);
        }
    }

    /// SIGKILLs server `i`.
    pub fn kill(&mut self, i: usize) {
        let handle = self.running[i].take().expect("server not running");
        self.procs.kill(handle);
    }

    /// SIGTERMs server `i` and waits for it (at most 5 s); returns its status.
    pub fn terminate(&mut self, i: usize) -> ExitStatus {
        let handle = self.running[i].take().expect("server not running");
        let (status, killed) = self.procs.terminate(handle, Duration::from_secs(5));
        assert!(!killed, "server {i} ignored SIGTERM for 5 s");
        status
    }

    /// Sends signal `name` to server `i` and waits for it (at most 5 s).
    pub fn signal(&mut self, i: usize, name: &str) -> ExitStatus {
        let handle = self.running[i].take().expect("server not running");
        let (status, killed) = self
            .procs
            .signal_and_wait(handle, name, Duration::from_secs(5));
        assert!(!killed, "server {i} ignored SIG{name} for 5 s");
        status
    }

    /// PID of running server `i`.
    pub fn pid(&self, i: usize) -> u32 {
        self.procs.pid(self.running[i].expect("server not running"))
    }

    /// Whether server `i` was started and is still running.
    pub fn is_running(&mut self, i: usize) -> bool {
        match self.running[i] {
            Some(h) => self.procs.is_running(h),
            None => false,
        }
    }

    /// What server `i` wrote to stdout and stderr so far.
    pub fn server_output(&self, i: usize) -> (String, String) {
        let read = |ext| {
            std::fs::read_to_string(self.dir.path().join(format!("server-{i}.{ext}")))
                .unwrap_or_default()
        };
        (read("out"), read("err"))
    }

    /// A `dkvs-client` command in the cluster directory, pointed at the
    /// configuration through `DKVS_SERVERS`, with `args` appended.
    pub fn client_command(&self, args: &[&str]) -> Command {
        let mut cmd = clean_command(CLIENT, self.dir.path());
        cmd.env(dkvs::config::SERVERS_ENV, &self.config_path)
            .args(args);
        cmd
    }

    /// Runs `dkvs-client args…` against this cluster (limit [`RUN_LIMIT`]).
    pub fn client(&self, args: &[&str]) -> Output {
        run(&mut self.client_command(args), RUN_LIMIT)
    }

    /// Runs `dkvs-dump-ring <config file> args…` (limit [`RUN_LIMIT`]).
    pub fn dump_ring(&self, args: &[&str]) -> Output {
        let mut cmd = clean_command(DUMP_RING, self.dir.path());
        cmd.arg(&self.config_path).args(args);
        run(&mut cmd, RUN_LIMIT)
    }

    /// `put` through the client with the given extra flags; asserts `OK`.
    #[track_caller]
    pub fn put_ok(&self, flags: &[&str], key: &str, value: &str) {
        let mut args = vec!["put"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--", key, value]);
        self.client(&args).assert_stdout("OK\n");
    }

    /// `get` through the client with the given extra flags.
    pub fn get(&self, flags: &[&str], key: &str) -> Output {
        let mut args = vec!["get"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--", key]);
        self.client(&args)
    }
}

/// Runs `f` until it returns true or `limit` passes (checked every 10 ms);
/// returns whether it succeeded.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A fake server: a thread that reads requests on `socket` and hands each one
/// to a handler (which may answer, answer from elsewhere, or stay silent).
/// It stops when dropped, or after 20 s at the latest.
pub struct FakeServer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
    /// The address it listens on.
    pub addr: SocketAddrV4,
}

impl FakeServer {
    /// Starts serving `socket` with `handler(socket, request, from)`.
    pub fn spawn(
        socket: UdpSocket,
        mut handler: impl FnMut(&UdpSocket, &[u8], SocketAddr) + Send + 'static,
    ) -> FakeServer {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let SocketAddr::V4(addr) = socket.local_addr().unwrap() else {
            panic!("IPv4 only")
        };
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut buf = vec![0u8; 65536];
            let mut requests = 0;
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                if let Ok((len, from)) = socket.recv_from(&mut buf) {
                    requests += 1;
                    handler(&socket, &buf[..len], from);
                }
            }
            requests
        });
        FakeServer {
            stop,
            thread: Some(thread),
            addr,
        }
    }

    /// A server that reads every request and never answers.
    pub fn silent(socket: UdpSocket) -> FakeServer {
        FakeServer::spawn(socket, |_, _, _| {})
    }

    /// Stops the thread and returns how many requests it received.
    pub fn stop(mut self) -> usize {
        self.finish()
    }

    fn finish(&mut self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread
            .take()
            .map_or(0, |t| t.join().expect("fake server thread panicked"))
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.finish();
        } else {
            self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl Cluster {
    /// Like [`Cluster::start`], with `options` (e.g. `--data-dir DIR`)
    /// before the address. Stderr is appended to `server-<i>.err`, so the
    /// logs of earlier runs of the same server are kept.
    pub fn start_with_options(&mut self, i: usize, options: &[&std::ffi::OsStr]) {
        assert!(self.running[i].is_none(), "server {i} already running");
        let (ip, port, _) = self.servers[i];
        let out_path = self.dir.path().join(format!("server-{i}.out"));
        let err_path = self.dir.path().join(format!("server-{i}.err"));
        let append = |p: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap()
        };
        let mut cmd = clean_command(SERVER, self.dir.path());
        cmd.args(options).arg(ip.to_string()).arg(port.to_string());
        cmd.stdout(append(&out_path)).stderr(append(&err_path));
        let handle = self
            .procs
            .spawn(format!("dkvs-server {ip} {port}"), &mut cmd);
        self.running[i] = Some(handle);
        let addr = self.addr(i);
        wait_ready(&mut self.procs, handle, addr, &err_path);
    }
}

/// Sends `datagram` to `addr` from `socket` and waits at most `limit` for a
/// datagram from `addr`; `None` when none came. Other sources are ignored.
pub fn udp_request(
    socket: &UdpSocket,
    addr: SocketAddrV4,
    datagram: &[u8],
    limit: Duration,
) -> Option<Vec<u8>> {
    socket.send_to(datagram, addr).ok()?;
    let deadline = Instant::now() + limit;
    let mut buf = vec![0u8; 65536];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if from == SocketAddr::V4(addr) => return Some(buf[..n].to_vec()),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// The datagrams of a v1 dump of `addr` (the first says how many pairs
/// follow), read until `limit` or until 200 ms pass without one.
pub fn udp_dump(addr: SocketAddrV4, limit: Duration) -> Vec<Vec<u8>> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind a dump socket");
    let mut datagrams = Vec::new();
    if let Some(first) = udp_request(&socket, addr, b"", limit) {
        datagrams.push(first);
        while let Some(more) = {
            socket
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut buf = vec![0u8; 65536];
            socket
                .recv_from(&mut buf)
                .ok()
                .map(|(n, _)| buf[..n].to_vec())
        } {
            datagrams.push(more);
        }
    }
    datagrams
}

/// What a [`V2Responder`] holds and how it behaves; tests change it at any
/// time through [`V2Responder::state`].
#[derive(Debug, Default)]
pub struct V2State {
    /// Per key, the value (`None`: a tombstone) and its version. A test may
    /// write stale records here directly.
    pub records: std::collections::HashMap<Vec<u8>, (Option<Vec<u8>>, dkvs::version::Version)>,
    /// Speak only v1: every datagram starting with NUL, v2 ones
    /// included, gets the empty refusal.
    pub v1_only: bool,
    /// Wait this long before answering each datagram.
    pub delay: Duration,
    /// Before each v2 reply, send one with another request id (and, to a
    /// GET, another value): a client must ignore it.
    pub wrong_id_first: bool,
    /// Every datagram received, in order.
    pub received: Vec<Vec<u8>>,
    /// Keys whose record failed its check: a GET is answered REFUSED 12
    /// (*corrupt*) until a PUT or DELETE of the key, of any version,
    /// replaces it (as the log engine does).
    pub corrupt: std::collections::HashSet<Vec<u8>>,
}

/// A small protocol-v2 server in a test thread (`docs/PROTOCOL.md`): it
/// answers HELLO, GET, PUT and DELETE from [`V2State::records`] (highest
/// version wins, equal version is a retransmission, lower is answered
/// OLDER), v1 gets and puts as protocol v1 says (v1 puts at version 0/0), and
/// can be made v1-only, slow, or to send a reply with a wrong request id
/// first. Real UDP on the given socket; stops when dropped.
pub struct V2Responder {
    /// Its records and behaviour.
    pub state: std::sync::Arc<std::sync::Mutex<V2State>>,
    /// Its address.
    pub addr: SocketAddrV4,
    _fake: FakeServer,
}

impl V2Responder {
    /// Starts answering on `socket`.
    pub fn spawn(socket: UdpSocket) -> V2Responder {
        let state: std::sync::Arc<std::sync::Mutex<V2State>> = Default::default();
        let shared = state.clone();
        let fake = FakeServer::spawn(socket, move |socket, datagram, from| {
            let (delay, replies) = {
                let mut s = shared.lock().unwrap();
                s.received.push(datagram.to_vec());
                (s.delay, v2_respond(&mut s, datagram))
            };
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            for reply in replies {
                let _ = socket.send_to(&reply, from);
            }
        });
        V2Responder {
            state,
            addr: fake.addr,
            _fake: fake,
        }
    }

    /// A v1-only responder (a server of the original design).
    pub fn v1_only(socket: UdpSocket) -> V2Responder {
        let r = V2Responder::spawn(socket);
        r.state.lock().unwrap().v1_only = true;
        r
    }

    /// The record held for `key`.
    pub fn record(&self, key: &[u8]) -> Option<(Option<Vec<u8>>, dkvs::version::Version)> {
        self.state.lock().unwrap().records.get(key).cloned()
    }

    /// Sets the record of `key` (`None`: a tombstone).
    pub fn set(&self, key: &[u8], value: Option<&[u8]>, version: dkvs::version::Version) {
        self.state
            .lock()
            .unwrap()
            .records
            .insert(key.to_vec(), (value.map(<[u8]>::to_vec), version));
    }

    /// How many v2 datagrams it received.
    pub fn v2_received(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .received
            .iter()
            .filter(|d| dkvs::protocol_v2::dialect(d) == dkvs::protocol_v2::Dialect::V2)
            .count()
    }
}

/// The replies of a [`V2Responder`] to one datagram.
fn v2_respond(s: &mut V2State, datagram: &[u8]) -> Vec<Vec<u8>> {
    use dkvs::protocol::Request;
    use dkvs::protocol_v2::{self as v2, Dialect, Message};
    use dkvs::version::Version;
    if v2::dialect(datagram) == Dialect::V1 || s.v1_only {
        return vec![match dkvs::protocol::parse_request(datagram) {
            Ok(Request::Get { key }) => match s.records.get(key) {
                Some((Some(v), _)) => v.clone(),
                _ => b"\0".to_vec(),
            },
            Ok(Request::Put { key, value }) => {
                s.records
                    .insert(key.to_vec(), (Some(value.to_vec()), Version::ZERO));
                b"\0".to_vec()
            }
            Ok(Request::Dump) | Err(_) => Vec::new(),
        }];
    }
    let Ok(frame) = v2::decode(datagram) else {
        return vec![Vec::new()];
    };
    let write = |s: &mut V2State, key: &[u8], value: Option<&[u8]>, version: Version| match s
        .records
        .get(key)
    {
        Some((_, current)) if *current > version && !s.corrupt.contains(key) => {
            Message::Older { current: *current }
        }
        _ => {
            s.corrupt.remove(key);
            s.records
                .insert(key.to_vec(), (value.map(<[u8]>::to_vec), version));
            Message::Stored
        }
    };
    let (reply, decoy) = match frame.message {
        Message::Hello => (
            Message::HelloReply {
                max_version: 2,
                features: 0,
                time_ms: 0,
            },
            Message::Stored,
        ),
        Message::Get { key } => {
            let reply = match s.records.get(key) {
                _ if s.corrupt.contains(key) => Message::Refused {
                    reason: v2::Reason::Corrupt,
                },
                Some((Some(v), version)) => Message::Value {
                    value: v,
                    version: *version,
                },
                Some((None, version)) => Message::NotFound {
                    tombstone: Some(*version),
                },
                None => Message::NotFound { tombstone: None },
            };
            let reply = v2::encode(frame.id, &reply, None).unwrap();
            let decoy = Message::Value {
                value: b"wrong request id",
                version: Version {
                    timestamp: u64::MAX,
                    writer: 1,
                },
            };
            let decoy = v2::encode(frame.id.wrapping_add(1), &decoy, None).unwrap();
            return if s.wrong_id_first {
                vec![decoy, reply]
            } else {
                vec![reply]
            };
        }
        Message::Put {
            key,
            value,
            version,
        } => (write(s, key, Some(value), version), Message::Stored),
        Message::Delete { key, version } => (write(s, key, None, version), Message::Stored),
        _ => (
            Message::Refused {
                reason: v2::Reason::Unsupported,
            },
            Message::Stored,
        ),
    };
    let mut out = Vec::new();
    if s.wrong_id_first {
        out.push(v2::encode(frame.id.wrapping_add(1), &decoy, None).unwrap());
    }
    out.push(v2::encode(frame.id, &reply, None).unwrap());
    out
}

/// Concurrent writers of the same three keys (puts, every fifth write a
/// delete, each followed by a get of its key) through the library client,
/// N=3 R=2 W=2, for `run`, each server reached through a fault proxy with
/// `faults` when given. Returns the history for the versioned checker
/// (`Action::Write`, `GetResult::Versioned`/`Deleted`). `client` is the
/// cluster's client; writer `w` uses writer id `100 + w`.
pub fn versioned_writers_history(
    client: &dkvs::client::Client,
    targets: &[SocketAddrV4],
    faults: Option<dkvs::fault_proxy::FaultConfig>,
    writers: u64,
    run: Duration,
) -> dkvs::checker::History {
    use dkvs::checker::{Action, GetResult, History, Op};
    use dkvs::fault_proxy::FaultProxy;
    use dkvs::quorum::Quorum;
    use dkvs::trace::{Failure, Verdict};
    const N3R2: Quorum = Quorum { n: 3, w: 2, r: 2 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut proxies = Vec::new();
        if let Some(faults) = faults {
            for target in targets {
                let listen = SocketAddrV4::new(*target.ip(), 0);
                let proxy = FaultProxy::builder(listen, *target)
                    .faults(faults)
                    .start()
                    .await
                    .unwrap();
                proxies.push(proxy);
            }
        }
        let epoch = Instant::now();
        let end = epoch + run;
        let mut tasks = Vec::new();
        for w in 0..writers {
            let mut client = client.clone().with_writer(100 + w);
            for (i, p) in proxies.iter().enumerate() {
                client.set_route(i, Some(p.local_addr()));
            }
            tasks.push(tokio::spawn(async move {
                let now = || epoch.elapsed().as_micros() as u64;
                let mut history = History::new();
                let mut i = 0u64;
                while Instant::now() < end {
                    i += 1;
                    let key = format!("k{}", i % 3).into_bytes();
                    let invoked = now();
                    let trace = if i.is_multiple_of(5) {
                        client.delete_traced(&key, N3R2, &mut |_| {}).await
                    } else {
                        let value = format!("{w}:{i}").into_bytes();
                        client.put_traced(&key, &value, N3R2, &mut |_| {}).await
                    };
                    for op in write_ops(&key, invoked, now(), &trace) {
                        history.push(op);
                    }
                    let invoked = now();
                    let trace = client.get_traced(&key, N3R2, &mut |_| {}).await;
                    let result = match (&trace.verdict, &trace.value, trace.version) {
                        (Verdict::Reached, Some(v), Some(version)) => GetResult::Versioned {
                            value: v.clone(),
                            version,
                        },
                        (Verdict::Failed(Failure::NotFound), _, Some(version)) => {
                            GetResult::Deleted(version)
                        }
                        (Verdict::Failed(Failure::NotFound), _, None) => GetResult::NotFound,
                        _ => GetResult::Failed,
                    };
                    history.push(Op {
                        key,
                        invoked,
                        completed: now(),
                        action: Action::Get(result),
                    });
                }
                client.finish_repairs().await;
                history
            }));
        }
        let mut all = History::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        for p in proxies {
            println!("proxy: {:?}", p.stop().await);
        }
        all
    })
}

/// A JSON value: the tools' `--json` output read with serde_json.
pub use serde_json::Value as Json;

/// Reads one JSON document.
pub fn parse_json(text: &str) -> Result<Json, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Whether `addr` answers an unsigned v2 HELLO within `limit` (a server
/// with a key drops the v1 probe of [`probe`] but answers HELLO).
pub fn hello_probe(addr: SocketAddrV4, limit: Duration) -> bool {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind a probe socket");
    let hello = dkvs::protocol_v2::encode(0, &dkvs::protocol_v2::Message::Hello, None)
        .expect("HELLO encodes");
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if udp_request(&socket, addr, &hello, Duration::from_millis(100)).is_some() {
            return true;
        }
    }
    false
}

impl Cluster {
    /// Like [`Cluster::start_with_options`] for a server with a key
    /// (`--key-file` among `options`): waits until it answers HELLO.
    pub fn start_keyed_with_options(&mut self, i: usize, options: &[&std::ffi::OsStr]) {
        assert!(self.running[i].is_none(), "server {i} already running");
        let (ip, port, _) = self.servers[i];
        let err_path = self.dir.path().join(format!("server-{i}.err"));
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&err_path)
            .unwrap();
        let mut cmd = clean_command(SERVER, self.dir.path());
        cmd.args(options)
            .arg(ip.to_string())
            .arg(port.to_string())
            .stderr(err);
        let handle = self
            .procs
            .spawn(format!("keyed dkvs-server {ip} {port}"), &mut cmd);
        self.running[i] = Some(handle);
        let deadline = Instant::now() + READY_LIMIT;
        while !hello_probe(self.addr(i), Duration::from_millis(200)) {
            let log = std::fs::read_to_string(&err_path).unwrap_or_default();
            assert!(self.procs.is_running(handle), "keyed server exited: {log}");
            assert!(Instant::now() < deadline, "keyed server silent: {log}");
        }
    }
}

/// The PAGE datagrams of a whole paged v2 dump of `addr`, pages signed
/// with `key` when given (`None` when a page goes unanswered): also what
/// shipping a server's whole range costs.
pub fn v2_dump_pages(
    addr: SocketAddrV4,
    key: Option<&dkvs::protocol_v2::AuthKey>,
) -> Option<Vec<Vec<u8>>> {
    use dkvs::hlc::Clock;
    use dkvs::protocol_v2::{self as v2, Message};
    // A server on another host (a namespace) is reached from any address.
    let socket = if addr.ip().is_loopback() {
        bind_socket(*addr.ip())
    } else {
        bind_socket(Ipv4Addr::UNSPECIFIED)
    };
    let mut all = Vec::new();
    let mut cursor: Vec<u8> = Vec::new();
    for id in 1.. {
        let request = v2::encode(
            id,
            &Message::Dump {
                cursor: &cursor,
                limit: 0,
            },
            key.map(|k| (k, dkvs::hlc::SystemClock.now_ms())),
        )
        .ok()?;
        let reply = (0..3).find_map(|_| {
            udp_request(&socket, addr, &request, Duration::from_millis(500))
                .filter(|r| v2::decode(r).is_ok_and(|f| f.id == id))
        })?;
        let Ok(Message::Page(page)) = v2::decode(&reply).map(|f| f.message) else {
            return None;
        };
        let next = page.next_cursor().map(<[u8]>::to_vec);
        all.push(reply.clone());
        match next {
            Some(c) => cursor = c,
            None => break,
        }
    }
    Some(all)
}

/// Every record a server holds: key → (version, tombstone), read with the
/// paged v2 DUMP, pages signed with `key` when given (`None` when a page
/// goes unanswered).
pub fn v2_records(
    addr: SocketAddrV4,
    key: Option<&dkvs::protocol_v2::AuthKey>,
) -> Option<std::collections::BTreeMap<Vec<u8>, (dkvs::version::Version, bool)>> {
    use dkvs::protocol_v2::{self as v2, EntryValue, Message};
    let mut all = std::collections::BTreeMap::new();
    for reply in v2_dump_pages(addr, key)? {
        let Ok(Message::Page(page)) = v2::decode(&reply).map(|f| f.message) else {
            return None;
        };
        for e in &page.entries {
            all.insert(
                e.key.to_vec(),
                (e.version, matches!(e.value, EntryValue::Tombstone)),
            );
        }
    }
    Some(all)
}

/// A two-thread tokio runtime for tests that drive the library client.
pub fn test_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("start a tokio runtime")
}

/// The history operations of one put or delete (`trace`) invoked and
/// completed at these instants: one per version it carried — the superseded
/// rounds' first (a server may have stored them before the write moved on),
/// then its last — all acknowledged when W was reached: the same value in
/// the same real-time interval, with the same fate.
pub fn write_ops(
    key: &[u8],
    invoked: u64,
    completed: u64,
    trace: &dkvs::trace::Trace,
) -> Vec<dkvs::checker::Op> {
    use dkvs::checker::{Action, Op};
    let op = |version, ok| Op {
        key: key.to_vec(),
        invoked,
        completed,
        action: Action::Write {
            value: trace.written.clone(),
            version,
            ok,
        },
    };
    let ok = trace.verdict == dkvs::trace::Verdict::Reached;
    let mut ops: Vec<Op> = trace.restamps.iter().map(|r| op(r.from, ok)).collect();
    ops.push(op(trace.version.expect("a versioned write"), ok));
    ops
}

/// Whether a test that needs network namespaces must be skipped here (not
/// root, no `ip` or `nft`); prints why, naming `what` was skipped.
pub fn netns_skip(what: &str) -> bool {
    match dkvs_netns::available() {
        Ok(()) => false,
        Err(e) => {
            eprintln!("{what} skipped: {e}");
            true
        }
    }
}
