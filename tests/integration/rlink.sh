#!/bin/sh
# tests/integration/rlink.sh - the harness of tests/integration/test_rlink
# (test_rlink_conn.c and test_rlink_cmd.c: the Redis link, src/rlink.h):
# starts its own redis-servers on loopback, runs the criterion binary
# against them, stops them.
#
#   plain   TCP with requirepass, the ACL user app (password secret),
#           a unix socket, DEBUG enabled
#   tls     TLS only (--port 0), certificate for localhost/127.0.0.1 by
#           a throwaway CA (tests/integration/certs.sh)
#   wrong   TLS only, certificate for wrong.example by the same CA
#   mtls    TLS only like tls, and it wants a client certificate signed
#           by the CA (client.pem, made here with clientAuth)
#   nohello TCP with requirepass, HELLO renamed away: a Redis older than
#           6 as the link sees it
#
# Environment for the tests: HSP_RL_PORT, HSP_RL_SOCK, HSP_RL_PASS,
# HSP_RL_TLS_PORT, HSP_RL_WRONG_PORT, HSP_RL_MTLS_PORT, HSP_RL_CA (the
# CA that signed them all), HSP_RL_OTHER_CA (a CA that signed none),
# HSP_RL_CLIENT_CERT and HSP_RL_CLIENT_KEY (mtls's client certificate),
# HSP_RL_NOHELLO_PORT (the nohello server; its password is HSP_RL_PASS),
# HSP_RL_CLOSED_PORT (nothing listens there).
#
# Usage: rlink.sh [criterion option...]. HSP_KEEP_TMP=1 keeps the
# directory. No fixed port: each server gets a free one.
set -u
LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
: "${abs_top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${abs_top_builddir:=$abs_top_srcdir}"
test_bin=$abs_top_builddir/tests/integration/test_rlink
pass=pw-$$

say() {
    echo "rlink.sh: $*" >&2
}

for c in redis-server redis-cli openssl python3; do
    if ! command -v "$c" >/dev/null 2>&1; then
        say "$c not found: skipping"
        exit 77
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hsp-rlink.XXXXXX") || exit 99
servers=""

