#!/usr/bin/env python3
"""benchlib.py - the parts of scripts/bench that are easier in Python than
in sh: finding a daemon's port, parsing wrk, the load generators (the
200-request stampede, the Zipf rate-limit load, the 10,000 idle
connections), reading RSS and /metrics, and printing the tables; and
scripts/chaos's wait for /readyz.

Standard library only. Every subcommand is documented in its function;
`benchlib.py CMD --help` lists its arguments. All traffic is loopback.
"""
import argparse
import asyncio
import bisect
import json
import os
import random
import resource
import statistics
import sys
import time
import urllib.request

# ---- small helpers ----------------------------------------------------------


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_num(x, nd=0):
    if x is None or x != x:
        return "n/a"
    return f"{x:,.{nd}f}"


def fmt_ms(x):
    if x is None or x != x:
        return "n/a"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def print_table(headers, rows, indent="  "):
    """Left-aligns the first column, right-aligns the others."""
    cols = [headers] + rows
    widths = [max(len(str(r[i])) for r in cols) for i in range(len(headers))]
    for n, r in enumerate(cols):
        cells = []
        for i, c in enumerate(r):
            c = str(c)
            cells.append(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]))
        print(indent + "  ".join(cells).rstrip())
        if n == 0:
            print(indent + "  ".join("-" * w for w in widths))


def split_url(url):
    """http://host:port/path?query -> (host, port, path)."""
    assert url.startswith("http://"), url
    rest = url[len("http://"):]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    return host, int(port), "/" + path


def http_get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# ---- a minimal HTTP/1.1 client on asyncio streams ---------------------------


def build_request(host, port, path, headers):
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def read_response(reader):
    """Returns (status, headers with lowercase names, body)."""
    line = await reader.readline()
    if not line:
        raise ConnectionError("connection closed")
    status = int(line.split(None, 2)[1])
    headers = {}
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += await reader.readexactly(size)
            await reader.readline()
    else:
        body = b""
    return status, headers, body


def cache_word(headers):
    """The cache verdict a response carries: X-Cache (heavyset-proxy) or
    X-Cache-Status (nginx, from $upstream_cache_status)."""
    return headers.get("x-cache") or headers.get("x-cache-status") or "-"


# ---- port: where a daemon listens -------------------------------------------


def cmd_port(a):
    """Prints the TCP port PID listens on, read from /proc (its socket
    inodes matched against /proc/net/tcp{,6} LISTEN entries), waiting up
    to TIMEOUT s. For daemons whose log level hides the startup line."""
    deadline = time.time() + a.timeout
    while time.time() < deadline:
        inodes = set()
        try:
            for fd in os.listdir(f"/proc/{a.pid}/fd"):
                try:
                    t = os.readlink(f"/proc/{a.pid}/fd/{fd}")
                except OSError:
                    continue
                if t.startswith("socket:["):
                    inodes.add(t[8:-1])
        except FileNotFoundError:
            print(f"benchlib: process {a.pid} is gone", file=sys.stderr)
            return 1
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    next(f)
                    for line in f:
                        p = line.split()
                        if p[3] == "0A" and p[9] in inodes:
                            print(int(p[1].rsplit(":", 1)[1], 16))
                            return 0
            except FileNotFoundError:
                pass
        time.sleep(0.05)
    print(f"benchlib: process {a.pid} listens on nothing after {a.timeout}s",
          file=sys.stderr)
    return 1


