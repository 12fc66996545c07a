#!/usr/bin/python3
"""Durable puts (issue 6): dkvs-server --data-dir under each --sync policy
next to redis-server with appendonly yes and appendfsync always / everysec,
and the restart time of a server holding 1,000,000 keys.

Part of benches/compare.sh (compare.py calls section() and splices the
result into docs/BENCHMARKS.md between the "durable" markers). Run alone,
after `cargo build --release --bins`:

    python3 benches/compare_durable.py [--quick]

it measures only this section, prints it and splices it into
docs/BENCHMARKS.md (the rest of the report is left as it is).

dkvs-bench drives dkvs (v1 datagrams, one server); redis-benchmark drives
redis (SET, -P 1). Servers are pinned to core 1 and the load generators to
core 0; data directories are under target/bench-compare/ on the same disk.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as C  # noqa: E402  (helpers: spawn, stop, run, dkvs_bench, ...)

BEGIN = "<!-- durable:begin -->"
END = "<!-- durable:end -->"
RESTART_KEYS = 200_000 if C.QUICK else 1_000_000
CONC = (1, 32)


def fresh_dir(name):
    d = os.path.join(C.WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)


def udp_answer_time(port, start, limit=120.0):
    """Seconds from `start` until a get on UDP `port` is answered (5 ms polls)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.005)
    while time.time() - start < limit:
        try:
            s.sendto(b"key:000000000001", ("127.0.0.1", port))
            s.recvfrom(65536)
            return time.time() - start
        except OSError:
            pass
    raise SystemExit(f"dkvs-server on {port} did not answer within {limit} s")


def dkvs_puts(policy, c):
    port = C.free_port()
    d = fresh_dir(f"durable-{policy}")
    args = [C.SERVER, "127.0.0.1", str(port)]
    if policy != "memory":
        args = [C.SERVER, "--data-dir", d, "--sync", policy, "127.0.0.1", str(port)]
    p = C.spawn(args)
    C.udp_ready(port)
    r = C.bench_direct(p, port, "put", c)
    C.stop(p)
    return r


def redis_puts(fsync, c):
    port = C.free_port()
    d = fresh_dir(f"redis-{fsync}")
    rd = C.spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                  "--dir", d, "--appendonly", "yes", "--appendfsync", fsync,
                  "--protected-mode", "no"])
    C.tcp_ready(port)
    r = C.redis_bench(rd, port, "set", c, C.redis_n(c, C.DUR) // (4 if fsync == "always" and c == 1 else 1))
    C.stop(rd)
    return r


def dkvs_restart():
    """Fill a durable server with RESTART_KEYS keys; time a clean restart
    and a restart after kill -9."""
    port = C.free_port()
    d = fresh_dir("durable-restart")
    args = [C.SERVER, "--data-dir", d, "--sync", "periodic", "127.0.0.1", str(port)]
    p = C.spawn(args)
    C.udp_ready(port)
    t = time.time()
    C.dkvs_bench(["--server", f"127.0.0.1:{port}", "--fill", "--keys", str(RESTART_KEYS),
                  "-c", "64", "--value-size", str(C.VALUE)])
    fill = time.time() - t
    # kill -9 right after the fill: redb's repair plus the replay of the
    # write-ahead log (up to a checkpoint's worth of puts).
    time.sleep(1.5)  # past one periodic sync
    p.send_signal(signal.SIGKILL)
    p.wait()
    start = time.time()
    p = C.spawn(args)
    crashed = udp_answer_time(port, start)
    C.stop(p)  # SIGTERM: a clean stop checkpoints
    size = dir_bytes(d)
    start = time.time()
    p = C.spawn(args)
    clean = udp_answer_time(port, start)
    C.stop(p)
    return {"fill_s": fill, "bytes": size, "clean_s": clean, "crash_s": crashed}


def redis_restart():
    """The same for redis-server with an append-only file (everysec)."""
    port = C.free_port()
    d = fresh_dir("redis-restart")
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--dir", d, "--appendonly", "yes", "--appendfsync", "everysec",
            "--protected-mode", "no"]
    rd = C.spawn(args)
    C.tcp_ready(port)
    value = "v" * C.VALUE
    cmds = os.path.join(C.WORK, "redis-fill.txt")
    with open(cmds, "w") as f:
        for i in range(RESTART_KEYS):
            f.write(f"SET key:{i:012d} {value}\n")
    t = time.time()
    with open(cmds) as f:
        subprocess.run(["redis-cli", "-p", str(port), "--pipe"], stdin=f, check=True,
                       stdout=subprocess.DEVNULL)
    fill = time.time() - t

    def loaded(start):
        while time.time() - start < 300:
            out = subprocess.run(["redis-cli", "-p", str(port), "dbsize"], capture_output=True,
                                 text=True)
            if out.stdout.strip().isdigit() and int(out.stdout) >= RESTART_KEYS:
                return time.time() - start
            time.sleep(0.005)
        raise SystemExit("redis did not load its data")

    time.sleep(1.5)  # past one everysec fsync
    rd.send_signal(signal.SIGKILL)
    rd.wait()
    start = time.time()
    rd = C.spawn(args)
    crashed = loaded(start)
    C.stop(rd)
    size = dir_bytes(d)
    start = time.time()
    rd = C.spawn(args)
    clean = loaded(start)
    C.stop(rd)
    return {"fill_s": fill, "bytes": size, "clean_s": clean, "crash_s": crashed}


