#!/usr/bin/python3
"""Durable storage next to Redis's append-only file, in one run: the goals
of issue 18 (and the durable-puts table of issue 6).

- puts/s at 1 and 32 in flight: dkvs-server --data-dir under each --sync
  policy next to redis-server with appendonly yes and appendfsync always /
  everysec (`always` vs `always`, `periodic` vs `everysec`);
- this disk's own fdatasync rate (benches/fsync_rate.sh, fio, 1 and 32
  jobs): what bounds `--sync always`;
- disk bytes per key after RESTART_KEYS distinct keys (dkvs's directory vs
  redis's AOF after BGREWRITEAOF), and the restart time after a clean stop
  and after kill -9;
- churn: every one of CHURN_KEYS keys overwritten CHURN_PASSES times, then
  every DELETE_EVERY-th key deleted (protocol v2 DELETE, sent by this
  script); disk bytes per live key once compaction has run (dkvs) / after
  BGREWRITEAOF (redis); and the p99 of a light fixed-rate probe of puts,
  1 s windows, sorted by whether a compaction ran during the window
  (seen from outside: compaction writes segments with ids between the
  active segments' ids, then deletes its inputs), next to the same probe
  on an idle server.

Part of benches/compare.sh (compare.py calls section() and splices the
result into docs/BENCHMARKS.md between the "durable" markers). Run alone,
after `benches/setup.sh` (redis, fio) and `cargo build --release --bins`:

    python3 benches/compare_durable.py [--quick] [--splice]

it measures only this section and prints it; a full run (or --splice)
also splices it into docs/BENCHMARKS.md. --quick uses fewer keys and
shorter runs: a check that the harness works, not figures to publish.

dkvs-bench drives dkvs (v1 datagrams, one server); redis-benchmark and
redis-cli --pipe drive redis. Servers are pinned to core 1 and the load
generators to core 0; data directories are under target/bench-compare/ on
the same disk.
"""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as C  # noqa: E402  (helpers: spawn, stop, run, dkvs_bench, ...)

BEGIN = "<!-- durable:begin -->"
END = "<!-- durable:end -->"
RESTART_KEYS = 200_000 if C.QUICK else 1_000_000
CHURN_KEYS = 50_000 if C.QUICK else 1_000_000
CHURN_PASSES = 10
DELETE_EVERY = 10
PROBE = ["--rate", "1000", "-c", "8", "--mix", "put", "--keys", "1000"]
IDLE_WINDOWS = 3 if C.QUICK else 10
CONC = (1, 32)
# Runs of each compared pair (dkvs and redis alternately); the median is kept.
PAIR_REPEAT = 1 if C.QUICK else 5
ID_GAP = 1 << 16  # crates/storage/src/engine/log: ids of active segments
SPLICE = "--splice" in sys.argv or not C.QUICK
# --engine log|redb: the engine of dkvs's new data directories (default log).
ENGINE = sys.argv[sys.argv.index("--engine") + 1] if "--engine" in sys.argv else "log"
# dkvs-bench's value for --value-size (src/bench: `value_of`), also used for
# redis so that both stores hold the same bytes (both compress them).
VALUE_BYTES = "".join(chr(ord("a") + i % 26) for i in range(C.VALUE))


def fresh_dir(name):
    d = os.path.join(C.WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)


def redis_aof_bytes(d):
    """The bytes of redis's append-only file: the manifest and the files it
    names as current (not the history files of a finished rewrite, which
    redis deletes in the background: counting them doubled one run)."""
    aof = os.path.join(d, "appendonlydir")
    manifest = os.path.join(aof, "appendonly.aof.manifest")
    try:
        lines = open(manifest).read().split("\n")
    except OSError:
        return dir_bytes(d)
    total = os.path.getsize(manifest)
    for line in lines:
        words = line.split()
        fields = dict(zip(words[::2], words[1::2]))
        if "file" in fields and fields.get("type") != "h":
            total += os.path.getsize(os.path.join(aof, fields["file"]))
    return total


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


def engine_option():
    """`--engine ENGINE` when this dkvs-server has the option (older ones
    know only redb)."""
    out = subprocess.run([C.SERVER, "--help"], capture_output=True, text=True).stdout
    return ["--engine", ENGINE] if "--engine" in out else []


