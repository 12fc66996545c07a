#!/usr/bin/env bash
# Cost of re-stamping superseded writes (docs/RELIABILITY.md, "Clocks and
# the write guarantee"): two dkvs-bench writers at once on the same 1,000
# keys (N=3 W=2 R=2, 100-byte values, 50 % gets, 4 in flight each) against 3
# local release servers, both under faketime (the same LD_PRELOAD cost in
# every mode). Modes, alternated RUNS times:
#   control   both clocks right
#   ahead     the other writer SKEW ahead: the measured writer's puts meet
#             newer versions (until its clock adopts them)
#   behind    the measured writer SKEW behind: it keeps meeting the other's
#             newer versions and pays the re-stamps
# Prints the measured writer's ops/s and latency, the other's ops/s, and the
# extra put rounds per put of both (from the servers' STATS).
# Usage: benches/clock_skew.sh [SECONDS=5] [RUNS=3] [SKEW=0.2]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}; runs=${2:-3}; skew=${3:-0.2}
command -v faketime >/dev/null || { echo "needs faketime (apt-get install faketime)" >&2; exit 2; }
FIRST_PORT=47521 source benches/three_servers.sh
stats() { target/release/dkvs-client -s "$dir/servers.txt" stats --json > "$1"; }
bench() {
  faketime -f "$1" target/release/dkvs-bench -s "$dir/servers.txt" -n 3 -w 2 -r 2 \
    -d "$secs" -c 4 --keys 1000 --seed "$2" --json
}
start
target/release/dkvs-bench -s "$dir/servers.txt" --keys 1000 --fill -c 16 >/dev/null
for r in $(seq "$runs"); do
  for mode in control ahead behind; do
    case $mode in
      control) mine=+0s; theirs=+0s ;;
      ahead) mine=+0s; theirs=+${skew}s ;;
      behind) mine=-${skew}s; theirs=+0s ;;
    esac
    stats "$dir/before.json"
    bench "$theirs" 2 > "$dir/other.json" &
    other=$!
    bench "$mine" 1 > "$dir/mine.json"
    wait "$other"
    stats "$dir/after.json"
    printf 'run %s  %-8s' "$r" "$mode"
    python3 benches/clock_skew.py "$dir/mine.json" "$dir/other.json" "$dir/before.json" "$dir/after.json"
  done
done
