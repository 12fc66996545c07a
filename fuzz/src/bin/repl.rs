//! AFL++ entry point of the `repl` target: see [`dkvs_fuzz::repl`].
fn main() {
    afl::fuzz!(|data: &[u8]| dkvs_fuzz::repl(data));
}
