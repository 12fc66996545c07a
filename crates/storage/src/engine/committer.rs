//! Group commit: one thread writes and syncs the puts of every receive loop.
//!
//! A sync (fsync) costs far more than writing one pair, and a disk syncs
//! a group of pairs about as fast as one. So receive loops do not write to a
//! durable engine themselves: they [`Committer::submit`] each put with a
//! token (for the server: where to send the reply) and go on serving.
//! The committer thread takes everything queued (up to [`MAX_BATCH`]),
//! writes it in one [`Engine::put_batch`] — one transaction, one sync under
//! `--sync always` — and then hands every token with its result to the
//! `deliver` function, which sends the replies. So a reply is never sent
//! before its put is durable, and puts that arrive while a sync runs share
//! the next one. Under `periodic` and `none` the thread also calls
//! [`Engine::sync`] on schedule, and once more when it stops.
//!
//! The queue is bounded ([`MAX_QUEUE`] puts, [`MAX_QUEUED_BYTES`]): a put
//! that finds it full is refused with [`SubmitError::Busy`] and the server
//! drops it, as the kernel drops datagrams when the socket buffer is full.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Engine, Record, Refused};

/// Most puts written in one transaction.
pub const MAX_BATCH: usize = 4096;
/// Most puts waiting for the committer.
pub const MAX_QUEUE: usize = 16_384;
/// Most key and value bytes waiting for the committer.
pub const MAX_QUEUED_BYTES: u64 = 64 << 20;

/// Why a put could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full (the disk is slower than the puts arrive).
    #[error("the commit queue is full")]
    Busy,
    /// The committer thread has stopped.
    #[error("the committer has stopped")]
    Stopped,
}

/// The results of one group commit: each put's token and result.
pub type Delivery<T> = Vec<(T, Result<(), Refused>)>;

struct Job<T> {
    key: Bytes,
    record: Record,
    token: T,
}

/// The handle of the committer thread; dropping it writes what is queued,
/// syncs and joins the thread.
pub struct Committer<T: Send + 'static> {
    queue: Option<SyncSender<Job<T>>>,
    queued_bytes: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> std::fmt::Debug for Committer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer")
            .field("queued_bytes", &self.queued_bytes.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Committer<T> {
    /// Starts the committer thread for `engine`. `sync_every`: how often to
    /// call [`Engine::sync`] (`None`: only when stopping). `deliver`
    /// receives the results of each group commit, in submission order.
    pub fn start(
        engine: Arc<dyn Engine>,
        sync_every: Option<Duration>,
        deliver: impl FnMut(Delivery<T>) + Send + 'static,
    ) -> std::io::Result<Committer<T>> {
        let (queue, jobs) = mpsc::sync_channel(MAX_QUEUE);
        let queued_bytes = Arc::new(AtomicU64::new(0));
        let bytes = Arc::clone(&queued_bytes);
        let thread = std::thread::Builder::new()
            .name("dkvs-committer".into())
            .spawn(move || run(engine, jobs, bytes, sync_every, deliver))?;
        Ok(Committer {
            queue: Some(queue),
            queued_bytes,
            thread: Some(thread),
        })
    }

    /// Queues a put; `token` comes back to `deliver` with its result once
    /// the put is committed (and synced under `--sync always`).
    pub fn submit(&self, key: Bytes, record: Record, token: T) -> Result<(), SubmitError> {
        let size = (key.len() + record.value.len()) as u64;
        let before = self.queued_bytes.fetch_add(size, Ordering::AcqRel);
        if before > 0 && before + size > MAX_QUEUED_BYTES {
            self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            return Err(SubmitError::Busy);
        }
        let queue = self.queue.as_ref().ok_or(SubmitError::Stopped)?;
        let job = Job { key, record, token };
        queue.try_send(job).map_err(|e| {
            self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            match e {
                TrySendError::Full(_) => SubmitError::Busy,
                TrySendError::Disconnected(_) => SubmitError::Stopped,
            }
        })
    }
}

impl<T: Send + 'static> Drop for Committer<T> {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the committer thread panicked");
        }
    }
}

