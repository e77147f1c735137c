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
    replica), then waits for that sentinel to name another master; a
    failover Sentinel aborts (seen: -failover-abort-slave-timeout, when
    another sentinel turned the chosen replica back with REPLICAOF) is
    asked for again. All within TIMEOUT s. Prints "BEFORE AFTER ok
    ATTEMPTS" (the master's ports), or "BEFORE - REASON ATTEMPTS" and
    exits 1."""
    end = time.time() + a.timeout
    before = master_port(a.sentinel)
    attempts, last = 0, "timeout"
    while time.time() < end:
        r = call(a.sentinel, "SENTINEL", "FAILOVER", MASTER)
        if r != "OK":
            last = str(r).replace(" ", "_")
            time.sleep(0.1)
            continue
        attempts += 1
        last = "no_switch"
        while time.time() < end:
            # address and flags in one reply: the failover is over when
            # the flag goes, switched or aborted
            m = call(a.sentinel, "SENTINEL", "MASTER", MASTER)
            m = pairs(m) if isinstance(m, list) else {}
            if m.get("port") not in (None, str(before)):
                print(before, m["port"], "ok", attempts)
                return 0
            if m and "failover_in_progress" not in m.get("flags", ""):
                last = "aborted"
                break
            time.sleep(0.05)
    print(before, "-", last, attempts)
    return 1


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


def link_loop(nodes, until, out):
    """Appends (time of the reply, [the proxy's links on each node]) to
    OUT every 20 ms until UNTIL."""
    while time.time() < until:
        t = time.time()
        links = [proxy_links(n) for n in nodes]
        out.append([round(time.time(), 4), links])
        time.sleep(max(0.0, 0.02 - (time.time() - t)))


def cmd_probe(a):
    """Until UNTIL (epoch s): every 20 ms one GET of PHONE through the
    proxy at URL (X-Cache noted); in a thread of its own, every 20 ms,
    the number of the proxy's links on each node (CLIENT LIST, by the
    name the proxy gives them); meanwhile +switch-master from every
    sentinel, timestamped as it arrives. Writes OUT (JSON: nodes, gets
    [sent, answered, status, X-Cache], links [time, [per node]],
    switches)."""
    events, lock, stop = [], threading.Lock(), threading.Event()
    threads = [threading.Thread(target=watch, args=(p, events, lock, stop),
                                daemon=True) for p in ports(a.sentinels)]
    nodes = ports(a.nodes)
    links = []
    threads.append(threading.Thread(target=link_loop,
                                    args=(nodes, a.until, links),
                                    daemon=True))
    for t in threads:
        t.start()
    u = urllib.parse.urlsplit(a.url)
    path = ("/api/v1/appointment/s2s/phone/query?phone=" +
            urllib.parse.quote(a.phone))
    conn, gets = None, []
    while time.time() < a.until:
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
        gets.append([round(sent, 4), round(time.time(), 4), st, xc])
        time.sleep(max(0.0, 0.02 - (time.time() - sent)))
    stop.set()
    threads[-1].join()
    with lock:
        sw = sorted(events)
    json.dump({"nodes": nodes, "gets": gets, "links": links,
               "switches": sw}, open(a.out, "w"))
    return 0


def cmd_switch_hit(a):
    """From a probe's OUT: per failover (the earliest +switch-master of
    the sentinels for it), the ms to the first reply of CLIENT LIST in
    which the old master listed none of the proxy's links, and to the
    answer of the first GET answered HIT that was sent after that reply
    (so read from the new master: the proxy's near cache is emptied when
    a link goes). Both are upper bounds: they include the probe's period
    (20 ms) and its own latency. Prints "chaos-failover
    switches=OLD>NEW,... hit_ms=A,B links_ms=C,D probes=N probe_failed=M
    last_sentinel_ms=E,F" ("none" where it never happened)."""
    d = json.load(open(a.probe))
    nodes, gets, links = d["nodes"], d["gets"], d["links"]
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
        # the first reply, after the announcement, in which the old master
        # lists none of the proxy's links
        at = next((t for t, ls in links
                   if t >= t0 and i is not None and ls[i] == 0), None)
        if at is not None:
            g = str(round((at - t0) * 1000))
            h = next((str(round((answered - t0) * 1000))
                      for sent, answered, st, xc in gets
                      if sent >= at and st == 200 and xc == "HIT"), "none")
        hit.append(h)
        gone.append(g)
    bad = sum(1 for s in gets if s[2] != 200)
    print(f"chaos-failover switches={','.join(sw) or '-'} "
          f"hit_ms={','.join(hit) or '-'} links_ms={','.join(gone) or '-'} "
          f"probes={len(gets)} probe_failed={bad} "
          f"last_sentinel_ms={','.join(lag) or '-'}")
    return 0


