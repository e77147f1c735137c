#!/usr/bin/env python3
"""tests/clients/requests_client.py - the proxy as a Python `requests`
integration sees it (SPEC §11).

One requests.Session toward the proxy and one toward the sandbox, with the
library's defaults (Accept-Encoding: gzip, deflate; kept-alive
connections; bodies decoded). Every answer through the proxy is compared
with the sandbox's own answer to the same request: status, Content-Type,
decoded bytes and parsed JSON. Then rounds separated by idle gaps longer
than the sandbox's keep-alive timeout, on the same sessions.

Usage: requests_client.py [PROXY_URL SANDBOX_URL CA_FILE]
  default: $HSP_PROXY_URL $HSP_SANDBOX_URL $HSP_SANDBOX_CA
  $HSP_SEED_FILE  the sandbox's seed (default conf/sandbox-seed.json here)
  $HSP_CLIENTS_IDLE  seconds of each idle gap (default 6)

The proxy's cache must start empty (tests/clients/run.sh gives each client
a proxy with its own redis_prefix). Prints one line per check and last
"N passed, N failed"; exits 1 when a check failed.
"""
import http.client
import json
import os
import sys
import time
import urllib.parse
import uuid

import requests
import requests.adapters
import urllib3
import urllib3.connection

API = "/api/v1/appointment/s2s"
ABORT_AFTER = 3         # proxy requests in a row without an answer

args = sys.argv[1:]
if args and len(args) != 3:
    sys.exit(__doc__)
PROXY, SANDBOX, CA = args or (os.environ["HSP_PROXY_URL"],
                              os.environ["HSP_SANDBOX_URL"],
                              os.environ["HSP_SANDBOX_CA"])
PROXY = PROXY.rstrip("/")
SANDBOX = SANDBOX.rstrip("/")
IDLE = float(os.environ.get("HSP_CLIENTS_IDLE", "6"))
TIMEOUT = float(os.environ.get("HSP_CLIENTS_TIMEOUT", "20"))
SEED = os.environ.get("HSP_SEED_FILE") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "conf",
    "sandbox-seed.json")

passed = 0
failed = 0


def check(name, ok, detail=""):
    """Counts and prints one check; DETAIL is shown when it failed."""
    global passed, failed
    if ok:
        passed += 1
        print("ok   " + name, flush=True)
    else:
        failed += 1
        print("FAIL " + name + (": " + detail if detail else ""), flush=True)
    return ok


def finish():
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)


class Abort(Exception):
    """The proxy stopped answering: the rest of the scenario would only
    wait for timeouts."""


# ---- the seed: a tenant with a crmSettingsId and three leads, and a
# phone that is in no tenant.
with open(SEED, encoding="utf-8") as f:
    seed = json.load(f)
tenant = next(t for t in seed["tenants"]
              if t.get("crmSettingsId") and
              sum(1 for l in t["leads"] if l["phone"].startswith("+1")) >= 3)
TOKEN = tenant["token"]
CRM = tenant["crmSettingsId"]
nanp = [l["phone"] for l in tenant["leads"] if l["phone"].startswith("+1")]
PHONE_A, PHONE_B, PHONE_C = nanp[0], nanp[1], nanp[2]
known = {l["phone"] for t in seed["tenants"] for l in t["leads"]}
n = 18015550000
while "+%d" % n in known:
    n += 1
PHONE_NONE = "+%d" % n


# ---- sessions. trust_env off: an http_proxy of the environment must not
# stand between the test and the proxy; the transport stays the default.
px = requests.Session()
px.trust_env = False
sb = requests.Session()
sb.trust_env = False
sb.verify = CA


# Python's http.client takes an interim 1xx answer other than 100 (the
# realistic sandbox's 103 Early Hints) for the final one. The reference
# answers read straight from the sandbox skip them; the proxy session keeps
# the library as it is, so a 1xx the proxy let through fails a check.
class _FinalResponse(http.client.HTTPResponse):
    def _read_status(self):
        while True:
            version, status, reason = super()._read_status()
            if 100 < status < 200 and status != 101:
                http.client._read_headers(self.fp)
                continue
            return version, status, reason


class _SandboxConnection(urllib3.connection.HTTPSConnection):
    response_class = _FinalResponse


class _SandboxPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _SandboxConnection


_sb_adapter = requests.adapters.HTTPAdapter()
_sb_adapter.poolmanager.pool_classes_by_scheme = dict(
    _sb_adapter.poolmanager.pool_classes_by_scheme, https=_SandboxPool)
sb.mount("https://", _sb_adapter)