def dkvs_args(d, policy, port):
    return ([C.SERVER, "--data-dir", d, "--sync", policy] + engine_option()
            + ["127.0.0.1", str(port)])


def engine_of(d):
    """The engine a data directory's FORMAT names (its last word pair)."""
    try:
        return open(os.path.join(d, "FORMAT")).read().split("engine", 1)[1].strip()
    except (OSError, IndexError):
        return "?"


def redis_args(d, fsync, port):
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--dir", d, "--appendonly", "yes", "--appendfsync", fsync, "--protected-mode", "no"]


def dkvs_fill(port, keys, seed=1):
    C.dkvs_bench(["--server", f"127.0.0.1:{port}", "--fill", "--keys", str(keys), "-c", "64",
                  "--value-size", str(C.VALUE), "--seed", str(seed)])


# ---- puts/s ---------------------------------------------------------------

def dkvs_puts(policy, c):
    port = C.free_port()
    d = fresh_dir(f"durable-{policy}")
    args = [C.SERVER, "127.0.0.1", str(port)]
    if policy != "memory":
        args = dkvs_args(d, policy, port)
    p = C.spawn(args)
    C.udp_ready(port)
    r = C.bench_direct(p, port, "put", c)
    C.stop(p)
    return r


def redis_puts(fsync, c):
    port = C.free_port()
    d = fresh_dir(f"redis-{fsync}")
    rd = C.spawn(redis_args(d, fsync, port))
    C.tcp_ready(port)
    r = C.redis_bench(rd, port, "set", c, C.redis_n(c, C.DUR) // (4 if fsync == "always" and c == 1 else 1))
    C.stop(rd)
    return r


def median(fn):
    """The run with the median throughput of C.REPEAT runs (the disk is
    shared: one sync can take milliseconds when something else writes)."""
    return med_run([fn() for _ in range(C.REPEAT)])


def med_run(runs):
    """The run with the median throughput of `runs`."""
    runs = sorted(runs, key=lambda r: r["ops_s"])
    return runs[len(runs) // 2]


def fsync_rate():
    """benches/fsync_rate.sh's two lines as dicts (None without fio)."""
    if not shutil.which("fio"):
        return None
    script = os.path.join(C.ROOT, "benches", "fsync_rate.sh")
    out = subprocess.run([script, os.path.join(C.WORK, "fio"), "3" if C.QUICK else "10"],
                         capture_output=True, text=True, env={**os.environ, "FSYNC_RATE_JSON": "1"})
    if out.returncode != 0:
        return None
    return [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]


# ---- redis helpers ----------------------------------------------------------

def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port)] + list(args), capture_output=True,
                          text=True).stdout


def redis_pipe(port, path):
    with open(path) as f:
        subprocess.run(["taskset", "-c", C.LOAD_CORE, "redis-cli", "-p", str(port), "--pipe"],
                       stdin=f, check=True, stdout=subprocess.DEVNULL)


def redis_set_file(keys, name):
    """A redis-cli --pipe file setting key:<i> for every i < keys."""
    path = os.path.join(C.WORK, name)
    value = VALUE_BYTES
    with open(path, "w") as f:
        for i in range(keys):
            f.write(f"SET key:{i:012d} {value}\n")
    return path


def redis_wait_loaded(port, keys, start, limit=300):
    while time.time() - start < limit:
        out = redis_cli(port, "dbsize").strip()
        if out.isdigit() and int(out) >= keys:
            return time.time() - start
        time.sleep(0.005)
    raise SystemExit("redis did not load its data")


def redis_rewrite(port, limit=600):
    """BGREWRITEAOF, then waits until no rewrite runs or is scheduled."""
    time.sleep(0.2)
    redis_cli(port, "bgrewriteaof")
    end = time.time() + limit
    while time.time() < end:
        info = redis_cli(port, "info", "persistence")
        if "aof_rewrite_in_progress:0" in info and "aof_rewrite_scheduled:0" in info:
            return
        time.sleep(0.05)
    raise SystemExit("redis's AOF rewrite did not finish")


# ---- restart and bytes per key ---------------------------------------------

