# set -e: a failing simple command ends the script with its status, but not in an if or
# while condition, on the left of && or ||, after ! or inside a pipeline but the last.
# expect-status: 3
echo "== set -e in sh -c"
sh -c 'set -e; echo one; false; echo not reached'
echo "status $?"
sh -c 'set -e; echo one; (exit 4); echo not reached'
echo "status $?"
sh -c 'set -e; x=$(exit 6); echo not reached'
echo "status $?"
sh -c 'set -e; f() { echo in f; return 7; }; f; echo not reached'
echo "status $?"
sh -c 'set -e; sh -c "exit 8"; echo not reached'
echo "status $?"
sh -c 'set -e; cat /nonexistent 2>/dev/null; echo not reached'
echo "status $?"

echo "== where set -e does not stop"
set -e
if false; then echo no; else echo "if condition"; fi
while false; do :; done
echo "while condition"
false || echo "left of ||"
false && echo no
echo "left of &&"
! true
echo "after !"
false | true
echo "not last in pipeline"
v=$(false; echo still) && echo "$v"
f() { false; echo "in f, after false (ignored in an && context)"; }
f && echo "f returned 0"
set +e
false
echo "set +e: status $?"
set -e

echo "== set -e in a subshell ends only the subshell"
set +e
(set -e; false; echo not reached)
echo "subshell status $?"
(set -e; false; echo "reached: an || context turns set -e off") || echo no
set -e

echo "== trap EXIT runs when set -e ends the script"
trap 'echo "EXIT trap, status $?"' EXIT
echo "last line before failure"
(exit 3)
echo "not reached"
