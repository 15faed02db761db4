# exec redirections: open, write, duplicate and close descriptors in the shell itself; exec <file
# and read loops; redirection order; >>, <>, noclobber; exec replacing the shell.
. "${0%/*}/lib.sh"
T=$(mktemp -d) || exit 1
cd "$T" || exit 1

echo "== exec 3>file, echo >&3, exec 3>&-"
exec 3>out3
echo "first" >&3
echo "second" >&3
sh -c 'echo "from a child" >&3'
(echo "from a subshell" >&3)
exec 3>&-
cat out3
if echo x 2>/dev/null >&3; then r=open; else r=closed; fi
check closed-fd closed "$r"
if sh -c 'echo x >&3' 2>/dev/null; then r=open; else r=closed; fi
check closed-in-child closed "$r"

echo "== exec 4>>file appends, 5<>file reads and writes"
echo one >app
exec 4>>app
echo two >&4
exec 4>&-
cat app
printf 'abcdef\n' >rw
exec 5<>rw
read -r l <&5
echo "read from 5: $l"
exec 5>&-

echo "== exec <file: the shell's stdin is the file"
printf 'line 1\nline 2\nline 3\n' >in
exec 6<&0
exec <in
while read -r l; do echo "got $l"; done
exec 0<&6 6<&-
printf 'a\nb\n' >in2
exec 7<in2
read -r x <&7
sh -c 'read -r y <&7; echo "child read $y"'
exec 7<&-
echo "parent read $x"

echo "== descriptors are shared with children: offsets move together"
printf '1\n2\n3\n4\n' >nums
exec 8<nums
read -r a <&8
sh -c 'read -r b <&8; echo "child: $b"'
read -r c <&8
echo "parent: $a $c"
exec 8<&-

echo "== redirection order"
sh -c 'echo out; echo err >&2' >o1 2>&1
check both-to-file "err out" "$(sort o1 | xargs)"
sh -c 'echo out; echo err >&2' 2>&1 >o2 | sed 's/^/pipe: /'
cat o2
{ echo grouped; echo group-err >&2; } 2>&1 | sort
exec 9>&1
out=$(echo captured; echo "via 9" >&9)
exec 9>&-
echo "$out"

echo "== noclobber"
set -C
echo a 2>/dev/null >exists
if echo b 2>/dev/null >exists; then r=overwritten; else r=refused; fi
check noclobber refused "$r"
check kept a "$(cat exists)"
echo c >|exists
check forced c "$(cat exists)"
set +C

echo "== exec replaces the shell"
sh -c 'exec echo "exec echo"; echo not reached'
sh -c 'exec sh -c "exit 4"; echo not reached'
check exec-status 4 $?
sh -c 'exec >redir; echo into-file'
check exec-stdout into-file "$(cat redir)"
sh -c 'exec 2>&1; echo to-stderr >&2' | sed 's/^/stdout: /'

echo "== redirections on loops and functions"
for i in 1 2 3; do echo "$i"; done >loop
check loop "1 2 3" "$(xargs <loop)"
f() { echo "f out"; echo "f err" >&2; }
f 2>/dev/null
f >/dev/null 2>&1
echo "silent f"
i=0
while [ $i -lt 3 ]; do i=$((i + 1)); echo "w$i"; done | tr '\n' ' '
echo

cd / && rm -rf "$T"
echo "== done"
[ "$fails" -eq 0 ]
