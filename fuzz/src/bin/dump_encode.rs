//! AFL++ entry point of the `dump_encode` target: see [`dkvs_fuzz::dump_encode`].
fn main() {
    afl::fuzz!(|data: &[u8]| dkvs_fuzz::dump_encode(data));
}
