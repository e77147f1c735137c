#!/bin/sh
# tests/run-test.sh - automake LOG_COMPILER: runs one test and fails it
# when a sanitizer report appears in its output, because criterion passes
# a test whose process printed a LeakSanitizer report at exit.
out=$(mktemp) || exit 99
"$@" >"$out" 2>&1
rc=$?
cat "$out"
if grep -Eq '^==[0-9]+==ERROR: |^SUMMARY: [A-Za-z]+Sanitizer|runtime error: ' "$out"; then
    echo "run-test: sanitizer report in the output of $1" >&2
    [ "$rc" -eq 0 ] && rc=1
fi
rm -f "$out"
exit $rc
