# The read builtin: from a pipe, a file and a here-string-like here-document; IFS splitting,
# -r, a last line without newline, EOF status, while-read loops redirected vs piped.
. "${0%/*}/lib.sh"
T=$(mktemp -d) || exit 1
cd "$T" || exit 1

echo "== from a pipe"
echo "alpha beta gamma" | { read -r a b c; echo "$c $b $a"; }
echo "one two three four" | { read -r a b; echo "a=$a b=$b"; }
printf 'x\n' | { read -r a; echo "status $? [$a]"; read -r b; echo "eof status $? [$b]"; }
printf 'no newline' | { read -r a; echo "status $? [$a]"; }
seq 1 5 | { read -r first; cat | tr '\n' ' '; echo "after $first"; }

echo "== from a file"
printf 'k1 v1\nk2 v2\nk3 v3\n' >kv
read -r k v <kv
echo "first: $k=$v"
while read -r k v; do echo "$v<-$k"; done <kv
n=0
while read -r _; do n=$((n + 1)); done <kv
check redirected-loop-scope 3 "$n"
{ read -r l1; read -r l2; } <kv
echo "two reads: $l1 / $l2"

echo "== IFS and -r"
printf 'a:b:c\n' | { IFS=: read -r x y z; echo "$z$y$x"; }
printf '  lead and trail  \n' | { read -r l; echo "[$l]"; }
printf '  keep  \n' | { IFS= read -r l; echo "[$l]"; }
printf 'back\\slash\n' | { read -r l; echo "-r: $l"; }
printf 'back\\slash\n' | { read l; echo "no -r: $l"; }
printf 'cont\\\nnued\n' | { read l; echo "continued: $l"; }
printf 'a,b;c\n' | { IFS=',;' read -r p q r; echo "$p|$q|$r"; }

echo "== options"
printf 'abcdef' | { read -r -n 3 a; echo "n3: $a"; }
printf 'x,y\n' | { read -r -d , a; echo "d: $a"; }
printf 'p q r\n' | { read -r; echo "REPLY=$REPLY"; }
read -r -t 1 t </dev/null
check t-eof 1 $?

echo "== big input through a while-read loop"
seq 1 3000 >nums
s=0
while read -r i; do s=$((s + i)); done <nums
check sum 4501500 "$s"
check piped-sum 4501500 "$(seq 1 3000 | { t=0; while read -r i; do t=$((t + i)); done; echo $t; })"

echo "== a read loop that runs commands reading stdin"
printf 'l1\nl2\nl3\n' >f
while read -r l; do echo "$l: $(echo inner)"; done <f
while read -r l; do sh -c 'echo "sh sees $0"' "$l" </dev/null; done <f

cd / && rm -rf "$T"
echo "== done"
[ "$fails" -eq 0 ]
