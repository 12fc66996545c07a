#!/usr/bin/env bash
# Installs what the durable-storage benchmarks need (issue 18) when it is
# missing: redis-server and redis-tools (redis-benchmark, redis-cli) for
# benches/compare_durable.py, fio for benches/fsync_rate.sh, and taskset
# (util-linux) to pin servers and load generators. Debian/Ubuntu packages,
# via apt-get; run as root (or with sudo). Does nothing when all are there.
#
# Usage: benches/setup.sh
set -euo pipefail

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v fio >/dev/null || need+=(fio)
command -v taskset >/dev/null || need+=(util-linux)
if ((${#need[@]})); then
    mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
    echo "benches/setup.sh: installing ${need[*]}" >&2
    sudo=()
    ((EUID == 0)) || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi
# A redis-server started as a system service by the package would share the
# disk and a core with the measurement: stop it.
if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
    systemctl stop redis-server || true
fi
if pgrep -x redis-server >/dev/null; then
    echo "benches/setup.sh: note: a redis-server is running (pid $(pgrep -x redis-server | tr '\n' ' '));" \
         "stop it before measuring" >&2
fi
redis-server --version
fio --version
