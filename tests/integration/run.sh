#!/bin/sh
# tests/integration/run.sh - the integration harness (STYLE §2.12): starts
# a throwaway redis-server, the sandbox over HTTPS with a private CA and
# the proxies the tests talk to, runs the criterion binary against them,
# then stops everything and shows every daemon's log.
#
# Usage: run.sh [criterion option...]     e.g. run.sh --filter 'forward/*'
#
# Automake runs it as a test with abs_top_builddir and abs_top_srcdir set;
# by hand they default to the tree this script is in. Nothing listens on
# a fixed port or writes outside one mktemp directory, so two runs (or a
# distcheck) can go at once. HSP_KEEP_TMP=1 keeps that directory.
#
# Environment for the tests:
#   HSP_PROXY_URL       main proxy: TLS to the sandbox with the private CA,
#                       upstream_timeout 1s, 2 workers, max_body 8k, no
#                       rate budget, Redis at HSP_REDIS_SOCK, default prefix
#   HSP_PROXY_B_URL     a second instance like it (same Redis and prefix),
#                       upstream_timeout 5s
#   HSP_PROXY_SHORT_URL like it with ttl_not_found 1s, ttl_blocks 1m and no
#                       stale_while_revalidate
#   HSP_PROXY_R2_URL    like it on the Redis at HSP_REDIS2_SOCK, without
#                       rate_limit_fallback
#   HSP_PROXY_NOCA_URL  proxy without the private CA: TLS verification fails
#   HSP_PROXY_WRONGNAME_URL  proxy trusting the CA, whose upstream (a
#                       second sandbox) shows a certificate for wrong.example
#   HSP_PROXY_EXPIRED_URL  proxy trusting the CA, whose upstream (a third
#                       sandbox) shows an expired certificate for localhost
#   HSP_PROXY_DOWN_URL  proxy whose upstream port is closed
#   HSP_SANDBOX_URL     https://localhost:PORT
#   HSP_SANDBOX_CA      the CA that signed the sandbox's certificate
#   HSP_CERT_DIR        all certificates (certs.sh), wrong.pem included
#   HSP_REDIS_SOCK      the Redis unix socket
#   HSP_REDIS2_SOCK     a second Redis, which tests may SHUTDOWN and start
#                       again (daemonized, pidfile $HSP_TMPDIR/redis2.pid)
#   HSP_SEED_FILE       the sandbox's seed file
#   HSP_PROXY_BIN       the heavyset-proxy program and the config file the
#   HSP_PROXY_CONF      harness starts it with, for tests that start (and
#                       restart or kill) proxies of their own
#                       (tests/lib/hproc.h); HSP_PROXY_BIN may also be set
#                       before the run, to test another build
#   HSP_SANDBOX_BIN     the heavyset-sandbox program, for tests that start
#                       sandboxes of their own (hproc_sandbox_start)
#   HSP_TMPDIR          the run's directory: NAME.log and NAME.pid for each
#                       daemon. A test that kills a daemon on purpose
#                       creates NAME.killed there, so its exit status does
#                       not fail the run. Proxies that tests start log to
#                       NAME.log there too; the tests stop them, and every
#                       log is shown at the end of the run.
#
# To add a proxy with other settings, start it in the "proxies" section
# below: `sandbox_proxy NAME -o key=value...` (the main proxy's settings,
# overridden) or `start_proxy NAME -o key=value...` (the config file's)
# sets $url; assign it to a new HSP_*_URL and add that to the export.
set -u
LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
: "${abs_top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${abs_top_builddir:=$abs_top_srcdir}"

proxy_bin=${HSP_PROXY_BIN:-$abs_top_builddir/src/heavyset-proxy}
sandbox_bin=${HSP_SANDBOX_BIN:-$abs_top_builddir/src/sandbox/heavyset-sandbox}
test_bin=${HSP_TEST_BIN:-$abs_top_builddir/tests/integration/test_proxy}
proxy_conf=${HSP_PROXY_CONF:-$abs_top_srcdir/conf/heavyset-proxy.conf}
seed=$abs_top_srcdir/conf/sandbox-seed.json
startup_timeout=${HSP_STARTUP_TIMEOUT:-30}  # s per daemon (sanitizers are slow)
stop_timeout=15                             # s from SIGTERM to exit
closed_port=${HSP_CLOSED_PORT:-1}           # nothing listens there

daemons=""                  # names, most recent first (stopped in this order)
status=0                    # the run's exit status
cleaned=""
tmp=""

say() {
    echo "run.sh: $*" >&2
}

. "$abs_top_srcdir/tests/lib/daemons.sh"

# stop_redis2: stops the redis2 running now, if any, by its pidfile.
stop_redis2() {
    [ -r "$tmp/redis2.pid" ] || return
    pid=$(cat "$tmp/redis2.pid")
    alive "$pid" || return
    kill -TERM "$pid" 2>/dev/null
    deadline=$(($(now) + stop_timeout))
    while alive "$pid" && [ "$(now)" -lt "$deadline" ]; do
        sleep 0.05
    done
    if alive "$pid"; then
        say "redis2 (pid $pid) still runs ${stop_timeout}s after SIGTERM"
        kill -KILL "$pid" 2>/dev/null
        status=1
    fi
}

