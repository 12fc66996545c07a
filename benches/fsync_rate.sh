#!/usr/bin/env bash
# This disk's own fdatasync rate, measured with fio: what bounds
# `dkvs-server --sync always` (each group commit is one write plus one
# fdatasync of the active segment) and redis's `appendfsync always`
# (issue 18). Sequential 4 KiB writes, each followed by fdatasync, by 1 job
# and by 32 jobs at once (each job its own file: 32 independent syncs, the
# most a group-committing server with 32 puts in flight could hope for if
# the disk overlapped them).
#
# Usage: benches/fsync_rate.sh [DIR] [SECONDS]
#   DIR      where to write (default target/bench-compare/fio, on the disk
#            the benchmarks use); its fio files are removed at the end
#   SECONDS  per run (default 10)
# Prints one line per run: jobs, fdatasyncs/s (= write IOPS), mean and p99
# sync latency; with FSYNC_RATE_JSON=1, one JSON object per line instead.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-target/bench-compare/fio}
secs=${2:-10}
command -v fio >/dev/null || { echo "fio is missing: run benches/setup.sh" >&2; exit 3; }
mkdir -p "$dir"
trap 'rm -f "$dir"/fsync-rate.*' EXIT

for jobs in 1 32; do
    out=$(fio --name=fsync-rate --directory="$dir" --rw=write --bs=4k --fdatasync=1 \
              --size=64m --numjobs="$jobs" --time_based --runtime="$secs" \
              --ioengine=sync --group_reporting --output-format=json 2>/dev/null)
    FIO_OUT="$out" JOBS="$jobs" python3 - <<'PY'
import json, os
r = json.loads(os.environ["FIO_OUT"])["jobs"][0]
w = r["write"]
sync = r.get("sync", {})
lat = sync.get("lat_ns", {})
p99 = lat.get("percentile", {}).get("99.000000")
res = {
    "jobs": int(os.environ["JOBS"]),
    "fdatasync_per_s": round(w["iops"]),
    "sync_mean_us": round(lat.get("mean", 0) / 1000, 1),
    "sync_p99_us": round(p99 / 1000, 1) if p99 else None,
}
if os.environ.get("FSYNC_RATE_JSON") == "1":
    print(json.dumps(res))
else:
    print(f"{res['jobs']:>2} job(s): {res['fdatasync_per_s']:>8,} fdatasync/s  "
          f"sync mean {res['sync_mean_us']:,} µs  p99 {res['sync_p99_us']} µs")
PY
done