# TCP connections opened to the proxy, counted where urllib3 opens them
# (a pool's num_connections misses a pooled connection that reconnects).
_proxy_url = urllib.parse.urlsplit(PROXY)
_proxy_addr = (_proxy_url.hostname, _proxy_url.port or 80)
_opened = 0
_new_conn = urllib3.connection.HTTPConnection._new_conn


def _counting_new_conn(self):
    global _opened
    sock = _new_conn(self)
    if (self.host, self.port) == _proxy_addr:
        _opened += 1
        print("# connection %d to the proxy opened" % _opened, flush=True)
    return sock


urllib3.connection.HTTPConnection._new_conn = _counting_new_conn


def proxy_conns():
    """How many connections the session has opened to the proxy so far."""
    return _opened


answered = 0        # answers from the proxy
unanswered = 0      # proxy requests in a row without an answer


def call(sess, base, method, path, params=None, body=None, headers=None):
    global answered, unanswered
    h = {"x-hs-token": TOKEN}
    h.update(headers or {})
    try:
        r = sess.request(method, base + API + path, params=params,
                         json=body, headers=h, timeout=TIMEOUT)
    except requests.RequestException as e:
        check("%s %s via %s: an answer" % (method, path,
              "proxy" if base == PROXY else "sandbox"), False, repr(e))
        if base == PROXY:
            unanswered += 1
            if unanswered >= ABORT_AFTER:
                raise Abort("%d proxy requests in a row got no answer" %
                            unanswered)
        return None
    if base == PROXY:
        answered += 1
        unanswered = 0
    return r


def sandbox_stats():
    r = sb.get(SANDBOX + "/__sandbox/stats", timeout=TIMEOUT)
    r.raise_for_status()
    return r.json()["requests"]


def is_json_type(ct):
    mt = (ct or "").split(";")[0].strip().lower()
    return mt == "application/json" or mt.endswith("+json")


def parsed(r):
    try:
        return json.loads(r.content)
    except ValueError:
        return None


def same(label, rp, rs, status):
    """Checks the proxy's answer RP against the sandbox's RS to one request."""
    if not check(label + ": answered by proxy and sandbox",
                 rp is not None and rs is not None):
        return False
    ok = check("%s: status %d (sandbox %d, expected %d)" %
               (label, rp.status_code, rs.status_code, status),
               rp.status_code == status and rs.status_code == status)
    ok &= check("%s: Content-Type %r is JSON" %
                (label, rp.headers.get("Content-Type")),
                is_json_type(rp.headers.get("Content-Type")))
    ok &= check("%s: decoded body byte-identical to the sandbox's "
                "(%d bytes)" % (label, len(rp.content)),
                rp.content == rs.content and len(rp.content) > 0,
                "proxy %r\n     sandbox %r" % (rp.content[:300],
                                               rs.content[:300]))
    jp, js = parsed(rp), parsed(rs)
    ok &= check(label + ": parsed JSON equal to the sandbox's",
                jp is not None and jp == js)
    return ok


def xcache(label, r, want):
    got = r.headers.get("X-Cache") if r is not None else None
    return check("%s: X-Cache %s (got %s)" % (label, want, got), got == want)


# ---- the scenario

