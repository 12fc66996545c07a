//! Running a server as `dkvs-server` does ([`serve_until_signal`]): the
//! options, then the data directory, keys, ring, anti-entropy, hand-off,
//! initial pairs, hints and metrics endpoint, serving until a signal.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::engine::{DiskEngine, DurableOptions, Record, StorageArgs};
use crate::limits::{AuthConfig, Limits};
use crate::net::kernel_drops;
use crate::protocol;
use crate::protocol_v2::AuthKey;

use super::Server;

/// What `dkvs-server` was asked to do: an address, initial pairs and the
/// abuse limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Address to bind.
    pub addr: SocketAddrV4,
    /// Pairs stored at start, as if put.
    pub initial: Vec<(Vec<u8>, Vec<u8>)>,
    /// Abuse limits ([`ServeOptions::new`] sets the defaults).
    pub limits: Limits,
    /// Where the pairs are kept (`--data-dir`, `--sync`, …; default: in
    /// memory).
    pub storage: StorageArgs,
    /// Where to serve Prometheus metrics over HTTP (`--metrics`), if
    /// anywhere (`crate::metrics`).
    pub metrics: Option<SocketAddr>,
    /// When the metrics endpoint cannot be bound: serve without it (logged
    /// at error level) instead of not starting. Servers spawned by
    /// dkvs-tui (cluster.toml's `metrics`) are best effort, so a taken
    /// port costs the class its scrape, not a server (DECISIONS #89).
    pub metrics_best_effort: bool,
    /// The ring and anti-entropy (`--servers`, …; default: none).
    pub anti_entropy: crate::anti_entropy::AntiEntropyArgs,
}

/// Why the command line's initial pairs cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitialPairError {
    /// A key without its value.
    #[error(
        "initial pairs come as <key> <value>; got an odd number of words ({0}), the last key has no value"
    )]
    OddWords(usize),
    /// A key or value the protocol cannot carry.
    #[error("initial pair {key}: {error}")]
    Bad {
        /// The key as messages show it (quoted, a long one cut:
        /// [`crate::preview::for_message`]).
        key: String,
        /// What is wrong with it.
        #[source]
        error: protocol::EncodeError,
    },
}

impl ServeOptions {
    /// Checks the command line's trailing `<key> <value>` words.
    pub fn new(
        ip: std::net::Ipv4Addr,
        port: u16,
        words: Vec<std::ffi::OsString>,
    ) -> Result<ServeOptions, InitialPairError> {
        use std::os::unix::ffi::OsStringExt;
        if !words.len().is_multiple_of(2) {
            return Err(InitialPairError::OddWords(words.len()));
        }
        let mut initial = Vec::with_capacity(words.len() / 2);
        let mut words = words.into_iter().map(OsStringExt::into_vec);
        while let (Some(key), Some(value)) = (words.next(), words.next()) {
            protocol::check_key(&key)
                .and_then(|_| protocol::check_value(&value))
                .map_err(|error| InitialPairError::Bad {
                    key: crate::preview::for_message(&key),
                    error,
                })?;
            initial.push((key, value));
        }
        Ok(ServeOptions {
            addr: SocketAddrV4::new(ip, port),
            initial,
            limits: Limits::default(),
            storage: StorageArgs::default(),
            metrics: None,
            metrics_best_effort: false,
            anti_entropy: crate::anti_entropy::AntiEntropyArgs::default(),
        })
    }

    /// The same options with the metrics endpoint at `metrics`.
    pub fn with_metrics(self, metrics: Option<SocketAddr>) -> ServeOptions {
        ServeOptions { metrics, ..self }
    }

    /// [`ServeOptions::with_metrics`], but a port that cannot be bound is
    /// logged and the server serves without its endpoint.
    pub fn with_best_effort_metrics(self, metrics: Option<SocketAddr>) -> ServeOptions {
        ServeOptions {
            metrics,
            metrics_best_effort: true,
            ..self
        }
    }

    /// The same options with `limits` in force.
    pub fn with_limits(self, limits: Limits) -> ServeOptions {
        ServeOptions { limits, ..self }
    }

    /// The same options with `storage` in force.
    pub fn with_storage(self, storage: StorageArgs) -> ServeOptions {
        ServeOptions { storage, ..self }
    }

    /// The same options with ring knowledge and anti-entropy `ae`.
    pub fn with_anti_entropy(self, ae: crate::anti_entropy::AntiEntropyArgs) -> ServeOptions {
        ServeOptions {
            anti_entropy: ae,
            ..self
        }
    }
}

/// Why [`serve_until_signal`] could not serve: a message ready to print and
/// the exit status it calls for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ServeError {
    /// What went wrong.
    pub message: String,
    /// [`crate::exit::CONFIG`] for a data directory that cannot be used,
    /// [`crate::exit::FAILED`] otherwise.
    pub exit_code: u8,
}