def cmd_freeport(a):
    """Prints a loopback TCP port that was free a moment ago (for nginx,
    which cannot listen on port 0; the caller retries on a collision)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
    return 0


# ---- wrk output -------------------------------------------------------------


def to_ms(s):
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
    for u in ("us", "ms", "s", "m"):
        if s.endswith(u):
            return float(s[: -len(u)]) * units[u]
    return float(s)


def parse_wrk(path):
    """rps, p50 ms, p99 ms, non-2xx count, socket errors, requests."""
    rps = p50 = p99 = float("nan")
    non2xx = errors = reqs = 0
    with open(path) as f:
        for line in f:
            p = line.split()
            if not p:
                continue
            if p[0] == "Requests/sec:":
                rps = float(p[1])
            elif p[0] == "50%":
                p50 = to_ms(p[1])
            elif p[0] == "99%":
                p99 = to_ms(p[1])
            elif line.strip().startswith("Non-2xx or 3xx responses:"):
                non2xx = int(p[-1])
            elif p[0] == "Socket" and p[1] == "errors:":
                errors = sum(int(x.rstrip(",")) for x in p[3::2])
            elif len(p) > 2 and p[1] == "requests" and p[2] == "in":
                reqs = int(p[0])
    return rps, p50, p99, non2xx, errors, reqs


def wrk_counts(path):
    """({status: n}, {cache verdict: n}) from the "miss64 status|cache"
    lines that miss64.lua and tenants.lua print; empty without them."""
    statuses, words = {}, {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 4 and p[0] == "miss64":
                (statuses if p[1] == "status" else words)[p[2]] = int(p[3])
    return statuses, words


def cmd_wrk(a):
    """Prints one TSV line: rps p50_ms p99_ms non2xx errors requests, and
    the cache verdicts a counting wrk script printed (HIT:n,MISS:n; "-"
    when it printed none)."""
    words = wrk_counts(a.file)[1]
    print("\t".join([str(x) for x in parse_wrk(a.file)] +
                    [",".join(f"{k}:{v}" for k, v in sorted(words.items()))
                     or "-"]))
    return 0


def cmd_cpu(a):
    """Prints the CPU seconds of every SPEC summed (PID, PID+ for a tree;
    a SPEC may list several, comma-separated: the cluster's masters)."""
    print(f"{sum(cpu_s(x) for spec in a.spec for x in spec.split(',') if x):.6f}")
    return 0


def load_tsv(path):
    """Rows of: section conns target round rps p50 p99 non2xx errors reqs,
    then, where run_wrk measured them, the cache verdicts (HIT:n,...), the
    server's CPU seconds, Redis's and the run's wall seconds."""
    rows = []
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 10:
                continue
            r = {"section": p[0], "conns": int(p[1]), "target": p[2],
                 "round": int(p[3]), "rps": float(p[4]),
                 "p50": float(p[5]), "p99": float(p[6]),
                 "non2xx": int(p[7]), "errors": int(p[8]),
                 "reqs": int(p[9]), "words": {}}
            if len(p) > 10 and p[10] not in ("", "-"):
                r["words"] = {k: int(v) for k, _, v in
                              (w.partition(":") for w in p[10].split(","))}
            if len(p) > 13 and p[11] and p[13]:
                r["cpu"] = float(p[11])
                r["secs"] = float(p[13])
                if p[12]:
                    r["redis_cpu"] = float(p[12])
            rows.append(r)
    return rows


def ratio_of(x, y):
    return f"{x / y:.2f}" if y and y > 0 and x == x else "n/a"


def cmd_report_hit(a):
    """The hit-path table: medians over rounds per (conns, target), and
    proxy/nginx, proxy/ceiling (and proxy/base, with --baseline) ratios
    of the medians; tls/tcp and cluster/one for those pairs. Where the
    runs measured CPU: the server's % of a core and answers per
    CPU-second, Redis's % (summed over a cluster's masters) and answers
    per CPU-second counting it; where a wrk script counted cache
    verdicts, a check line per target."""
    rows = [r for r in load_tsv(a.tsv) if r["section"] == a.section]
    targets = a.targets.split(",")
    others = [o for o in ("nginx", "ceiling", "base") if o in targets]
    if "proxy" not in targets:
        others = []
    pairs = [(x, y) for x, y in (("tls", "tcp"), ("cluster", "one"),
                                 ("rcluster", "rone"))
             if x in targets and y in targets]
    with_cpu = any("cpu" in r for r in rows)
    out = []
    bad = []
    words = {}
    for c in sorted({r["conns"] for r in rows}):
        med = {}
        for t in targets:
            rs = [r for r in rows if r["conns"] == c and r["target"] == t]
            med[t] = (median([r["rps"] for r in rs]),
                      median([r["p50"] for r in rs]),
                      median([r["p99"] for r in rs]), len(rs))
            for r in rs:
                if r["non2xx"] or r["errors"]:
                    bad.append(f"{t} c={c} round {r['round']}: "
                               f"{r['non2xx']} non-2xx, {r['errors']} "
                               f"socket errors")
                w = words.setdefault(t, {})
                for k, v in r["words"].items():
                    w[k] = w.get(k, 0) + v
            cpu = [r for r in rs if "cpu" in r and r["secs"] > 0]
            med[t] += (
                median([100 * r["cpu"] / r["secs"] for r in cpu]),
                median([r["reqs"] / r["cpu"] for r in cpu if r["cpu"] > 0]),
                median([100 * r["redis_cpu"] / r["secs"] for r in cpu
                        if "redis_cpu" in r]),
                median([r["reqs"] / (r["cpu"] + r["redis_cpu"]) for r in cpu
                        if "redis_cpu" in r and r["cpu"] + r["redis_cpu"]]))
        for t in targets:
            rps, p50, p99, n, pct, core, rpct, rcore = med[t]
            row = [f"{c}", t, fmt_num(rps), fmt_ms(p50), fmt_ms(p99), str(n)]
            if with_cpu:
                row += [fmt_num(pct), fmt_num(core), fmt_num(rpct)
                        if rpct == rpct else "", fmt_num(rcore)
                        if rcore == rcore else ""]
            for o in others:
                if t == "proxy":
                    row.append(f"{rps / med[o][0]:.2f}"
                               if o in med and med[o][0] else "n/a")
                else:
                    row.append("")
            for x, y in pairs:
                row.append(ratio_of(rps, med[y][0]) if t == x else "")
            out.append(row)
    print_table(["conns", "server", "req/s", "p50 ms", "p99 ms", "rounds"] +
                (["CPU %", "req/s/core", "redis %", "+redis"]
                 if with_cpu else []) +
                [f"proxy/{o}" for o in others] +
                [f"{x}/{y}" for x, y in pairs], out)
    if with_cpu:
        print()
        print("  CPU % = the server's user+system time over the run (100 ="
              " one core); req/s/core = answers per CPU-second of the "
              "server;")
        print("  redis % = Redis's (every master of a cluster summed); "
              "+redis = answers per CPU-second of the server and Redis "
              "together")
    for x, y in pairs:
        for c in sorted({r["conns"] for r in rows}):
            def m(t, key):
                return median([r[key] for r in rows
                               if r["target"] == t and r["conns"] == c])
            line = (f"  {x}/{y} at {c} conns: req/s "
                    f"{ratio_of(m(x, 'rps'), m(y, 'rps'))}, p50 "
                    f"{ratio_of(m(x, 'p50'), m(y, 'p50'))}, p99 "
                    f"{ratio_of(m(x, 'p99'), m(y, 'p99'))}")
            if with_cpu:
                def per(t, with_redis):
                    return median([r["reqs"] / (r["cpu"] +
                                                (r.get("redis_cpu", 0)
                                                 if with_redis else 0))
                                   for r in rows
                                   if r["target"] == t and r["conns"] == c
                                   and r.get("cpu")])
                line += (f", req/s/core {ratio_of(per(x, 0), per(y, 0))}, "
                         f"+redis {ratio_of(per(x, 1), per(y, 1))}")
            print(line)
    if any(words.values()):
        print("  cache verdicts counted by the wrk script, all rounds:")
        for t in targets:
            if words.get(t):
                print(f"    {t}: " + " ".join(
                    f"{k}:{v}" for k, v in sorted(words[t].items())))
    for b in bad:
        print("  WARNING: " + b)
    return 0


def cmd_report_miss(a):
    """The miss-path latency table: medians over rounds per target, and
    the p50 each adds over calling the sandbox directly."""
    rows = [r for r in load_tsv(a.tsv) if r["section"] == a.section]
    med = {}
    out = []
    for t in a.targets.split(","):
        rs = [r for r in rows if r["target"] == t]
        med[t] = (median([r["rps"] for r in rs]), median([r["p50"] for r in rs]),
                  median([r["p99"] for r in rs]), len(rs),
                  sum(r["non2xx"] for r in rs), sum(r["reqs"] for r in rs),
                  sum(r["errors"] for r in rs))
    base = med.get("direct", (0, float("nan")))[1]
    for t, (rps, p50, p99, n, non2xx, reqs, errs) in med.items():
        added = "" if t == "direct" else f"{p50 - base:+.2f}"
        out.append([t, fmt_num(rps, 1), fmt_ms(p50), fmt_ms(p99), added,
                    f"{non2xx}/{reqs}", str(errs), str(n)])
    print_table(["path", "req/s", "p50 ms", "p99 ms", "added p50 ms",
                 "non-2xx/all", "sock err", "rounds"], out)
    return 0


# ---- miss64: many concurrent distinct misses, with CPU per request ------------


CLK_TCK = os.sysconf("SC_CLK_TCK")


def stat_ticks(path):
    """utime + stime (fields 14 and 15) of a /proc .../stat file."""
    with open(path) as f:
        p = f.read().rsplit(")", 1)[1].split()
    return int(p[11]) + int(p[12])


def run_s(path):
    """se.sum_exec_runtime of a /proc .../sched file, in seconds (the
    kernel's on-CPU time, to the nanosecond), or None without one."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("se.sum_exec_runtime"):
                    return float(line.split(":")[1]) / 1000
    except OSError:
        pass
    return None


# Where CPU time comes from: the scheduler's run time when the kernel has
# /proc/PID/sched (ns; a one-client miss run uses a few CPU-ms, under a
# tick), else utime+stime from /proc/PID/stat (1/CLK_TCK s ticks).
CPU_FROM_SCHED = run_s(f"/proc/{os.getpid()}/sched") is not None


def thread_cpu(pid):
    """{tid: CPU seconds} for every thread of PID."""
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            if CPU_FROM_SCHED:
                v = run_s(f"/proc/{pid}/task/{t}/sched")
                if v is not None:
                    out[int(t)] = v
            else:
                out[int(t)] = (stat_ticks(f"/proc/{pid}/task/{t}/stat")
                               / CLK_TCK)
        except (OSError, ValueError, IndexError):
            pass
    return out


def cpu_s(spec):
    """CPU seconds (user + system) of PID's threads, or of PID's and its
    children's for PID+ (nginx's master, workers and cache processes)."""
    tree = spec.endswith("+")
    pid = int(spec.rstrip("+"))
    pids = [pid] + (children(pid) if tree else [])
    if CPU_FROM_SCHED:
        return sum(sum(thread_cpu(p).values()) for p in pids)
    return sum(stat_ticks(f"/proc/{p}/stat") for p in pids) / CLK_TCK


def tcp_conns():
    """{inode: (local port, remote port)} of established TCP sockets."""
    out = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    p = line.split()
                    if p[3] == "01":
                        out[p[9]] = (int(p[1].rsplit(":", 1)[1], 16),
                                     int(p[2].rsplit(":", 1)[1], 16))
        except FileNotFoundError:
            pass
    return out


def worker_spread(pid, port, upstream_port):
    """Per event loop of PID (one epoll instance each; libevent registers
    every socket it watches there), how many client connections (local
    port PORT) and upstream connections (remote port UPSTREAM_PORT) it
    watches, from /proc/PID/fdinfo of each epoll fd. Event loops without
    any are left out. Upstream connections, busy or idle in the pool, are
    always watched; a client connection is not while evhttp waits to
    answer it (reading is off then), so the client count undercounts."""
    conns = tcp_conns()
    inode = {}
    epolls = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            t = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if t.startswith("socket:["):
            inode[fd] = t[8:-1]
        elif t == "anon_inode:[eventpoll]":
            epolls.append(fd)
    out = []
    for e in epolls:
        c = u = 0
        try:
            with open(f"/proc/{pid}/fdinfo/{e}") as f:
                for line in f:
                    if not line.startswith("tfd:"):
                        continue
                    lp_rp = conns.get(inode.get(line.split()[1], ""))
                    if lp_rp is None:
                        continue
                    if lp_rp[0] == port:
                        c += 1
                    elif lp_rp[1] == upstream_port:
                        u += 1
        except OSError:
            continue
        if c or u:
            out.append((c, u))
    return sorted(out, reverse=True)


def tcp_ext(*names):
    """Counters from /proc/net/netstat's TcpExt lines (system-wide)."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for k, line in enumerate(lines):
        if line.startswith("TcpExt:") and k + 1 < len(lines):
            vals = dict(zip(line.split()[1:], lines[k + 1].split()[1:]))
            return [int(vals.get(n, 0)) for n in names]
    return [0 for _ in names]


def cmd_miss64_run(a):
    """One measured wrk run of the miss64 section. Reads the server's CPU
    time (and Redis's, and each server thread's), the sandbox's GET
    /phone/query count and the proxy's /metrics before and after; runs
    wrk with miss64.lua (which counts statuses and cache verdicts); keeps
    wrk's output in OUT; prints one JSON line."""
    def snap():
        s = {"cpu": cpu_s(a.pid), "up": sandbox_queries(a.stats)[0],
             "t": time.perf_counter(),
             "tcp": tcp_ext("ListenOverflows", "TCPSynRetrans")}
        if a.redis:
            s["redis"] = sum(cpu_s(x) for x in a.redis.split(","))
        if a.threads_of:
            s["threads"] = thread_cpu(a.threads_of)
        if a.metrics:
            s["m"] = scrape([a.metrics])
        return s
    if a.conns < 1:
        print("benchlib: miss64-run: --conns must be at least 1",
              file=sys.stderr)
        return 2
    # wrk gives each thread conns/threads connections, rounded down: with
    # fewer connections than threads it opens none and reports nothing
    threads = min(a.wrk_threads, a.conns)
    cmd = ["wrk", f"-t{threads}", f"-c{a.conns}", f"-d{a.duration}s",
           "--latency", "--timeout", "5s", "-s", a.lua]
    for h in a.header:
        cmd += ["-H", h]
    cmd += [a.url, "--", a.prefix] + a.lua_arg
    b = snap()
    import subprocess
    spread = None
    with open(a.out, "w") as f:
        w = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        if a.threads_of:
            # mid-run: which worker holds which connections
            time.sleep(a.duration / 2)
            try:
                spread = worker_spread(a.threads_of, split_url(a.url)[1],
                                       split_url(a.stats)[1])
            except OSError:
                pass
        try:
            w.wait(timeout=a.duration + 30)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()
            print("benchlib: wrk overran its time", file=sys.stderr)
    time.sleep(0.3)          # answers still in flight when wrk stopped
    e = snap()
    rps, p50, p99, non2xx, errors, reqs = parse_wrk(a.out)
    statuses, words = {}, {}
    wrk_s = float("nan")
    with open(a.out) as f:
        for line in f:
            p = line.split()
            if len(p) > 3 and p[1] == "requests" and p[2] == "in":
                wrk_s = to_ms(p[3].rstrip(",")) / 1000
            if len(p) == 4 and p[0] == "miss64":
                (statuses if p[1] == "status" else words)[p[2]] = int(p[3])
    row = {"target": a.target, "round": a.round, "rps": rps, "p50": p50,
           "p99": p99, "non2xx": non2xx, "errors": errors, "reqs": reqs,
           "secs": e["t"] - b["t"], "duration": a.duration,
           "wrk_s": wrk_s,
           "cpu": e["cpu"] - b["cpu"], "cpu_sched": CPU_FROM_SCHED,
           "conns": a.conns,
           "wrk_threads": threads,
           "upstream": e["up"] - b["up"], "status": statuses,
           "overflows": e["tcp"][0] - b["tcp"][0],
           "syn_retrans": e["tcp"][1] - b["tcp"][1],
           "cache": words}
    if a.redis:
        row["redis_cpu"] = e["redis"] - b["redis"]
    if spread is not None:
        row["spread"] = spread
    if a.threads_of:
        # busiest threads first; the idle main thread drops out
        d = sorted(((e["threads"].get(t, 0) - v)
                    for t, v in b["threads"].items()), reverse=True)
        row["thread_cpu"] = [x for x in d if x > 0.0]
    if a.metrics:
        row["m_miss"] = metric_delta(b["m"], e["m"], "heavyset_requests_total",
                                     cache="miss")
        row["m_upstream"] = metric_delta(b["m"], e["m"],
                                         "heavyset_upstream_requests_total")
        row["m_moved"] = metric_delta(b["m"], e["m"],
                                      "heavyset_redis_redirects_total",
                                      kind="moved")
        row["m_ask"] = metric_delta(b["m"], e["m"],
                                    "heavyset_redis_redirects_total",
                                    kind="ask")
    print(json.dumps(row))
    return 0


