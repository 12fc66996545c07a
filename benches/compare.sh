#!/usr/bin/env bash
# Side-by-side benchmark of dkvs vs redis-server, memcached and a trivial UDP
# reply server on 127.0.0.1 (issue 5: P1-P6 and the curves; issue 6: durable
# puts per sync policy vs redis AOF, restart time, benches/compare_durable.py,
# which also runs alone). Installs what
# it needs (Debian packages), builds the release binaries, runs
# benches/compare.py, and writes docs/BENCHMARKS.md and docs/img/*.png.
#
# Usage: benches/compare.sh [--quick]     (under 10 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
command -v memcached >/dev/null || need+=(memcached)
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v taskset >/dev/null || need+=(util-linux)
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || need+=(python3-matplotlib)
command -v perf >/dev/null || need+=(linux-perf)
command -v fio >/dev/null || need+=(fio)  # benches/fsync_rate.sh (compare_durable.py)
if ((${#need[@]})); then
    echo "installing: ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# redis-server and memcached must not be running as system services here.
for svc in redis-server memcached; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl stop "$svc" || true
    fi
done

cargo build --release --bins --example null_server
cargo bench --no-run --bench ring --bench codec -q
/usr/bin/python3 benches/compare.py "$@"
echo "benches/compare.sh: $(( $(date +%s) - start )) s" >&2