impl From<String> for ServeError {
    fn from(message: String) -> ServeError {
        ServeError {
            message,
            exit_code: crate::exit::FAILED,
        }
    }
}

/// A configuration error ([`crate::exit::CONFIG`]): `error` as is.
fn config_error(error: impl std::fmt::Display) -> ServeError {
    ServeError {
        message: error.to_string(),
        exit_code: crate::exit::CONFIG,
    }
}

/// The keys of the key file named by `DKVS_KEY_FILE`
/// ([`crate::limits::KEY_FILE_ENV`]), if it is set and not empty: how a
/// server started without `--key-file` (e.g. by the `dkvs-tui` supervisor
/// for a `cluster.toml` with `key_file`) gets its keys.
pub fn auth_from_env() -> Result<Option<AuthConfig>, crate::limits::KeyFileLoadError> {
    match std::env::var_os(crate::limits::KEY_FILE_ENV) {
        Some(path) if !path.is_empty() => AuthConfig::load(std::path::Path::new(&path)).map(Some),
        _ => Ok(None),
    }
}

/// Runs a server as `dkvs-server` does: opens its data directory (if any),
/// binds, stores the initial pairs, serves until SIGINT/SIGTERM. Errors are
/// ready to print.
pub fn serve_until_signal(mut options: ServeOptions) -> Result<(), ServeError> {
    if options.limits.auth.is_none() {
        options.limits.auth = auth_from_env().map_err(config_error)?;
    }
    // The data directory first: a directory in use or damaged is a
    // configuration error, reported before anything else happens.
    let durable = match options.storage.durable() {
        // --max-memory bounds redb's page cache (directories on redb).
        Some(o) => Some(
            DiskEngine::open(&DurableOptions {
                cache: options.limits.max_memory,
                ..o
            })
            .map_err(|e| config_error(e.to_string()))?,
        ),
        None => None,
    };
    if let (Some(disk), Some(asked)) = (&durable, options.storage.engine)
        && disk.kind() != asked
    {
        tracing::info!(
            data_dir = %disk.dir().display(),
            engine = %disk.kind(),
            asked = %asked,
            "--engine applies to new data directories only: this one was created \
             with another engine and keeps it"
        );
    }
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(serve(&options, durable.as_ref()))
}

/// [`serve_until_signal`] inside the runtime, once the data directory (if
/// any) is open: sets the server up, serves until a signal, logs the end.
async fn serve(options: &ServeOptions, durable: Option<&DiskEngine>) -> Result<(), ServeError> {
    let shutdown = shutdown_signal().map_err(|e| format!("cannot watch signals: {e}"))?;
    let mut server = Server::bind_with(options.addr, options.limits.clone()).map_err(|e| {
        let hint = if e.kind() == io::ErrorKind::AddrInUse {
            " (is another server already running on this port?)"
        } else if e.kind() == io::ErrorKind::AddrNotAvailable {
            " (this machine has no such address)"
        } else {
            ""
        };
        format!("cannot bind UDP {}: {e}{hint}", options.addr)
    })?;
    server.set_tombstone_grace(Duration::from_secs(options.storage.tombstone_grace_secs));
    let (keys, window) = match &options.limits.auth {
        Some(a) => (Arc::clone(&a.keys), a.window_ms),
        None => (Arc::from([]), 0),
    };
    let grace = Duration::from_secs(options.storage.tombstone_grace_secs);
    enable_ring(&mut server, options, &keys, window, grace)?;
    if let Some(engine) = durable {
        use_durable(&mut server, options, engine)?;
    }
    for (key, value) in options.initial.iter().filter(|_| durable.is_none()) {
        server.store().put(key, value).map_err(|e| {
            format!(
                "initial pair {}: {e} (--max-memory)",
                crate::preview::for_message(key)
            )
        })?;
    }
    if let Some(engine) = durable {
        let hints =
            crate::hints::HintStore::open(engine.dir()).map_err(|e| config_error(e.to_string()))?;
        server
            .use_hints(Arc::new(hints))
            .map_err(|e| format!("cannot keep hints: {e}"))?;
    }
    tokio::spawn(crate::hints::handoff(server.hints(), Arc::clone(&keys)));
    start_metrics(&server, options).await?;
    log_serving(&server, options);
    let stats = server.stats_handle();
    let bound = match server.local_addr() {
        Ok(SocketAddr::V4(a)) => a,
        _ => options.addr,
    };
    // Keeps the sockets open after `run` so that their drops can be read.
    let sockets = server.sockets.clone();
    server.run(shutdown).await;
    let s = stats.snapshot();
    let kernel_drops = kernel_drops(bound).map_or("unknown".to_string(), |d| d.to_string());
    drop(sockets);
    tracing::info!(
        requests = s.requests,
        refused = s.refused,
        not_allowed = s.not_allowed,
        dump_denied = s.dump_denied,
        over_budget = s.over_budget,
        over_memory = s.over_memory,
        over_disk = s.over_disk,
        panics = s.panics,
        restarts = s.restarts,
        unauthenticated = s.unauthenticated,
        kernel_drops = %kernel_drops,
        "stopped"
    );
    if let Some(engine) = durable {
        // The committer has stopped with the server (and synced).
        let e = engine.engine().stats();
        tracing::info!(
            keys = e.keys,
            used_bytes = e.used_bytes,
            commits = e.commits,
            syncs = e.syncs,
            "data directory closed"
        );
    }
    Ok(())
}