def cmd_report_miss64(a):
    """The miss64 table: per target the medians over rounds of req/s, p50
    and p99; the latency added over direct, taken per round (target minus
    the direct run of the same round) and then the median; CPU per
    request; and the checks that every answer was a miss."""
    rows = [json.loads(x) for x in open(a.jsonl) if x.strip()]
    # a run without answers has no latency: say which, rather than print
    # nan into the table and the verdicts
    empty = [r for r in rows if not r["reqs"] or r["p50"] != r["p50"]]
    for r in empty:
        print(f"benchlib: report-miss64: {r['target']} round {r['round']} "
              f"produced no answers (wrk -t{r.get('wrk_threads', '?')} "
              f"-c{r.get('conns', '?')}; see its raw wrk output)",
              file=sys.stderr)
    if not rows:
        print(f"benchlib: report-miss64: no runs in {a.jsonl}",
              file=sys.stderr)
    if empty or not rows:
        return 1
    targets = []
    for r in rows:
        if r["target"] not in targets:
            targets.append(r["target"])
    direct = {r["round"]: r for r in rows if r["target"] == "direct"}
    out = []
    added = {}
    per_cores = {}
    few_ticks = []
    checks = []
    splits = []
    spreads = []
    for t in targets:
        rs = [r for r in rows if r["target"] == t]
        ap50 = [r["p50"] - direct[r["round"]]["p50"] for r in rs
                if r["round"] in direct]
        ap99 = [r["p99"] - direct[r["round"]]["p99"] for r in rs
                if r["round"] in direct]
        added[t] = (median(ap50), median(ap99))
        cpu_pct = median([100 * r["cpu"] / r["secs"] for r in rs])
        per_core = median([r["reqs"] / r["cpu"] for r in rs if r["cpu"] > 0])
        per_cores[t] = per_core
        if (not all(x.get("cpu_sched") for x in rs) and
                median([r["cpu"] for r in rs]) < 20 / CLK_TCK):
            few_ticks.append(t)
        with_redis = redis_pct = ""
        if all("redis_cpu" in r for r in rs):
            with_redis = fmt_num(median([r["reqs"] / (r["cpu"] +
                                                      r["redis_cpu"])
                                         for r in rs
                                         if r["cpu"] + r["redis_cpu"] > 0]))
            redis_pct = f"{median([100 * r['redis_cpu'] / r['secs'] for r in rs]):.0f}"
            per_cores[t + "+redis"] = median(
                [r["reqs"] / (r["cpu"] + r["redis_cpu"]) for r in rs
                 if r["cpu"] + r["redis_cpu"] > 0])
        d = t == "direct"
        out.append([t, fmt_num(median([r["rps"] for r in rs]), 1),
                    fmt_ms(median([r["p50"] for r in rs])),
                    fmt_ms(median([r["p99"] for r in rs])),
                    "" if d else f"{added[t][0]:+.2f}",
                    "" if d else f"{added[t][1]:+.2f}",
                    f"{cpu_pct:.0f}", fmt_num(per_core), redis_pct,
                    with_redis, str(len(rs))])
        reqs = sum(r["reqs"] for r in rs)
        up = sum(r["upstream"] for r in rs)
        st = {}
        cw = {}
        for r in rs:
            for k, v in r["status"].items():
                st[k] = st.get(k, 0) + v
            for k, v in r["cache"].items():
                cw[k] = cw.get(k, 0) + v
        line = (f"{t}: {reqs} answers ("
                + " ".join(f"{k}:{v}" for k, v in sorted(st.items()))
                + "; cache " + " ".join(f"{k}:{v}"
                                        for k, v in sorted(cw.items()))
                + f"), sandbox GET /phone/query {up}")
        if all(r.get("m_miss") is not None for r in rs):
            line += (f", proxy metrics: cache=miss "
                     f"{sum(r['m_miss'] for r in rs):.0f}, upstream "
                     f"{sum(r['m_upstream'] for r in rs):.0f}")
        if all(r.get("m_moved") is not None for r in rs):
            line += (f", Redis redirects moved/ask "
                     f"{sum(r['m_moved'] for r in rs):.0f}/"
                     f"{sum(r['m_ask'] or 0 for r in rs):.0f}")
        ok = up >= reqs and sum(r["errors"] for r in rs) == 0
        if not d:
            ok = ok and cw.get("MISS", 0) == reqs
        line += (", listen overflows/SYN retransmits (system-wide) per "
                 "round: " + " ".join(
                     f"{r.get('overflows', '?')}/{r.get('syn_retrans', '?')}"
                     for r in sorted(rs, key=lambda r: r["round"])))
        line += ": " + ("every answer a miss" if ok and not d else
                        "ok" if ok else
                        "NOT all misses / errors: see the raw wrk outputs")
        checks.append(line)
        for r in rs:
            # wrk stops on time whatever is in flight: a run much longer
            # than asked means wrk itself was held up (a machine stall)
            late = r.get("wrk_s", 0) - r.get("duration", 0)
            if late > 0.5:
                checks.append(f"  {t} round {r['round']}: took {late:.1f} s "
                              f"longer than asked (wrk held up: a stall of "
                              f"the machine?); p99 {fmt_ms(r['p99'])} ms")
        if rs and "thread_cpu" in rs[0]:
            splits.append(f"{t}: " + ", ".join(
                "/".join(f"{x:.2f}" for x in r["thread_cpu"])
                for r in sorted(rs, key=lambda r: r["round"])))
        if rs and "spread" in rs[0]:
            spreads.append(f"{t}: " + ", ".join(
                "/".join(str(u) for u in sorted((u for _, u in r["spread"]),
                                                reverse=True))
                for r in sorted(rs, key=lambda r: r["round"])))
    print_table(["server", "req/s", "p50 ms", "p99 ms", "added p50",
                 "added p99", "CPU %", "req/s/core", "redis %", "+redis",
                 "rounds"], out)
    print()
    print("  added = target minus direct in the same round, median over "
          "rounds; CPU % = the server's user+system time over the run")
    print("  (100 = one core; direct = the sandbox itself); req/s/core = "
          "answers per CPU-second of the server; redis % = Redis's CPU")
    print("  (a cluster's masters summed); +redis = answers per "
          "CPU-second of the server and Redis together")
    if few_ticks:
        print(f"  ({', '.join(few_ticks)}: under {20 / CLK_TCK:.1f} CPU-s "
              f"per run, counted in 1/{CLK_TCK} s ticks: CPU % and "
              f"req/s/core are rough)")
    nginxes = ("nginx", "nginx404")
    for t in targets:
        if t == "direct" or t in nginxes:
            continue
        rs = [r for r in rows if r["target"] == t]
        per = " ".join(f"{r['p50'] - direct[r['round']]['p50']:+.1f}/"
                       f"{r['p99'] - direct[r['round']]['p99']:+.1f}"
                       for r in sorted(rs, key=lambda r: r["round"])
                       if r["round"] in direct)
        print(f"  {t} added p50/p99 per round: {per}")
    for ng in nginxes:
        if ng not in added:
            continue
        rs = [r for r in rows if r["target"] == ng]
        per = " ".join(f"{r['p50'] - direct[r['round']]['p50']:+.1f}/"
                       f"{r['p99'] - direct[r['round']]['p99']:+.1f}"
                       for r in sorted(rs, key=lambda r: r["round"])
                       if r["round"] in direct)
        print(f"  {ng} added p50/p99 per round: {per}")
    for ng in nginxes:
        if ng not in added:
            continue
        n50, n99 = added[ng]
        for t in targets:
            if t == "direct" or t in nginxes:
                continue
            p50, p99 = added[t]
            verdict = (f"no worse than {ng}" if p50 <= n50 and p99 <= n99
                       else f"worse than {ng}")
            print(f"  {t} vs {ng}, added latency: p50 {p50:+.2f} vs "
                  f"{n50:+.2f} ms ({p50 - n50:+.2f}), p99 {p99:+.2f} vs "
                  f"{n99:+.2f} ms ({p99 - n99:+.2f}): {verdict}")
    if "one" in added and "cluster" in added:
        (s50, s99), (c50, c99) = added["cluster"], added["one"]
        print(f"  cluster/one (three masters against one redis-server): "
              f"added p50 {s50:+.2f} vs {c50:+.2f} ms, added p99 "
              f"{s99:+.2f} vs {c99:+.2f} ms, req/s/core "
              f"{fmt_num(per_cores['cluster'])} vs "
              f"{fmt_num(per_cores['one'])} (ratio "
              f"{ratio_of(per_cores['cluster'], per_cores['one'])}), "
              f"+redis {fmt_num(per_cores.get('cluster+redis'))} vs "
              f"{fmt_num(per_cores.get('one+redis'))} (ratio "
              f"{ratio_of(per_cores.get('cluster+redis'), per_cores.get('one+redis'))})")
    if "tcp" in added and "tls" in added:
        def ratio(x, y):
            return f"{x / y:.2f}" if y and y > 0 and x == x else "n/a"
        (s50, s99), (c50, c99) = added["tls"], added["tcp"]
        print(f"  tls/tcp (Redis over rediss:// against redis://): added "
              f"p50 {s50:+.2f} vs {c50:+.2f} ms (ratio {ratio(s50, c50)}), "
              f"added p99 {s99:+.2f} vs {c99:+.2f} ms (ratio "
              f"{ratio(s99, c99)}), req/s/core {fmt_num(per_cores['tls'])} "
              f"vs {fmt_num(per_cores['tcp'])} (ratio "
              f"{ratio(per_cores['tls'], per_cores['tcp'])})")
    print()
    print("  checks (all rounds; answers = wrk's completed requests, the "
          "sandbox also counts the ones in flight at the end):")
    for c in checks:
        print("    " + c)
    if splits:
        print("  CPU seconds per thread, busiest first, per round (proxy "
              "workers; an even spread is near equal):")
        for s in splits:
            print("    " + s)
    if spreads:
        print("  upstream connections open per worker mid-run, per round "
              "(the workers share upstream_connections, so")
        print("  the sum is at most that; read from each event loop's "
              "epoll fdinfo):")
        for s in spreads:
            print("    " + s)
    return 0


