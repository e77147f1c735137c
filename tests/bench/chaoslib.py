#!/usr/bin/env python3
"""chaoslib.py - the parts of scripts/chaos's topology phases that are
easier in Python than in sh: a small RESP client to wait for a Sentinel
topology and to start a failover, the probe that times a failover
(+switch-master on every sentinel, a GET through the proxy every 20 ms,
the proxy's links on every node), and the count of how often each
Idempotency-Key ran upstream.

Standard library only. `chaoslib.py CMD --help` lists a command's
arguments. All traffic is loopback.
"""
import argparse
import http.client
import json
import socket
import ssl
import sys
import threading
import time
import urllib.parse

MASTER = "mymaster"
PROXY_NAME = "heavyset-proxy"       # the proxy's CLIENT SETNAME


# ---- a minimal RESP client --------------------------------------------------


class Resp:
    """One connection to a Redis or a sentinel on 127.0.0.1:PORT."""

    def __init__(self, port, timeout=2.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def reply(self):
        """The next reply: str, int, list, None, or a RespError."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ConnectionError(f"bad reply {line!r}")

    def call(self, *args):
        self.send(*args)
        return self.reply()


class RespError(str):
    pass


def call(port, *args, timeout=2.0):
    """One command on a fresh connection; None when it cannot be made."""
    try:
        c = Resp(port, timeout)
        try:
            return c.call(*args)
        finally:
            c.close()
    except OSError:
        return None


def pairs(flat):
    return dict(zip(flat[0::2], flat[1::2]))


def healthy(entries):
    """How many SENTINEL REPLICAS/SENTINELS entries are neither down nor
    disconnected."""
    n = 0
    for e in entries if isinstance(entries, list) else []:
        flags = pairs(e).get("flags", "")
        if "down" not in flags and "disconnected" not in flags:
            n += 1
    return n


def ports(s):
    return [int(p) for p in s.split(",") if p]


# ---- sentinel-wait, master, failover ----------------------------------------


def cmd_sentinel_wait(a):
    """Waits until every sentinel knows REPLICAS healthy replicas and the
    other sentinels, as healthy; exits 1 after TIMEOUT s."""
    sentinels = ports(a.sentinels)
    end = time.time() + a.timeout
    while True:
        ok = all(
            healthy(call(s, "SENTINEL", "REPLICAS", MASTER)) >= a.replicas
            and healthy(call(s, "SENTINEL", "SENTINELS", MASTER)) >=
            len(sentinels) - 1 for s in sentinels)
        if ok:
            return 0
        if time.time() >= end:
            print("chaoslib: the sentinels do not know each other and the "
                  f"{a.replicas} replicas after {a.timeout} s",
                  file=sys.stderr)
            return 1
        time.sleep(0.1)


def master_port(sentinel):
    r = call(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
    return int(r[1]) if isinstance(r, list) and len(r) == 2 else None


def cmd_master(a):
    """Prints the master's port as SENTINEL (a port) names it."""
    p = master_port(a.sentinel)
    if p is None:
        return 1
    print(p)
    return 0


def cmd_failover(a):
    """SENTINEL FAILOVER mymaster on SENTINEL, again every 0.1 s while it
    is refused (-INPROG: the last one is not over; -NOGOODSLAVE: no
    replica is eligible yet, e.g. the demoted master not yet seen as a
    replica), for up to TIMEOUT s. Prints the master's port before it and
    "ok", or the last refusal (exit 1)."""
    end = time.time() + a.timeout
    before = master_port(a.sentinel)
    while True:
        r = call(a.sentinel, "SENTINEL", "FAILOVER", MASTER)
        if r == "OK":
            print(before, "ok")
            return 0
        if time.time() >= end:
            print(before, str(r).replace(" ", "_"))
            return 1
        time.sleep(0.1)


# ---- probe: a failover as the clients see it --------------------------------


def watch(port, events, lock, stop):
    """Appends (time, sentinel port, old port, new port) to EVENTS for
    each +switch-master that sentinel PORT announces."""
    while not stop.is_set():
        try:
            c = Resp(port, timeout=1.0)
            c.call("SUBSCRIBE", "+switch-master")
            while not stop.is_set():
                try:
                    m = c.reply()
                except socket.timeout:
                    continue
                t = time.time()
                if isinstance(m, list) and len(m) == 3 and m[0] == "message":
                    f = m[2].split()        # name oldip oldport newip newport
                    if len(f) == 5 and f[0] == MASTER:
                        with lock:
                            events.append((t, port, int(f[2]), int(f[4])))
        except OSError:
            time.sleep(0.1)


def proxy_links(port):
    """How many clients named heavyset-proxy Redis PORT lists (-1: no
    answer)."""
    r = call(port, "CLIENT", "LIST", timeout=0.5)
    if not isinstance(r, str):
        return -1
    return sum(1 for line in r.splitlines()
               if f" name={PROXY_NAME} " in f" {line} ")


def cmd_probe(a):
    """Until UNTIL (epoch s): every 20 ms one GET of PHONE through the
    proxy at URL (X-Cache noted) and the number of the proxy's links on
    each node; meanwhile +switch-master from every sentinel, timestamped
    as it arrives. Writes OUT (JSON: samples, switches)."""
    events, lock, stop = [], threading.Lock(), threading.Event()
    threads = [threading.Thread(target=watch, args=(p, events, lock, stop),
                                daemon=True) for p in ports(a.sentinels)]
    for t in threads:
        t.start()
    nodes = ports(a.nodes)
    u = urllib.parse.urlsplit(a.url)
    path = ("/api/v1/appointment/s2s/phone/query?phone=" +
            urllib.parse.quote(a.phone))
    conn, samples = None, []
    while time.time() < a.until:
        t = time.time()
        # the links first: a HIT for a GET sent once the old master listed
        # none of them cannot have been read there
        links = [proxy_links(n) for n in nodes]
        sent = time.time()
        st, xc = 0, "-"
        try:
            if conn is None:
                conn = http.client.HTTPConnection(u.hostname, u.port,
                                                  timeout=5)
            conn.request("GET", path, headers={"x-hs-token": a.token})
            r = conn.getresponse()
            r.read()
            st, xc = r.status, r.getheader("X-Cache", "-")
        except (OSError, http.client.HTTPException):
            conn = None
        samples.append([round(t, 4), round(sent, 4), round(time.time(), 4),
                        st, xc, links])
        time.sleep(max(0.0, 0.02 - (time.time() - t)))
    stop.set()
    with lock:
        sw = sorted(events)
    json.dump({"nodes": nodes, "samples": samples, "switches": sw},
              open(a.out, "w"))
    return 0


def cmd_switch_hit(a):
    """From a probe's OUT: per failover (the earliest +switch-master of
    the sentinels for it), the ms to the answer of the first probe GET
    answered HIT that was sent once the old master listed none of the
    proxy's links (so it was read from the new master: the near cache is
    emptied when a link goes), and to the moment the old master listed
    none. Prints "chaos-failover
    switches=OLD>NEW,... hit_ms=A,B links_ms=C,D probes=N probe_failed=M
    last_sentinel_ms=E,F" ("none" where it never happened)."""
    d = json.load(open(a.probe))
    nodes, samples = d["nodes"], d["samples"]
    first = {}
    late = {}
    for t, _, old, new in d["switches"]:
        # one failover is announced by each sentinel: group by old>new
        # within 10 s of the first announcement
        k = next((k for k in first if k[1:] == (old, new) and
                  t - k[0] < 10), None)
        if k is None:
            first[(t, old, new)] = t
            late[(t, old, new)] = t
        else:
            late[k] = max(late[k], t)
    sw, hit, gone, lag = [], [], [], []
    for k in sorted(first):
        t0, old, new = k
        sw.append(f"{old}>{new}")
        lag.append(str(round((late[k] - t0) * 1000)))
        i = nodes.index(old) if old in nodes else None
        h = g = "none"
        for seen, _, answered, st, xc, links in samples:
            if seen < t0 or i is None:
                continue
            if links[i] == 0 and g == "none":
                g = str(round((seen - t0) * 1000))
            if links[i] == 0 and st == 200 and xc == "HIT":
                h = str(round((answered - t0) * 1000))
                break
        hit.append(h)
        gone.append(g)
    bad = sum(1 for s in samples if s[3] != 200)
    print(f"chaos-failover switches={','.join(sw) or '-'} "
          f"hit_ms={','.join(hit) or '-'} links_ms={','.join(gone) or '-'} "
          f"probes={len(samples)} probe_failed={bad} "
          f"last_sentinel_ms={','.join(lag) or '-'}")
    return 0


# ---- keyed: how often each Idempotency-Key ran upstream ---------------------


def cmd_keyed(a):
    """Reads the leads of the written phones from the sandbox
    (GET /__sandbox/lead?token=&phone=, over HTTPS with CA) and counts the
    comments "chaos-key PREFIX-<n>" each holds: how often the PATCH of
    that key ran upstream. ANSWERS holds the keyed wrk's settled answers
    ("KEY STATUS REPLAYED REPEAT"). Prints "chaos-keyed keys=N ran=R
    twice=T answered_not_ran=A ran_not_answered=U repeats=S replayed=P":
    T keys ran more than once; A keys answered 200 without having run (a
    replay of nothing); U keys ran but whose answer was not 200 or not
    seen (the request in flight when the load stopped); S keys sent a
    second time after their 200, P of them answered as a replay."""
    phones = open(a.phones).read().split()[a.skip:a.skip + a.n]
    u = urllib.parse.urlsplit(a.sandbox)
    ctx = ssl.create_default_context(cafile=a.ca)
    ran = {}
    tag = f"chaos-key {a.prefix}-"
    for p in phones:
        c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx,
                                        timeout=10)
        c.request("GET", "/__sandbox/lead?" + urllib.parse.urlencode(
            {"token": a.token, "phone": p}))
        r = c.getresponse()
        body = r.read()
        c.close()
        if r.status != 200:
            print(f"chaoslib: lead {p}: {r.status}", file=sys.stderr)
            return 1
        for cm in json.loads(body).get("comments", []):
            if isinstance(cm, str) and cm.startswith(tag):
                k = cm[len("chaos-key "):]
                ran[k] = ran.get(k, 0) + 1
    answered, repeats, replayed = {}, 0, 0
    try:
        for line in open(a.answers):
            f = line.split()
            if len(f) != 4:
                continue
            if f[3] == "1":
                repeats += 1
                replayed += f[1] == "200" and f[2] == "1"
            else:
                answered[f[0]] = int(f[1])
    except FileNotFoundError:
        pass
    twice = sum(1 for n in ran.values() if n > 1)
    ok = {k for k, st in answered.items() if st == 200}
    print(f"chaos-keyed keys={len(answered)} ran={len(ran)} twice={twice} "
          f"answered_not_ran={len(ok - set(ran))} "
          f"ran_not_answered={len(set(ran) - ok)} repeats={repeats} "
          f"replayed={replayed}")
    return 0


