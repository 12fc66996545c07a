//! AFL++ entry point of the `cluster_toml` target: see [`dkvs_fuzz::cluster_toml`].
fn main() {
    afl::fuzz!(|data: &[u8]| dkvs_fuzz::cluster_toml(data));
}
