//! AFL++ entry point of the `servers_txt` target: see [`dkvs_fuzz::servers_txt`].
fn main() {
    afl::fuzz!(|data: &[u8]| dkvs_fuzz::servers_txt(data));
}
