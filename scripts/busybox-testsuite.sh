#!/usr/bin/env bash
# Runs the testsuite of Debian's busybox source package against Debian's busybox-static
# (/bin/busybox), natively or (--uno) inside uno, and prints one parseable line:
#
#   busybox-testsuite: mode=native version=1:1.35.0-4+deb12u1+b1 PASS 300 FAIL 2 SKIP 40
#
# usage: scripts/busybox-testsuite.sh [--uno] [--markdown] [--list] [--min-pass N] [-v] [TEST...]
#        scripts/busybox-testsuite.sh --fetch
#   --uno       run the testsuite inside uno (`bin/uno run -w /bb/testsuite ROOTDIR -- /bin/sh
#               ./runtest`): the runner and every test run by /bin/busybox sh in the VM
#   --markdown  also print a row for docs/compatibility.md:
#               | busybox testsuite (native) | busybox-static 1:1.35.0-4+deb12u1+b1 | 300 | 2 | 40 |
#   --list      also print every test's result line (PASS:/FAIL:/SKIPPED:) after the summary
#   --min-pass N  exit with status 1 when fewer than N tests pass (for CI: the recorded count)
#   -v          show the testsuite's own output while it runs (it goes to stderr)
#   --fetch     only download the source package into the cache (for scripts/setup.sh)
#   TEST...     only these tests (file names in testsuite/, e.g. `sed` or `sed.tests`)
#
# The source package is fetched once with `apt-get source --download-only` (deb-src entries
# derived from the machine's own apt sources, in a private apt configuration: the system's
# apt state is not touched), kept in $BUSYBOX_SOURCE_CACHE (default: build/busybox-source;
# the .dsc and its tarballs, so that no *.d file of the source tree lands under build/,
# where the Makefile includes every *.d) and unpacked with dpkg-source (dpkg-dev) into a
# temp dir on each run; later runs are offline.
#
# Environment: BUSYBOX (default /bin/busybox), BUSYBOX_SOURCE_CACHE (see above), UNO (default
# bin/uno), UNO_FLAGS (extra `uno run` flags, e.g. "--memory 512m"), TESTSUITE_TIMEOUT
# (seconds for the whole run, default 1800), LOG (a file to keep the runner's output in).
#
# Exit status: 0 when the testsuite ran (whatever its counts, unless --min-pass), 1 when it
# could not be run or passed fewer than --min-pass tests.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
BUSYBOX="${BUSYBOX:-/bin/busybox}"
CACHE="${BUSYBOX_SOURCE_CACHE:-$REPO/build/busybox-source}"
UNO="${UNO:-$REPO/bin/uno}"
TIMEOUT="${TESTSUITE_TIMEOUT:-1800}"
MODE=native
MARKDOWN=0
LIST=0
VERBOSE=0
TESTS=()
MIN_PASS=""
FETCH_ONLY=0

die() {
  echo "busybox-testsuite: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --uno) MODE=uno ;;
    --markdown) MARKDOWN=1 ;;
    --list) LIST=1 ;;
    --fetch) FETCH_ONLY=1 ;;
    --min-pass)
      [ $# -ge 2 ] || die "--min-pass needs a number"
      MIN_PASS="$2"
      shift
      ;;
    -v) VERBOSE=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) TESTS+=("${1%.tests}") ;;
  esac
  shift
done

[ -x "$BUSYBOX" ] || die "$BUSYBOX is missing: apt-get install busybox-static"
if command -v file >/dev/null && file -L "$BUSYBOX" | grep -q 'dynamically linked'; then
  die "$BUSYBOX is dynamically linked: install busybox-static instead of busybox"
fi
BB_VERSION="$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true)"
SRC_VERSION="$(dpkg-query -W -f='${source:Version}' busybox-static 2>/dev/null || true)"
[ -n "$BB_VERSION" ] || BB_VERSION="$("$BUSYBOX" 2>/dev/null | sed -n '1s/^BusyBox \(v[^ ]*\).*/\1/p')"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/busybox-testsuite.XXXXXX")"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
SRC="$WORK/src"