# ---- main -------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("sentinel-wait")
    s.add_argument("--sentinels", required=True)
    s.add_argument("--replicas", type=int, required=True)
    s.add_argument("--timeout", type=float, default=30)
    s.set_defaults(fn=cmd_sentinel_wait)

    s = sub.add_parser("master")
    s.add_argument("sentinel", type=int)
    s.set_defaults(fn=cmd_master)

    s = sub.add_parser("failover")
    s.add_argument("sentinel", type=int)
    s.add_argument("--timeout", type=float, default=10)
    s.set_defaults(fn=cmd_failover)

    s = sub.add_parser("probe")
    s.add_argument("--url", required=True)
    s.add_argument("--token", required=True)
    s.add_argument("--phone", required=True)
    s.add_argument("--nodes", required=True)
    s.add_argument("--sentinels", required=True)
    s.add_argument("--until", type=float, required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_probe)

    s = sub.add_parser("switch-hit")
    s.add_argument("probe")
    s.set_defaults(fn=cmd_switch_hit)

    s = sub.add_parser("keyed")
    s.add_argument("--sandbox", required=True)
    s.add_argument("--ca", required=True)
    s.add_argument("--token", required=True)
    s.add_argument("--phones", required=True)
    s.add_argument("--skip", type=int, required=True)
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--prefix", required=True)
    s.add_argument("--answers", required=True)
    s.set_defaults(fn=cmd_keyed)

    a = p.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