# ---- keyed: how often each Idempotency-Key ran upstream ---------------------


def cmd_keyed(a):
    """Reads the leads of the written phones from the sandbox
    (GET /__sandbox/lead?token=&phone=, over HTTPS with CA) and counts the
    comments "chaos-key PREFIX-<n>" each holds: how often the PATCH of
    that key ran upstream. ANSWERS holds the keyed wrk's settled answers
    ("KEY STATUS REPLAYED REPEAT TIME"). Prints "chaos-keyed keys=N
    ran=R twice=T answered_not_ran=A ran_not_answered=U repeats=S
    replayed=P twice_s=X,Y": T keys ran more than once; A keys answered
    200 without having run (a replay of nothing); U keys ran but whose
    answer was not 200 or not seen (the request in flight when the load
    stopped); S keys sent a second time after their 200, P of them
    answered as a replay; X, Y: the second of the phase (from SINCE)
    in which each key that ran twice was first answered."""
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
    answered, at, repeats, replayed = {}, {}, 0, 0
    try:
        for line in open(a.answers):
            f = line.split()
            if len(f) != 5:
                continue
            if f[3] == "1":
                repeats += 1
                replayed += f[1] == "200" and f[2] == "1"
            else:
                answered[f[0]] = int(f[1])
                at[f[0]] = int(f[4]) - int(a.since)
    except FileNotFoundError:
        pass
    twice = sum(1 for n in ran.values() if n > 1)
    ok = {k for k, st in answered.items() if st == 200}
    print(f"chaos-keyed keys={len(answered)} ran={len(ran)} twice={twice} "
          f"answered_not_ran={len(ok - set(ran))} "
          f"ran_not_answered={len(set(ran) - ok)} repeats={repeats} "
          f"replayed={replayed} twice_s=" +
          (",".join(str(at.get(k, "?")) for k, n in sorted(ran.items())
                    if n > 1) or "-"))
    return 0


# ---- Redis Cluster: tenants by slot, the topology, a probe per tenant -------


