#!/bin/sh
# tests/install/check.sh - `make install` into a throwaway DESTDIR, then
# check what landed there (SPEC §10): both programs, the configuration at
# the path the proxy reads by default, the seed, man pages that groff
# formats without a single warning and that document every configuration
# key with its default, and a systemd unit that `systemd-analyze verify`
# accepts without a word. Then `make uninstall` must leave no file behind.
#
# Automake runs it with abs_top_builddir set (a configured, built tree);
# by hand: abs_top_builddir=$PWD sh ../tests/install/check.sh from it.
# groff and systemd-analyze are required, not optional: a missing one
# fails the test (scripts/deps installs both), so a lint that did not run
# can never pass as one that did.
set -u
LC_ALL=C
export LC_ALL

b=${abs_top_builddir:-$PWD}
fails=0
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
dest=$tmp/dest

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

for tool in groff systemd-analyze; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "FAIL: $tool is missing (scripts/deps installs it)"
        exit 1
    fi
done

# The sub-makes must not join `make check`'s jobserver, whose pipe the
# test driver does not pass on.
unset MAKEFLAGS MFLAGS MAKELEVEL
make=${MAKE:-make}

# The installation directories, as the build tree's Makefile has them.
dirs=$(cd "$b" && $make -s --no-print-directory -f Makefile -f - \
       hsp-print-dirs <<'MK'
hsp-print-dirs:
	@echo "sbindir='$(sbindir)' bindir='$(bindir)' sysconfdir='$(sysconfdir)'"
	@echo "pkgdatadir='$(pkgdatadir)' mandir='$(mandir)'"
	@echo "unitdir='$(systemdsystemunitdir)' version='$(PACKAGE_VERSION)'"
MK
) || { echo "FAIL: cannot read the directories from $b/Makefile"; exit 1; }
eval "$dirs"

if ! $make -C "$b" install DESTDIR="$dest" >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log"
    echo "FAIL: make install DESTDIR=$dest"
    exit 1
fi

proxy=$dest$sbindir/heavyset-proxy
sandbox=$dest$bindir/heavyset-sandbox
conf=$dest$sysconfdir/heavyset-proxy.conf
man8=$dest$mandir/man8/heavyset-proxy.8
man1=$dest$mandir/man1/heavyset-sandbox.1
unit=$dest$unitdir/heavyset-proxy.service

for f in "$proxy" "$sandbox"; do
    [ -f "$f" ] && [ -x "$f" ] || fail "$f is not an installed program"
done
for f in "$conf" "$dest$pkgdatadir/sandbox-seed.json" "$man8" "$man1"; do
    [ -f "$f" ] && [ -r "$f" ] || fail "$f is not installed"
done
if [ "$unitdir" = no ]; then
    echo "note: configured --without-systemdsystemunitdir; no unit to check"
    unit=
elif ! [ -f "$unit" ] || ! [ -r "$unit" ]; then
    fail "$unit is not installed"
    unit=
fi

# The programs run, and the proxy's default -c path is where the
# configuration was installed; the installed file passes -t as it is.
"$proxy" -V | grep -qx "heavyset-proxy $version" ||
    fail "heavyset-proxy -V does not print $version"
"$sandbox" -V | grep -qx "heavyset-sandbox $version" ||
    fail "heavyset-sandbox -V does not print $version"
"$proxy" -h | grep -qF "(default $sysconfdir/heavyset-proxy.conf)" ||
    fail "heavyset-proxy -h names another default than" \
         "$sysconfdir/heavyset-proxy.conf"
"$proxy" -t -c "$conf" >"$tmp/t.out" 2>&1 ||
    { cat "$tmp/t.out"; fail "heavyset-proxy -t rejects the installed $conf"; }

# Every placeholder of the templates was substituted.
for f in "$man8" "$man1" $unit; do
    if grep -n '@[A-Za-z_]*@' "$f"; then
        fail "$f keeps a template placeholder"
    fi
done

# Man pages: not one warning from groff (-ww turns every kind on) but
# "can't break line" (-Wbreak): the only unbreakable words in the pages
# are the configured install paths, which must not be split and whose
# length the page does not choose (distcheck's prefix under a deep build
# directory makes one 90 columns wide; man(1) lets such a line overflow).
for f in "$man8" "$man1"; do
    if ! groff -ww -Wbreak -z -man "$f" >"$tmp/groff.out" 2>&1 ||
       [ -s "$tmp/groff.out" ]; then
        cat "$tmp/groff.out"
        fail "groff -ww -man $f is not clean"
    fi
