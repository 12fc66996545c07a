#!/bin/sh
# Long chaos runs: scripts/chaos.sh [SECONDS] (default 60).
#
# Runs the ignored long variants of tests/chaos.rs (10% loss each way,
# 20% duplication + reordering, kill -9 / SIGSTOP in turn), each for about
# SECONDS, in release mode, and prints their `chaos:` summary lines
# (operations, success rate, violations, seeds). Exit status is cargo's:
# non-zero when a run found a violation or missed its success rate.
set -eu
secs="${1:-60}"
case "$secs" in
    ''|*[!0-9.]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
CHAOS_SECS="$secs" exec cargo test --release --test tests chaos::long_ -- \
    --ignored --nocapture --test-threads 1