def median(fn):
    """The run with the median throughput of C.REPEAT runs (the disk is
    shared: one sync can take milliseconds when something else writes)."""
    runs = sorted((fn() for _ in range(C.REPEAT)), key=lambda r: r["ops_s"])
    return runs[len(runs) // 2]


def section():
    """Measures everything; returns the Markdown section (with markers)."""
    os.makedirs(C.WORK, exist_ok=True)
    puts = {}
    for policy in ("always", "periodic", "none", "memory"):
        for c in CONC:
            C.log(f"durable: dkvs --sync {policy}, {c} in flight")
            puts[("dkvs", policy, c)] = median(lambda: dkvs_puts(policy, c))
    for fsync in ("always", "everysec"):
        for c in CONC:
            C.log(f"durable: redis appendfsync {fsync}, {c} in flight")
            puts[("redis", fsync, c)] = median(lambda: redis_puts(fsync, c))
    C.log(f"durable: restart with {RESTART_KEYS:,} keys")
    restart = {"dkvs": dkvs_restart(), "redis": redis_restart()}
    return render(puts, restart)


def render(puts, restart):
    L = [BEGIN, "", "## Durable puts (issue 6)", ""]
    L.append("One server on 127.0.0.1, 100-byte values over 10,000 keys, puts only, "
             f"{C.DUR:g} s per run, median of {C.REPEAT} runs; dkvs driven by dkvs-bench (UDP), redis by redis-benchmark (TCP, "
             "SET). `always`: acknowledged once on disk (dkvs: group commit with fdatasync; redis: "
             "appendfsync always). `periodic` / `everysec`: synced every second. `none`: dkvs "
             "never syncs its write-ahead log (the OS does). `memory`: dkvs without --data-dir. Data on ext4 on "
             "this machine's virtio disk.")
    L.append("")
    L.append("| server | sync | in flight | puts/s | p50 µs | p99 µs |")
    L.append("|---|---|---:|---:|---:|---:|")
    for (who, policy, c), r in puts.items():
        name = "dkvs-server" if who == "dkvs" else "redis-server (AOF)"
        L.append(f"| {name} | {policy} | {c} | {r['ops_s']:,.0f} | {r['p50']:,.0f} | {r['p99']:,.0f} |")
    L.append("")
    L.append(f"Restart with {RESTART_KEYS:,} keys (16-byte keys, 100-byte values): time from "
             "spawning the server until it answers a get (dkvs) / until `DBSIZE` reports every "
             "key (redis, AOF everysec); after `kill -9` 1.5 s after the last put of the fill (dkvs: redb's "
             "repair and the replay of its write-ahead log), and after a clean stop (SIGTERM).")
    L.append("")
    L.append("| server | fill | on disk | restart | restart after kill -9 |")
    L.append("|---|---:|---:|---:|---:|")
    for who, r in restart.items():
        name = "dkvs-server (redb)" if who == "dkvs" else "redis-server (AOF)"
        L.append(f"| {name} | {r['fill_s']:.1f} s | {r['bytes'] / 2**20:,.0f} MiB | "
                 f"{r['clean_s'] * 1e3:,.0f} ms | {r['crash_s'] * 1e3:,.0f} ms |")
    L.append("")
    L.append("Run alone: `python3 benches/compare_durable.py` (after `cargo build --release "
             "--bins`); part of `benches/compare.sh`.")
    L.append("")
    L.append(END)
    return "\n".join(L) + "\n"


def splice(text, path=C.DOC):
    """Puts `text` (a marked section) into `path`, replacing an earlier one
    or appending it."""
    old = open(path).read() if os.path.exists(path) else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        new = head + text + ("\n" + tail if tail else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text
    with open(path, "w") as f:
        f.write(new)


if __name__ == "__main__":
    try:
        text = section()
        print(text)
        splice(text)
    finally:
        for p in C.procs:
            C.stop(p)
