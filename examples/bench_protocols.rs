//! Cost of protocol v2 over v1 (issue 7, "Figures"): the same `dkvs-bench`
//! ring workload (library client, N=3 R=2 W=2 by default) run with the
//! client in v1-only mode and in v2 mode, at 1 and 16 operations in flight,
//! one after the other in one process, printed as one Markdown table
//! (`bench::Report::side_by_side`). Part of the benchmarks, not of the
//! product; `dkvs-bench --protocol` is the per-run equivalent once it lands.
//!
//! Run: `cargo run --release --example bench_protocols -- SERVERS_FILE [SECONDS]`
//! against running servers.

use std::process::ExitCode;
use std::time::Duration;

use dkvs::bench::{self, Distribution, Driver, Report, Stop, Target, Workload};
use dkvs::client::{Client, ProtocolMode};
use dkvs::quorum::QuorumOptions;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (file, seconds) = match args.as_slice() {
        [file] => (file.clone(), 5),
        [file, s] => match s.parse::<u64>() {
            Ok(s) => (file.clone(), s),
            Err(_) => return usage(),
        },
        _ => return usage(),
    };
    let client = match Client::open(&file) {
        Ok(c) => c.with_timeout(Duration::from_secs(1)),
        Err(e) => {
            eprintln!("ERROR: {e}");
            return ExitCode::from(1);
        }
    };
    let options = QuorumOptions {
        n: Some(3),
        w: Some(2),
        r: Some(2),
    };
    let workload = Workload {
        keys: 10_000,
        distribution: Distribution::Uniform,
        value_size: 100,
        get_ratio: 0.5,
        fill: false,
        seed: 1,
    };
    let mut runs: Vec<(String, Report)> = Vec::new();
    for concurrency in [1usize, 16] {
        for (label, mode) in [("v1", ProtocolMode::V1), ("v2", ProtocolMode::Auto)] {
            let target = Target::Ring(Box::new(client.clone()), options).with_protocol(mode);
            let driver = Driver {
                concurrency,
                stop: Stop::Duration(Duration::from_secs(seconds)),
                rate: None,
                timeout: Duration::from_secs(1),
                progress: false,
            };
            match bench::run(target, workload.clone(), driver) {
                Ok(report) => runs.push((format!("{label}, {concurrency} in flight"), report)),
                Err(e) => {
                    eprintln!("ERROR: {label}: {e}");
                    return ExitCode::from(1);
                }
            }
        }
    }
    for pair in runs.chunks(2) {
        let rows: Vec<(&str, &Report)> = pair.iter().map(|(l, r)| (l.as_str(), r)).collect();
        print!("{}", Report::side_by_side(&rows));
    }
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("usage: bench_protocols SERVERS_FILE [SECONDS]");
    ExitCode::from(2)
}