# ---- syscalls: system calls per miss, counted by strace -c -------------------


async def keepalive_run(url, items, conns, request):
    """Sends one GET per item of ITEMS over CONNS keep-alive connections
    to URL's host, the path and headers REQUEST(path, item) returns; a
    connection that fails is opened again for the next item. Returns
    (statuses, cache verdicts, failures)."""
    host, port, path = split_url(url)
    todo = iter(items)
    statuses, words = {}, {}
    failures = 0

    async def one():
        nonlocal failures
        rw = None
        for item in todo:
            try:
                if rw is None:
                    rw = await asyncio.open_connection(host, port)
                rw[1].write(build_request(host, port,
                                          *request(path, item)))
                status, h, _ = await read_response(rw[0])
            except (OSError, ConnectionError, ValueError,
                    asyncio.IncompleteReadError):
                failures += 1
                if rw is not None:
                    rw[1].close()
                rw = None
                continue
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            w = cache_word(h)
            words[w] = words.get(w, 0) + 1
        if rw is not None:
            rw[1].close()
    await asyncio.gather(*[one() for _ in range(conns)])
    return statuses, words, failures


async def misses(url, headers, conns, prefix, first, n):
    """N GETs over CONNS keep-alive connections, each for a phone no other
    request asked (+1 PREFIX and 7 digits from FIRST on). Returns
    (statuses, cache verdicts, failures)."""
    return await keepalive_run(
        url, range(first, first + n), conns,
        lambda path, i: (f"{path}%2B1{prefix}{i:07d}", headers))


async def fill(url, pairs, conns):
    """One GET for every (token, phone) of PAIRS over CONNS keep-alive
    connections. Returns (statuses, failures)."""
    statuses, _, failures = await keepalive_run(
        url, pairs, conns,
        lambda path, tp: (f"{path}%2B{tp[1][1:]}", [("x-hs-token", tp[0])]))
    return statuses, failures


def cmd_fill(a):
    """Asks URL once for each tenant of TOKENS and each of the first N
    phones of PHONES (files, one a line), so that a cache holds them all;
    prints the statuses; fails unless every answer was a 200."""
    tokens = [x.strip() for x in open(a.tokens) if x.strip()]
    phones = [x.strip() for x in open(a.phones) if x.strip()][:a.n]
    pairs = [(t, p) for p in phones for t in tokens]
    st, failures = asyncio.run(fill(a.url, pairs, a.conns))
    print(f"  filled {a.url.split('/api')[0]}: {len(pairs)} requests, "
          + " ".join(f"{k}:{v}" for k, v in sorted(st.items()))
          + f", {failures} failed")
    return 0 if st.get("200", 0) == len(pairs) else 1


def tracers(pid):
    """{tid: TracerPid} for every thread of PID."""
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/status") as f:
                for line in f:
                    if line.startswith("TracerPid:"):
                        out[int(t)] = int(line.split()[1])
        except OSError:
            pass
    return out


def parse_strace_c(path):
    """{syscall: (calls, errors)} from the table strace -c writes."""
    out = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            # "% time seconds usecs/call calls [errors] syscall"
            if len(p) < 5 or p[-1] == "total" or p[0].startswith(("%", "-")):
                continue
            try:
                float(p[0])
                calls = int(p[3])
                errors = int(p[4]) if len(p) == 6 else 0
            except ValueError:
                continue
            out[p[-1]] = (calls, errors)
    return out