# ---------------------------------------------------------------------------------------
# The source package: fetched into $CACHE once, unpacked into $SRC.

# Writes deb-src versions of the machine's apt sources (one-line and deb822 formats) into
# $1/sources.list and $1/sources.list.d/.
derive_deb_src() {
  local out="$1" etc f base
  etc="$(apt-config shell X Dir::Etc/d | sed -n "s/^X='\(.*\)'$/\1/p")"
  [ -n "$etc" ] || etc=/etc/apt/
  mkdir -p "$out/sources.list.d"
  : >"$out/sources.list"
  for f in "$etc/sources.list" "$etc"/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    base="$(basename "$f")"
    # "deb [opts] uri suite comps" -> "deb-src [opts] uri suite comps" (deb-src lines kept)
    sed -n -e 's/^[[:space:]]*deb\([[:space:]]\)/deb-src\1/p' -e '/^[[:space:]]*deb-src[[:space:]]/p' \
      "$f" >"$out/sources.list.d/$base"
  done
  for f in "$etc"/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822 stanzas: those whose Types has deb (or deb-src) become Types: deb-src
    awk 'BEGIN { RS = ""; ORS = "\n\n" }
      {
        n = split($0, l, "\n"); keep = 0; out = ""
        for (i = 1; i <= n; i++) {
          if (tolower(l[i]) ~ /^types:/) {
            if (l[i] ~ /[[:space:]]deb(-src)?([[:space:]]|$)/) keep = 1
            l[i] = "Types: deb-src"
          }
          out = out l[i] (i < n ? "\n" : "")
        }
        if (keep) print out
      }' "$f" >"$out/sources.list.d/$(basename "$f")"
  done
  if [ -z "$(cat "$out/sources.list" "$out"/sources.list.d/* 2>/dev/null | grep -E '^(deb-src|Types: deb-src)')" ]; then
    die "no 'deb' entries in the machine's apt sources ($etc) to derive deb-src from"
  fi
}

fetch_source() {
  local apt="$WORK/apt" dl="$WORK/download" ver="" dsc
  dsc="$(ls "$CACHE"/busybox_*.dsc 2>/dev/null | head -n 1 || true)"
  if [ -z "$dsc" ]; then
    echo "busybox-testsuite: fetching the busybox source package into $CACHE" >&2
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$dl"
    derive_deb_src "$apt"
    local opts=(
      -o "Dir::Etc::SourceList=$apt/sources.list"
      -o "Dir::Etc::SourceParts=$apt/sources.list.d"
      -o "Dir::State::Lists=$apt/lists"
      -o "Dir::Cache=$apt/cache"
      -o "APT::Get::List-Cleanup=0"
      -o "Debug::NoLocking=1"
      # apt's download sandbox user (_apt) cannot write our temp dirs; download as ourselves
      -o "APT::Sandbox::User=$(id -un)"
    )
    apt-get "${opts[@]}" -qq update >&2 || die "apt-get update (deb-src) failed"
    # the source version of the installed busybox-static, if the archive still has it
    if [ -n "$SRC_VERSION" ]; then ver="=$SRC_VERSION"; fi
    (cd "$dl" && apt-get "${opts[@]}" -qq source --download-only "busybox$ver" >&2) ||
      (cd "$dl" && apt-get "${opts[@]}" -qq source --download-only busybox >&2) ||
      die "apt-get source busybox failed"
    ls "$dl"/busybox_*.dsc >/dev/null 2>&1 || die "apt-get source busybox downloaded no .dsc"
    mkdir -p "$CACHE"
    cp "$dl"/busybox_* "$CACHE"/
    dsc="$(ls "$CACHE"/busybox_*.dsc | head -n 1)"
  fi
  command -v dpkg-source >/dev/null || die "dpkg-source is missing: apt-get install dpkg-dev"
  # (apt checked the files against the archive's signed indexes when it downloaded them;
  # dpkg-source warns that it has no key for the .dsc's signature: shown only on failure)
  dpkg-source -x "$dsc" "$SRC" >"$WORK/dpkg-source.log" 2>&1 ||
    die "dpkg-source -x $dsc failed: $(cat "$WORK/dpkg-source.log")"
  [ -f "$SRC/testsuite/runtest" ] || die "$SRC has no testsuite/runtest"
}

