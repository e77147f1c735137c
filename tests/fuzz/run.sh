#!/usr/bin/env bash
# tests/fuzz/run.sh - build the libFuzzer harnesses with clang and run each
# for a bounded time on a scratch copy of its committed seed corpus.
#
# Usage: tests/fuzz/run.sh [-b BUILDDIR] SECONDS [NAME...]
#   BUILDDIR  a configured build directory, for config.h (default
#             build/plain; configured there when it has no config.h)
#   NAME      phone, conf, json, route, lex or uparse (default: all)
#
# Binaries go to build/fuzz/, inputs that crash, leak or time out to
# build/fuzz/artifacts/ (their paths are printed). The corpus under
# tests/fuzz/corpus/ is only read: new inputs found in a run stay in a
# temporary copy that is removed, so a run never dirties the tree. To grow
# the committed corpus, run a binary by hand and minimise with -merge=1.
#
# This is not part of the autotools build: `make` and `make distcheck`
# never need clang. Exits 1 if any harness failed, 2 on a usage error.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
builddir=$top/build/plain
while getopts b: opt; do
    case $opt in
    b) builddir=$(mkdir -p "$OPTARG" && cd "$OPTARG" && pwd) ;;
    *) sed -n '4,8p' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -lt 1 ] || ! [ "$1" -gt 0 ] 2>/dev/null; then
    echo "usage: tests/fuzz/run.sh [-b BUILDDIR] SECONDS [NAME...]" >&2
    exit 2
fi
seconds=$1
shift

# name -> the sources under src/ it needs, the pkg-config modules it
# links and its longest input (-max_len).
declare -A srcs=(
    [phone]="phone.c"
    [conf]="conf_key.c conf_value.c conf_load.c conf_check.c conf_ref.c url.c
            url_redis.c"
    [json]="json.c idem.c"
    [route]="route.c key.c phone.c cache.c seal.c"
    [lex]="lex.c"
    [uparse]="uparse.c ufields.c"
)
declare -A mods=(
    [phone]=""
    [conf]=""
    [json]="json-c libcrypto"
    [route]="libevent libcrypto"
    [lex]=""
    [uparse]=""
)
declare -A maxlen=([phone]=256 [conf]=8192 [json]=4096 [route]=1024
                  [lex]=2048 [uparse]=2048)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(phone conf json route lex uparse)

cc=${FUZZ_CC:-clang}
if ! command -v "$cc" >/dev/null; then
    echo "fuzz: $cc not found (scripts/deps installs clang)" >&2
    exit 1
fi
if [ ! -f "$builddir/config.h" ]; then
    mkdir -p "$builddir"
    (cd "$builddir" && "$top/configure" -q >/dev/null)
fi

out=$top/build/fuzz
mkdir -p "$out/artifacts"
flags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -Wall -Wextra -Wno-unused-parameter -Werror
       -I"$builddir" -I"$top/src" -I"$top/tests/fuzz")
# A fuzz run only counts what the harness exercised; leaks are failures.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
work=$(mktemp -d "${TMPDIR:-/tmp}/hsp-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

for name in "${names[@]}"; do
    if [ -z "${srcs[$name]+x}" ]; then
        echo "fuzz: unknown harness '$name'" >&2
        exit 2
    fi
    files=()
    for f in ${srcs[$name]}; do
        files+=("$top/src/$f")
    done
    pc_cflags=() pc_libs=()
    if [ -n "${mods[$name]}" ]; then
        read -r -a pc_cflags <<<"$(pkg-config --cflags ${mods[$name]})"
        read -r -a pc_libs <<<"$(pkg-config --libs ${mods[$name]})"
    fi
    bin=$out/fuzz_$name
    echo "== fuzz $name: build"
    "$cc" "${flags[@]}" "${pc_cflags[@]}" -o "$bin" \
        "$top/tests/fuzz/fuzz_$name.c" "${files[@]}" "${pc_libs[@]}"

    corpus=$work/$name
    mkdir -p "$corpus"
    cp "$top/tests/fuzz/corpus/$name/"* "$corpus/" 2>/dev/null || true
    dict=()
    [ -f "$top/tests/fuzz/$name.dict" ] && dict=(-dict="$top/tests/fuzz/$name.dict")
    log=$out/fuzz_$name.log
    echo "== fuzz $name: run ${seconds}s on $(ls "$corpus" | wc -l) seeds"
    rc=0
    (cd "$work" && "$bin" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=1024 -max_len="${maxlen[$name]}" \
        -print_final_stats=1 -artifact_prefix="$out/artifacts/$name-" \
        "${dict[@]}" "$corpus") >"$log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then
        echo "== fuzz $name: passed, ${runs:-?} executions," \
             "corpus $(ls "$corpus" | wc -l) inputs"
    else
        echo "== fuzz $name: FAILED (exit $rc) after ${runs:-?} executions"
        grep -E 'ERROR: |SUMMARY: |fuzz: property|runtime error' "$log" |
            head -n 10 | sed 's/^/   /' || true
        grep -E 'Test unit written to|artifact_prefix' "$log" |
            sed 's/^/   /' || true
        echo "   full log: $log"
        status=1
    fi
done
exit $status