/// The committer thread's loop.
fn run<T>(
    engine: Arc<dyn Engine>,
    jobs: Receiver<Job<T>>,
    queued_bytes: Arc<AtomicU64>,
    sync_every: Option<Duration>,
    mut deliver: impl FnMut(Delivery<T>),
) {
    let mut next_sync = sync_every.map(|every| Instant::now() + every);
    loop {
        let first = match next_sync {
            None => match jobs.recv() {
                Ok(job) => Some(job),
                Err(_) => break,
            },
            Some(at) => match jobs.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(job) => Some(job),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            },
        };
        if let Some(first) = first {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let size: u64 = batch
                .iter()
                .map(|j| (j.key.len() + j.record.value.len()) as u64)
                .sum();
            let (puts, tokens): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|j| ((j.key, j.record), j.token))
                .unzip();
            let results = std::panic::catch_unwind(AssertUnwindSafe(|| engine.put_batch(&puts)))
                .unwrap_or_else(|_| {
                    tracing::error!("put_batch panicked; puts refused");
                    vec![Err(Refused::Io("engine panicked".into())); puts.len()]
                });
            drop(puts);
            queued_bytes.fetch_sub(size, Ordering::AcqRel);
            let delivery: Delivery<T> = tokens.into_iter().zip(results).collect();
            if std::panic::catch_unwind(AssertUnwindSafe(|| deliver(delivery))).is_err() {
                tracing::error!("delivering replies panicked");
            }
        }
        if let (Some(at), Some(every)) = (next_sync, sync_every)
            && Instant::now() >= at
        {
            if let Err(e) = engine.sync() {
                tracing::error!(error = %e, "periodic sync failed");
            }
            next_sync = Some(Instant::now() + every);
        }
    }
    if let Err(e) = engine.sync() {
        tracing::error!(error = %e, "final sync failed");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::engine::MemoryEngine;
    use crate::engine::durable::{DurableEngine, DurableOptions};
    use std::sync::Mutex;

    #[test]
    fn every_put_is_delivered_once_in_order_and_stored() {
        let tmp = tempfile::tempdir().unwrap();
        let engine: Arc<dyn Engine> =
            Arc::new(DurableEngine::open(&DurableOptions::new(tmp.path())).unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let batches = Arc::new(AtomicU64::new(0));
        let committer = {
            let seen = Arc::clone(&seen);
            let batches = Arc::clone(&batches);
            Committer::start(Arc::clone(&engine), None, move |d: Delivery<u32>| {
                batches.fetch_add(1, Ordering::Relaxed);
                for (token, result) in d {
                    assert!(result.is_ok());
                    seen.lock().unwrap().push(token);
                }
            })
            .unwrap()
        };
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let c = &committer;
                s.spawn(move || {
                    for i in 0..500u32 {
                        let n = t * 1000 + i;
                        let key = Bytes::from(format!("k{n}"));
                        let record = Record::v1(Bytes::from(n.to_string()));
                        while c.submit(key.clone(), record.clone(), n) == Err(SubmitError::Busy) {
                            std::thread::yield_now();
                        }
                    }
                });
            }
        });
        drop(committer);
        let mut seen = seen.lock().unwrap().clone();
        let in_order = |t: u32| {
            let mine: Vec<u32> = seen.iter().copied().filter(|n| n / 1000 == t).collect();
            mine.windows(2).all(|w| w[0] < w[1])
        };
        assert!((0..4).all(in_order));
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 2000);
        assert_eq!(engine.len(), 2000);
        let b = batches.load(Ordering::Relaxed);
        assert!(b < 2000, "puts were grouped: {b} commits for 2000 puts");
        assert_eq!(engine.stats().commits, b);
    }

    /// A memory engine that counts the calls of [`Engine::sync`].
    #[derive(Debug)]
    struct CountingSyncs {
        inner: MemoryEngine,
        syncs: AtomicU64,
    }

    impl Engine for CountingSyncs {
        fn get(&self, key: &[u8]) -> Result<Option<Record>, crate::engine::EngineError> {
            self.inner.get(key)
        }
        fn put_batch(&self, puts: &[(Bytes, Record)]) -> crate::engine::PutResults {
            self.inner.put_batch(puts)
        }
        fn snapshot(&self) -> Result<crate::engine::Pairs, crate::engine::EngineError> {
            self.inner.snapshot()
        }
        fn page(
            &self,
            cursor: &[u8],
            max: usize,
        ) -> Result<(crate::engine::Pairs, bool), crate::engine::EngineError> {
            self.inner.page(cursor, max)
        }
        fn remove_if_unchanged(
            &self,
            key: &[u8],
            record: &Record,
        ) -> Result<bool, crate::engine::EngineError> {
            self.inner.remove_if_unchanged(key, record)
        }
        fn purge_tombstones(
            &self,
            now_ms: u64,
            grace_ms: u64,
            max: usize,
        ) -> Result<usize, crate::engine::EngineError> {
            self.inner.purge_tombstones(now_ms, grace_ms, max)
        }
        fn sync(&self) -> Result<(), crate::engine::EngineError> {
            self.syncs.fetch_add(1, Ordering::SeqCst);
            self.inner.sync()
        }
        fn stats(&self) -> crate::engine::EngineStats {
            self.inner.stats()
        }
        fn needs_committer(&self) -> bool {
            true
        }
    }

    #[test]
    fn refusals_are_delivered_and_periodic_sync_runs() {
        let counting = Arc::new(CountingSyncs {
            inner: MemoryEngine::with_limit(200),
            syncs: AtomicU64::new(0),
        });
        let engine: Arc<dyn Engine> = Arc::clone(&counting) as Arc<dyn Engine>;
        let (tx, rx) = mpsc::channel();
        let c = Committer::start(
            Arc::clone(&engine),
            Some(Duration::from_millis(5)),
            move |d: Delivery<u8>| {
                for x in d {
                    tx.send(x).unwrap();
                }
            },
        )
        .unwrap();
        c.submit(
            Bytes::from_static(b"a"),
            Record::v1(Bytes::from_static(b"1")),
            1,
        )
        .unwrap();
        c.submit(
            Bytes::from_static(b"b"),
            Record::v1(Bytes::from(vec![0u8; 500])),
            2,
        )
        .unwrap();
        let got: Vec<_> = (0..2).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(got[0], (1, Ok(())));
        assert_eq!(got[1], (2, Err(Refused::Full { limit: 200 })));
        // Sync runs on schedule while the committer is idle (every 5 ms;
        // generous bounds), and once more when it stops.
        let ran = (0..400).any(|_| {
            std::thread::sleep(Duration::from_millis(5));
            counting.syncs.load(Ordering::SeqCst) >= 3
        });
        assert!(ran, "periodic sync did not run");
        let before = counting.syncs.load(Ordering::SeqCst);
        drop(c);
        assert!(counting.syncs.load(Ordering::SeqCst) > before, "final sync");
    }

    #[test]
    fn without_an_interval_sync_runs_only_when_stopping() {
        let counting = Arc::new(CountingSyncs {
            inner: MemoryEngine::with_limit(200),
            syncs: AtomicU64::new(0),
        });
        let c = Committer::start(
            Arc::clone(&counting) as Arc<dyn Engine>,
            None,
            |_: Delivery<u8>| {},
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(counting.syncs.load(Ordering::SeqCst), 0);
        drop(c);
        assert_eq!(counting.syncs.load(Ordering::SeqCst), 1);
    }
}
