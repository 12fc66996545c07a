//! AFL++ entry point of the `limit_options` target: see [`dkvs_fuzz::limit_options`].
fn main() {
    afl::fuzz!(|data: &[u8]| dkvs_fuzz::limit_options(data));
}
