//! `dkvs-tui`: the cluster manager (work in progress, see issue 3).

fn main() {
    eprintln!("dkvs-tui: not built yet");
    std::process::exit(1);
}
