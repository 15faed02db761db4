#!/usr/bin/env bash
# VM exits per request of a server in uno (the "Networking" notes of docs/benchmarks.md):
# starts nginx or redis-server from build/bench/servers-root (made by
# `node dist/bench/run.js servers`) with `uno run --verbose`, waits until it answers, runs the
# client command (PORT in it becomes the published host port), stops the server with SIGTERM
# and sums the "N hypercall exits" that each of the instance's uno-vmm processes logs when its
# guest finishes. Run it once with the client `true` for the idle baseline (start-up, stop).
#   bench/server-exits.sh nginx wrk -t1 -c1 -d3s http://127.0.0.1:PORT/1k.bin
#   bench/server-exits.sh redis redis-benchmark -p PORT -n 50000 -c 50 -q -t set
#   TRACE=--trace bench/server-exits.sh nginx curl -s -o /dev/null http://127.0.0.1:PORT/1k.bin
# The uno run's stderr (its --verbose and --trace lines) is left in $LOG (default
# /tmp/uno-server-exits.log).
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${1:?usage: bench/server-exits.sh nginx|redis CLIENT-COMMAND...}
shift
LOG=${LOG:-/tmp/uno-server-exits.log}
ROOT=build/bench/servers-root
[ -d "$ROOT" ] || { echo "no $ROOT: run node dist/bench/run.js servers first" >&2; exit 1; }
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
case "$kind" in
  nginx)
    guest=80
    cmd=(/usr/sbin/nginx -c /etc/nginx/uno-bench.conf)
    ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/1k.bin")" = 200 ]; }
    ;;
  redis)
    guest=6379
    cmd=(/usr/bin/redis-server --port 6379 --bind 0.0.0.0 --protected-mode no --save ''
         --appendonly no --dir /data)
    ready() { redis-cli -p "$PORT" PING >/dev/null 2>&1; }
    ;;
  *) echo "server-exits: nginx or redis, not $kind" >&2; exit 2 ;;
esac

# shellcheck disable=SC2086  # TRACE is empty or one flag
UNO_HOME=build/bench/uno-home bin/uno run --verbose ${TRACE:-} -p "127.0.0.1:$PORT:$guest" \
  "$ROOT" -- "${cmd[@]}" 2>"$LOG" &
uno=$!
for _ in $(seq 300); do ready && break; sleep 0.2; done
ready || { echo "server-exits: $kind did not answer; see $LOG" >&2; kill -TERM "$uno"; exit 1; }
sleep 1
"${@//PORT/$PORT}" || echo "server-exits: the client failed ($?)" >&2
kill -TERM "$uno"
wait "$uno" || true
grep "hypercall exits" "$LOG" | sed -E 's/.* ([0-9]+) hypercall exits.*/\1 \0/' | awk '{ s += $1; $1 = ""; print } END { print "total hypercall exits:", s }'