/// Gives `server` its ring, anti-entropy and, with `--servers`, the
/// hand-off after membership changes, as `options.anti_entropy` asks.
fn enable_ring(
    server: &mut Server,
    options: &ServeOptions,
    keys: &Arc<[AuthKey]>,
    window: u64,
    grace: Duration,
) -> Result<(), ServeError> {
    let ae = crate::anti_entropy::AntiEntropy::new(
        &options.anti_entropy,
        options.addr,
        Arc::clone(keys),
        window,
        grace,
    )
    .map_err(config_error)?;
    let Some(ae) = ae else {
        return Ok(());
    };
    server
        .enable_anti_entropy(ae)
        .map_err(|e| format!("cannot start anti-entropy: {e}"))?;
    if let Some(path) = &options.anti_entropy.servers {
        let me = options.anti_entropy.ring_address.unwrap_or(options.addr);
        let r = crate::rebalance::Rebalancer::new(
            path.clone(),
            me,
            options.anti_entropy.replicas,
            Arc::clone(keys),
        )
        .map_err(config_error)?;
        server
            .enable_rebalance(Arc::new(r))
            .map_err(|e| format!("cannot start the hand-off: {e}"))?;
    }
    Ok(())
}

/// Stores the initial pairs in the durable `engine`, logs the data
/// directory opened and makes `server` serve from it.
fn use_durable(
    server: &mut Server,
    options: &ServeOptions,
    disk: &DiskEngine,
) -> Result<(), ServeError> {
    let engine = disk.engine();
    let puts: Vec<_> = options
        .initial
        .iter()
        .map(|(k, v)| {
            (
                Bytes::copy_from_slice(k),
                Record::v1(Bytes::copy_from_slice(v)),
            )
        })
        .collect();
    for (result, (key, _)) in engine.put_batch(&puts).into_iter().zip(&options.initial) {
        result.map_err(|e| format!("initial pair {}: {e}", crate::preview::for_message(key)))?;
    }
    let report = disk.opened();
    tracing::info!(
        data_dir = %disk.dir().display(),
        engine = %disk.kind(),
        sync = %disk.sync_policy(),
        keys = report.keys,
        open_ms = report.took.as_secs_f64() * 1e3,
        max_disk = engine.stats().limit,
        "data directory opened"
    );
    server
        .use_durable(disk.clone())
        .map_err(|e| format!("cannot start the committer: {e}"))?;
    Ok(())
}

/// Serves the Prometheus metrics of `server` at `options.metrics`, if
/// asked: a port that cannot be bound is an error, or only logged when
/// best effort.
async fn start_metrics(server: &Server, options: &ServeOptions) -> Result<(), ServeError> {
    let Some(at) = options.metrics else {
        return Ok(());
    };
    match tokio::net::TcpListener::bind(at).await {
        Ok(listener) => {
            tracing::info!(metrics = %at, "serving Prometheus metrics at /metrics");
            tokio::spawn(crate::metrics::serve(listener, server.stats_source()));
        }
        Err(e) if options.metrics_best_effort => tracing::error!(
            "cannot bind the metrics endpoint TCP {at}: {e}; serving without it (free the port or change `metrics` in the cluster file)"
        ),
        Err(e) => return Err(format!("cannot bind the metrics endpoint TCP {at}: {e}").into()),
    }
    Ok(())
}

/// Logs the address, the initial pairs and the limits in force.
fn log_serving(server: &Server, options: &ServeOptions) {
    let limits = server.limits();
    tracing::info!(
        addr = %options.addr,
        pairs = options.initial.len(),
        allow = %limits.allow,
        allow_dump = %limits.allow_dump,
        max_memory = limits.max_memory,
        reply_rate = limits.reply_rate,
        reply_burst = limits.reply_burst,
        budget_exempt = %limits.budget_exempt,
        recv_buffer = limits.recv_buffer,
        "serving"
    );
}

/// Registers SIGINT and SIGTERM at once (so a signal that arrives while the
/// server is still starting is not lost) and returns a future that completes
/// on the first of them.
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}
