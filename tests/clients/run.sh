#!/bin/sh
# tests/clients/run.sh - the client-library suite (SPEC §11): starts a
# throwaway redis-server, heavyset-sandbox over HTTPS with a private CA
# and, for each client program, a proxy of its own in front of them, then
# runs the programs in tests/clients/ (Python requests, Node's built-in
# fetch, Node http with a keep-alive Agent). Each compares what the proxy
# answers with what the sandbox answers directly, over kept-alive
# connections that sit idle longer than the sandbox's keep-alive timeout,
# and ends with a line "N passed, N failed". Stops everything at the end
# and shows every daemon's log when something failed.
#
# Usage: run.sh [CLIENT...]     CLIENT: requests, fetch, http (default all)
#
# Automake runs it as a test with abs_top_builddir and abs_top_srcdir set;
# by hand they default to the tree this script is in. Nothing listens on a
# fixed port or writes outside one mktemp directory.
#
# Environment:
#   HSP_CLIENTS_REALISTIC  not 0 (default 1): start the sandbox with
#                          --realistic (gzip when asked, Keep-Alive:
#                          timeout=5 and a 5 s idle close, chunked answers,
#                          103 Early Hints); 0: the sandbox's plain mode
#   HSP_CLIENTS_IDLE       seconds each client sleeps between idle rounds
#                          (default 6: past the realistic sandbox's 5 s)
#   HSP_CLIENTS_TIMEOUT    seconds a client waits for one answer (default
#                          20); after 3 proxy requests in a row without
#                          one, a client stops its scenario (failed)
#   HSP_CLIENTS            clients to run, space-separated (as CLIENT above)
#   HSP_CLIENTS_PROXY_OPTS more "-o key=value" options for each proxy
#   HSP_PROXY_BIN / HSP_SANDBOX_BIN  the programs (default: the build's)
#   HSP_STARTUP_TIMEOUT    seconds a daemon may take to listen (default 30)
#   HSP_KEEP_TMP=1         keep the run's directory (logs, certificates)
#   PYTHON, NODE           the interpreters (default: python3 and node from
#                          PATH; for Python the first of python3 and
#                          /usr/bin/python3 that can import requests)
set -u
LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
: "${abs_top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${abs_top_builddir:=$abs_top_srcdir}"

