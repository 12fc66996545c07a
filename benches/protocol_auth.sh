#!/usr/bin/env bash
# Cost of protocol v2 and of authentication, side by side (docs/PROTOCOL.md
# "Cost of v2", docs/SECURITY.md "Cost"): the same dkvs-bench ring workload
# (N=3 W=2 R=2, 10,000 keys, 100-byte values, 50 % gets, uniform) against 3
# local release servers, in three modes taken in turn RUNS times:
#   v1    servers without a key, dkvs-bench --protocol v1
#   v2    the same servers, dkvs-bench --protocol v2 (the default)
#   auth  servers restarted with --key-file, dkvs-bench --protocol v2 --key-file
# at each concurrency of CONCURRENCIES. Prints one line per run.
# Usage: benches/protocol_auth.sh [SECONDS=5] [RUNS=3] [CONCURRENCIES="1 16"]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}; runs=${2:-3}; concs=${3:-"1 16"}
FIRST_PORT=47321 source benches/three_servers.sh
printf '1 %s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$dir/cluster.key"
chmod 600 "$dir/cluster.key"
bench() {
  target/release/dkvs-bench -s "$dir/servers.txt" -n 3 -w 2 -r 2 -d "$secs" --json "$@" |
    python3 benches/ae_summary.py
}
for r in $(seq "$runs"); do
  start
  for c in $concs; do
    for p in v1 v2; do
      printf 'run %s  c=%-3s %-5s' "$r" "$c" "$p"; bench -c "$c" --protocol "$p"
    done
  done
  stop
  start --key-file "$dir/cluster.key"
  for c in $concs; do
    printf 'run %s  c=%-3s %-5s' "$r" "$c" auth; bench -c "$c" --key-file "$dir/cluster.key"
  done
  stop
done