def dkvs_restart():
    """Fill a durable server with RESTART_KEYS keys; time a restart after
    kill -9 and after a clean stop; the directory's bytes."""
    port = C.free_port()
    d = fresh_dir("durable-restart")
    args = dkvs_args(d, "periodic", port)
    p = C.spawn(args)
    C.udp_ready(port)
    t = time.time()
    dkvs_fill(port, RESTART_KEYS)
    fill = time.time() - t
    time.sleep(1.5)  # past one periodic sync
    p.send_signal(signal.SIGKILL)
    p.wait()
    start = time.time()
    p = C.spawn(args)
    crashed = udp_answer_time(port, start)
    C.stop(p)  # SIGTERM: a clean stop
    size = dir_bytes(d)
    start = time.time()
    p = C.spawn(args)
    clean = udp_answer_time(port, start)
    C.stop(p)
    return {"fill_s": fill, "bytes": size, "clean_s": clean, "crash_s": crashed,
            "engine": engine_of(d)}


def redis_restart():
    """The same for redis-server with an append-only file (everysec); its
    bytes after BGREWRITEAOF."""
    port = C.free_port()
    d = fresh_dir("redis-restart")
    args = redis_args(d, "everysec", port)
    rd = C.spawn(args)
    C.tcp_ready(port)
    cmds = redis_set_file(RESTART_KEYS, "redis-fill.txt")
    t = time.time()
    redis_pipe(port, cmds)
    fill = time.time() - t
    time.sleep(1.5)  # past one everysec fsync
    rd.send_signal(signal.SIGKILL)
    rd.wait()
    start = time.time()
    rd = C.spawn(args)
    crashed = redis_wait_loaded(port, RESTART_KEYS, start)
    raw = dir_bytes(d)
    redis_rewrite(port)
    C.stop(rd)
    size = redis_aof_bytes(d)
    start = time.time()
    rd = C.spawn(args)
    clean = redis_wait_loaded(port, RESTART_KEYS, start)
    C.stop(rd)
    return {"fill_s": fill, "bytes": size, "raw_bytes": raw, "clean_s": clean, "crash_s": crashed}


# ---- churn ------------------------------------------------------------------

