#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for uno: Debian packages, npm dependencies, the build.
# Safe to run again. Needs root or sudo for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

# curl, redis-tools (redis-cli, redis-benchmark, redis-check-rdb) and iproute2: the host side
# of tests/ts/servers.test.ts (make test-servers); wrk: the HTTP load of the network
# benchmarks (node dist/bench/run.js servers); zstd: decompresses tar+zstd image layers
# (src/image/zstd.ts; Node 20's zlib has none); attr: getfattr/setfattr, with which uno build reads
# the owners a RUN step set (user.uno.attr) and the xattr test checks a mounted EROFS.
PACKAGES=(build-essential musl-tools erofs-utils busybox-static skopeo umoci clang lld libclang-rt-14-dev
          valgrind ca-certificates qemu-system-x86 cpio dpkg-dev mmdebstrap
          curl redis-tools iproute2 wrk docker-registry apache2-utils openssl zstd attr)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "setup: uno needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

npm ci --no-audit --no-fund --loglevel=error
make -j2 all examples
# The busybox testsuite's source (Debian's source package), fetched once for `make test`.
# Not needed to run programs: if the mirror is unreachable now, `make test` tries again.
scripts/busybox-testsuite.sh --fetch ||
  echo "setup: could not fetch busybox's source package now; make test will try again" >&2

if [ ! -e /dev/kvm ]; then
  echo "setup: warning: /dev/kvm is missing: uno needs KVM to run anything" >&2
fi
