//! Every integration test, in one binary (as ripgrep's `tests/tests.rs`):
//! one link instead of one per file, and one place for the shared harness
//! (`common`). Each module is one area; run one with
//! `cargo test --test tests <module>::`.

mod common;
// The fuzz targets' invariant checks, run on proptest's inputs and on the
// saved regressions too.
#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod fuzz_checks;

mod abuse;
mod anti_entropy;
mod architecture;
mod auth;
mod bench;
mod bench_protocol;
mod chaos;
mod chaos_netns;
mod chaos_skew;
mod chaos_v2;
mod cli_comforts;
mod cli_errors;
mod client_in_process;
mod clock_skew;
mod commands;
mod config_proptest;
mod corrupt_records;
mod course;
mod data_check;
mod dump_pages;
mod dump_ring;
mod durable;
mod durable_tui;
mod export;
mod fault_proxy_bin;
mod fuzz_regressions;
mod hinted_handoff;
mod lessons;
mod lessons_shell;
mod man_pages;
mod membership;
mod messages;
mod metrics;
mod netns;
mod netns_tui;
mod proptest_commands;
mod proptest_merkle;
mod proptest_protocol;
mod proptest_protocol_ae;
mod proptest_protocol_v2;
mod proptest_repl;
mod proptest_ring;
mod quorum_network;
mod robustness;
mod scenario;
mod server_batching;
mod server_protocol;
mod stats;
mod supervisor;
mod supervisor_membership;
mod tour;
mod tui_lesson_keys;
mod tui_logs;
mod tui_membership;
mod tui_replay;
mod tui_screen;
mod tui_shell;
mod v2_client;
mod v2_server;
