//! Membership changes (`add`, `remove`): the supervisor takes the rewritten
//! configuration, starts an added server, keeps a removed one running until
//! it is retired, and tells running servers to reload the cluster file.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use nix::sys::signal::Signal;

use super::error::{AddError, RemoveError};
use super::state::{Slot, find, position};
use super::{Leaving, ServerState, Supervisor};
use crate::config::ClusterConfig;

impl Supervisor {
    /// Membership change, `add`: `config` is the current configuration
    /// plus one server, anywhere in it (the cluster file as rewritten: at
    /// the end, or where a server removed earlier stood). The supervisor
    /// takes it as its configuration and, when the new server's `spawn` is
    /// true, starts it. Returns the new server's pid, if started.
    pub fn add_server(&self, config: Arc<ClusterConfig>) -> Result<Option<u32>, AddError> {
        let id;
        let spec;
        {
            let mut state = self.inner.lock();
            let current = self.inner.config();
            let Some((index, new)) = one_more(&current.servers, &config.servers) else {
                let addr = config.servers.last().map(|s| s.addr());
                return Err(match addr {
                    Some(addr) => AddError::NotOneMore { addr },
                    None => AddError::NoServers,
                });
            };
            spec = new.clone();
            let addr = spec.addr();
            // A free cell: no slot uses it and no pid is left in it.
            let Some(cell) = self
                .inner
                .pids
                .iter()
                .enumerate()
                .find(|(c, pid)| {
                    !state.slots.iter().any(|s| s.cell == *c) && pid.load(Ordering::SeqCst) == 0
                })
                .map(|(c, _)| c)
            else {
                return Err(AddError::TooMany { addr });
            };
            if let Some(probes) = self.inner.probes.get(cell) {
                probes.store(0, Ordering::Relaxed);
            }
            id = self.inner.next_id.fetch_add(1, Ordering::SeqCst);
            let slot = Slot::new(id, cell, &spec);
            // Configured slots are in file order, before the leaving ones.
            state.slots.insert(index, slot);
            *self.inner.config.lock().unwrap_or_else(|e| e.into_inner()) = config;
            self.inner.event(
                &mut state,
                Some(index),
                format!("{addr} added to the configuration"),
            );
        }
        self.inner.bump();
        let pid = if spec.spawn {
            Some(self.spawn(id)?)
        } else {
            None
        };
        self.probe_soon();
        Ok(pid)
    }

    /// Membership change, `remove`: takes server `index` out of the
    /// configuration (`config` is the new one, without it). Its process,
    /// if any, keeps running — it hands its keys over — until
    /// [`Supervisor::retire`]; it is no longer probed or listed.
    pub fn remove_server(
        &self,
        index: usize,
        config: Arc<ClusterConfig>,
    ) -> Result<Leaving, RemoveError> {
        let mut state = self.inner.lock();
        let current = self.inner.config();
        let Some(slot) = state.slots.get(index).filter(|s| !s.leaving) else {
            return Err(RemoveError::NoServer { number: index + 1 });
        };
        let addr = slot.spec.addr();
        let mut expected = current.servers.clone();
        if index < expected.len() {
            expected.remove(index);
        }
        if config.servers != expected {
            return Err(RemoveError::NotOneLess { addr });
        }
        let mut slot = state.slots.remove(index);
        slot.leaving = true;
        let leaving = Leaving {
            id: slot.id,
            addr,
            pid: slot.pid,
        };
        state.slots.push(slot);
        *self.inner.config.lock().unwrap_or_else(|e| e.into_inner()) = config;
        self.inner.event(
            &mut state,
            None,
            format!("{addr} removed from the configuration"),
        );
        drop(state);
        self.inner.bump();
        Ok(leaving)
    }

    /// Whether a server removed from the configuration still runs at
    /// `addr`, handing its keys over (until [`Supervisor::retire`]).
    pub fn is_leaving(&self, addr: SocketAddrV4) -> bool {
        let state = self.inner.lock();
        state
            .slots
            .iter()
            .any(|s| s.leaving && s.spec.addr() == addr)
    }

    /// Stops a leaving server's process (SIGTERM, then SIGKILL after
    /// [`super::STOP_GRACE`]) and forgets it. Returns how it ended.
    pub async fn retire(&self, leaving: Leaving) -> String {
        let running = {
            let state = self.inner.lock();
            find(&state, leaving.id).is_some_and(|(_, s)| s.pid.is_some())
        };
        let how = if running {
            match self.stop_child(leaving.id).await {
                Ok(how) => how,
                Err(e) => e.to_string(),
            }
        } else {
            "was not running".to_string()
        };
        let mut state = self.inner.lock();
        if let Some(i) = position(&state, leaving.id)
            && state.slots.get(i).is_some_and(|s| s.pid.is_none())
        {
            state.slots.remove(i);
        }
        drop(state);
        self.inner.bump();
        how
    }

    /// Sends SIGHUP (reload the cluster file) to every running child —
    /// leaving ones included — that has answered probes (a child still
    /// starting may not handle SIGHUP yet, and reads the file anyway),
    /// except `except`'s. Returns the addresses signalled.
    pub async fn reload(&self, except: Option<SocketAddrV4>) -> Vec<SocketAddrV4> {
        let targets: Vec<(u64, SocketAddrV4)> = {
            let state = self.inner.lock();
            state
                .slots
                .iter()
                .filter(|s| s.pid.is_some() && Some(s.spec.addr()) != except)
                .filter(|s| s.leaving || matches!(s.state, ServerState::Up | ServerState::Paused))
                .map(|s| (s.id, s.spec.addr()))
                .collect()
        };
        let mut signalled = Vec::new();
        for (id, addr) in targets {
            if self.signal(id, Signal::SIGHUP).await.is_ok() {
                signalled.push(addr);
            }
        }
        signalled
    }
}

/// Where `after` is `before` plus one server: its index and the server;
/// `None` when it is not.
fn one_more<'a>(
    before: &[crate::config::ServerSpec],
    after: &'a [crate::config::ServerSpec],
) -> Option<(usize, &'a crate::config::ServerSpec)> {
    if after.len() != before.len() + 1 {
        return None;
    }
    let index = before
        .iter()
        .zip(after)
        .position(|(b, a)| b != a)
        .unwrap_or(before.len());
    let (head, tail) = after.split_at(index);
    let (new, rest) = tail.split_first()?;
    (before.get(..index) == Some(head) && before.get(index..) == Some(rest)).then_some((index, new))
}
