# Running programs: scripts with a #! line (direct, through PATH, "#!/bin/busybox sh"), exit
# statuses 126 and 127, statuses of children killed by signals, $PPID in a child.
. "${0%/*}/lib.sh"
T=$(mktemp -d) || exit 1
cd "$T" || exit 1
# (#!/bin/busybox sh, not #!/bin/sh: natively /bin/sh is the host's shell)
SH="/bin/busybox sh"

echo "== #! scripts"
mkdir bin
printf '#!%s\necho "script $# args: $*"\nexit 3\n' "$SH" >bin/hello
chmod +x bin/hello
./bin/hello a b
check direct 3 $?
PATH="$T/bin:$PATH" hello via path
check via-path 3 $?
printf '#!%s\nset -e\necho before\nfalse\necho not reached\n' "$SH" >bin/set-e
chmod +x bin/set-e
./bin/set-e
check set-e 1 $?
printf 'echo "no #! line: run by the shell"\n' >bin/plain
chmod +x bin/plain
./bin/plain
check plain 0 $?
printf '#!%s\n"$(dirname "$0")/hello" nested' "$SH" >bin/calls
chmod +x bin/calls
./bin/calls
check nested 3 $?
out=$(./bin/hello in subst)
check in-subst "script 2 args: in subst" "$out"

echo "== 126 and 127"
printf 'echo x\n' >bin/noexec
chmod -x bin/noexec
./bin/noexec 2>/dev/null
check not-executable 126 $?
./bin/missing 2>/dev/null
check missing 127 $?
no_such_command_anywhere 2>/dev/null
check not-found 127 $?
./bin 2>/dev/null
check directory 126 $?

echo "== children killed by signals"
sh -c 'kill -TERM $$'; check term 143 $?
sh -c 'kill -KILL $$'; check kill 137 $?
sh -c 'kill -INT $$'; check int 130 $?
sh -c 'kill -USR1 $$'; check usr1 138 $?
sh -c 'kill -SEGV $$'; check segv 139 $?
sh -c 'kill -ABRT $$' 2>/dev/null; check abrt 134 $?
sh -c 'exit 200'; check exit-200 200 $?

echo "== \$PPID and \$\$ in children"
check ppid "$$" "$(sh -c 'echo $PPID')"
c=$(sh -c 'echo $$')
[ "$c" != "$$" ]; check child-pid-differs 0 $?
check subshell-keeps-ppid "$PPID" "$( (echo $PPID) )"
check sh-in-subshell-ppid 0 "$(p=$( (sh -c 'echo $PPID') ); [ "$p" != "$$" ] && [ "$p" != "$PPID" ] && echo 0)"

cd / && rm -rf "$T"
echo "== done"
[ "$fails" -eq 0 ]
