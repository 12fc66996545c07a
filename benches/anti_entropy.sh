#!/usr/bin/env bash
# Throughput cost of background anti-entropy (docs/ANTI-ENTROPY.md):
# the same dkvs-bench ring workload against 3 local release servers
# without --servers ("off"), then with --servers and each anti-entropy
# interval of INTERVALS (0: the tree is kept up to date but no round
# runs), in turn, RUNS times. Prints ops/s and p50/p99 per run, and the
# servers' last anti-entropy round lines.
# Usage: benches/anti_entropy.sh [SECONDS=5] [RUNS=2] [INTERVALS="0 10 1"] [CONCURRENCY=16]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}; runs=${2:-2}; intervals=${3:-"0 10 1"}; conc=${4:-16}
on_exit() { grep "anti-entropy round" "$dir/server.log" | tail -3 || true; }
FIRST_PORT=47311 source benches/three_servers.sh
for r in $(seq "$runs"); do
  for mode in off $intervals; do
    if [ "$mode" = off ]; then
      start
    else
      start --servers "$dir/servers.txt" --anti-entropy-interval "$mode" -v
    fi
    printf 'anti-entropy %-4s run %s: ' "$mode" "$r"
    target/release/dkvs-bench -s "$dir/servers.txt" -n 3 -w 2 -r 2 -c "$conc" -d "$secs" --json |
      python3 benches/ae_summary.py
    stop
  done
done
