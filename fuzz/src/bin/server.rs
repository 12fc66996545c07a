//! AFL++ entry point of the `server` target: see [`dkvs_fuzz::server`].
fn main() {
    afl::fuzz!(|data: &[u8]| dkvs_fuzz::server(data));
}