proxy_bin=${HSP_PROXY_BIN:-$abs_top_builddir/src/heavyset-proxy}
sandbox_bin=${HSP_SANDBOX_BIN:-$abs_top_builddir/src/sandbox/heavyset-sandbox}
proxy_conf=$abs_top_srcdir/conf/heavyset-proxy.conf
seed=$abs_top_srcdir/conf/sandbox-seed.json
certs_sh=$abs_top_srcdir/tests/integration/certs.sh
startup_timeout=${HSP_STARTUP_TIMEOUT:-30}
stop_timeout=15
realistic=${HSP_CLIENTS_REALISTIC:-1}
idle=${HSP_CLIENTS_IDLE:-6}
client_limit=${HSP_CLIENTS_LIMIT:-300}     # s per client program
clients=${HSP_CLIENTS:-requests fetch http}
[ $# -gt 0 ] && clients="$*"

daemons=""
status=0
cleaned=""
tmp=""

say() {
    echo "clients/run.sh: $*" >&2
}

. "$abs_top_srcdir/tests/lib/daemons.sh"

cleanup() {
    [ -n "$cleaned" ] && return
    cleaned=yes
    trap '' INT TERM
    [ -n "$tmp" ] || return
    for name in $daemons; do
        stop_daemon "$name"
    done
    # Logs on failure only, last, so a sanitizer report from a daemon
    # reaches tests/run-test.sh either way (it scans this output).
    if [ "$status" -ne 0 ] || grep -Eqs '^==[0-9]+==ERROR: |^SUMMARY: [A-Za-z]+Sanitizer|runtime error: ' "$tmp"/*.log; then
        for name in $daemons; do
            show_log "$name"
        done
    fi
    if [ "${HSP_KEEP_TMP:-}" = 1 ]; then
        say "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}

fail() {
    say "$*"
    status=1
    cleanup
    exit 1
}

# has_requests PYTHON: whether PYTHON can import requests.
has_requests() {
    "$1" -c 'import requests' >/dev/null 2>&1
}

# ---- checks

trap cleanup EXIT
trap 'status=130; exit 130' INT
trap 'status=143; exit 143' TERM

for f in "$proxy_bin" "$sandbox_bin"; do
    [ -x "$f" ] || { say "missing $f (run make)"; exit 99; }
done
for f in "$proxy_conf" "$seed" "$certs_sh"; do
    [ -r "$f" ] || { say "missing $f"; exit 99; }
done
for c in redis-server redis-cli openssl curl timeout; do
    command -v "$c" >/dev/null 2>&1 ||
        { say "needs $c (scripts/deps)"; exit 99; }
done
python=""
node=""
for c in $clients; do
    case "$c" in
    requests)
        if [ -n "${PYTHON:-}" ]; then
            python=$PYTHON
        else
            for p in python3 /usr/bin/python3; do
                if has_requests "$p"; then python=$p; break; fi
            done
        fi
        if [ -z "$python" ] || ! has_requests "$python"; then
            say "needs python3 with requests (scripts/deps: python3-requests)"
            exit 99
        fi
        ;;
    fetch|http)
        node=${NODE:-node}
        command -v "$node" >/dev/null 2>&1 ||
            { say "needs node (scripts/deps: nodejs)"; exit 99; }
        "$node" -e 'if (typeof fetch !== "function") process.exit(1)' \
            2>/dev/null ||
            { say "$node has no built-in fetch (needs Node 18 or later)"
              exit 99; }
        ;;
    *) say "unknown client $c (requests, fetch, http)"; exit 2 ;;
    esac
done
[ -n "$python" ] && say "python: $(command -v "$python") ($("$python" -c 'import sys, requests; print(sys.version.split()[0], "requests", requests.__version__)'))"
[ -n "$node" ] && say "node: $(command -v "$node") ($("$node" --version))"

base=${TMPDIR:-/tmp}
[ ${#base} -gt 60 ] && base=/tmp
tmp=$(mktemp -d "$base/hsp-cl.XXXXXX") || { say "mktemp failed"; exit 99; }
ca=$tmp/certs/ca.pem
redis_sock=$tmp/redis.sock

sh "$certs_sh" "$tmp/certs" || fail "certs.sh failed"

# ---- redis

start_daemon redis redis-server --port 0 --unixsocket "$redis_sock" \
    --unixsocketperm 700 --save '' --appendonly no --daemonize no \
    --dir "$tmp" --loglevel notice
deadline=$(($(now) + startup_timeout))
until [ "$(redis-cli -s "$redis_sock" ping 2>/dev/null)" = PONG ]; do
    alive "$(cat "$tmp/redis.pid")" || died redis "before answering PING"
    [ "$(now)" -le "$deadline" ] ||
        fail "redis: no PONG within ${startup_timeout}s"
    sleep 0.05
done

# ---- sandbox (HTTPS; no rate limit: direct and proxied requests of every
# client share one token)

set --
if [ "$realistic" != 0 ]; then
    set -- --realistic
fi
start_daemon sandbox "$sandbox_bin" --listen 127.0.0.1:0 \
    --tls-cert "$tmp/certs/server.pem" --tls-key "$tmp/certs/server.key" \
    --seed "$seed" --rate-limit 0 --latency 0 "$@"
wait_listening sandbox
sandbox_url=https://localhost:$port
wait_http sandbox "$sandbox_url/__sandbox/stats"
say "sandbox listening on $sandbox_url" \
    "($( [ "$realistic" != 0 ] && echo realistic || echo plain) mode)"

# ---- one proxy per client, each with its own key prefix, so each client
# starts from an empty cache (its first lookup is a MISS).

start_proxy() {
    pname=$1
    shift
    # shellcheck disable=SC2086 # HSP_CLIENTS_PROXY_OPTS: words on purpose
    start_daemon "$pname" "$proxy_bin" -c "$proxy_conf" \
        -o listen=127.0.0.1:0 -o "redis=unix://$redis_sock" \
        -o log_level=info -o "upstream=$sandbox_url" \
        -o "upstream_ca_file=$ca" -o workers=2 -o rate_limit=0/min \
        "$@" ${HSP_CLIENTS_PROXY_OPTS:-}
    wait_listening "$pname"
    url=http://127.0.0.1:$port
    wait_http "$pname" "$url/healthz"
    say "$pname listening on $url"
}

export HSP_SANDBOX_URL="$sandbox_url" HSP_SANDBOX_CA="$ca" \
    HSP_SEED_FILE="$seed" HSP_CLIENTS_IDLE="$idle"
failed=""
for c in $clients; do
    start_proxy "proxy-$c" -o "redis_prefix=hsp-$c"
    # Every client starts from the seed (an earlier one PATCHed leads).
    curl -s -o /dev/null --noproxy '*' --max-time 5 --cacert "$ca" \
        -X POST "$sandbox_url/__sandbox/reset" ||
        fail "POST /__sandbox/reset failed"
    say "== client $c"
    case "$c" in
    requests) set -- "$python" "$here/requests_client.py" ;;
    fetch) set -- "$node" "$here/fetch_client.mjs" ;;
    http) set -- "$node" "$here/http_client.mjs" ;;
    esac
    # A bound on the whole program, whatever it waits for.
    NODE_EXTRA_CA_CERTS=$ca timeout -k 5 "$client_limit" \
        "$@" "$url" "$sandbox_url" "$ca"
    rc=$?
    [ "$rc" -eq 124 ] && say "client $c ran past ${client_limit}s"
    if [ "$rc" -ne 0 ]; then
        say "client $c FAILED (exit status $rc)"
        failed="$failed $c"
        status=1
    else
        say "client $c passed"
    fi
done

cleanup
trap - EXIT
if [ "$status" -eq 0 ]; then
    say "passed"
else
    say "FAILED${failed:+ (clients:$failed)}"
fi
exit "$status"
