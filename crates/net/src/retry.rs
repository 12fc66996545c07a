//! When a request goes out again. UDP loses datagrams, so every dkvs
//! request loop resends until answered or out of time: the quorum client,
//! the dump and STATS, and a server's requests to its peers. The schedule
//! and the timer of one exchange live here, once; which reply counts stays
//! with each loop.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

/// When an operation re-sends its request to the servers that have not
/// answered yet.
///
/// Resend `k` (1-based) goes out `first · factor^(k-1)` after the previous
/// send, capped at `max_interval`, at most `max_resends` times, and only
/// while the operation is undecided and before its deadline. The default
/// ([`RetryPolicy::DEFAULT`]) resends after 50, 100, 200, 400, 400, … ms,
/// i.e. at 50, 150, 350, 750 ms after the first send: four resends within
/// the default 1000 ms deadline, five copies in all. See
/// `docs/RELIABILITY.md` for the measurements behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait before the first resend.
    pub first: Duration,
    /// Each wait is the previous one times this (1 = constant).
    pub factor: u32,
    /// Upper bound on one wait.
    pub max_interval: Duration,
    /// How many resends at most (0 disables retransmission).
    pub max_resends: u32,
}

impl RetryPolicy {
    /// 50 ms, doubling, capped at 400 ms, at most 16 resends.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        first: Duration::from_millis(50),
        factor: 2,
        max_interval: Duration::from_millis(400),
        max_resends: 16,
    };

    /// No retransmission: exactly one request per server and operation.
    pub const DISABLED: RetryPolicy = RetryPolicy {
        first: Duration::ZERO,
        factor: 1,
        max_interval: Duration::ZERO,
        max_resends: 0,
    };

    /// The wait before resend number `resend` (1-based), `None` past
    /// `max_resends`.
    pub fn interval(&self, resend: u32) -> Option<Duration> {
        if resend == 0 || resend > self.max_resends {
            return None;
        }
        let mut wait = self.first;
        for _ in 1..resend {
            if wait >= self.max_interval {
                break;
            }
            wait = wait.saturating_mul(self.factor);
        }
        Some(wait.min(self.max_interval))
    }

    /// Times of the resends after the first send that fall before
    /// `deadline` (the whole schedule of one operation that never hears back).
    pub fn schedule(&self, deadline: Duration) -> Vec<Duration> {
        let mut at = Duration::ZERO;
        let mut times = Vec::new();
        for k in 1..=self.max_resends {
            let Some(wait) = self.interval(k) else { break };
            at = at.saturating_add(wait);
            if at >= deadline {
                break;
            }
            times.push(at);
        }
        times
    }
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy::DEFAULT
    }
}

/// The resend timer of one exchange: its policy's resends, each planned
/// from the previous one's planned time (so a late wake-up does not shift
/// the rest of the schedule), and the deadline that ends it.
///
/// The loop waits until [`Resends::wake`], and when nothing came by then
/// asks [`Resends::fire`] what that instant was.
#[derive(Debug, Clone)]
pub struct Resends {
    policy: RetryPolicy,
    deadline: Instant,
    /// Resends done so far.
    done: u32,
    /// When the next one is due (`None`: no more).
    next: Option<Instant>,
}

/// What a [`Resends`] wake-up is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Time to send resend number `k` (1-based); the next one is planned.
    Resend(u32),
    /// The deadline: the exchange is over.
    Deadline,
}

impl Resends {
    /// The timer of an exchange whose first copies went out at `start`
    /// and that ends at `deadline`.
    pub fn new(policy: RetryPolicy, start: Instant, deadline: Instant) -> Resends {
        Resends {
            policy,
            deadline,
            done: 0,
            next: policy.interval(1).and_then(|wait| start.checked_add(wait)),
        }
    }

    /// When to wake next: the next resend if it comes before the deadline,
    /// else the deadline.
    pub fn wake(&self) -> Instant {
        match self.next {
            Some(at) if at < self.deadline => at,
            _ => self.deadline,
        }
    }

    /// The instant the exchange ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// How many resends were done so far.
    pub fn resends(&self) -> u32 {
        self.done
    }

    /// A wake-up at `at` (the instant [`Resends::wake`] gave) with nothing
    /// received: the deadline once `at` reaches it, else a resend, and the
    /// next resend is planned from `at`.
    pub fn fire(&mut self, at: Instant) -> Wake {
        if at >= self.deadline {
            return Wake::Deadline;
        }
        self.done = self.done.saturating_add(1);
        self.next = self
            .done
            .checked_add(1)
            .and_then(|k| self.policy.interval(k))
            .and_then(|wait| at.checked_add(wait));
        Wake::Resend(self.done)
    }
}

/// What [`recv_until`] brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// A datagram of `len` bytes, at the start of the buffer, from `from`.
    Datagram {
        /// Its length.
        len: usize,
        /// Its sender.
        from: SocketAddr,
    },
    /// Nothing came before the instant.
    Timeout,
}

