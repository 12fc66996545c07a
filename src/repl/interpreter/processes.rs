//! Acting on the servers themselves: process actions through the supervisor
//! (`kill`, `stop`, `start`, ...) and network faults (`loss`, `delay`, `heal`)
//! through in-process fault proxies.

use std::time::Duration;

use crate::fault_proxy::{FaultConfig, FaultProxy};

use super::super::format::error_line;
use super::super::parse::{Fault, ProcessAction};
use super::{FAILED, Interpreter, LineOutcome, OK, Sink, say};

impl Interpreter {
    /// A process action (`kill 2`, `restart 1`, ...) through the supervisor.
    pub(super) async fn process(
        &mut self,
        action: ProcessAction,
        index: usize,
        sink: Sink<'_>,
    ) -> LineOutcome {
        let Some(supervisor) = &self.supervisor else {
            say(
                sink,
                error_line(format!(
                    "{}: this session supervises no process (no servers were started here)",
                    action.word()
                )),
            );
            return FAILED;
        };
        match supervisor.act(action, index).await {
            Ok(message) => {
                say(sink, message);
                OK
            }
            Err(e) => {
                say(sink, error_line(e));
                FAILED
            }
        }
    }

    /// `loss`, `delay`, `heal`: starts, changes or removes the in-process
    /// fault proxy between this session's client and one server. Only this
    /// session's quorum operations go through it (not dumps, not probes,
    /// not other clients).
    pub(super) async fn fault(
        &mut self,
        fault: Fault,
        index: usize,
        sink: Sink<'_>,
    ) -> LineOutcome {
        let Some(addr) = self.server_addr(index, &mut *sink) else {
            return FAILED;
        };
        let mut config = self
            .proxies
            .get(&index)
            .map(FaultProxy::faults)
            .unwrap_or_default();
        match fault {
            Fault::Loss(percent) => {
                let rate = f64::from(percent) / 100.0;
                config.request.drop = rate;
                config.reply.drop = rate;
            }
            Fault::Delay(ms) => config.request.delay = Duration::from_millis(ms),
            Fault::Heal => config = FaultConfig::default(),
        }
        if config.is_healthy() {
            self.client.set_route(index, None);
            let line = match self.proxies.remove(&index) {
                Some(proxy) => {
                    proxy.stop().await;
                    format!("{addr}: healed, requests go to the server directly again")
                }
                None => format!("{addr}: no fault to heal"),
            };
            say(sink, line);
            return OK;
        }
        if let Some(proxy) = self.proxies.get(&index) {
            proxy.set_faults(config);
        } else {
            let listen = std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 0);
            match FaultProxy::builder(listen, addr)
                .faults(config)
                .start()
                .await
            {
                Ok(proxy) => {
                    self.client.set_route(index, Some(proxy.local_addr()));
                    self.proxies.insert(index, proxy);
                }
                Err(e) => {
                    say(sink, error_line(format!("cannot start a fault proxy: {e}")));
                    return FAILED;
                }
            }
        }
        if let Some(proxy) = self.proxies.get(&index) {
            say(sink, fault_line(index, addr, proxy));
        }
        OK
    }
}

/// What a server's fault proxy does, in one line.
fn fault_line(index: usize, addr: std::net::SocketAddrV4, proxy: &FaultProxy) -> String {
    let faults = proxy.faults();
    let mut what = Vec::new();
    if faults.request.drop > 0.0 {
        what.push(format!(
            "{}% of datagrams lost each way",
            (faults.request.drop * 100.0).round()
        ));
    }
    if !faults.request.delay.is_zero() {
        what.push(format!(
            "requests delayed {}",
            crate::units::format_duration(faults.request.delay)
        ));
    }
    format!(
        "{addr}: {} (this session's gets and puts go through proxy {}, seed {}; `heal {}` ends it)",
        what.join(", "),
        proxy.local_addr(),
        proxy.seed(),
        index + 1
    )
}
