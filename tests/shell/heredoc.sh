# Here-documents: expansion, quoted delimiters, <<- with tabs, in pipelines, functions and
# loops, larger than a pipe buffer, and here-documents feeding programs that fork.
. "${0%/*}/lib.sh"
name=world
echo "== expanded"
cat <<EOF
hello $name
sum $((2 + 3)) and $(echo subst) and `echo tick`
escaped \$name and \`x\` and backslash \\
EOF

echo "== quoted delimiters: nothing expands"
cat <<'EOF'
hello $name $(echo no) `echo no` \$ \\
EOF
cat <<"EOF"
double-quoted $name
EOF
cat <<\EOF
backslashed $name
EOF
cat <<E\OF
partly quoted $name
EOF

echo "== <<- strips leading tabs"
cat <<-EOF
	tab-indented $name
		two tabs
	    tab then spaces
	EOF
cat <<-'EOF'
	quoted and stripped $name
	EOF

echo "== into pipelines, commands and loops"
tr a-z A-Z <<EOF | sed 's/^/> /'
first
second
EOF
while read -r a b; do echo "$b-$a"; done <<EOF
1 one
2 two
EOF
f() {
  cat <<EOF
in function: $1
EOF
}
f arg
sh <<'EOF'
echo "sh reads its script from a here-document: $((6 * 7))"
x=$(echo inner)
echo "$x"
EOF
check to-var "a b" "$(cat <<EOF
a b
EOF
)"
check wc 3 "$(wc -l <<EOF | tr -d ' '
1
2
3
EOF
)"
cat <<A; cat <<B
from A
A
from B
B

echo "== empty and larger than a pipe buffer"
cat <<EOF
EOF
echo "(empty printed nothing)"
big=$(seq 1 20000)
check big 20000 "$(cat <<EOF | wc -l | tr -d ' '
$big
EOF
)"
check big-sum 200010000 "$(awk '{ s += $1 } END { print s }' <<EOF
$big
EOF
)"

echo "== a here-document to a read in a subshell and a redirected group"
( read -r l; echo "subshell read: $l" ) <<EOF
line for subshell
EOF
{ read -r a; read -r b; echo "group read: $a / $b"; } <<EOF
g1
g2
EOF

echo "== done"
[ "$fails" -eq 0 ]