def scenario():
    global patches
    stats0 = sandbox_stats()

    # Lookup of a seeded phone: MISS, then HIT, both the sandbox's bytes.
    q = {"phone": PHONE_A}
    r1 = call(px, PROXY, "GET", "/phone/query", q)
    s1 = call(sb, SANDBOX, "GET", "/phone/query", q)
    same("lookup MISS", r1, s1, 200)
    xcache("lookup MISS", r1, "MISS")
    r2 = call(px, PROXY, "GET", "/phone/query", q)
    same("lookup HIT", r2, s1, 200)
    xcache("lookup HIT", r2, "HIT")
    check("lookup HIT: carries Age", r2 is not None and "Age" in r2.headers)
    check("lookup: the lead is %s" % PHONE_A,
          (parsed(s1) or {}).get("phone") == PHONE_A)

    # The library's default Accept-Encoding, and the body it hands over.
    r = call(px, PROXY, "GET", "/phone/query", q)
    if r is not None and s1 is not None:
        print("# the sandbox sent the lead with Content-Encoding %s" %
              s1.headers.get("Content-Encoding", "identity"), flush=True)
        ae = r.request.headers.get("Accept-Encoding", "")
        check("gzip: request sent with the default Accept-Encoding %r" % ae,
              "gzip" in ae)
        ce = r.headers.get("Content-Encoding", "identity")
        check("gzip: decoded body (Content-Encoding %s) is the lead's JSON" % ce,
              parsed(r) is not None and parsed(r) == parsed(s1) and
              r.content == s1.content)
        check("gzip: a coded answer says Vary: Accept-Encoding",
              ce == "identity" or
              "accept-encoding" in r.headers.get("Vary", "").lower())
    else:
        check("gzip: lookup answered", False)

    # A phone in no tenant: 404, then the cached 404.
    q = {"phone": PHONE_NONE}
    r1 = call(px, PROXY, "GET", "/phone/query", q)
    s1 = call(sb, SANDBOX, "GET", "/phone/query", q)
    same("404 MISS", r1, s1, 404)
    xcache("404 MISS", r1, "MISS")
    r2 = call(px, PROXY, "GET", "/phone/query", q)
    same("404 HIT", r2, s1, 404)
    xcache("404 HIT", r2, "HIT")

    # The low-latency route, by the tenant's crmSettingsId.
    q = {"phone": PHONE_A}
    r1 = call(px, PROXY, "GET", "/phone/query/" + CRM, q)
    s1 = call(sb, SANDBOX, "GET", "/phone/query/" + CRM, q)
    same("crmSettingsId MISS", r1, s1, 200)
    xcache("crmSettingsId MISS", r1, "MISS")
    r2 = call(px, PROXY, "GET", "/phone/query/" + CRM, q)
    same("crmSettingsId HIT", r2, s1, 200)
    xcache("crmSettingsId HIT", r2, "HIT")

    # Blocks (not cached by default: forwarded each time).
    r1 = call(px, PROXY, "GET", "/phone/query/blocks", q)
    s1 = call(sb, SANDBOX, "GET", "/phone/query/blocks", q)
    same("blocks", r1, s1, 200)
    check("blocks: has slots", isinstance((parsed(s1) or {}).get("slots"), list))

    # Dispositions: MISS, then HIT.
    r1 = call(px, PROXY, "GET", "/phone/query/dispositions")
    s1 = call(sb, SANDBOX, "GET", "/phone/query/dispositions")
    same("dispositions MISS", r1, s1, 200)
    xcache("dispositions MISS", r1, "MISS")
    r2 = call(px, PROXY, "GET", "/phone/query/dispositions")
    same("dispositions HIT", r2, s1, 200)
    xcache("dispositions HIT", r2, "HIT")
    check("dispositions: the seed's reasons",
          (parsed(s1) or {}).get("notQualifiedReasons") ==
          tenant["dispositions"])

    # PURGE (SPEC §13), a method requests sends as it sends any other: the
    # tenant's token drops what it cached of the phone (lead and variant),
    # without asking the upstream; the next lookup is a MISS again.
    q = {"phone": PHONE_A}
    calls0 = sum(sandbox_stats().values())
    pr = call(px, PROXY, "PURGE", "/phone/query", q)
    check('PURGE: 200 {"purged":2} (got %s %s)' %
          (pr.status_code if pr is not None else None,
           pr.text[:100] if pr is not None else ""),
          pr is not None and pr.status_code == 200 and
          is_json_type(pr.headers.get("Content-Type")) and
          (parsed(pr) or {}).get("purged") == 2)
    check("PURGE: the upstream was not asked",
          sum(sandbox_stats().values()) == calls0)
    r1 = call(px, PROXY, "GET", "/phone/query", q)
    xcache("lookup after PURGE", r1, "MISS")
    r2 = call(px, PROXY, "GET", "/phone/query/" + CRM, q)
    xcache("crmSettingsId after PURGE", r2, "MISS")

    # PATCH with an Idempotency-Key, its replay, and the write-through.
    patches = 0

    def patch_round(label, email):
        """PATCHes PHONE_B's email under a fresh key, replays it, and checks
        the lookups after it through the proxy and directly."""
        global patches
        key = str(uuid.uuid4())
        # Long enough fields (each within the API's 255) that the lead
        # passes 1 KiB, which a realistic upstream sends gzip-coded.
        body = {"phone": PHONE_B, "email": email,
                "streetAddress": ("1 %s Street " % email * 20)[:250],
                "city": ("Salt Lake " * 20)[:120]}
        hk = {"Idempotency-Key": key}
        p1 = call(px, PROXY, "PATCH", "/phone/update", body=body, headers=hk)
        if not check(label + ": first answer 200 (got %s)" %
                     (p1.status_code if p1 is not None else None),
                     p1 is not None and p1.status_code == 200,
                     p1.text[:300] if p1 is not None else ""):
            return
        patches += 1
        check(label + ": first answer is not a replay",
              p1.headers.get("Idempotent-Replayed") != "true")
        check(label + ": Content-Type JSON",
              is_json_type(p1.headers.get("Content-Type")))
        check(label + ": answer is the lead with the new email",
              (parsed(p1) or {}).get("email") == email and
              (parsed(p1) or {}).get("phone") == PHONE_B)
        check(label + ": answer over 1 KiB (%d bytes)" % len(p1.content),
              len(p1.content) >= 1024)
        p2 = call(px, PROXY, "PATCH", "/phone/update", body=body, headers=hk)
        if p2 is None:
            return
        check(label + ": replay says Idempotent-Replayed: true (got %s)" %
              p2.headers.get("Idempotent-Replayed"),
              p2.headers.get("Idempotent-Replayed") == "true")
        check(label + ": replay status %d == first %d" %
              (p2.status_code, p1.status_code), p2.status_code == p1.status_code)
        check(label + ": replay body byte-identical to the first",
              p2.content == p1.content)
        check(label + ": replay Content-Type JSON",
              is_json_type(p2.headers.get("Content-Type")))
        q = {"phone": PHONE_B}
        r = call(px, PROXY, "GET", "/phone/query", q)
        s = call(sb, SANDBOX, "GET", "/phone/query", q)
        if s is not None:
            print("# the sandbox sent the lead with Content-Encoding %s" %
                  s.headers.get("Content-Encoding", "identity"), flush=True)
        same(label + ": lookup after", r, s, 200)
        xcache(label + ": lookup after (written through)", r, "HIT")
        check(label + ": lookup after shows the new email",
              r is not None and (parsed(r) or {}).get("email") == email)

    # PHONE_B is cached before it is PATCHed: the write-through must replace it.
    q = {"phone": PHONE_B}
    r1 = call(px, PROXY, "GET", "/phone/query", q)
    s1 = call(sb, SANDBOX, "GET", "/phone/query", q)
    same("lookup before PATCH", r1, s1, 200)
    xcache("lookup before PATCH", r1, "MISS")
    tag = uuid.uuid4().hex[:12]
    patch_round("PATCH", "requests-%s@example.com" % tag)

    # ---- idle rounds: the same sessions after gaps longer than the
    # sandbox's keep-alive timeout. The proxy's pooled connection to the
    # sandbox is dead by then (in the realistic mode); the client's to the
    # proxy (Keep-Alive timeout=60 by default) must still be the same one.

    def idle(n):
        before = (proxy_conns(), answered)
        print("# idle round %d: sleeping %gs" % (n, IDLE), flush=True)
        time.sleep(IDLE)
        return before

    def reused(label, before):
        opened, answers = before
        check("%s: the proxy connection was kept alive (%d opened before the "
              "gap, %d after, %d answers since)" %
              (label, opened, proxy_conns(), answered - answers),
              opened >= 1 and proxy_conns() == opened and answered > answers)

    # 1: a forwarded GET (blocks are never cached by default).
    before = idle(1)
    q = {"phone": PHONE_A}
    r1 = call(px, PROXY, "GET", "/phone/query/blocks", q)
    s1 = call(sb, SANDBOX, "GET", "/phone/query/blocks", q)
    same("idle 1: blocks", r1, s1, 200)
    reused("idle 1", before)

    # 2: a PATCH first thing after the gap (never resent, never a 502).
    before = idle(2)
    patch_round("idle 2: PATCH", "requests-idle-%s@example.com" % tag)
    reused("idle 2", before)

    # 3: a lookup MISS (forwarded) of another lead, then its HIT.
    before = idle(3)
    q = {"phone": PHONE_C}
    r1 = call(px, PROXY, "GET", "/phone/query", q)
    s1 = call(sb, SANDBOX, "GET", "/phone/query", q)
    same("idle 3: lookup MISS", r1, s1, 200)
    xcache("idle 3: lookup MISS", r1, "MISS")
    reused("idle 3", before)
    r2 = call(px, PROXY, "GET", "/phone/query", q)
    same("idle 3: lookup HIT", r2, s1, 200)
    xcache("idle 3: lookup HIT", r2, "HIT")

    # 4: a forced refetch (Cache-Control: no-cache goes upstream) of the
    # PATCHed lead, over 1 KiB: what a realistic upstream gzips.
    before = idle(4)
    q = {"phone": PHONE_B}
    r1 = call(px, PROXY, "GET", "/phone/query", q,
              headers={"Cache-Control": "no-cache"})
    s1 = call(sb, SANDBOX, "GET", "/phone/query", q)
    same("idle 4: lookup no-cache", r1, s1, 200)
    reused("idle 4", before)

    # The sandbox saw each PATCH exactly once: replays and idle gaps never
    # made the proxy send one again.
    sent = sandbox_stats()["update"] - stats0["update"]
    check("sandbox received %d PATCHes for %d first answers" % (sent, patches),
          sent == patches and patches == 2)


try:
    scenario()
except Abort as e:
    check("the scenario ran to its end", False, str(e))
except Exception:   # noqa: BLE001 - any surprise is a failed check
    import traceback
    check("the scenario ran to its end", False, traceback.format_exc())
finish()
