# Pipelines: 5 stages, data larger than a pipe buffer, exit statuses, pipefail, `!`,
# a writer ended by SIGPIPE, and while-read loops as pipeline stages.
. "${0%/*}/lib.sh"

echo "== five stages"
printf 'pear\napple\nbanana\napple\ncherry\nbanana\napple\n' | sort | uniq -c | sort -rn | head -n 2
check five 271 "$(seq 1 1000 | grep 7 | sed "s/7/x/" | tr -d x | wc -l | tr -d " ")"

echo "== a megabyte through five stages"
check mb "100000" "$(seq 1 100000 | cat | cat | cat | wc -l)"
check mb-sum "5000050000" "$(seq 1 100000 | cat | tr '\n' ' ' | tr ' ' '\n' | awk '{ s += $1 } END { printf "%.0f\n", s }')"
check bytes "1048576" "$(head -c 1048576 /dev/zero | cat | cat | cat | wc -c | tr -d ' ')"

echo "== exit statuses"
true | false; check last-false 1 $?
false | true; check last-true 0 $?
true | (exit 7); check last-7 7 $?
! true | false; check bang-false 0 $?
! false; check bang 0 $?
! true; check bang-true 1 $?
set -o pipefail
(exit 3) | true | true; check pipefail-first 3 $?
true | (exit 4) | (exit 5); check pipefail-last 5 $?
true | true; check pipefail-ok 0 $?
set +o pipefail

echo "== SIGPIPE ends the writer"
check yes-head "y y y" "$(yes | head -n 3 | xargs)"
set -o pipefail
yes | head -n 1 >/dev/null; check sigpipe-status 141 $?
set +o pipefail
seq 1 100000 | head -n 2

echo "== while-read loops in pipelines"
n=0
printf 'a\nb\nc\n' | while read -r l; do n=$((n + 1)); echo "$n:$l"; done
check subshell-scope 0 "$n"
printf 'x 1\ny 2\nz 3\n' | while read -r k v; do echo "$v=$k"; done | sort -r | tr '\n' ' '
echo
total=$(seq 1 10 | while read -r i; do echo $((i * i)); done | { s=0; while read -r q; do s=$((s + q)); done; echo $s; })
check squares 385 "$total"

echo "== pipeline into a group and a function"
f() { tr a-z A-Z; }
echo hello | f | { read -r w; echo "<$w>"; }
echo one two | { read -r a b; echo "$b $a"; }

echo "== done"
[ "$fails" -eq 0 ]
