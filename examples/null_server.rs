//! A trivial UDP reply server for the benchmarks (`benches/compare.sh`, P2):
//! answers every datagram with one NUL byte and does no storage work, so it
//! measures the limit of the request/reply path on this machine. Part of
//! the benchmark, not of the product.
//!
//! Run: `cargo run --release --example null_server -- IP PORT`

use std::net::UdpSocket;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ip, port] = args.as_slice() else {
        eprintln!("usage: null_server IP PORT");
        return ExitCode::from(2);
    };
    let socket = match UdpSocket::bind(format!("{ip}:{port}")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ERROR: bind {ip}:{port}: {e}");
            return ExitCode::from(1);
        }
    };
    let mut buf = vec![0u8; 65536];
    loop {
        if let Ok((_, from)) = socket.recv_from(&mut buf) {
            // A reply that cannot be sent is lost, as any UDP reply may be.
            let _ = socket.send_to(&[0], from);
        }
    }
}