# shellcheck disable=SC2317  # run by the trap
cleanup() {
    for s in $servers; do
        if [ -r "$tmp/$s.pid" ]; then
            pid=$(cat "$tmp/$s.pid")
            kill -TERM "$pid" 2>/dev/null
            i=0
            while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do
                sleep 0.05
                i=$((i + 1))
            done
        fi
    done
    if [ "${HSP_KEEP_TMP:-0}" = 1 ]; then
        say "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# free_port: a port nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start NAME PING-ARGS... -- SERVER-ARGS...: starts redis-server NAME
# daemonized with its log and pidfile in $tmp, then waits until
# `redis-cli PING-ARGS ping` answers PONG (10 s at most).
start() {
    name=$1
    shift
    ping=""
    while [ "$1" != -- ]; do
        ping="$ping $1"
        shift
    done
    shift
    redis-server --daemonize yes --pidfile "$tmp/$name.pid" \
        --logfile "$tmp/$name.log" --dir "$tmp" --save '' \
        --appendonly no --bind 127.0.0.1 "$@" || return 1
    servers="$servers $name"
    i=0
    # shellcheck disable=SC2086  # $ping is a word list on purpose
    until [ "$(redis-cli $ping ping 2>/dev/null)" = PONG ]; do
        i=$((i + 1))
        if [ $i -gt 200 ]; then
            say "$name did not answer; its log:"
            cat "$tmp/$name.log" >&2
            return 1
        fi
        sleep 0.05
    done
}

sh "$abs_top_srcdir/tests/integration/certs.sh" "$tmp/certs" || exit 99
sh "$abs_top_srcdir/tests/integration/certs.sh" "$tmp/other" || exit 99
c=$tmp/certs

port=$(free_port)
start plain -p "$port" -a "$pass" --no-auth-warning -- \
    --port "$port" --unixsocket "$tmp/plain.sock" --unixsocketperm 700 \
    --requirepass "$pass" --enable-debug-command yes || exit 99
redis-cli -p "$port" -a "$pass" --no-auth-warning \
    ACL SETUSER app on '>secret' '~*' '&*' '+@all' >/dev/null || exit 99

tls_port=$(free_port)
start tls --tls -p "$tls_port" --cacert "$c/ca.pem" -- \
    --port 0 --tls-port "$tls_port" --tls-cert-file "$c/server.pem" \
    --tls-key-file "$c/server.key" --tls-ca-cert-file "$c/ca.pem" \
    --tls-auth-clients no || exit 99

wrong_port=$(free_port)
start wrong --tls --insecure -p "$wrong_port" -- \
    --port 0 --tls-port "$wrong_port" --tls-cert-file "$c/wrong.pem" \
    --tls-key-file "$c/wrong.key" --tls-ca-cert-file "$c/ca.pem" \
    --tls-auth-clients no || exit 99

# A client certificate (certs.sh makes server ones only).
printf '%s\n' 'basicConstraints = critical, CA:FALSE' \
    'keyUsage = critical, digitalSignature' \
    'extendedKeyUsage = clientAuth' >"$c/client.ext"
if ! { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$c/client.key" &&
    openssl req -new -key "$c/client.key" -subj /CN=rlink-test \
        -out "$c/client.csr" &&
    openssl x509 -req -in "$c/client.csr" -CA "$c/ca.pem" \
        -CAkey "$c/ca.key" -CAcreateserial -CAserial "$c/client.srl" \
        -days 2 -sha256 -extfile "$c/client.ext" -out "$c/client.pem"
} >"$tmp/client-cert.log" 2>&1; then
    say "cannot make a client certificate:"
    cat "$tmp/client-cert.log" >&2
    exit 99
fi

mtls_port=$(free_port)
start mtls --tls -p "$mtls_port" --cacert "$c/ca.pem" --cert "$c/client.pem" \
    --key "$c/client.key" -- \
    --port 0 --tls-port "$mtls_port" --tls-cert-file "$c/server.pem" \
    --tls-key-file "$c/server.key" --tls-ca-cert-file "$c/ca.pem" \
    --tls-auth-clients yes || exit 99

nohello_port=$(free_port)
start nohello -p "$nohello_port" -a "$pass" --no-auth-warning -- \
    --port "$nohello_port" --requirepass "$pass" \
    --rename-command HELLO '' || exit 99

HSP_RL_PORT=$port
HSP_RL_SOCK=$tmp/plain.sock
HSP_RL_PASS=$pass
HSP_RL_TLS_PORT=$tls_port
HSP_RL_WRONG_PORT=$wrong_port
HSP_RL_CA=$c/ca.pem
HSP_RL_OTHER_CA=$tmp/other/ca.pem
HSP_RL_MTLS_PORT=$mtls_port
HSP_RL_CLIENT_CERT=$c/client.pem
HSP_RL_CLIENT_KEY=$c/client.key
HSP_RL_NOHELLO_PORT=$nohello_port
HSP_RL_CLOSED_PORT=$(free_port)
export HSP_RL_NOHELLO_PORT HSP_RL_PORT HSP_RL_SOCK HSP_RL_PASS HSP_RL_TLS_PORT \
    HSP_RL_WRONG_PORT HSP_RL_MTLS_PORT HSP_RL_CA HSP_RL_OTHER_CA \
    HSP_RL_CLIENT_CERT HSP_RL_CLIENT_KEY HSP_RL_CLOSED_PORT

# One test at a time: DEBUG SLEEP freezes the server every test shares.
"$test_bin" --jobs 1 "$@"
status=$?
if [ $status -ne 0 ]; then
    for s in $servers; do
        echo "---- $s log ----" >&2
        cat "$tmp/$s.log" >&2
    done
fi
exit $status
