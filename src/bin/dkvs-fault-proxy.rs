//! `dkvs-fault-proxy`: a UDP proxy in front of one server that injects
//! loss, duplication, reordering, corruption and delay (see
//! `dkvs::fault_proxy` and `docs/RELIABILITY.md`).

use std::net::SocketAddrV4;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use dkvs::cli;
use dkvs::fault_proxy::{Direction, FaultProxy, Faults};

/// Forward UDP between clients and one dkvs server, injecting faults.
///
/// Point clients at --listen instead of the server (a servers.txt listing
/// the proxy's address). Faults apply only to traffic through the proxy.
/// Prints `seed <N>` on stdout at start (pass it back with --seed to replay
/// the same decisions) and a summary at exit; runs until SIGINT or SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "dkvs-fault-proxy", version, about, long_about)]
struct Cli {
    /// Address clients send to
    #[arg(long, value_name = "IP:PORT")]
    listen: SocketAddrV4,
    /// The server's address
    #[arg(long, value_name = "IP:PORT")]
    upstream: SocketAddrV4,
    /// Percentage of datagrams dropped
    #[arg(long, value_name = "PCT", default_value_t = 0.0, value_parser = percent)]
    drop: f64,
    /// Percentage of datagrams sent twice
    #[arg(long, value_name = "PCT", default_value_t = 0.0, value_parser = percent)]
    dup: f64,
    /// Percentage of datagrams held back behind the next one
    #[arg(long, value_name = "PCT", default_value_t = 0.0, value_parser = percent)]
    reorder: f64,
    /// Percentage of datagrams with one bit flipped
    #[arg(long, value_name = "PCT", default_value_t = 0.0, value_parser = percent)]
    corrupt: f64,
    /// Delay added to every datagram, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 0)]
    delay: u64,
    /// Uniform jitter around the delay (±MS)
    #[arg(long, value_name = "MS", default_value_t = 0)]
    jitter: u64,
    /// Drop everything (the server looks dead)
    #[arg(long)]
    black_hole: bool,
    /// Random seed [default: a random one, printed]
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Which traffic the faults apply to
    #[arg(long, value_enum, default_value_t = Which::Both)]
    direction: Which,
    /// More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Which {
    Both,
    Request,
    Reply,
}

fn percent(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a percentage (0 to 100)")),
    }
}

/// One line on stdout, flushed; a closed stdout is ignored.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse_or_exit(false);
    dkvs::logging::init(cli.verbose);
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
            return ExitCode::from(dkvs::commands::exit::FAILED);
        }
    };
    runtime.block_on(async {
        let shutdown = match dkvs::server::shutdown_signal() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ERROR: cannot watch signals: {e}");
                return ExitCode::from(dkvs::commands::exit::FAILED);
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
                return ExitCode::from(dkvs::commands::exit::FAILED);
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
        ExitCode::SUCCESS
    })
}