# ---------------------------------------------------------------------------------------
# The root directory: the layout a busybox build tree has for testsuite/runtest ("bindir" =
# the directory above testsuite/, holding busybox and .config), plus /bin with busybox and a
# symlink per applet (so `sh`, `cat`, … found through PATH and /bin/sh are the binary under
# test), /etc/passwd and /etc/group copied from the host (tests that print owners see the
# same names on both sides), /tmp.
#
#   ROOT/bin/busybox, ROOT/bin/APPLET -> busybox
#   ROOT/bb/busybox -> ../bin/busybox, ROOT/bb/.config, ROOT/bb/testsuite/...
#
# Natively, ROOT is a temp dir and the runner is ROOT/bin/sh (busybox sh) with PATH=ROOT/bin;
# the testsuite's "#!/bin/sh" lines are rewritten to "#!ROOT/bin/sh" so every script runs
# under the same busybox sh as in uno, where ROOT is / and /bin/sh is busybox anyway.
build_root() {
  local root="$1" prefix="$2" a f
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/bb"
  chmod 1777 "$root/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  chmod 755 "$root/bin/busybox"
  for a in $("$BUSYBOX" --list); do
    [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
  done
  for f in passwd group; do
    if [ -f "/etc/$f" ]; then cp "/etc/$f" "$root/etc/$f"; fi
  done
  ln -s ../bin/busybox "$root/bb/busybox"
  # The configuration Debian builds busybox-static with (debian/rules: os/linux, then
  # pkg/static; pkg/static is complete and checked against the result by the build).
  if [ -f "$SRC/debian/config/pkg/static" ]; then
    cat "$SRC/debian/config/pkg/static" >"$root/bb/.config"
  else
    # not a Debian tree: enable what the binary lists
    for a in $("$BUSYBOX" --list); do
      echo "CONFIG_$(echo "$a" | tr 'a-z-' 'A-Z_')=y"
    done >"$root/bb/.config"
  fi
  cp -a "$SRC/testsuite" "$root/bb/testsuite"
  # as debian/rules: mdev.tests needs root and a real /dev
  rm -f "$root/bb/testsuite/mdev.tests" "$root/bb/testsuite/.setup"
  # Left out on both sides (so the counts stay comparable): the two bc stress cases push
  # about 3.7 million lines through `bc | bc` — seconds natively, but many minutes in uno
  # today (bc's allocations are slow there; see docs/benchmarks.md). Every other bc case runs.
  local t
  for t in "bc parsing of numbers" "bc printing of numbers"; do
    awk -v name="testing \"$t\"" 'index($0, name) == 1 { skip = 1 } skip && /^$/ { skip = 0; next } !skip' \
      "$root/bb/testsuite/bc.tests" >"$root/bb/testsuite/bc.tests.new" &&
      cat "$root/bb/testsuite/bc.tests.new" >"$root/bb/testsuite/bc.tests" &&
      rm "$root/bb/testsuite/bc.tests.new"
  done
  if [ -f "$SRC/debian/testsuite-linux.diff" ]; then
    patch -s -p1 -d "$root/bb" <"$SRC/debian/testsuite-linux.diff"
  fi
  if [ "$prefix" != "" ]; then
    grep -rlZ '^#!/bin/sh' "$root/bb/testsuite" | xargs -0 -r sed -i "1s|^#!/bin/sh|#!$prefix/bin/sh|"
  fi
}

# debian/rules' TESTSUITE_ENV, minus ECHO=/bin/echo (busybox sh's echo knows -n -e) and with
# a fixed TZ; PATH and SHELL point at busybox.
testsuite_env() {
  local root="$1"
  echo "PATH=$root/bin"
  echo "SHELL=$root/bin/sh"
  echo "HOME=/root"
  echo "TZ=UTC"
  echo "LANG=C.UTF-8"
  echo "LC_ALL=C.UTF-8"
  echo "SKIP_KNOWN_BUGS=y"
  echo "SKIP_INTERNET_TESTS=y"
  echo "bindir=$root/bb"
}

fetch_source
if [ "$FETCH_ONLY" = 1 ]; then
  echo "busybox-testsuite: the busybox source package is in $CACHE" >&2
  exit 0
fi

ROOT="$WORK/root"
OUT="$WORK/out.txt"
if [ "$MODE" = native ]; then
  build_root "$ROOT" "$ROOT"
  mapfile -t ENVV < <(testsuite_env "$ROOT")
  run() {
    (cd "$ROOT/bb/testsuite" &&
      env -i "${ENVV[@]}" timeout -k 10 "$TIMEOUT" "$ROOT/bin/sh" ./runtest "${TESTS[@]}")
  }
else
  [ -x "$UNO" ] || die "$UNO is missing: run make"
  build_root "$ROOT" ""
  # ROOT is the guest's /: PATH=/bin, SHELL=/bin/sh, bindir=/bb
  mapfile -t ENVV < <(testsuite_env "")
  UFLAGS=(-w /bb/testsuite)
  for e in "${ENVV[@]}"; do UFLAGS+=(-e "$e"); done
  # shellcheck disable=SC2206
  UFLAGS+=(${UNO_FLAGS:-})
  export UNO_HOME="${UNO_HOME:-$WORK/uno-home}"
  run() {
    timeout -k 10 "$TIMEOUT" "$UNO" run "${UFLAGS[@]}" "$ROOT" -- /bin/sh ./runtest "${TESTS[@]}" </dev/null
  }
fi

rc=0
: >"$WORK/err.txt"
if [ "$VERBOSE" = 1 ]; then
  run 2>&1 | tee "$OUT" >&2 || rc=$?
else
  run >"$OUT" 2>"$WORK/err.txt" || rc=$?
fi
if [ "$rc" -ge 124 ]; then
  echo "busybox-testsuite: the runner ended with status $rc (124: timed out after ${TIMEOUT}s)" >&2
  [ "$VERBOSE" = 1 ] || tail -n 20 "$WORK/err.txt" >&2
fi
[ -z "${LOG:-}" ] || cp "$OUT" "$LOG"

count() { grep -c "^$1: " "$OUT" || true; }
PASS=$(count PASS)
FAIL=$(count FAIL)
SKIP=$(($(count SKIPPED) + $(count UNTESTED)))
if [ $((PASS + FAIL + SKIP)) -eq 0 ]; then
  echo "busybox-testsuite: no test results from the $MODE run (runner status $rc):" >&2
  tail -n 20 "$OUT" "$WORK/err.txt" >&2 || true
fi
echo "busybox-testsuite: mode=$MODE version=$BB_VERSION PASS $PASS FAIL $FAIL SKIP $SKIP"
if [ "$MARKDOWN" = 1 ]; then
  echo "| busybox testsuite ($MODE) | busybox-static $BB_VERSION | $PASS | $FAIL | $SKIP |"
fi
if [ "$LIST" = 1 ]; then
  grep -E '^(PASS|FAIL|SKIPPED|UNTESTED): ' "$OUT" || true
fi
if [ -n "$MIN_PASS" ] && [ "$PASS" -lt "$MIN_PASS" ]; then
  echo "busybox-testsuite: $PASS tests passed in the $MODE run, fewer than the $MIN_PASS expected" >&2
  exit 1
fi