/// Waits for one datagram on `socket` into `buf` until `until`. Transient
/// receive errors ([`is_transient`]) are skipped; any other is returned.
pub async fn recv_until(
    socket: &UdpSocket,
    buf: &mut [u8],
    until: Instant,
) -> io::Result<Received> {
    loop {
        match tokio::time::timeout_at(until, socket.recv_from(buf)).await {
            Err(_) => return Ok(Received::Timeout),
            Ok(Ok((len, from))) => return Ok(Received::Datagram { len, from }),
            Ok(Err(e)) if is_transient(&e) => continue,
            Ok(Err(e)) => return Err(e),
        }
    }
}

/// ICMP "port unreachable" surfaces as a receive error on some systems; it
/// cannot be attributed to one server, so it is not a reason to stop.
pub fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_schedule_doubles_then_caps() {
        let p = RetryPolicy::DEFAULT;
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        assert_eq!(p.interval(0), None);
        assert_eq!(p.interval(1), Some(Duration::from_millis(50)));
        assert_eq!(p.interval(4), Some(Duration::from_millis(400)));
        assert_eq!(p.interval(9), Some(Duration::from_millis(400)));
        assert_eq!(p.interval(17), None);
        assert_eq!(
            p.schedule(Duration::from_millis(1000)),
            ms(&[50, 150, 350, 750])
        );
        assert!(
            RetryPolicy::DISABLED
                .schedule(Duration::from_secs(60))
                .is_empty()
        );
        let huge = RetryPolicy {
            first: Duration::from_secs(1),
            factor: u32::MAX,
            max_interval: Duration::MAX,
            max_resends: u32::MAX,
        };
        assert_eq!(huge.interval(1000), Some(Duration::MAX));
        assert_eq!(huge.schedule(Duration::from_secs(2)), ms(&[1000]));
    }

    /// Wakes a timer that never hears back until its deadline: the
    /// offsets from `start` of its wake-ups and what each was.
    fn run(policy: RetryPolicy, deadline_ms: u64) -> Vec<(u64, Wake)> {
        let start = Instant::now();
        let mut timer = Resends::new(policy, start, start + Duration::from_millis(deadline_ms));
        let mut wakes = Vec::new();
        loop {
            let at = timer.wake();
            let wake = timer.fire(at);
            let offset = u64::try_from((at - start).as_millis()).unwrap();
            wakes.push((offset, wake));
            if wake == Wake::Deadline {
                return wakes;
            }
        }
    }

    #[test]
    fn the_timer_follows_the_schedule_then_stops_at_the_deadline() {
        let wakes = run(RetryPolicy::DEFAULT, 1000);
        let times: Vec<u64> = wakes.iter().map(|(at, _)| *at).collect();
        assert_eq!(times, [50, 150, 350, 750, 1000]);
        assert_eq!(wakes.first().unwrap().1, Wake::Resend(1));
        assert_eq!(wakes.get(3).unwrap().1, Wake::Resend(4));
        let schedule = RetryPolicy::DEFAULT.schedule(Duration::from_millis(1000));
        assert_eq!(schedule.len(), 4);
        assert_eq!(run(RetryPolicy::DISABLED, 300), [(300, Wake::Deadline)]);
    }

    #[test]
    fn a_constant_policy_makes_rounds() {
        // The peers' rounds: three tries of 300 ms.
        let rounds = RetryPolicy {
            first: Duration::from_millis(300),
            factor: 1,
            max_interval: Duration::from_millis(300),
            max_resends: 2,
        };
        assert_eq!(
            run(rounds, 900),
            [
                (300, Wake::Resend(1)),
                (600, Wake::Resend(2)),
                (900, Wake::Deadline)
            ]
        );
    }

    #[test]
    fn a_late_wake_up_keeps_the_schedule_and_the_deadline_wins() {
        let start = Instant::now();
        let deadline = start + Duration::from_millis(1000);
        let mut timer = Resends::new(RetryPolicy::DEFAULT, start, deadline);
        let first = timer.wake();
        assert_eq!(first, start + Duration::from_millis(50));
        // Planned from the planned instant, not from when the loop ran.
        assert_eq!(timer.fire(first), Wake::Resend(1));
        assert_eq!(timer.wake(), start + Duration::from_millis(150));
        assert_eq!(timer.resends(), 1);
        assert_eq!(timer.fire(deadline), Wake::Deadline);
        assert_eq!(timer.resends(), 1);
        assert_eq!(timer.deadline(), deadline);
    }

    #[tokio::test]
    async fn recv_until_gets_a_datagram_or_times_out() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = [0u8; 16];
        let soon = Instant::now() + Duration::from_millis(20);
        assert_eq!(
            recv_until(&socket, &mut buf, soon).await.unwrap(),
            Received::Timeout
        );
        sender
            .send_to(b"hi", socket.local_addr().unwrap())
            .await
            .unwrap();
        let later = Instant::now() + Duration::from_secs(5);
        let got = recv_until(&socket, &mut buf, later).await.unwrap();
        assert_eq!(
            got,
            Received::Datagram {
                len: 2,
                from: sender.local_addr().unwrap()
            }
        );
        assert_eq!(buf.get(..2).unwrap(), b"hi");
    }
}
