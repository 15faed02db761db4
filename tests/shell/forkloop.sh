# A loop that forks about 200 times: command substitutions, pipelines, subshells, background
# jobs and external commands, with a running checksum of what they print.
. "${0%/*}/lib.sh"
T=$(mktemp -d) || exit 1
cd "$T" || exit 1

echo "== 60 command substitutions"
s=0
i=0
while [ $i -lt 60 ]; do
  v=$(echo $((i * 2)))
  s=$((s + v))
  i=$((i + 1))
done
check subst-sum 3540 "$s"

echo "== 40 two-stage pipelines"
i=0
: >acc
while [ $i -lt 40 ]; do
  echo "$i" | cat >>acc
  i=$((i + 1))
done
check pipe-lines 40 "$(wc -l <acc | tr -d ' ')"
check pipe-sum 780 "$(awk '{ s += $1 } END { print s }' acc)"

echo "== 40 subshells and 40 sh -c"
i=0
s=0
while [ $i -lt 40 ]; do
  (exit $((i % 7)))
  s=$((s + $?))
  sh -c "exit $((i % 5))"
  s=$((s + $?))
  i=$((i + 1))
done
check statuses 195 "$s"

echo "== 20 background jobs, waited for one by one"
i=0
s=0
while [ $i -lt 20 ]; do
  (exit $((i % 3))) &
  wait $!
  s=$((s + $?))
  i=$((i + 1))
done
check bg-statuses 19 "$s"

echo "== exec of external programs"
i=0
while [ $i -lt 20 ]; do
  /bin/busybox true
  i=$((i + 1))
done
echo "20 execs of busybox true"

cd / && rm -rf "$T"
echo "== done"
[ "$fails" -eq 0 ]