def crc16(data):
    """CRC16/XMODEM, as Redis Cluster hashes a key."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def tenant_slot(token):
    """The slot of every key of TOKEN's tenant: its hash tag is the hex
    SHA-256 of the token, cut to 128 bits (src/key.c)."""
    import hashlib
    tag = hashlib.sha256(token.encode()).hexdigest()[:32]
    return crc16(tag.encode()) % 16384


def cmd_cluster_seed(a):
    """Adds to the seed IN (written to OUT) tenants that are copies of
    the tenant with TOKEN (its leads too), PER of them in each third of
    the slot space (the ranges redis-cli --cluster create gives 3
    masters), with tokens hs_chaos_tenant_<n>; writes their tokens to
    TOKENS, one a line, as "TOKEN SLOT"."""
    import copy
    seed = json.load(open(a.input))
    model = next(t for t in seed["tenants"] if t["token"] == a.token)
    thirds = [[] for _ in range(3)]
    n = 0
    while min(len(t) for t in thirds) < a.per:
        n += 1
        tok = f"hs_chaos_tenant_{n:04d}"
        slot = tenant_slot(tok)
        third = min(slot * 3 // 16384, 2)
        if len(thirds[third]) < a.per:
            thirds[third].append((tok, slot))
    with open(a.tokens, "w") as f:
        for third in thirds:
            for tok, slot in third:
                t = copy.deepcopy(model)
                t["token"] = tok
                t["name"] = f"Chaos tenant {tok[-4:]}"
                seed["tenants"].append(t)
                f.write(f"{tok} {slot}\n")
    json.dump(seed, open(a.output, "w"), indent=1)
    return 0


def slot_owners(port):
    """[(first, last, port)] from CLUSTER SLOTS on node PORT."""
    r = call(port, "CLUSTER", "SLOTS")
    out = []
    for e in r if isinstance(r, list) else []:
        out.append((int(e[0]), int(e[1]), int(e[2][1])))
    return out


def cmd_cluster_wait(a):
    """Waits until every node of NODES says cluster_state:ok and serves
    all 16384 slots, and knows every other node; exits 1 after TIMEOUT
    s."""
    nodes = ports(a.nodes)
    end = time.time() + a.timeout
    while True:
        ok = True
        for n in nodes:
            info = call(n, "CLUSTER", "INFO")
            owners = slot_owners(n)
            if (not isinstance(info, str) or "cluster_state:ok" not in info
                    or f"cluster_known_nodes:{len(nodes)}" not in info or
                    sum(b - f + 1 for f, b, _ in owners) != 16384):
                ok = False
                break
        if ok:
            return 0
        if time.time() >= end:
            print(f"chaoslib: the cluster is not ok after {a.timeout} s",
                  file=sys.stderr)
            return 1
        time.sleep(0.1)


def cmd_owners(a):
    """Prints "TOKEN PORT" for each "TOKEN SLOT" line of TOKENS: the
    node that serves the tenant's slot, as node PORT's CLUSTER SLOTS
    says. With --check, exits 1 unless that node holds keys in that slot
    (CLUSTER COUNTKEYSINSLOT): the proxy has written the tenant's keys
    where this file computes them, so the tag is still what tenant_slot
    assumes (src/key.c)."""
    owners = slot_owners(a.port)
    out = []
    for line in open(a.tokens):
        tok, slot = line.split()
        port = next((p for f, b, p in owners if f <= int(slot) <= b), 0)
        if a.check and not (call(port, "CLUSTER", "COUNTKEYSINSLOT",
                                 slot) or 0) > 0:
            print(f"chaoslib: no key in slot {slot} of tenant {tok[-4:]} "
                  f"on {port}: has the proxy's key layout changed?",
                  file=sys.stderr)
            return 1
        out.append(f"{tok} {port}")
    print("\n".join(out))
    return 0


def cmd_tenant_probe(a):
    """Until UNTIL (epoch s): every 20 ms, one GET per tenant of TOKENS
    through the proxy at URL, each time the next of the first N phones
    of PHONES (so a tenant's probes see its entries as the load does,
    not one entry its near cache keeps). Writes OUT (JSON: tokens,
    samples [time, tenant index, status, X-Cache])."""
    toks = [line.split()[0] for line in open(a.tokens) if line.strip()]
    phones = open(a.phones).read().split()[:a.n]
    u = urllib.parse.urlsplit(a.url)
    conns, samples, i = {}, [], 0
    while time.time() < a.until:
        t0 = time.time()
        for k, tok in enumerate(toks):
            path = ("/api/v1/appointment/s2s/phone/query?phone=" +
                    urllib.parse.quote(phones[i % len(phones)]))
            st, xc, t = 0, "-", time.time()
            try:
                c = conns.get(k)
                if c is None:
                    c = conns[k] = http.client.HTTPConnection(
                        u.hostname, u.port, timeout=5)
                c.request("GET", path, headers={"x-hs-token": tok})
                r = c.getresponse()
                r.read()
                st, xc = r.status, r.getheader("X-Cache", "-")
            except (OSError, http.client.HTTPException):
                conns.pop(k, None)
            samples.append([round(t, 4), k, st, xc])
        i += 1
        time.sleep(max(0.0, 0.02 - (time.time() - t0)))
    json.dump({"tokens": toks, "samples": samples}, open(a.out, "w"))
    return 0


def cmd_tenant_report(a):
    """From a tenant probe's OUT and OWNERS ("TOKEN PORT" lines): for the
    tenants on KILLED (a port) and for the others, the probes, how many
    failed (not 200), the HIT ratio between ON and OFF (epoch s: the
    fault), and for the killed node's tenants the ms from BACK (epoch s:
    the node answering again) until each had a HIT again (the largest).
    Prints "chaos-cluster killed_tenants=K probes_k=.. failed_k=..
    hit_fault_k=.. probes_s=.. failed_s=.. hit_fault_s=.. hit_before_s=..
    back_ms=.." (ratios in %)."""
    d = json.load(open(a.probe))
    owner = dict(line.split() for line in open(a.owners) if line.strip())
    killed = {k for k, tok in enumerate(d["tokens"])
              if owner.get(tok) == str(a.killed)}

    def stats(group, lo, hi):
        ss = [s for s in d["samples"] if (s[1] in killed) == group and
              lo <= s[0] < hi]
        hit = sum(1 for s in ss if s[2] == 200 and s[3] == "HIT")
        bad = sum(1 for s in ss if s[2] != 200)
        return len(ss), bad, (f"{100 * hit / len(ss):.1f}" if ss else "-")

    n_k, bad_k, _ = stats(True, 0, 1e12)
    _, _, hit_k = stats(True, a.on, a.off)
    n_s, bad_s, _ = stats(False, 0, 1e12)
    _, _, hit_s = stats(False, a.on, a.off)
    _, _, before_s = stats(False, 0, a.on)
    back = []
    for k in killed:
        first = next((s[0] for s in d["samples"] if s[1] == k and
                      s[0] >= a.back and s[2] == 200 and s[3] == "HIT"),
                     None)
        back.append(None if first is None else round((first - a.back) *
                                                     1000))
    back_ms = ("none" if not back or None in back else str(max(back)))
    print(f"chaos-cluster killed_tenants={len(killed)} probes_k={n_k} "
          f"failed_k={bad_k} hit_fault_k={hit_k} probes_s={n_s} "
          f"failed_s={bad_s} hit_fault_s={hit_s} hit_before_s={before_s} "
          f"back_ms={back_ms}")
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
    s.add_argument("--since", type=float, default=0)
    s.set_defaults(fn=cmd_keyed)

    s = sub.add_parser("cluster-seed")
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("tokens")
    s.add_argument("--token", required=True)
    s.add_argument("--per", type=int, default=2)
    s.set_defaults(fn=cmd_cluster_seed)

    s = sub.add_parser("cluster-wait")
    s.add_argument("--nodes", required=True)
    s.add_argument("--timeout", type=float, default=30)
    s.set_defaults(fn=cmd_cluster_wait)

    s = sub.add_parser("owners")
    s.add_argument("port", type=int)
    s.add_argument("tokens")
    s.add_argument("--check", action="store_true")
    s.set_defaults(fn=cmd_owners)

    s = sub.add_parser("tenant-probe")
    s.add_argument("--url", required=True)
    s.add_argument("--tokens", required=True)
    s.add_argument("--phones", required=True)
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--until", type=float, required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_tenant_probe)

    s = sub.add_parser("tenant-report")
    s.add_argument("probe")
    s.add_argument("--owners", required=True)
    s.add_argument("--killed", type=int, required=True)
    s.add_argument("--on", type=float, required=True)
    s.add_argument("--off", type=float, required=True)
    s.add_argument("--back", type=float, required=True)
    s.set_defaults(fn=cmd_tenant_report)

    a = p.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
