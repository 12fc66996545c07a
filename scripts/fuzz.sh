#!/usr/bin/env bash
# Coverage-guided fuzzing of dkvs with AFL++ through cargo-afl (stable Rust).
#
#   scripts/fuzz.sh [TARGET|all] [SECONDS]     default: all, 60 s per target
#
# Targets: request dump_reply dump_encode servers_txt cluster_toml repl server
# limit_options
# (fuzz/src/lib.rs). Each run starts from the committed seeds in
# fuzz/corpus/<target>/ and writes AFL's output to fuzz/target/afl/<target>/
# (ignored by git). For each target it prints the time run, executions,
# executions per second, corpus paths and crashes/hangs, and lists the
# crashing inputs; it exits 1 if any target crashed.
#
# A crash becomes a regression test by copying its file to
# fuzz/regressions/<target>/ (replayed by `cargo test --test tests fuzz_regressions::`).
#
# Needs a C compiler; installs cargo-afl (which builds AFL++) when missing.
# NICE=0 runs at normal priority (default: nice 10). Extra AFL options can be
# given in AFL_ARGS.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FUZZ="$ROOT/fuzz"
ALL=(request dump_reply dump_encode servers_txt cluster_toml repl server limit_options protocol_v2)
WHICH="${1:-all}"
SECONDS_PER_TARGET="${2:-60}"

if [[ "$WHICH" == all ]]; then
    TARGETS=("${ALL[@]}")
elif [[ " ${ALL[*]} " == *" $WHICH "* ]]; then
    TARGETS=("$WHICH")
else
    echo "usage: $0 [all|${ALL[*]// /|}] [SECONDS]" >&2
    exit 2
fi
if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || ((SECONDS_PER_TARGET < 1)); then
    echo "SECONDS must be a positive whole number" >&2
    exit 2
fi

# cargo-afl must match the `afl` crate in fuzz/Cargo.lock.
AFL_VERSION=0.18.2
if ! cargo afl --version 2>/dev/null | grep -q "$AFL_VERSION"; then
    echo "== installing cargo-afl $AFL_VERSION (builds AFL++; needs a C compiler)" >&2
    cargo install --locked cargo-afl --version "$AFL_VERSION"
fi

NICE_CMD=(nice -n "${NICE:-10}")
[[ "${NICE:-10}" == 0 ]] && NICE_CMD=()

echo "== building the fuzz targets (cargo afl build --release)" >&2
(cd "$FUZZ" && "${NICE_CMD[@]}" cargo afl build --release --quiet)
BIN_DIR="${CARGO_TARGET_DIR:-$FUZZ/target}/release"

# AFL settings for an unattended run on a shared machine: no curses UI, no
# CPU pinning or governor checks, no core_pattern requirement.
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1

field() { sed -n "s/^$1 *: *//p" "$2"; }

crashed=0
printf '%-13s %6s %12s %10s %7s %11s %7s %6s\n' target seconds execs execs/s paths edges crashes hangs
for t in "${TARGETS[@]}"; do
    out="$FUZZ/target/afl/$t"
    rm -rf "$out"
    mkdir -p "$out"
    # Without its UI afl-fuzz logs a line per test case: keep the end only.
    set +e
    # shellcheck disable=SC2086
    "${NICE_CMD[@]}" cargo afl fuzz -V "$SECONDS_PER_TARGET" ${AFL_ARGS:-} \
        -i "$FUZZ/corpus/$t" -o "$out" "$BIN_DIR/$t" 2>&1 | tail -n 300 >"$out/afl.log"
    rc=${PIPESTATUS[0]}
    set -e
    if ((rc != 0)); then
        echo "afl-fuzz failed for $t; see $out/afl.log" >&2
        tail -20 "$out/afl.log" >&2
        exit 1
    fi
    s="$out/default/fuzzer_stats"
    printf '%-13s %6s %12s %10s %7s %11s %7s %6s\n' "$t" "$(field run_time "$s")" \
        "$(field execs_done "$s")" "$(field execs_per_sec "$s")" "$(field corpus_count "$s")" \
        "$(field edges_found "$s")/$(field total_edges "$s")" \
        "$(field saved_crashes "$s")" "$(field saved_hangs "$s")"
    if [[ "$(field saved_crashes "$s")" != 0 ]]; then
        crashed=1
        for f in "$out"/default/crashes/id:*; do
            echo "  crash: $f" >&2
        done
        echo "  keep one as a regression test: cp FILE fuzz/regressions/$t/ && cargo test --test tests fuzz_regressions::" >&2
    fi
done
exit "$crashed"