cleanup() {
    [ -n "$cleaned" ] && return
    cleaned=yes
    trap '' INT TERM            # a second ^C must not leave daemons behind
    [ -n "$tmp" ] || return
    for name in $daemons; do
        stop_daemon "$name"
    done
    stop_redis2
    # Last, so a sanitizer report from a daemon reaches tests/run-test.sh.
    for name in $daemons; do
        show_log "$name"
    done
    [ -r "$tmp/redis2.log" ] && show_log redis2
    # Logs of the proxies that tests started (tests/lib/hproc.c).
    for log in "$tmp"/*.log; do
        [ -r "$log" ] || continue
        name=$(basename "$log" .log)
        case " $daemons redis2 " in
        *" $name "*) ;;
        *) show_log "$name" ;;
        esac
    done
    if [ "${HSP_KEEP_TMP:-}" = 1 ]; then
        say "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}

# fail MESSAGE: stops everything and exits 1.
fail() {
    say "$*"
    status=1
    cleanup
    exit 1
}

# has_opt KEY ARG...: whether the -o arguments set KEY.
has_opt() {
    key=$1
    shift
    for arg in "$@"; do
        case "$arg" in
        "$key"=*) return 0 ;;
        esac
    done
    return 1
}

# start_proxy NAME [-o key=value]...: starts heavyset-proxy with the default
# config file, the given overrides, an ephemeral port and (unless given)
# this run's Redis and log level info; waits until GET /healthz answers.
# Sets $url (http://127.0.0.1:PORT) and $port.
start_proxy() {
    pname=$1
    shift
    set -- -o listen=127.0.0.1:0 "$@"
    has_opt redis "$@" || set -- -o "redis=unix://$redis_sock" "$@"
    has_opt log_level "$@" || set -- -o log_level=info "$@"
    start_daemon "$pname" "$proxy_bin" -c "$proxy_conf" "$@"
    wait_listening "$pname"
    url=http://127.0.0.1:$port
    wait_http "$pname" "$url/healthz"
    say "$pname listening on $url"
}

# ---- checks

trap cleanup EXIT
trap 'status=130; exit 130' INT
trap 'status=143; exit 143' TERM

for f in "$proxy_bin" "$sandbox_bin" "$test_bin"; do
    [ -x "$f" ] || { say "missing $f (run make check)"; exit 99; }
done
for f in "$proxy_conf" "$seed"; do
    [ -r "$f" ] || { say "missing $f"; exit 99; }
done
for c in redis-server redis-cli openssl curl; do
    command -v "$c" >/dev/null 2>&1 ||
        { say "needs $c (scripts/deps)"; exit 99; }
done

# A unix socket path must fit in sun_path (108 bytes).
base=${TMPDIR:-/tmp}
[ ${#base} -gt 60 ] && base=/tmp
tmp=$(mktemp -d "$base/hsp-it.XXXXXX") || { say "mktemp failed"; exit 99; }
ca=$tmp/certs/ca.pem
redis_sock=$tmp/redis.sock
redis2_sock=$tmp/redis2.sock

sh "$here/certs.sh" "$tmp/certs" || fail "certs.sh failed"

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

# redis2: tests stop it (SHUTDOWN) and start it again themselves, the same
# way, daemonized with its PID in $tmp/redis2.pid; cleanup stops whichever
# instance runs then. It is not a child of this shell, so its exit status
# is not checked.
redis-server --port 0 --unixsocket "$redis2_sock" --unixsocketperm 700 \
    --save '' --appendonly no --daemonize yes --pidfile "$tmp/redis2.pid" \
    --logfile "$tmp/redis2.log" --dir "$tmp" ||
    fail "redis2 did not start"
deadline=$(($(now) + startup_timeout))
until [ "$(redis-cli -s "$redis2_sock" ping 2>/dev/null)" = PONG ]; do
    [ "$(now)" -le "$deadline" ] ||
        fail "redis2: no PONG within ${startup_timeout}s"
    sleep 0.05
done

# ---- sandbox (HTTPS, no rate limit: the tests share it)

start_daemon sandbox "$sandbox_bin" --listen 127.0.0.1:0 \
    --tls-cert "$tmp/certs/server.pem" --tls-key "$tmp/certs/server.key" \
    --seed "$seed" --rate-limit 0 --latency 0
wait_listening sandbox
sandbox_port=$port
sandbox_url=https://localhost:$sandbox_port
wait_http sandbox "$sandbox_url/__sandbox/stats"
say "sandbox listening on $sandbox_url"

# A second sandbox whose certificate (same CA) is for wrong.example: a
# proxy that trusts the CA must still refuse it for localhost.
start_daemon sandbox-wrongname "$sandbox_bin" --listen 127.0.0.1:0 \
    --tls-cert "$tmp/certs/wrong.pem" --tls-key "$tmp/certs/wrong.key" \
    --seed "$seed" --rate-limit 0 --latency 0
wait_listening sandbox-wrongname
wrongname_port=$port

# A third one whose certificate (same CA, right name) expired in 2020.
start_daemon sandbox-expired "$sandbox_bin" --listen 127.0.0.1:0 \
    --tls-cert "$tmp/certs/expired.pem" --tls-key "$tmp/certs/expired.key" \
    --seed "$seed" --rate-limit 0 --latency 0
wait_listening sandbox-expired
expired_port=$port

# ---- proxies
# rate_limit=0/min turns the shared budget off: the suite makes far more
# than 60 upstream calls a minute with one token. Proxies that must never
# answer from a cache filled by another have their own redis_prefix.

# sandbox_proxy NAME [-o key=value]...: a proxy of the sandbox with the
# settings most tests want; later -o options override these.
sandbox_proxy() {
    sname=$1
    shift
    start_proxy "$sname" \
        -o "upstream=$sandbox_url" -o "upstream_ca_file=$ca" \
        -o upstream_timeout=1s -o workers=1 -o max_body=8k \
        -o rate_limit=0/min "$@"
}

sandbox_proxy proxy -o workers=2
HSP_PROXY_URL=$url

# A second instance on the same Redis (shared entries and invalidations);
# its upstream_timeout outlasts a lookup the sandbox holds for 1.5 s.
sandbox_proxy proxy-b -o upstream_timeout=5s
HSP_PROXY_B_URL=$url

# Short lifetimes, and blocks cached, for expiry and invalidation tests.
sandbox_proxy proxy-short -o ttl_not_found=1s -o ttl_blocks=1m \
    -o stale_while_revalidate=0s
HSP_PROXY_SHORT_URL=$url

# On redis2, which tests stop and start again; no fallback budget, so
# failing open is visible as such.
sandbox_proxy proxy-r2 -o "redis=unix://$redis2_sock" \
    -o rate_limit_fallback=0/min
HSP_PROXY_R2_URL=$url

# Without upstream_ca_file the system trust store cannot verify the
# sandbox's certificate.
start_proxy proxy-noca \
    -o "upstream=$sandbox_url" \
    -o upstream_timeout=1s -o workers=1 -o max_body=8k \
    -o redis_prefix=hsp-noca -o rate_limit=0/min
HSP_PROXY_NOCA_URL=$url

# The chain verifies, the host name does not.
sandbox_proxy proxy-wrongname \
    -o "upstream=https://localhost:$wrongname_port" \
    -o redis_prefix=hsp-wrongname
HSP_PROXY_WRONGNAME_URL=$url

# The chain and the name verify, the dates do not.
sandbox_proxy proxy-expired \
    -o "upstream=https://localhost:$expired_port" \
    -o redis_prefix=hsp-expired
HSP_PROXY_EXPIRED_URL=$url

# Nothing listens on the closed port: check, so a 502 means what we think.
curl -s -o /dev/null --noproxy '*' --max-time 2 "http://127.0.0.1:$closed_port/"
[ $? -eq 7 ] || fail "127.0.0.1:$closed_port accepts connections;" \
    "set HSP_CLOSED_PORT to a closed port"
sandbox_proxy proxy-down -o "upstream=https://127.0.0.1:$closed_port" \
    -o redis_prefix=hsp-down
HSP_PROXY_DOWN_URL=$url

# ---- tests

HSP_SANDBOX_URL=$sandbox_url
HSP_SANDBOX_CA=$ca
HSP_CERT_DIR=$tmp/certs
HSP_REDIS_SOCK=$redis_sock
HSP_SEED_FILE=$seed
HSP_REDIS2_SOCK=$redis2_sock
HSP_TMPDIR=$tmp
HSP_PROXY_BIN=$proxy_bin
HSP_PROXY_CONF=$proxy_conf
HSP_SANDBOX_BIN=$sandbox_bin
export HSP_PROXY_URL HSP_PROXY_B_URL HSP_PROXY_SHORT_URL HSP_PROXY_R2_URL \
    HSP_PROXY_NOCA_URL HSP_PROXY_WRONGNAME_URL HSP_PROXY_EXPIRED_URL \
    HSP_PROXY_DOWN_URL \
    HSP_SANDBOX_URL HSP_SANDBOX_CA HSP_CERT_DIR HSP_REDIS_SOCK \
    HSP_REDIS2_SOCK HSP_SEED_FILE HSP_TMPDIR HSP_PROXY_BIN HSP_PROXY_CONF \
    HSP_SANDBOX_BIN

# --jobs 1: the tests share one sandbox and read its counters.
# --timeout: criterion holds a test to the smaller of this and its
# suite's own .timeout, so this is only the bound of a suite that names
# none, and must not be below any suite's own (150 s: the Sentinel and
# Cluster suites, which wait for Sentinel and the cluster bus to act).
"$test_bin" --jobs 1 --timeout 150 --verbose "$@"
rc=$?
[ "$rc" -eq 0 ] || { say "$test_bin exited with status $rc"; status=1; }

cleanup
trap - EXIT
if [ "$status" -eq 0 ]; then
    say "passed"
else
    say "FAILED"
fi
exit "$status"