def cmd_syscalls_run(a):
    """Counts the system calls of PID (all its threads: strace -c -f -p)
    while N distinct misses go through it on CONNS connections; misses
    first warm it up untraced. Checks that strace attached to every
    thread before and detached from all after, that the server lives,
    and reads the sandbox's query count around the run. Prints one JSON
    line."""
    import signal
    import subprocess
    headers = [h.split(": ", 1) for h in a.header]
    asyncio.run(misses(a.url, headers, a.conns, a.prefix, 0, a.warm))
    tids = tracers(a.pid)
    if any(tids.values()):
        print(f"benchlib: syscalls-run: {a.pid} is traced already",
              file=sys.stderr)
        return 1
    with open(a.out + ".log", "w") as log:
        st = subprocess.Popen(["strace", "-c", "-f", "-o", a.out,
                               "-p", str(a.pid)],
                              stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while True:
        tids = tracers(a.pid)
        if tids and all(v == st.pid for v in tids.values()):
            break
        if st.poll() is not None or time.time() > deadline:
            st.kill()
            st.wait()
            print(f"benchlib: syscalls-run: strace did not attach to every "
                  f"thread of {a.pid} (see {a.out}.log)", file=sys.stderr)
            return 1
        time.sleep(0.02)
    b_up = sandbox_queries(a.stats)[0]
    t0 = time.perf_counter()
    statuses, words, failures = asyncio.run(
        misses(a.url, headers, a.conns, a.prefix, a.warm, a.n))
    secs = time.perf_counter() - t0
    time.sleep(0.1)
    st.send_signal(signal.SIGINT)      # strace detaches, writes its table
    try:
        st.wait(timeout=10)
    except subprocess.TimeoutExpired:
        st.kill()
        st.wait()
    e_up = sandbox_queries(a.stats)[0]
    left = {t: v for t, v in tracers(a.pid).items() if v}
    calls = parse_strace_c(a.out)
    answers = sum(statuses.values())
    print(json.dumps({"target": a.target, "n": a.n, "conns": a.conns,
                      "answers": answers, "failures": failures,
                      "status": statuses, "cache": words,
                      "upstream": e_up - b_up, "secs": secs,
                      "threads": len(tids), "detached": not left,
                      "strace_rc": st.returncode,
                      "calls": {k: v[0] for k, v in calls.items()},
                      "errors": {k: v[1] for k, v in calls.items()}}))
    if left or not os.path.exists(f"/proc/{a.pid}"):
        print(f"benchlib: syscalls-run: {a.pid} still traced or gone after "
              f"strace stopped", file=sys.stderr)
        return 1
    return 0


def cmd_report_syscalls(a):
    """System calls per miss, per target side by side: the total and the
    TOP calls by name (the union of each target's top), with a ratio to
    the first target when there are two or more."""
    rows = [json.loads(x) for x in open(a.jsonl) if x.strip()]
    bad = [r for r in rows if not r["answers"] or not r["calls"]]
    for r in bad:
        print(f"benchlib: report-syscalls: {r['target']}: "
              f"{r['answers']} answers, {len(r['calls'])} system calls "
              f"counted: nothing to report", file=sys.stderr)
    if bad or not rows:
        return 1
    names = []
    for r in rows:
        top = sorted(r["calls"], key=lambda k: -r["calls"][k])[:a.top]
        names += [k for k in top if k not in names]
    names.sort(key=lambda k: -rows[0]["calls"].get(k, 0))
    targets = [r["target"] for r in rows]
    first = targets[0]

    def per(r, k):
        return r["calls"].get(k, 0) / r["answers"]
    out = []
    for k in ["total"] + names:
        vals = [sum(r["calls"].values()) / r["answers"] if k == "total"
                else per(r, k) for r in rows]
        row = [k] + [f"{v:.2f}" if v >= 0.1 or not v else f"{v:.4f}"
                     for v in vals]
        if len(rows) > 1:
            row += [f"{v / vals[0]:.2f}" if vals[0] else "n/a"
                    for v in vals[1:]]
        out.append(row)
    print_table(["system call"] + [f"{t} /miss" for t in targets] +
                ([f"{t}/{first}" for t in targets[1:]]
                 if len(rows) > 1 else []), out)
    print()
    print("  checks:")
    for r in rows:
        st = " ".join(f"{k}:{v}" for k, v in sorted(r["status"].items()))
        cw = " ".join(f"{k}:{v}" for k, v in sorted(r["cache"].items()))
        ok = (r["cache"].get("MISS", 0) == r["answers"] == r["n"] and
              r["upstream"] >= r["answers"] and r["detached"])
        errs = sum(r["errors"].values())
        print(f"    {r['target']}: {r['answers']}/{r['n']} answers ({st}; "
              f"cache {cw}), sandbox GET /phone/query {r['upstream']}, "
              f"{r['secs']:.1f} s traced, {r['threads']} threads, "
              f"{errs} failed calls ("
              + ", ".join(f"{k} {v}" for k, v in sorted(
                  r["errors"].items(), key=lambda kv: -kv[1]) if v)
              + "), strace "
              + ("detached" if r["detached"] else "STILL ATTACHED")
              + ": " + ("every answer a miss" if ok else
                        "NOT all misses / answers: see the raw output"))
    return 0


# ---- conns-to: which Redis port a process talks to ---------------------------


def cmd_conns_to(a):
    """Prints, per PORT, how many established TCP connections of PID go
    to that (remote) port: the counts on one line, in PORT order. Shows
    which of a Redis's ports (plain or TLS) a proxy really uses."""
    conns = tcp_conns()
    mine = set()
    for fd in os.listdir(f"/proc/{a.pid}/fd"):
        try:
            t = os.readlink(f"/proc/{a.pid}/fd/{fd}")
        except OSError:
            continue
        if t.startswith("socket:["):
            mine.add(t[8:-1])
    print(" ".join(str(sum(1 for i in mine
                           if i in conns and conns[i][1] == port))
                   for port in a.port))
    return 0


# ---- stampede: N simultaneous identical misses ------------------------------


async def stampede(url, headers, n):
    host, port, path = split_url(url)
    conns = await asyncio.gather(*[asyncio.open_connection(host, port)
                                   for _ in range(n)])
    req = build_request(host, port, path, headers)
    t0 = time.perf_counter()
    for _, w in conns:
        w.write(req)

    async def one(r, w):
        try:
            status, h, _ = await read_response(r)
            return time.perf_counter() - t0, status, cache_word(h)
        except Exception as e:                          # noqa: BLE001
            return time.perf_counter() - t0, 0, type(e).__name__
        finally:
            w.close()
    return await asyncio.gather(*[one(r, w) for r, w in conns])


def sandbox_queries(stats_url):
    s = http_get_json(stats_url)
    return s["requests"]["query"], s.get("rate_limited", 0)


def cmd_stampede(a):
    """Sends N identical GETs at once on N fresh connections (opened
    first, then all requests written in one burst) and prints one JSON
    line: upstream requests (the sandbox's query count before/after),
    latency from the burst to each answer, statuses, cache verdicts."""
    raise_nofile()
    before, _ = sandbox_queries(a.stats)
    res = asyncio.run(stampede(a.url, [h.split(": ", 1) for h in a.header],
                               a.n))
    time.sleep(0.2)                 # late background refreshes, if any
    after, _ = sandbox_queries(a.stats)
    lat = sorted(r[0] * 1000 for r in res)
    statuses, words = {}, {}
    for _, s, w in res:
        statuses[str(s)] = statuses.get(str(s), 0) + 1
        words[w] = words.get(w, 0) + 1
    print(json.dumps({"target": a.target, "variant": a.variant,
                      "round": a.round, "n": a.n,
                      "upstream": after - before, "p50": median(lat),
                      "p90": lat[int(len(lat) * 0.9) - 1], "max": lat[-1],
                      "min": lat[0], "status": statuses, "cache": words}))
    return 0


def cmd_report_stampede(a):
    """Table of the stampede rounds (JSON lines), medians over rounds."""
    rows = [json.loads(x) for x in open(a.jsonl) if x.strip()]
    out = []
    variants = []
    for r in rows:
        if r.get("variant", "") not in variants:
            variants.append(r.get("variant", ""))
    for v, t in [(v, t) for v in variants for t in a.targets.split(",")]:
        rs = [r for r in rows
              if r["target"] == t and r.get("variant", "") == v]
        if not rs:
            continue
        per = " ".join(str(r["upstream"]) for r in rs)
        st = {}
        cw = {}
        for r in rs:
            for k, c in r["status"].items():
                st[k] = st.get(k, 0) + c
            for k, c in r["cache"].items():
                cw[k] = cw.get(k, 0) + c
        out.append([v, t, fmt_num(median([r["upstream"] for r in rs])),
                    per,
                    fmt_ms(median([r["min"] for r in rs])),
                    fmt_ms(median([r["p50"] for r in rs])),
                    fmt_ms(median([r["p90"] for r in rs])),
                    fmt_ms(median([r["max"] for r in rs])),
                    " ".join(f"{k}:{v}" for k, v in sorted(st.items())),
                    " ".join(f"{k}:{v}" for k, v in sorted(cw.items()))])
    print_table(["phone", "via", "upstream (median)", "per round", "min ms",
                 "p50 ms", "p90 ms", "max ms", "statuses (all rounds)",
                 "cache verdicts (all rounds)"], out)
    return 0


# ---- /metrics ---------------------------------------------------------------


def parse_metrics(text):
    """{name: [(labels dict, value)]} from Prometheus text."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        try:
            head, value = line.rsplit(" ", 1)
            v = float(value)
        except ValueError:
            continue
        name, labels = head, {}
        if "{" in head:
            name, _, rest = head.partition("{")
            for part in rest.rstrip("}").split(","):
                if "=" in part:
                    k, _, val = part.partition("=")
                    labels[k.strip()] = val.strip().strip('"')
        out.setdefault(name, []).append((labels, v))
    return out


def scrape(urls):
    merged = {}
    for u in urls:
        try:
            with urllib.request.urlopen(u + "/metrics", timeout=5) as r:
                m = parse_metrics(r.read().decode("utf-8", "replace"))
        except Exception:                               # noqa: BLE001
            continue
        for k, v in m.items():
            merged.setdefault(k, []).extend(v)
    return merged


def metric_sum(m, name, **match):
    if name not in m:
        return None
    return sum(v for labels, v in m[name]
               if all(labels.get(k) == want for k, want in match.items()))


def metric_delta(before, after, name, **match):
    a = metric_sum(after, name, **match)
    if a is None:
        return None
    b = metric_sum(before, name, **match) or 0
    return a - b


# ---- ready: how long until /readyz says ready again -------------------------


def cmd_ready(a):
    """Polls URL/readyz every 0.1 s until it answers status "ready" with
    every worker's Redis link connected (redis.connected ==
    redis.workers), then prints the ms from SINCE (epoch seconds) to that
    answer; prints "none" and exits 1 when UNTIL (epoch seconds) passes
    first. scripts/chaos runs it from the end of each fault."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while True:
        try:
            with opener.open(a.url + "/readyz", timeout=1) as r:
                body = json.loads(r.read())
            redis = body.get("redis", {})
            if (body.get("status") == "ready" and
                    redis.get("connected") == redis.get("workers")):
                print(max(0, round((time.time() - a.since) * 1000)))
                return 0
        except Exception:                               # noqa: BLE001
            pass
        if time.time() >= a.until:
            print("none")
            return 1
        time.sleep(0.1)


# ---- offload: Zipf reads at a fixed rate over several instances --------------


class Window:
    def __init__(self):
        self.sent = 0
        self.status = {}
        self.cache = {}
        self.lat = []
        self.upstream = None
        self.sandbox_429 = None


async def offload(a, phones):
    urls = a.proxy
    hdrs = [h.split(": ", 1) for h in a.header]
    rng = random.Random(a.seed)
    w = [1.0 / (k ** a.zipf) for k in range(1, len(phones) + 1)]
    cdf = []
    acc = 0.0
    for x in w:
        acc += x
        cdf.append(acc / sum(w))
    nwin = max(1, int(round(a.duration / a.window)))
    wins = [Window() for _ in range(nwin)]
    pools = []
    for u in urls:
        host, port, _ = split_url(u)
        path = a.path
        q = asyncio.Queue()
        for _ in range(a.conns):
            q.put_nowait(await asyncio.open_connection(host, port))
        pools.append((host, port, path, q))
    late = [0]
    total = int(a.rate * a.duration)
    t0 = time.perf_counter()

    async def fire(i, win):
        host, port, path, q = pools[i % len(pools)]
        phone = phones[min(bisect.bisect_left(cdf, rng.random()),
                           len(phones) - 1)]
        req = build_request(host, port, path + "?phone=" +
                            phone.replace("+", "%2B"), hdrs)
        conn = await q.get()
        t = time.perf_counter()
        status, word, reuse = 0, "error", False
        try:
            if conn is None:        # lost earlier: connect again
                conn = await asyncio.open_connection(host, port)
            r, wr = conn
            wr.write(req)
            status, h, _ = await read_response(r)
            word = cache_word(h)
            reuse = h.get("connection", "").lower() != "close"
        except Exception:                               # noqa: BLE001
            pass
        if not reuse and conn is not None:
            conn[1].close()
        q.put_nowait(conn if reuse else None)
        win.status[status] = win.status.get(status, 0) + 1
        win.cache[word] = win.cache.get(word, 0) + 1
        win.lat.append((time.perf_counter() - t) * 1000)

    async def sampler():
        last, last429 = sandbox_queries(a.stats)
        for k in range(nwin):
            await asyncio.sleep(max(0.0, t0 + (k + 1) * a.window -
                                    time.perf_counter()))
            now, now429 = sandbox_queries(a.stats)
            wins[k].upstream = now - last
            wins[k].sandbox_429 = now429 - last429
            last, last429 = now, now429

    samp = asyncio.create_task(sampler())
    tasks = set()
    for i in range(total):
        due = t0 + i / a.rate
        d = due - time.perf_counter()
        if d > 0:
            await asyncio.sleep(d)
        elif d < -0.05:
            late[0] += 1
        win = wins[min(int((due - t0) / a.window), nwin - 1)]
        win.sent += 1
        t = asyncio.create_task(fire(i, win))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    await samp
    for _, _, _, q in pools:
        while not q.empty():
            conn = q.get_nowait()
            if conn is not None:
                conn[1].close()
    return wins, late[0], time.perf_counter() - t0