def v2_deletes(port, keys, every):
    """Deletes key:<i> for every `every`-th i < keys with protocol v2
    DELETE datagrams (docs/PROTOCOL.md), 64 in flight, resent up to 5
    times; returns how many were acknowledged (STORED or OLDER)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    todo = list(range(0, keys, every))
    done = 0
    writer = 0x6b656e6368  # any writer id
    for _attempt in range(5):
        left = []
        for at in range(0, len(todo), 64):
            batch = {}
            for i in todo[at:at + 64]:
                key = f"key:{i:012d}".encode()
                stamp = (int(time.time() * 1000) << 16) | (i & 0xFFFF)
                msg = (b"\x00DKV\x02\x04" + struct.pack(">QB", i, 0) + struct.pack(">H", len(key))
                       + key + struct.pack(">QQ", stamp, writer))
                s.sendto(msg, ("127.0.0.1", port))
                batch[i] = True
            end = time.time() + 1.0
            while batch and time.time() < end:
                try:
                    reply = s.recv(65536)
                except OSError:
                    break
                if len(reply) >= 14 and reply[:5] == b"\x00DKV\x02" and reply[5] in (0x84, 0x85):
                    rid = struct.unpack(">Q", reply[6:14])[0]
                    if batch.pop(rid, None):
                        done += 1
            left.extend(batch)
        todo = left
        if not todo:
            break
    return done


class Watcher(threading.Thread):
    """Samples a log data directory every 20 ms: its bytes, and the
    intervals during which a compaction ran (output segments, with ids
    between the active ones', appear; the inputs are deleted at its end)."""

    def __init__(self, d):
        super().__init__(daemon=True)
        self.d, self.stop_flag = d, False
        self.intervals, self.running_since = [], None
        self.after_compaction = []  # directory bytes right after each one

    def segs(self):
        ids = set()
        for name in os.listdir(self.d):
            if name.endswith(".seg") and len(name) == 20:
                try:
                    ids.add(int(name[:16], 16))
                except ValueError:
                    pass
        return ids

    def run(self):
        before = self.segs()
        while not self.stop_flag:
            time.sleep(0.02)
            try:
                now = self.segs()
            except OSError:
                continue
            outputs = {i for i in now - before if i % ID_GAP}
            if outputs and self.running_since is None:
                self.running_since = time.time()
            if before - now and self.running_since is not None:
                self.intervals.append((self.running_since, time.time()))
                self.running_since = None
                self.after_compaction.append(dir_bytes(self.d))
            before = now

    def busy(self, t0, t1):
        spans = self.intervals + ([(self.running_since, time.time())] if self.running_since else [])
        return any(a < t1 and b > t0 for a, b in spans)

    def finish(self):
        self.stop_flag = True
        self.join()


def probe(port):
    """One 1 s window of the probe load; (start, end, p99 µs)."""
    t0 = time.time()
    r = C.dkvs_bench(["--server", f"127.0.0.1:{port}", "-d", "1"] + PROBE)
    return t0, time.time(), r["latency_us"]["p99"]


def dkvs_churn():
    """Churn on one dkvs-server (see the module comment)."""
    port = C.free_port()
    d = fresh_dir("durable-churn")
    p = C.spawn(dkvs_args(d, "periodic", port))
    C.udp_ready(port)
    idle = [probe(port)[2] for _ in range(IDLE_WINDOWS)]
    watcher = Watcher(d)
    watcher.start()
    passes_done = threading.Event()

    def churn():
        try:
            for n in range(CHURN_PASSES):
                dkvs_fill(port, CHURN_KEYS, seed=n + 1)
        finally:
            passes_done.set()

    t = time.time()
    worker = threading.Thread(target=churn, daemon=True)
    worker.start()
    windows = []
    while not passes_done.is_set():
        windows.append(probe(port))
    worker.join()
    churn_s = time.time() - t
    peak = dir_bytes(d)
    deleted = v2_deletes(port, CHURN_KEYS, DELETE_EVERY)
    # Let compaction run: until the segments have not changed for 5 s.
    quiet_since, last, end = time.time(), None, time.time() + (120 if C.QUICK else 900)
    while time.time() - quiet_since < 5 and time.time() < end:
        now = (tuple(sorted(watcher.segs())), dir_bytes(d))
        if now != last:
            last, quiet_since = now, time.time()
        time.sleep(0.2)
    after = [probe(port)[2] for _ in range(IDLE_WINDOWS)]
    watcher.finish()
    final = dir_bytes(d)
    C.stop(p)
    busy = [w[2] for w in windows if watcher.busy(w[0], w[1])]
    calm = [w[2] for w in windows if not watcher.busy(w[0], w[1])]
    return {"churn_s": churn_s, "deleted": deleted, "peak": peak, "final": final,
            "after_compaction": watcher.after_compaction[-1] if watcher.after_compaction else None,
            "compactions": len(watcher.intervals),
            "compaction_s": sum(b - a for a, b in watcher.intervals),
            "p99_idle": idle, "p99_busy": busy, "p99_calm": calm, "p99_after": after}


def redis_churn():
    """The same churn on redis-server (AOF everysec; its automatic
    rewrites on), then BGREWRITEAOF."""
    port = C.free_port()
    d = fresh_dir("redis-churn")
    rd = C.spawn(redis_args(d, "everysec", port))
    C.tcp_ready(port)
    cmds = redis_set_file(CHURN_KEYS, "redis-churn.txt")
    t = time.time()
    for _ in range(CHURN_PASSES):
        redis_pipe(port, cmds)
    dels = os.path.join(C.WORK, "redis-del.txt")
    with open(dels, "w") as f:
        for i in range(0, CHURN_KEYS, DELETE_EVERY):
            f.write(f"DEL key:{i:012d}\n")
    redis_pipe(port, dels)
    churn_s = time.time() - t
    peak = dir_bytes(d)
    redis_rewrite(port)
    final = redis_aof_bytes(d)
    C.stop(rd)
    return {"churn_s": churn_s, "peak": peak, "final": final}


# ---- the section ------------------------------------------------------------

def section():
    """Measures everything; returns the Markdown section (with markers)."""
    os.makedirs(C.WORK, exist_ok=True)
    for tool in ("redis-server", "redis-benchmark", "redis-cli"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: run benches/setup.sh")
    puts = {}
    # The compared pairs run alternately (dkvs, redis, dkvs, ...), so that
    # both see the same moments of a shared disk; each keeps its median.
    for policy, fsync in (("always", "always"), ("periodic", "everysec")):
        for c in CONC:
            C.log(f"durable: dkvs --sync {policy} / redis appendfsync {fsync}, {c} in flight")
            runs = [(dkvs_puts(policy, c), redis_puts(fsync, c)) for _ in range(PAIR_REPEAT)]
            puts[("dkvs", policy, c)] = med_run([d for d, _ in runs])
            puts[("redis", fsync, c)] = med_run([r for _, r in runs])
    for policy in ("none", "memory"):
        for c in CONC:
            C.log(f"durable: dkvs --sync {policy}, {c} in flight")
            puts[("dkvs", policy, c)] = median(lambda: dkvs_puts(policy, c))
    C.log("durable: this disk's fdatasync rate (fio)")
    fio = fsync_rate()
    C.log(f"durable: restart with {RESTART_KEYS:,} keys")
    restart = {"dkvs": dkvs_restart(), "redis": redis_restart()}
    C.log(f"durable: churn, {CHURN_KEYS:,} keys x {CHURN_PASSES} + deletes")
    churn = {"dkvs": dkvs_churn(), "redis": redis_churn()}
    return render(puts, fio, restart, churn)


def med(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else None


def us(x):
    return "–" if x is None else f"{x:,.0f} µs"


def goal(L, text, value, ok):
    L.append(f"| {text} | {value} | {'**met**' if ok else '**missed**'} |")


def render(puts, fio, restart, churn):
    L = [BEGIN, "", "## Durable storage (issues 6 and 18)", ""]
    engine = restart["dkvs"].get("engine", "?")
    if C.QUICK:
        L += ["**Quick run** (`--quick`: fewer keys, 1 s runs, one repetition): a check that "
              "the harness works, not figures to publish.", ""]
    L.append(f"dkvs engine: **{engine}** (the FORMAT of its data directories). "
             f"One server on 127.0.0.1, {C.VALUE}-byte values, 16-byte keys. Puts: 10,000 keys, puts only, "
             f"{C.DUR:g} s per run; the compared pairs (`always` / `always`, `periodic` / `everysec`) run "
             f"alternately, dkvs then redis, {PAIR_REPEAT} times, the others {C.REPEAT} times; the median "
             "run of each is shown. dkvs driven by dkvs-bench (UDP), redis by "
             "redis-benchmark (TCP, SET). `always`: acknowledged once on disk (dkvs: group commit, one "
             "fdatasync per batch; redis: appendfsync always). `periodic` / `everysec`: synced every "
             "second. `none`: dkvs never syncs (the OS does). `memory`: dkvs without --data-dir.")
    L += ["", "| server | sync | in flight | puts/s | p50 µs | p99 µs |", "|---|---|---:|---:|---:|---:|"]
    for (who, policy, c), r in puts.items():
        name = "dkvs-server" if who == "dkvs" else "redis-server (AOF)"
        L.append(f"| {name} | {policy} | {c} | {r['ops_s']:,.0f} | {r['p50']:,.0f} | {r['p99']:,.0f} |")
    L.append("")
    if fio:
        L.append("This disk's own rate (`benches/fsync_rate.sh`: fio, sequential 4 KiB writes each "
                 "followed by fdatasync): what bounds `always`.")
        L += ["", "| fio jobs | fdatasync/s | sync mean | sync p99 |", "|---:|---:|---:|---:|"]
        for r in fio:
            L.append(f"| {r['jobs']} | {r['fdatasync_per_s']:,} | {us(r['sync_mean_us'])} | "
                     f"{us(r['sync_p99_us'])} |")
        L.append("")
    L.append(f"Restart with {RESTART_KEYS:,} keys: time from spawning the server until it answers a "
             "get (dkvs) / until `DBSIZE` reports every key (redis, AOF everysec); after `kill -9` 1.5 s "
             "after the last put of the fill, and after a clean stop (SIGTERM). On disk: the whole data "
             "directory after the clean stop (dkvs) / the AOF directory after BGREWRITEAOF (redis; "
             "before it: the raw AOF). Both stores get dkvs-bench's value (`abc…xyzabc…`, which dkvs's "
             "LZ4 and redis's RDB preamble both compress).")
    L += ["", "| server | fill | on disk | bytes/key | restart | restart after kill -9 |",
          "|---|---:|---:|---:|---:|---:|"]
    for who, r in restart.items():
        name = "dkvs-server" if who == "dkvs" else "redis-server (AOF, rewritten)"
        raw = f" (raw {r['raw_bytes'] / 2**20:,.0f} MiB)" if "raw_bytes" in r else ""
        L.append(f"| {name} | {r['fill_s']:.1f} s | {r['bytes'] / 2**20:,.1f} MiB{raw} | "
                 f"{r['bytes'] / RESTART_KEYS:,.0f} | {r['clean_s'] * 1e3:,.0f} ms | "
                 f"{r['crash_s'] * 1e3:,.0f} ms |")
    L.append("")
    d, rd = churn["dkvs"], churn["redis"]
    live = CHURN_KEYS - len(range(0, CHURN_KEYS, DELETE_EVERY))
    L.append(f"Churn: {CHURN_KEYS:,} keys each put {CHURN_PASSES} times (dkvs-bench --fill; redis-cli "
             f"--pipe), then every {DELETE_EVERY}th key deleted ({live:,} live keys; dkvs keeps a "
             "tombstone per deleted key for --tombstone-grace). dkvs: --sync periodic, compaction in the "
             "background, bytes once no segment changed for 5 s; redis: everysec with its automatic "
             "rewrites, then BGREWRITEAOF.")
    L += ["", "| server | churn time | peak on disk | after compaction / rewrite | bytes per live key |",
          "|---|---:|---:|---:|---:|"]
    L.append(f"| dkvs-server | {d['churn_s']:.1f} s | {d['peak'] / 2**20:,.1f} MiB | "
             f"{d['final'] / 2**20:,.1f} MiB | {d['final'] / live:,.0f} |")
    L.append(f"| redis-server (AOF) | {rd['churn_s']:.1f} s | {rd['peak'] / 2**20:,.1f} MiB | "
             f"{rd['final'] / 2**20:,.1f} MiB | {rd['final'] / live:,.0f} |")
    last = d["after_compaction"]
    last = f"{last / 2**20:,.1f} MiB right after the last one" if last else "none finished"
    L += ["", f"dkvs compactions seen: {d['compactions']} ({d['compaction_s']:.1f} s in all; {last}); "
          f"deletes acknowledged: {d['deleted']:,}. Put latency of a probe (`dkvs-bench {' '.join(PROBE)}`, "
          "1 s windows; p99 per window, median over windows):", "",
          "| probe windows | windows | p99 (median) | p99 (worst) |", "|---|---:|---:|---:|"]
    for name, xs in (("idle server, before the churn", d["p99_idle"]),
                     ("during the churn, no compaction", d["p99_calm"]),
                     ("during the churn, compaction running", d["p99_busy"]),
                     ("idle again, after compaction", d["p99_after"])):
        L.append(f"| {name} | {len(xs)} | {us(med(xs))} | {us(max(xs) if xs else None)} |")
    L += ["", "Goals of issue 18 (ratios from this run):", "",
          "| goal | this run | verdict |", "|---|---:|---|"]
    for policy, fsync in (("always", "always"), ("periodic", "everysec")):
        for c in CONC:
            r = puts[("dkvs", policy, c)]["ops_s"] / puts[("redis", fsync, c)]["ops_s"]
            goal(L, f"puts/s `{policy}` ÷ redis `{fsync}`, {c} in flight ≥ 1.0", f"{r:.2f}", r >= 1.0)
    r = restart["dkvs"]["bytes"] / restart["redis"]["bytes"]
    goal(L, f"bytes/key after {RESTART_KEYS:,} keys ÷ redis AOF (rewritten) ≤ 2", f"{r:.2f}", r <= 2)
    r = d["final"] / rd["final"]
    goal(L, "bytes/key after churn and compaction ÷ redis AOF (rewritten) ≤ 2", f"{r:.2f}", r <= 2)
    t = restart["dkvs"]["crash_s"]
    goal(L, f"restart after kill -9 with {RESTART_KEYS:,} keys ≤ 1 s", f"{t * 1e3:,.0f} ms", t <= 1)
    busy, idle = med(d["p99_busy"]), med(d["p99_idle"])
    if busy and idle:
        L.append(f"| p99 of the probe with compaction running ÷ idle (measured, no goal) | "
                 f"{busy / idle:.2f} | – |")
    L += ["", "Run alone: `benches/setup.sh && cargo build --release --bins && python3 "
          "benches/compare_durable.py`; part of `benches/compare.sh`.", "", END]
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
        if SPLICE:
            splice(text)
    finally:
        for p in C.procs:
            C.stop(p)
