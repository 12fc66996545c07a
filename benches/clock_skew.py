"""Summary of one benches/clock_skew.sh run: the measured writer's dkvs-bench
--json report (argv[1]), the other writer's (argv[2]), and the servers'
`dkvs-client stats --json` before (argv[3]) and after (argv[4]). Put
attempts beyond one per replica of each put are re-stamped rounds."""
import json
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def puts(stats):
    return sum(s["stats"]["puts"] for s in stats["servers"] if s.get("answered"))


mine, other = load(sys.argv[1]), load(sys.argv[2])
server_puts = puts(load(sys.argv[4])) - puts(load(sys.argv[3]))
client_puts = sum(j["stored"] + j["errors"] + j["timeouts"] for j in (mine, other))
failed = mine["errors"] + mine["timeouts"]
extra = max(server_puts / 3 - client_puts, 0) / max(client_puts, 1)
print(
    f"{mine['ops_per_sec']:8.0f} ops/s  p50 {mine['latency_us']['p50']:>5} us"
    f"  p99 {mine['latency_us']['p99']:>6} us  failed {failed:>3}"
    f"  | other {other['ops_per_sec']:6.0f} ops/s"
    f"  | extra rounds per put {extra:.3f}"
)
