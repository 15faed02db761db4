#!/usr/bin/env bash
# A Debian 12 root filesystem for tests and examples: `--variant=minbase` plus the packages
# below, made by mmdebstrap from the mirrors this machine's apt already uses. Built once and
# reused while the package list is unchanged.
#   scripts/debian-root.sh [DIR]     (default build/debian-root; prints DIR when ready)
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${1:-build/debian-root}
# nginx-light and redis-server: the servers of tests/ts/servers.test.ts (make test-servers).
PACKAGES=python3,libpython3.11-testsuite,sqlite3,lua5.4,perl,findutils,coreutils,procps,nginx-light,redis-server
STAMP="$DIR/.uno-debian-root"
WANT="bookworm minbase $PACKAGES"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  echo "$DIR"
  exit 0
fi

# The machine's own apt sources: deb822 files first, then the one-line format.
SOURCES=()
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -s "$f" ] && grep -qv '^\s*#' "$f" && SOURCES+=("$f")
done
if [ "${#SOURCES[@]}" -eq 0 ]; then
  echo "debian-root: no apt sources on this machine to build a Debian root from" >&2
  exit 1
fi
if ! command -v mmdebstrap >/dev/null; then
  echo "debian-root: mmdebstrap is missing (scripts/setup.sh installs it)" >&2
  exit 1
fi

TMP="$DIR.tmp.$$"
trap 'rm -rf "$TMP"' EXIT
rm -rf "$TMP"
echo "debian-root: building $DIR (Debian 12 minbase + ${PACKAGES//,/, })" >&2
mmdebstrap --quiet --variant=minbase --include="$PACKAGES" bookworm "$TMP" "${SOURCES[@]}" >&2
echo "$WANT" > "$TMP/.uno-debian-root"
rm -rf "$DIR"
mv "$TMP" "$DIR"
trap - EXIT
echo "$DIR"
