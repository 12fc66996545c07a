//! `dkvs-fault-proxy`: a UDP proxy in front of one server that injects
//! loss, duplication, reordering, corruption and delay (see
//! `dkvs::fault_proxy` and `docs/RELIABILITY.md`).

use std::process::ExitCode;
use std::time::Duration;

use dkvs::cli;
use dkvs::cli_defs::fault_proxy::{Cli, Which};
use dkvs::commands::exit;
use dkvs::fault_proxy::{Direction, FaultProxy, Faults};

/// One line on stdout, flushed; a closed stdout is ignored.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn main() -> ExitCode {
    cli::main_with(cli::FailLine::None, run)
}

/// The whole proxy, until a signal; returns our exit status.
fn run(cli: Cli) -> u8 {
    cli.log.init_logging();
    let faults = Faults {
        drop: cli.drop / 100.0,
        duplicate: cli.dup / 100.0,
        reorder: cli.reorder / 100.0,
        corrupt: cli.corrupt / 100.0,
        delay: Duration::from_millis(cli.delay),
        jitter: Duration::from_millis(cli.jitter),
    };
    let direction = match cli.direction {
        Which::Both => Direction::Both,
        Which::Request => Direction::Request,
        Which::Reply => Direction::Reply,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ERROR: cannot start the runtime: {e}");
            return exit::FAILED;
        }
    };
    runtime.block_on(async {
        let shutdown = match dkvs::server::shutdown_signal() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ERROR: cannot watch signals: {e}");
                return exit::FAILED;
            }
        };
        let mut builder = FaultProxy::builder(cli.listen, cli.upstream)
            .direction(direction, faults)
            .black_hole(cli.black_hole);
        if let Some(seed) = cli.seed {
            builder = builder.seed(seed);
        }
        let proxy = match builder.start().await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("ERROR: cannot bind UDP {}: {e}", cli.listen);
                return exit::FAILED;
            }
        };
        // Written with errors ignored: a closed stdout must not panic.
        say(format_args!("seed {}", proxy.seed()));
        say(format_args!(
            "listening on {} -> {} ({:?}: {faults:?}{})",
            proxy.local_addr(),
            proxy.upstream(),
            cli.direction,
            if cli.black_hole { ", black hole" } else { "" }
        ));
        shutdown.await;
        let s = proxy.stop().await;
        say(format_args!(
            "requests {} replies {} forwarded {} dropped {} black-holed {} duplicated {} reordered {} corrupted {} sessions {}",
            s.requests,
            s.replies,
            s.forwarded,
            s.dropped,
            s.black_holed,
            s.duplicated,
            s.reordered,
            s.corrupted,
            s.sessions
        ));
        exit::OK
    })
}