def cmd_offload(a):
    """Sends RATE GET/s for DURATION s, round robin over the proxies,
    each phone drawn from PHONES by a Zipf law (exponent ZIPF, rank 1 =
    first line); samples the sandbox's counters every WINDOW s; reads
    every proxy's /metrics before and after. Prints the report."""
    raise_nofile()
    phones = [p.strip() for p in open(a.phones) if p.strip()]
    m0 = scrape(a.proxy)
    wins, late, took = asyncio.run(offload(a, phones))
    time.sleep(0.5)
    m1 = scrape(a.proxy)

    rows = []
    tot = Window()
    tot.upstream = 0
    tot.sandbox_429 = 0
    words = ["HIT", "MISS", "STALE", "BYPASS"]
    for k, w in enumerate(wins):
        n = sum(w.status.values())
        other = n - sum(w.cache.get(x, 0) for x in words)
        rows.append([f"{k + 1}", str(n), str(w.status.get(200, 0)),
                     str(w.status.get(404, 0)), str(w.status.get(429, 0)),
                     str(n - sum(w.status.get(s, 0) for s in (200, 404, 429))),
                     *[str(w.cache.get(x, 0)) for x in words], str(other),
                     str(w.upstream), str(w.sandbox_429),
                     fmt_ms(median(w.lat))])
        for d_from, d_to in ((w.status, tot.status), (w.cache, tot.cache)):
            for key, v in d_from.items():
                d_to[key] = d_to.get(key, 0) + v
        tot.lat += w.lat
        tot.upstream += w.upstream or 0
        tot.sandbox_429 += w.sandbox_429 or 0
    n = sum(tot.status.values())
    rows.append(["all", str(n), str(tot.status.get(200, 0)),
                 str(tot.status.get(404, 0)), str(tot.status.get(429, 0)),
                 str(n - sum(tot.status.get(s, 0) for s in (200, 404, 429))),
                 *[str(tot.cache.get(x, 0)) for x in words],
                 str(n - sum(tot.cache.get(x, 0) for x in words)),
                 str(tot.upstream), str(tot.sandbox_429),
                 fmt_ms(median(tot.lat))])
    print(f"  per {a.window:g} s window (client side: statuses and X-Cache; "
          f"sandbox side: upstream GET /phone/query and its own 429s):")
    print_table(["window", "sent", "200", "404", "429", "other", "HIT",
                 "MISS", "STALE", "BYPASS", "no X-Cache", "upstream",
                 "sandbox 429", "p50 ms"], rows)
    print(f"  load: {n} requests in {took:.1f} s "
          f"({n / took:.1f}/s; {late} sent over 50 ms late)")
    print()

    def show(v, nd=0):
        return "n/a" if v is None else fmt_num(v, nd)

    hits = tot.cache.get("HIT", 0)
    stale = tot.cache.get("STALE", 0)
    budget = a.budget * a.duration / 60.0
    coalesced = metric_delta(m0, m1, "heavyset_coalesced_total")
    collapsed = metric_delta(m0, m1, "heavyset_requests_total",
                             cache="collapsed")
    local429 = metric_delta(m0, m1, "heavyset_rate_limited_total")
    est429 = tot.status.get(429, 0) - tot.sandbox_429
    m_up = metric_delta(m0, m1, "heavyset_upstream_requests_total")
    m_stale = metric_delta(m0, m1, "heavyset_stale_served_total")
    m_up429 = metric_delta(m0, m1, "heavyset_upstream_429_total")
    lines = [
        ("client requests", show(n)),
        ("upstream requests (sandbox count)",
         f"{tot.upstream} (budget for the run: {budget:.0f}, "
         f"{a.budget}/min per token)"),
        ("upstream requests (proxies' metric)", show(m_up)),
        ("sandbox's own 429s (must be 0)", str(tot.sandbox_429)),
        ("local 429s (heavyset_rate_limited_total)", show(local429)),
        ("local 429s (client 429s minus sandbox 429s)", str(est429)),
        ("upstream 429s seen (heavyset_upstream_429_total)", show(m_up429)),
        ("stale serves (heavyset_stale_served_total)", show(m_stale)),
        ("stale serves (X-Cache: STALE)", str(stale)),
        ("hit ratio (HIT / all)", f"{hits / n:.3f}" if n else "n/a"),
        ("hit ratio ((HIT+STALE) / all)",
         f"{(hits + stale) / n:.3f}" if n else "n/a"),
        ("upstream calls saved (client requests - upstream)",
         str(n - tot.upstream)),
        ("  saved by coalescing (heavyset_coalesced_total)", show(coalesced)),
        ("  saved by coalescing (cache=\"collapsed\" answers)",
         show(collapsed)),
    ]
    for cache in ("hit", "miss", "stale", "bypass", "replay", "collapsed",
                  "none"):
        v = metric_delta(m0, m1, "heavyset_requests_total", cache=cache)
        lines.append((f"heavyset_requests_total{{cache=\"{cache}\"}}",
                      show(v)))
    wk = max(len(k) for k, _ in lines)
    for k, v in lines:
        print(f"  {k.ljust(wk)}  {v}")
    return 0


# ---- Redis Cluster: a RESP client, slot moves, the cost of a MOVED --------


class RespError(Exception):
    pass


class Resp:
    """A blocking RESP2 client for the bench's own cluster commands."""

    def __init__(self, host, port):
        import socket
        self.addr = (host, port)
        self.s = socket.create_connection(self.addr, timeout=10)
        self.f = self.s.makefile("rb")

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for x in args:
            x = x if isinstance(x, bytes) else str(x).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(x), x))
        self.s.sendall(b"".join(out))
        return self.read()

    def read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError(f"Redis {self.addr} closed")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RespError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RespError(f"unexpected reply {line!r}")


def cluster_masters(r):
    """{node id: (host, port, [(first, last) slot ranges])} of the masters
    that CLUSTER NODES on R lists."""
    out = {}
    for line in r.call("CLUSTER", "NODES").decode().splitlines():
        p = line.split()
        if len(p) < 8 or "master" not in p[2].split(","):
            continue
        host, _, port = p[1].split("@")[0].rpartition(":")
        ranges = []
        for x in p[8:]:
            if x.startswith("["):
                continue            # a slot being imported or migrated
            a, _, b = x.partition("-")
            ranges.append((int(a), int(b or a)))
        out[p[0]] = (host, int(port), ranges)
    return out


def cluster_owner(masters, slot):
    for nid, (_, _, ranges) in masters.items():
        if any(a <= slot <= b for a, b in ranges):
            return nid
    return None


def move_slot(conns, masters, slot, src, dst):
    """Moves SLOT and its keys from master SRC to master DST (node ids),
    as redis-cli --cluster reshard does for one slot: IMPORTING on DST,
    MIGRATING on SRC, MIGRATE the keys, then SETSLOT NODE on every
    master (DST first). Returns how many keys moved."""
    dh, dp, _ = masters[dst]
    conns[dst].call("CLUSTER", "SETSLOT", slot, "IMPORTING", src)
    conns[src].call("CLUSTER", "SETSLOT", slot, "MIGRATING", dst)
    moved = 0
    while True:
        keys = conns[src].call("CLUSTER", "GETKEYSINSLOT", slot, 100)
        if not keys:
            break
        conns[src].call("MIGRATE", dh, dp, "", 0, 5000, "KEYS", *keys)
        moved += len(keys)
    for nid in [dst, src] + [n for n in conns if n not in (dst, src)]:
        conns[nid].call("CLUSTER", "SETSLOT", slot, "NODE", dst)
    return moved


class Conn:
    """One keep-alive HTTP/1.1 connection, blocking: any method, timed."""

    def __init__(self, url, token):
        import socket
        self.host, self.port, base = split_url(url)
        self.base = base.rstrip("/")
        self.token = token
        self.s = socket.create_connection((self.host, self.port), timeout=60)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")

    def call(self, method, path):
        """(seconds, status, headers, body) of one request."""
        req = (f"{method} {self.base}{path} HTTP/1.1\r\n"
               f"Host: {self.host}:{self.port}\r\n"
               f"x-hs-token: {self.token}\r\n\r\n").encode("latin-1")
        t0 = time.perf_counter()
        self.s.sendall(req)
        status = int(self.f.readline().split(None, 2)[1])
        h = {}
        while True:
            line = self.f.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            h[k.strip().lower()] = v.strip()
        body = self.f.read(int(h.get("content-length", 0)))
        return time.perf_counter() - t0, status, h, body


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def cmd_purge_run(a):
    """The cost of PURGE (SPEC §13). The proxy at URL (its Redis at REDIS,
    HOST:PORT, the bench's own, which this empties) answers TOKEN's PHONES.
    Per phone: N times, a lead is fetched (a miss) then purged, on one
    keep-alive connection; the PURGE's latency against the GET HIT's that
    precedes it. Whole tenant: for each SIZE, Redis is emptied and filled
    with SIZE keys of nobody's (DEBUG POPULATE), FILL leads of TOKEN are
    cached, and one PURGE without a phone is timed, while another
    connection reads OTHER's cached lead in a loop: how long the purge
    takes, and what it costs a tenant that is not purged."""
    import threading
    host, _, port = a.redis.rpartition(":")
    r = Resp(host, int(port))
    phones = [l.strip() for l in open(a.phones) if l.strip()]
    api = "/api/v1/appointment/s2s/phone/query"
    c = Conn(a.url, a.token)

    r.call("FLUSHALL")
    hit, pur = [], []
    for i in range(a.n):
        q = "?phone=" + phones[i % len(phones)].replace("+", "%2B")
        c.call("GET", api + q)
        t, st, h, _ = c.call("GET", api + q)
        if st != 200 or h.get("x-cache") != "HIT":
            print(f"benchlib: purge-run: {q}: {st} {h.get('x-cache')}",
                  file=sys.stderr)
            return 1
        hit.append(t * 1000)
        t, st, _, body = c.call("PURGE", api + q)
        if st != 200 or json.loads(body).get("purged") != 1:
            print(f"benchlib: purge-run: PURGE {q}: {st} {body!r}",
                  file=sys.stderr)
            return 1
        pur.append(t * 1000)
    print(f"  per phone, {a.n} of each on one connection (ms):")
    print_table(["request", "p50", "p90", "p99"],
                [["GET, a hit", fmt_ms(pct(hit, .5)), fmt_ms(pct(hit, .9)),
                  fmt_ms(pct(hit, .99))],
                 ["PURGE ?phone=, 1 entry", fmt_ms(pct(pur, .5)),
                  fmt_ms(pct(pur, .9)), fmt_ms(pct(pur, .99))]])

    import hashlib
    tenant = hashlib.sha256(a.token.encode()).hexdigest()[:32]

    def entries():
        """The tenant's cached entries, counted in Redis directly."""
        n, cur = 0, b"0"
        while True:
            cur, ks = r.call("SCAN", cur, "MATCH",
                             f"{a.prefix}:v3:{{{tenant}}}:lead:*",
                             "COUNT", 10000)
            for k in ks:
                n += r.call("HLEN", k)
            if cur == b"0":
                return n

    rows = []
    other = Conn(a.url, a.other)
    for size in [int(x) for x in a.sizes.split(",")]:
        r.call("FLUSHALL")
        if size > 0:
            r.call("DEBUG", "POPULATE", size, "nobody")
        # DEBUG POPULATE holds Redis long enough for the proxy to drop
        # its link and fail open: wait until a lead is cached again.
        q = "?phone=" + phones[0].replace("+", "%2B")
        deadline = time.time() + 20
        while c.call("GET", api + q)[2].get("x-cache") != "HIT":
            if time.time() > deadline:
                print(f"benchlib: purge-run: no hit 20 s after filling "
                      f"{size} keys", file=sys.stderr)
                return 1
            time.sleep(0.1)
        for i in range(a.fill):
            q = "?phone=" + phones[i % len(phones)].replace("+", "%2B")
            c.call("GET", api + q)
        other.call("GET", api + "?phone=" + a.other_phone.replace("+", "%2B"))
        lat, stop = [], threading.Event()

        def reads():
            q = "?phone=" + a.other_phone.replace("+", "%2B")
            while not stop.is_set():
                lat.append(other.call("GET", api + q)[0])

        keys = r.call("DBSIZE")
        cached = entries()
        th = threading.Thread(target=reads)
        th.start()
        time.sleep(0.3)
        before = len(lat)
        t, st, _, body = c.call("PURGE", api)
        during = lat[before:]
        stop.set()
        th.join()
        n = json.loads(body).get("purged") if st == 200 else None
        left = entries()
        if n != cached or left != 0:
            print(f"benchlib: purge-run: tenant PURGE at {size}: {st} "
                  f"{body!r}; {cached} entries before, {left} after",
                  file=sys.stderr)
            return 1
        rows.append([f"{keys:,}", f"{cached}", f"{n}", fmt_ms(t * 1000),
                     fmt_ms(pct(lat[:before], .5) * 1000),
                     fmt_ms(pct(during, .5) * 1000) if during else "-",
                     fmt_ms(max(during) * 1000) if during else "-",
                     f"{len(during)}"])
    print(f"\n  whole tenant: {a.fill} leads of the tenant asked for, its"
          " entries counted in Redis before and after (none left);"
          " another tenant's hit read in a loop meanwhile (ms):")
    print_table(["keys in Redis", "entries", "purged", "PURGE took",
                 "other's hit p50 before", "p50 during", "max during",
                 "reads during"], rows)
    return 0


