//! AFL++ entry point of the `dump_reply` target: see [`dkvs_fuzz::dump_reply`].
fn main() {
    afl::fuzz!(|data: &[u8]| dkvs_fuzz::dump_reply(data));
}
