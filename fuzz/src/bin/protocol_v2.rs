//! AFL++ entry point of the `protocol_v2` target: see [`dkvs_fuzz::protocol_v2`].
fn main() {
    afl::fuzz!(|data: &[u8]| dkvs_fuzz::protocol_v2(data));
}
