//! AFL++ entry point of the `request` target: see [`dkvs_fuzz::request`].
fn main() {
    afl::fuzz!(|data: &[u8]| dkvs_fuzz::request(data));
}