def cmd_moved_run(a):
    """The cost of a MOVED. The proxy at URL (one worker, near cache off,
    on the cluster NODE) has answered TOKEN's PHONE from Redis, so its
    slot map knows the tenant's slot. Then, N times: move that slot with
    its keys to another master (and back, in turn), and time, on one
    keep-alive connection, the first request after the move (its lookup
    goes to the old master, is answered MOVED, and goes again to the new
    one) and the FOLLOW requests after it; between two moves a control
    round does the same without a move. /metrics before and after each
    round must show one MOVED more after a move and none after a
    control; rounds that do not are left out and counted. Prints the
    table and the checks."""
    host, _, port = a.node.rpartition(":")
    seed = Resp(host, int(port))
    masters = cluster_masters(seed)
    conns = {nid: Resp(h, p) for nid, (h, p, _) in masters.items()}
    slot = tenant_slot(a.token)
    home = cluster_owner(masters, slot)
    if home is None:
        print(f"benchlib: moved-run: no master serves slot {slot}",
              file=sys.stderr)
        return 1
    away = next(n for n in masters if n != home)
    ka = Conn(a.url, a.token)
    # requests of another tenant (another slot, never moved) just before
    # each timed one, so that it does not pay for waking an idle proxy
    warm = Conn(a.url, a.warm_token)

    def get(c):
        """(seconds, status, cache verdict) of one GET of the path."""
        t, st, h, _ = c.call("GET", a.path)
        return t, st, cache_word(h)

    def moved_count():
        m = scrape([a.url])
        return (metric_sum(m, "heavyset_redis_redirects_total",
                           kind="moved") or 0,
                metric_sum(m, "heavyset_redis_cluster_refreshes_total") or 0)

    for _ in range(5):                  # fill the entry, learn the map
        get(ka)
        get(warm)
    _, st, word = get(ka)
    if st != 200 or word != "HIT":
        print(f"benchlib: moved-run: the warm request answered {st} "
              f"{word}, not 200 HIT", file=sys.stderr)
        return 1
    cur = home
    # one untimed move there and back: each master has run the scripts
    for _ in range(2):
        other = away if cur == home else home
        move_slot(conns, masters, slot, cur, other)
        cur = other
        get(ka)
        get(ka)
    rows = []
    for i in range(2 * a.n):
        kind = "moved" if i % 2 == 0 else "control"
        time.sleep(a.pause)
        b_moved, b_ref = moved_count()
        time.sleep(a.pause)
        keys = 0
        t0 = time.perf_counter()
        if kind == "moved":
            other = away if cur == home else home
            keys = move_slot(conns, masters, slot, cur, other)
            cur = other
        # a control waits as long as a move took: the same idle gap
        # before its first request
        spent = time.perf_counter() - t0
        if kind == "control":
            time.sleep(rows[-1]["move_s"] if rows else spent)
        for _ in range(a.warm):
            get(warm)
        first = get(ka)
        follow = [get(ka) for _ in range(a.follow)]
        time.sleep(a.pause)
        e_moved, e_ref = moved_count()
        words = [first[2]] + [f[2] for f in follow]
        statuses = [first[1]] + [f[1] for f in follow]
        rows.append({"kind": kind, "first_ms": first[0] * 1000,
                     "follow_ms": median([f[0] * 1000 for f in follow]),
                     "moved": e_moved - b_moved,
                     "refreshes": e_ref - b_ref, "keys": keys,
                     "move_s": spent,
                     "ok": all(s == 200 for s in statuses) and
                     all(w == "HIT" for w in words)})
    want = {"moved": 1, "control": 0}
    good = [r for r in rows if r["moved"] == want[r["kind"]] and r["ok"]]
    out = []
    for kind in ("moved", "control"):
        rs = [r for r in good if r["kind"] == kind]
        out.append([kind, str(len(rs)),
                    fmt_ms(median([r["first_ms"] for r in rs])),
                    fmt_ms(min([r["first_ms"] for r in rs], default=0)),
                    fmt_ms(max([r["first_ms"] for r in rs], default=0)),
                    fmt_ms(median([r["follow_ms"] for r in rs])),
                    f"{median([r['first_ms'] - r['follow_ms'] for r in rs]):+.3f}"])
    print_table(["round", "n", "first ms (median)", "min", "max",
                 "following ms (median)", "first - following ms (median)"],
                out)
    mv = [r for r in good if r["kind"] == "moved"]
    ct = [r for r in good if r["kind"] == "control"]
    cost = (median([r["first_ms"] - r["follow_ms"] for r in mv]) -
            median([r["first_ms"] - r["follow_ms"] for r in ct]))
    print()
    first_d = (median([r["first_ms"] for r in mv]) -
               median([r["first_ms"] for r in ct]))
    print(f"  cost of a MOVED: {cost:+.3f} ms (moved rounds' first minus "
          f"following, less the control rounds' same difference); first "
          f"request, moved against control: {first_d:+.3f} ms")
    print(f"  checks: slot {slot}, masters {len(masters)}; MOVED counted "
          f"per moved round: "
          + " ".join(str(int(r["moved"])) for r in rows
                     if r["kind"] == "moved")
          + "; per control round: "
          + " ".join(str(int(r["moved"])) for r in rows
                     if r["kind"] == "control"))
    print("  slot map reads (heavyset_redis_cluster_refreshes_total) per "
          "moved round: " + " ".join(str(int(r["refreshes"])) for r in rows
                                     if r["kind"] == "moved")
          + "; keys migrated per move: " + " ".join(
              str(r["keys"]) for r in rows if r["kind"] == "moved"))
    bad = len(rows) - len(good)
    print(f"  every answer 200 HIT: "
          f"{'yes' if all(r['ok'] for r in rows) else 'NO'}; rounds left "
          f"out (MOVED count not 1 after a move or not 0 after a control, "
          f"or an answer not a 200 HIT): {bad} of {len(rows)}")
    # put the slot back where it was
    if cur != home:
        move_slot(conns, masters, slot, cur, home)
    return 0 if good else 1


