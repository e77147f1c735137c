# tests/lib/daemons.sh - the daemon handling both test harnesses share
# (tests/integration/run.sh, tests/clients/run.sh): start a daemon with
# its output in a log, wait until it listens and answers, notice when it
# dies, stop it and check how it ended. Sourced, not run: the caller
# defines say, fail and cleanup, and the variables tmp (the run's
# directory: NAME.log, NAME.pid; NAME.reported once a death was said,
# NAME.killed when a test stopped it on purpose), ca (the CA for https
# URLs), daemons (the names started, newest first), status (set to 1 on
# a failure), startup_timeout and stop_timeout (seconds).

now() {
    date +%s
}

# show_log NAME: prints the daemon's log with a header.
show_log() {
    echo "---- $1 log ----" >&2
    cat "$tmp/$1.log" >&2 2>/dev/null
    echo "---- end of $1 log ----" >&2
}

# alive PID: whether PID runs. A zombie (exited, not yet waited for) does
# not count, though kill -0 would say it does.
alive() {
    if [ -d /proc/self ]; then
        st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
        [ -n "$st" ] && [ "$st" != Z ]
    else
        kill -0 "$1" 2>/dev/null
    fi
}

# stop_daemon NAME: SIGTERM, wait (bounded), and check its exit status.
stop_daemon() {
    name=$1
    pid=$(cat "$tmp/$name.pid")
    [ -e "$tmp/$name.reported" ] && return
    if [ -e "$tmp/$name.killed" ]; then
        wait "$pid" 2>/dev/null
        say "$name was stopped by a test (exit $?)"
        return
    fi
    if ! alive "$pid"; then
        wait "$pid"
        rc=$?
        say "$name (pid $pid) died during the run, exit status $rc"
        status=1
        return
    fi
    kill -TERM "$pid" 2>/dev/null
    deadline=$(($(now) + stop_timeout))
    while alive "$pid" && [ "$(now)" -lt "$deadline" ]; do
        sleep 0.05
    done
    if alive "$pid"; then
        say "$name (pid $pid) still runs ${stop_timeout}s after SIGTERM:" \
            "killing it"
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        status=1
        return
    fi
    wait "$pid"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        say "$name (pid $pid) exited with status $rc after SIGTERM"
        status=1
    fi
}

# died NAME WHEN: a daemon exited while starting. Its log is shown by
# cleanup, with the others.
died() {
    pid=$(cat "$tmp/$1.pid")
    wait "$pid"
    rc=$?
    : >"$tmp/$1.reported"       # so cleanup does not report it again
    fail "$1 (pid $pid) exited with status $rc $2"
}

# start_daemon NAME COMMAND...: runs COMMAND in the background, its stdout
# and stderr in $tmp/NAME.log, its PID in $tmp/NAME.pid.
start_daemon() {
    name=$1
    shift
    case " $daemons " in
    *" $name "*) fail "two daemons named $name" ;;
    esac
    "$@" >"$tmp/$name.log" 2>&1 </dev/null &
    echo $! >"$tmp/$name.pid"
    daemons="$name $daemons"
}

# wait_listening NAME: waits for "listening on 127.0.0.1:PORT" in NAME's
# log and sets $port.
wait_listening() {
    pid=$(cat "$tmp/$1.pid")
    deadline=$(($(now) + startup_timeout))
    while :; do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
            "$tmp/$1.log" | head -n 1)
        [ -n "$port" ] && return 0
        alive "$pid" || died "$1" "before it was listening"
        [ "$(now)" -le "$deadline" ] || break
        sleep 0.05
    done
    fail "$1: no 'listening on 127.0.0.1:PORT' in its log" \
        "within ${startup_timeout}s"
}

# wait_http NAME URL: polls URL until it answers 200.
wait_http() {
    pid=$(cat "$tmp/$1.pid")
    deadline=$(($(now) + startup_timeout))
    code=""
    while [ "$(now)" -le "$deadline" ]; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --noproxy '*' \
            --max-time 2 --cacert "$ca" "$2" 2>/dev/null)
        [ "$code" = 200 ] && return 0
        alive "$pid" || died "$1" "before $2 answered"
        sleep 0.05
    done
    fail "$1: $2 did not answer 200 within ${startup_timeout}s" \
        "(last: ${code:-none})"
}
