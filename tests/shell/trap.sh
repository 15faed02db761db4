# trap: EXIT, INT and TERM handlers run when the signal comes from a subshell, a background
# job or the shell itself; `trap` lists handlers; ignored signals; reset with `trap -`.
. "${0%/*}/lib.sh"

echo "== the listing"
trap 'echo got TERM' TERM
trap 'echo got INT' INT
trap
trap - INT
trap

echo "== kill -TERM \$\$ from a subshell"
(kill -TERM $$)
echo "after subshell"

echo "== kill -INT \$\$ from a background job, handler runs in wait"
trap 'echo got INT' INT
(sleep 0.1; kill -INT $$) &
wait
echo "after wait"

echo "== the shell signals itself"
kill -TERM $$
echo "after self"

echo "== a handler that changes a variable"
n=0
trap 'n=$((n + 1))' USR1
kill -USR1 $$
kill -USR1 $$
(kill -USR1 $$)
check usr1-count 3 $n

echo "== an ignored signal stays ignored in children"
trap '' USR2
kill -USR2 $$
echo "ignored USR2 in the shell"
sh -c 'kill -USR2 $$; echo "ignored USR2 in sh -c"'
trap - USR2

echo "== handlers are reset in a subshell that sets its own"
(trap 'echo sub TERM' TERM; kill -TERM $(sh -c 'echo $PPID'); echo "sub done") 2>/dev/null
echo "status of a subshell killed with no handler:"
(trap - TERM; kill -TERM $(sh -c 'echo $PPID'); echo "not reached")
echo $?

echo "== EXIT traps"
sh -c 'trap "echo exit trap in sh -c" EXIT; echo body'
sh -c 'trap "echo exit trap after exit 3" EXIT; exit 3'
check exit-trap-status 3 $?
sh -c 'trap "echo TERM handler; exit 5" TERM; kill -TERM $$; echo not reached'
check term-exit-5 5 $?
sh -c 'trap "echo exit trap on TERM" EXIT; trap "exit 6" TERM; kill -TERM $$; echo not reached'
check exit-after-term 6 $?
sh -c 'kill -TERM $$; echo not reached'
check no-handler-143 143 $?
( trap 'echo subshell EXIT' EXIT; echo in subshell )

echo "== a TERM handler in a background job, signalled by the parent"
# (not INT: a non-interactive shell starts background jobs with SIGINT ignored)
T=$(mktemp -d) || exit 1
sh -c 'trap "echo child got TERM; exit 0" TERM; echo ready >"$1/ready"; i=0; while [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done; echo timeout' sh "$T" >"$T/out" 2>&1 &
p=$!
i=0
while [ ! -e "$T/ready" ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i + 1)); done
kill -TERM $p
wait $p
check bg-term-status 0 $?
cat "$T/out"
echo "a background job ignores INT:"
sh -c 'echo ready >"$1/ready2"; sleep 0.3; echo "survived INT"' sh "$T" &
p=$!
i=0
while [ ! -e "$T/ready2" ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i + 1)); done
kill -INT $p
wait $p
check bg-int-ignored 0 $?
rm -rf "$T"

trap 'echo "the script ends: EXIT trap runs"' EXIT
echo "== done"
[ "$fails" -eq 0 ]
