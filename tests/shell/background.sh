# Background jobs: & and wait, wait $! and its status, several jobs, kill -0, a job killed
# by a signal, a background job that outlives the pipeline that started it.
. "${0%/*}/lib.sh"
T=$(mktemp -d) || exit 1
cd "$T" || exit 1

echo "== wait for all"
(sleep 0.1; echo a >a) &
(echo b >b) &
(sleep 0.05; echo c >c) &
wait
check all "a b c" "$(cat a b c | xargs)"

echo "== wait \$! and its status"
(exit 3) &
p=$!
wait $p
check status-3 3 $?
(sleep 0.1; exit 4) &
wait $!
check status-4 4 $?
true &
wait $!
check status-0 0 $?

echo "== wait for each of several jobs"
(sleep 0.2; exit 11) &
p1=$!
(sleep 0.1; exit 12) &
p2=$!
(exit 13) &
p3=$!
wait $p2; s2=$?
wait $p1; s1=$?
wait $p3; s3=$?
check several "11 12 13" "$s1 $s2 $s3"

echo "== kill -0, kill and the status of a killed job"
sleep 5 &
p=$!
kill -0 $p
check kill-0-alive 0 $?
kill -TERM $p
wait $p
check killed-term 143 $?
kill -0 $p 2>/dev/null
check kill-0-gone 1 $?
sleep 5 &
p=$!
kill -KILL $p
wait $p
check killed-kill 137 $?
kill -0 $$
check kill-0-self 0 $?

echo "== \$! differs for each job, \$\$ is the script's in subshells"
true &
a=$!
true &
b=$!
wait
[ "$a" != "$b" ]; check distinct 0 $?
check dollar-dollar "$$" "$(echo $$)"
check dollar-dollar-sub "$$" "$( (echo $$) )"

echo "== a background job outlives the pipeline that started it"
echo go | { read -r w; (sleep 0.2; echo "late $w" >late) & echo "pipeline done"; }
[ -e late ]; check not-yet 1 $?
i=0
while [ ! -s late ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check outlived "late go" "$(cat late)"

echo "== many background jobs"
i=0
while [ $i -lt 20 ]; do
  (echo $i >"job.$i") &
  i=$((i + 1))
done
wait
check many 20 "$(cat job.* | wc -l | tr -d ' ')"
check sum 190 "$(cat job.* | awk '{ s += $1 } END { print s }')"

echo "== timeout kills a program that runs too long (after 1 s: busybox counts seconds)"
timeout 0.2 sleep 5 2>/dev/null
check timeout-term 143 $?
timeout 5 true
check timeout-quick 0 $?

echo "== wait with no jobs returns 0"
wait
check none 0 $?

cd / && rm -rf "$T"
echo "== done"
[ "$fails" -eq 0 ]
