#!/usr/bin/env bash
# Python's own regression tests (Debian's libpython3.11-testsuite) in the Debian root of
# scripts/debian-root.sh, natively (chroot) or (--uno) inside uno, one module at a time with
# unittest, and one parseable line per module:
#
#   python-testsuite: mode=uno module=test_json run=158 pass=150 fail=0 error=0 skip=8 status=ok
#
# usage: scripts/python-testsuite.sh [--uno] [--markdown] [--check] [MODULE...]
#   --uno       run inside uno: bin/uno run ROOT -- /usr/bin/python3 -m unittest …
#   --markdown  also print a row per module for docs/compatibility.md:
#               | test_json | uno | 158 | 150 | 0 | 0 | 8 |
#   --check     exit 1 when a module passes fewer tests than docs/compatibility.md records
#               for it in this mode (the "python testsuite" rows), or fails to run at all
#   MODULE...   only these (default: the issue's list below)
#
# Environment: UNO (default bin/uno), UNO_FLAGS (extra `uno run` flags), MODULE_TIMEOUT
# (seconds a module may take, default 600), LOG (a directory to keep each module's output).
# Needs root for chroot (native) and KVM (--uno).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
UNO="${UNO:-$REPO/bin/uno}"
TIMEOUT="${MODULE_TIMEOUT:-600}"
MODE=native
MARKDOWN=0
CHECK=0
MODULES=()
DEFAULT_MODULES=(test_json test_threading test_thread test_os test_subprocess test_signal
                 test_mmap test_time test_tempfile test_shutil test_select)

while [ $# -gt 0 ]; do
  case "$1" in
    --uno) MODE=uno ;;
    --markdown) MARKDOWN=1 ;;
    --check) CHECK=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "python-testsuite: unknown option $1" >&2; exit 1 ;;
    *) MODULES+=("$1") ;;
  esac
  shift
done
[ "${#MODULES[@]}" -gt 0 ] || MODULES=("${DEFAULT_MODULES[@]}")

ROOT="$(cd "$REPO" && scripts/debian-root.sh)"
ROOT="$(cd "$REPO" && cd "$ROOT" && pwd)"
ENV=(PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 TMPDIR=/tmp)

run_module() {
  local m="$1"
  local cmd=(/usr/bin/python3 -B -m unittest -v "test.$m")
  if [ "$MODE" = uno ]; then
    local flags=()
    for kv in "${ENV[@]}"; do flags+=(-e "$kv"); done
    # shellcheck disable=SC2086
    timeout -k 10 "$TIMEOUT" "$UNO" run ${UNO_FLAGS:-} "${flags[@]}" -w /tmp "$ROOT" -- "${cmd[@]}"
  else
    timeout -k 10 "$TIMEOUT" chroot "$ROOT" /usr/bin/env -i "${ENV[@]}" \
      /bin/sh -c 'cd /tmp && exec "$@"' sh "${cmd[@]}"
  fi
}

# The recorded pass count of a module in this mode, from docs/compatibility.md.
recorded() {
  sed -n "s/^| $1 | $MODE | [0-9]* | \([0-9]*\) |.*/\1/p" "$REPO/docs/compatibility.md" | head -1
}

bad=0
for m in "${MODULES[@]}"; do
  out=$(mktemp)
  set +e
  run_module "$m" >"$out" 2>&1
  rc=$?
  set -e
  [ -n "${LOG:-}" ] && mkdir -p "$LOG" && cp "$out" "$LOG/$m.$MODE.log"
  # unittest's summary: "Ran N tests in Xs", then "OK (skipped=S)" or "FAILED (failures=F, …)".
  ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in .*/\1/p' "$out" | tail -1)
  summary=$(grep -E '^(OK|FAILED)( \(.*\))?$' "$out" | tail -1 || true)
  count() { echo "$summary" | sed -n "s/.*$1=\([0-9]*\).*/\1/p"; }
  fail=$(count failures); error=$(count errors); skip=$(count skipped)
  xfail=$(count "expected failures"); upass=$(count "unexpected successes")
  fail=${fail:-0}; error=${error:-0}; skip=${skip:-0}; xfail=${xfail:-0}; upass=${upass:-0}
  if [ -z "$ran" ] || [ -z "$summary" ]; then
    status="no-summary(exit $rc)"
    ran=0
    pass=0
  else
    status=$([ "$rc" -eq 0 ] && echo ok || echo "exit-$rc")
    pass=$((ran - fail - error - skip - xfail - upass))
  fi
  echo "python-testsuite: mode=$MODE module=$m run=$ran pass=$pass fail=$fail error=$error skip=$skip status=$status"
  [ "$MARKDOWN" = 1 ] && echo "| $m | $MODE | $ran | $pass | $fail | $error | $skip |"
  if [ "$CHECK" = 1 ]; then
    want=$(recorded "$m")
    if [ -z "$want" ]; then
      echo "python-testsuite: $m ($MODE) has no recorded count in docs/compatibility.md" >&2
      bad=1
    elif [ "$pass" -lt "$want" ]; then
      echo "python-testsuite: $m ($MODE) passed $pass tests, fewer than the $want recorded" >&2
      tail -30 "$out" >&2
      bad=1
    fi
  fi
  rm -f "$out"
done
exit "$bad"
