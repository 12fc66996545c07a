//! The background task: builds the tree, applies noted writes and pushed
//! records, reloads on SIGHUP and runs a round every interval.

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;

use crate::engine::Engine;

use super::link::RateLimiter;
use super::{AntiEntropy, NOTE_DELAY, lock};

impl AntiEntropy {
    /// The background task: builds the tree, then applies noted writes,
    /// merges pushed records, reloads on SIGHUP and runs a round every
    /// interval (none when the interval is 0). Never returns.
    pub async fn run(self: Arc<Self>, engine: Arc<dyn Engine>) {
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot watch SIGHUP; the servers file will not be reloaded");
                None
            }
        };
        let (Some(note_rx), Some(push_rx)) =
            (lock(&self.note_rx).take(), lock(&self.push_rx).take())
        else {
            tracing::error!("anti-entropy task started twice");
            return;
        };
        let note_rx = Arc::new(Mutex::new(note_rx));
        let push_rx = Arc::new(Mutex::new(push_rx));
        {
            let me = Arc::clone(&self);
            let e = Arc::clone(&engine);
            let _ = tokio::task::spawn_blocking(move || me.rebuild(&*e)).await;
        }
        let bound = crate::net::bind_udp_buffered(
            SocketAddr::V4(SocketAddrV4::new(*self.addr.ip(), 0)),
            crate::net::RECV_BUFFER_BYTES,
        )
        .and_then(UdpSocket::from_std);
        let socket = match bound {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "anti-entropy: cannot bind a socket; no rounds");
                None
            }
        };
        // Noted writes and pushed records are applied by their own task,
        // so a long round never holds them up (nor overflows the queue).
        let steps = {
            let me = Arc::clone(&self);
            let engine = Arc::clone(&engine);
            tokio::spawn(async move {
                let mut notes = tokio::time::interval(NOTE_DELAY);
                notes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut pending: Vec<Bytes> = Vec::new();
                loop {
                    notes.tick().await;
                    let me = Arc::clone(&me);
                    let e = Arc::clone(&engine);
                    let (n, p) = (Arc::clone(&note_rx), Arc::clone(&push_rx));
                    let ready = std::mem::take(&mut pending);
                    let next =
                        tokio::task::spawn_blocking(move || me.background_step(&*e, ready, &n, &p))
                            .await;
                    pending = next.unwrap_or_default();
                }
            })
        };
        let _steps = AbortOnDrop(steps);
        let mut limiter = RateLimiter::new(self.args.rate);
        let interval = self.args.interval;
        let mut rounds = tokio::time::interval(if interval.is_zero() {
            Duration::from_secs(86_400 * 365)
        } else {
            interval
        });
        rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        rounds.tick().await;
        loop {
            tokio::select! {
                _ = rounds.tick(), if !interval.is_zero() => {
                    if let Some(socket) = &socket {
                        self.round(&engine, socket, &mut limiter).await;
                    }
                }
                Some(()) = async { match &mut hangup { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    let me = Arc::clone(&self);
                    let _ = tokio::task::spawn_blocking(move || me.reload()).await;
                }
                // No rounds and no signal stream left: just keep the steps.
                else => std::future::pending::<()>().await,
            }
        }
    }
}

/// Aborts a task when dropped (the background step dies with the task
/// that started it).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
