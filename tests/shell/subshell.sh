# Subshells ( … ) and groups { …; }: what a subshell changes stays in it.
. "${0%/*}/lib.sh"
T=$(mktemp -d) || exit 1
cd "$T" || exit 1

echo "== variables, cd, umask, functions"
v=outer
(v=inner; echo "in: $v")
check var outer "$v"
(cd /; pwd)
check cwd "$T" "$(pwd)"
umask 022
(umask 077; umask)
check umask 0022 "$(umask)"
f() { echo outer-f; }
(f() { echo inner-f; }; f)
f
(export NEWVAR=1)
check export "" "${NEWVAR:-}"
(set -- a b c; echo "args in: $#")
check args 0 $#

echo "== exit statuses"
(exit 7); check exit-7 7 $?
(false); check false 1 $?
(true; exit 0); check zero 0 $?
(exit 300); check exit-300 44 $?
( (exit 5) ); check nested-5 5 $?
(exit 2) || echo "or-branch ran"
(exit 0) && echo "and-branch ran"

echo "== groups run in the shell itself"
{ g=group; }
check group group "$g"
{ echo a; echo b; } >out
check group-redir "a b" "$(cat out | xargs)"
(echo c; echo d) >out
check subshell-redir "c d" "$(cat out | xargs)"

echo "== nesting"
echo "$( (echo 1; (echo 2; (echo 3; (echo 4) ) ) ) | tr '\n' ' ')"
lvl=0
(lvl=1; (lvl=2; (lvl=3; echo "deep $lvl"); echo "mid $lvl"); echo "top $lvl")
check lvl 0 $lvl

echo "== a subshell writes a file the parent reads"
(i=0; while [ $i -lt 5 ]; do echo "line $i"; i=$((i + 1)); done) >lines
check lines 5 "$(wc -l <lines | tr -d ' ')"

echo "== exit inside a subshell does not end the script"
(exit 9)
echo "still here"

cd / && rm -rf "$T"
echo "== done"
[ "$fails" -eq 0 ]