# ---- memory ----------------------------------------------------------------


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
                if int(st.rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def mem_kb(pid):
    """(VmRSS, Pss) in kB for PID; Pss is None without smaps_rollup."""
    rss = pss = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def mem_of(spec):
    """SPEC is PID, or PID+ for the process and its children (nginx's
    master and workers). Returns (rss kB, pss kB, process count)."""
    tree = spec.endswith("+")
    pid = int(spec.rstrip("+"))
    pids = [pid] + (children(pid) if tree else [])
    rss = pss = 0
    for p in pids:
        r, s = mem_kb(p)
        rss += r or 0
        pss += s or 0
    return rss, pss, len(pids)


def cmd_rss(a):
    """Prints "rss_kB pss_kB processes" for each SPEC (PID or PID+)."""
    for s in a.spec:
        print("%d\t%d\t%d" % mem_of(s))
    return 0


async def hold(url, headers, n, parallel):
    host, port, path = split_url(url)
    req = build_request(host, port, path, headers)
    sem = asyncio.Semaphore(parallel)
    held = []
    bad = [0]

    async def one():
        async with sem:
            try:
                r, w = await asyncio.open_connection(host, port)
                w.write(req)
                status, _, _ = await read_response(r)
                if status != 200:
                    bad[0] += 1
                held.append(w)
            except Exception:                           # noqa: BLE001
                bad[0] += 1
    await asyncio.gather(*[one() for _ in range(n)])
    return held, bad[0]


def cmd_hold(a):
    """Opens N keep-alive connections to URL, each sending one GET and
    reading its answer, then (all of them still open) prints the memory
    of each SPEC like `rss`, and closes them. Prints "held N failed F"
    first."""
    hard = raise_nofile()
    if hard < a.n + 100:
        print(f"benchlib: RLIMIT_NOFILE {hard} is too low for {a.n}",
              file=sys.stderr)
        return 1

    async def main():
        held, bad = await hold(a.url, [h.split(": ", 1) for h in a.header],
                               a.n, a.parallel)
        await asyncio.sleep(a.settle)
        print(f"held\t{len(held)}\tfailed\t{bad}")
        for s in a.spec:
            print("%d\t%d\t%d" % mem_of(s))
        sys.stdout.flush()
        for w in held:
            w.close()
        await asyncio.sleep(0.5)
    asyncio.run(main())
    return 0


# ---- seed: 1,000 leads for one token ---------------------------------------


def cmd_seed(a):
    """Writes a sandbox seed: conf/sandbox-seed.json plus N leads for the
    tenant with TOKEN (copies of its first lead without a booked block,
    phones +1435777xxxx); writes the N phones, one a line, to PHONES."""
    seed = json.load(open(a.input))
    t = next(t for t in seed["tenants"] if t["token"] == a.token)
    model = dict(t["leads"][0])
    model.pop("blockId", None)
    taken = {"+" + "".join(c for c in lead["phone"] if c.isdigit())
             for lead in t["leads"]}
    phones = []
    i = 0
    while len(phones) < a.n:
        i += 1
        phone = f"+1435777{i:04d}"
        if phone in taken:
            continue
        lead = dict(model)
        lead["phone"] = phone
        lead["leadId"] = f"00Q8X0000B{i:06d}"
        lead["name"] = f"Bench Lead{i:04d}"
        t["leads"].append(lead)
        phones.append(lead["phone"])
    if a.tenants:
        # copies of that tenant (its leads, the generated ones included)
        # under tokens chosen so that the tenants' hash slots (key.h) take
        # the three thirds of the slot space in turn: the masters a
        # 3-master `redis-cli --cluster create` makes
        tokens = []
        i = 0
        while len(tokens) < a.tenants:
            i += 1
            tok = f"hs_bench_tenant_{i:04d}"
            if tenant_slot(tok) * 3 // 16384 != len(tokens) % 3:
                continue
            copy = json.loads(json.dumps(t))
            copy["token"] = tok
            copy["name"] = f"Bench Tenant {i:04d}"
            seed["tenants"].append(copy)
            tokens.append(tok)
        with open(a.tokens, "w") as f:
            f.write("\n".join(tokens) + "\n")
    json.dump(seed, open(a.output, "w"), indent=1)
    with open(a.phones, "w") as f:
        f.write("\n".join(phones) + "\n")
    return 0


def crc16(data):
    """CRC-16/XMODEM, Redis Cluster's key hash."""
    c = 0
    for x in data:
        c ^= x << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) & 0xFFFF if c & 0x8000 else (c << 1) & 0xFFFF
    return c


def tenant_slot(token):
    """The hash slot of a tenant's keys: their tag is the first 32 hex
    digits of SHA-256(token) (src/key.h)."""
    import hashlib
    return crc16(hashlib.sha256(token.encode()).hexdigest()[:32]
                 .encode()) % 16384


# ---- main -------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("port")
    s.add_argument("pid", type=int)
    s.add_argument("--timeout", type=float, default=30)
    s.set_defaults(fn=cmd_port)

    s = sub.add_parser("freeport")
    s.set_defaults(fn=cmd_freeport)

    s = sub.add_parser("cpu")
    s.add_argument("spec", nargs="+")
    s.set_defaults(fn=cmd_cpu)

    s = sub.add_parser("wrk")
    s.add_argument("file")
    s.set_defaults(fn=cmd_wrk)

    s = sub.add_parser("report-hit")
    s.add_argument("tsv")
    s.add_argument("--targets", default="proxy,nginx,ceiling")
    s.add_argument("--section", default="hit")
    s.set_defaults(fn=cmd_report_hit)

    s = sub.add_parser("report-miss")
    s.add_argument("tsv")
    s.add_argument("--targets", default="direct,proxy,nginx")
    s.add_argument("--section", default="miss")
    s.set_defaults(fn=cmd_report_miss)

    s = sub.add_parser("miss64-run")
    s.add_argument("url")
    s.add_argument("--target", required=True)
    s.add_argument("--round", type=int, default=0)
    s.add_argument("--prefix", required=True)
    s.add_argument("--conns", type=int, default=64)
    s.add_argument("--wrk-threads", type=int, default=2)
    s.add_argument("--duration", type=int, default=8)
    s.add_argument("--header", action="append", default=[])
    s.add_argument("--lua", required=True)
    s.add_argument("--pid", required=True, help="PID, or PID+ for a tree")
    s.add_argument("--redis", help="redis-server's PID (PID,PID,... for "
                   "a cluster's masters, summed)")
    s.add_argument("--lua-arg", action="append", default=[],
                   help="more arguments for the wrk script, after PREFIX")
    s.add_argument("--threads-of", type=int,
                   help="PID whose threads' CPU to split")
    s.add_argument("--stats", required=True)
    s.add_argument("--metrics", help="base URL of a heavyset-proxy")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_miss64_run)

    s = sub.add_parser("report-miss64")
    s.add_argument("jsonl")
    s.set_defaults(fn=cmd_report_miss64)

    s = sub.add_parser("syscalls-run")
    s.add_argument("url")
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--target", required=True)
    s.add_argument("--prefix", required=True)
    s.add_argument("--n", type=int, default=2000)
    s.add_argument("--warm", type=int, default=100)
    s.add_argument("--conns", type=int, default=8)
    s.add_argument("--header", action="append", default=[])
    s.add_argument("--stats", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_syscalls_run)

    s = sub.add_parser("report-syscalls")
    s.add_argument("jsonl")
    s.add_argument("--top", type=int, default=8)
    s.set_defaults(fn=cmd_report_syscalls)

    s = sub.add_parser("conns-to")
    s.add_argument("pid", type=int)
    s.add_argument("port", type=int, nargs="+")
    s.set_defaults(fn=cmd_conns_to)

    s = sub.add_parser("stampede")
    s.add_argument("url")
    s.add_argument("--header", action="append", default=[])
    s.add_argument("--n", type=int, default=200)
    s.add_argument("--stats", required=True)
    s.add_argument("--target", default="?")
    s.add_argument("--round", type=int, default=0)
    s.add_argument("--variant", default="")
    s.set_defaults(fn=cmd_stampede)

    s = sub.add_parser("report-stampede")
    s.add_argument("jsonl")
    s.add_argument("--targets", default="proxy,nginx")
    s.set_defaults(fn=cmd_report_stampede)

    s = sub.add_parser("offload")
    s.add_argument("--proxy", action="append", required=True,
                   help="base URL of an instance (http://127.0.0.1:PORT)")
    s.add_argument("--path", default="/api/v1/appointment/s2s/phone/query")
    s.add_argument("--header", action="append", default=[])
    s.add_argument("--phones", required=True)
    s.add_argument("--stats", required=True)
    s.add_argument("--rate", type=float, required=True)
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--window", type=float, default=60)
    s.add_argument("--budget", type=int, required=True)
    s.add_argument("--zipf", type=float, default=1.1)
    s.add_argument("--conns", type=int, default=8)
    s.add_argument("--seed", type=int, default=1)
    s.set_defaults(fn=cmd_offload)

    s = sub.add_parser("ready")
    s.add_argument("url", help="base URL of a heavyset-proxy")
    s.add_argument("--since", type=float, required=True)
    s.add_argument("--until", type=float, required=True)
    s.set_defaults(fn=cmd_ready)

    s = sub.add_parser("rss")
    s.add_argument("spec", nargs="+")
    s.set_defaults(fn=cmd_rss)

    s = sub.add_parser("hold")
    s.add_argument("url")
    s.add_argument("spec", nargs="+")
    s.add_argument("--header", action="append", default=[])
    s.add_argument("--n", type=int, default=10000)
    s.add_argument("--parallel", type=int, default=100)
    s.add_argument("--settle", type=float, default=1.0)
    s.set_defaults(fn=cmd_hold)

    s = sub.add_parser("fill")
    s.add_argument("url")
    s.add_argument("--tokens", required=True)
    s.add_argument("--phones", required=True)
    s.add_argument("--n", type=int, default=400)
    s.add_argument("--conns", type=int, default=16)
    s.set_defaults(fn=cmd_fill)

    s = sub.add_parser("purge-run")
    s.add_argument("url", help="base URL of a heavyset-proxy")
    s.add_argument("--redis", required=True, help="its Redis, HOST:PORT")
    s.add_argument("--token", required=True)
    s.add_argument("--phones", required=True)
    s.add_argument("--other", required=True, help="another tenant's token")
    s.add_argument("--other-phone", required=True)
    s.add_argument("--n", type=int, default=500)
    s.add_argument("--fill", type=int, default=200)
    s.add_argument("--sizes", default="0,100000,1000000")
    s.add_argument("--prefix", default="hspbench", help="redis_prefix")
    s.set_defaults(fn=cmd_purge_run)

    s = sub.add_parser("moved-run")
    s.add_argument("url", help="base URL of a heavyset-proxy")
    s.add_argument("--node", required=True, help="a master's HOST:PORT")
    s.add_argument("--token", required=True)
    s.add_argument("--path", required=True, help="path and query of a "
                   "request that the cache answers")
    s.add_argument("--n", type=int, default=20)
    s.add_argument("--follow", type=int, default=5)
    s.add_argument("--pause", type=float, default=0.15)
    s.add_argument("--warm-token", required=True,
                   help="another tenant, asked --warm times before each "
                   "timed first request")
    s.add_argument("--warm", type=int, default=3)
    s.set_defaults(fn=cmd_moved_run)

    s = sub.add_parser("seed")
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("phones")
    s.add_argument("--token", required=True)
    s.add_argument("--n", type=int, default=1000)
    s.add_argument("--tenants", type=int, default=0,
                   help="copies of the tenant under this many more tokens")
    s.add_argument("--tokens", help="where to write those tokens")
    s.set_defaults(fn=cmd_seed)

    a = p.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
