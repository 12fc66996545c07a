"""One line from a dkvs-bench --json report on stdin (benches/anti_entropy.sh)."""
import json
import sys

j = json.load(sys.stdin)
lat = j["latency_us"]
failed = j["operations"] - j["completed"] + j["errors"] + j["timeouts"]
print(f"{j['ops_per_sec']:9.0f} ops/s  p50 {lat['p50']} us  p99 {lat['p99']} us  failed {failed}")