done

# heavyset-proxy(8) documents every key of the installed configuration
# (which test_conf holds to the key table) as a "key = default" tag.
groff -man -Tascii -P-c -P-b -P-o -P-u "$man8" 2>/dev/null |
    sed -e 's/^ *//' -e 's/ *$//' >"$tmp/man8.txt"
sed -n 's/^\([a-z_][a-z_]*\) = *\(.*\)$/\1 \2/p' "$conf" >"$tmp/keys"
[ -s "$tmp/keys" ] || fail "no keys found in $conf"
while read -r key def; do
    tag=$(printf '%s = %s' "$key" "$def" | sed 's/ *$//')
    grep -qxF "$tag" "$tmp/man8.txt" ||
        fail "heavyset-proxy(8) has no '$tag' entry"
done <"$tmp/keys"
for word in -c -o -t -V -h SIGTERM SIGINT SIGHUP /healthz /readyz /metrics \
        "$sysconfdir/heavyset-proxy.conf" "EXIT STATUS" ENVIRONMENT FILES \
        "SEE ALSO"; do
    grep -qF -- "$word" "$tmp/man8.txt" ||
        fail "heavyset-proxy(8) never mentions $word"
done

# heavyset-sandbox(1) documents every long option of its --help.
groff -man -Tascii -P-c -P-b -P-o -P-u "$man1" 2>/dev/null >"$tmp/man1.txt"
"$sandbox" --help | grep -o -- '--[a-z][a-z-]*' | sort -u >"$tmp/sbopts"
[ -s "$tmp/sbopts" ] || fail "no options found in heavyset-sandbox --help"
while read -r opt; do
    grep -qF -- "$opt" "$tmp/man1.txt" ||
        fail "heavyset-sandbox(1) never mentions $opt"
done <"$tmp/sbopts"

# The unit: systemd-analyze verify works offline, without systemd as PID
# 1, but wants ExecStart's program to exist, so it checks a copy whose
# paths point into DESTDIR; MANPATH lets it find Documentation=man:...
# in the installed pages. Any output (an unknown key is only a warning)
# fails the test.
if [ -n "$unit" ]; then
    grep -qx "ExecStart=$sbindir/heavyset-proxy -c $sysconfdir/heavyset-proxy.conf" \
        "$unit" || fail "$unit: ExecStart does not run $sbindir/heavyset-proxy"
    for line in "ExecStartPre=$sbindir/heavyset-proxy -t -c $sysconfdir/heavyset-proxy.conf" \
            'ExecReload=/bin/kill -HUP $MAINPID' DynamicUser=yes \
            ProtectSystem=strict ProtectHome=yes NoNewPrivileges=yes \
            CapabilityBoundingSet= Restart=on-failure; do
        grep -qxF "$line" "$unit" || fail "$unit lacks $line"
    done
    # Without man(1) (minimal containers) verify would report the
    # Documentation= page as missing; groff has linted it above.
    man_opt=--man=yes
    if ! command -v man >/dev/null 2>&1; then
        echo "note: no man(1); systemd-analyze verify --man=no"
        man_opt=--man=no
    fi
    mkdir -p "$tmp/verify"
    sed -e "s|$sbindir/|$dest$sbindir/|g" -e "s|$sysconfdir/|$dest$sysconfdir/|g" \
        "$unit" >"$tmp/verify/heavyset-proxy.service"
    if ! MANPATH=$dest$mandir systemd-analyze verify "$man_opt" \
            "$tmp/verify/heavyset-proxy.service" >"$tmp/verify.out" 2>&1 ||
       [ -s "$tmp/verify.out" ]; then
        cat "$tmp/verify.out"
        fail "systemd-analyze verify $unit is not clean"
    fi
fi

# make uninstall takes back every file it put there.
if ! $make -C "$b" uninstall DESTDIR="$dest" >"$tmp/uninstall.log" 2>&1; then
    cat "$tmp/uninstall.log"
    fail "make uninstall DESTDIR=$dest"
fi
left=$(find "$dest" ! -type d)
[ -z "$left" ] || fail "make uninstall left: $left"

if [ "$fails" -gt 0 ]; then
    echo "install: $fails failure(s)"
    exit 1
fi
echo "install: programs, configuration, man pages and unit are in place and clean"
