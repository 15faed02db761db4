# Command substitution: $(…), backticks, nesting, quoting, trailing newlines, statuses.
. "${0%/*}/lib.sh"

echo "== basic"
x=$(echo hello)
check dollar hello "$x"
y=`echo world`
check backtick world "$y"
check nested "a-b-c" "$(echo a-$(echo b-$(echo c)))"
check nested-backtick "inner" "`echo \`echo inner\``"
check mixed "x y" "$(echo x `echo y`)"
check arith 42 "$(( $(echo 6) * $(echo 7) ))"

echo "== newlines and quoting"
nl=$(printf 'a\n\n\n')
check strip-trailing a "$nl"
two=$(printf 'a\nb\n')
check keep-inner "a
b" "$two"
check quoted-space "a   b" "$(echo "a   b")"
set -- $(echo "p   q  r")
check split 3 $#
check quotes-in-subst "it's \"quoted\"" "$(echo "it's \"quoted\"")"
check dollar-in-single '$HOME' "$(echo '$HOME')"
check case-paren yes "$(case x in x) echo yes;; esac)"

echo "== statuses"
v=$(exit 3); check status-3 3 $?
v=$(false); check status-false 1 $?
v=$(true); check status-true 0 $?
v=$(echo out; exit 2); check status-out "2 out" "$? $v"

echo "== many in one line"
check many "1 2 3 4 5 6 7 8 9 10" "$(echo $(echo 1) $(echo 2) $(echo 3) $(echo 4) $(echo 5) $(echo 6) $(echo 7) $(echo 8) $(echo 9) $(echo 10))"

echo "== large output"
big=$(seq 1 20000)
check big-lines 20000 "$(echo "$big" | wc -l | tr -d ' ')"
check big-last 20000 "${big##*
}"

echo "== stderr is not captured"
e=$(echo to-stderr >&2; echo to-stdout)
check stdout-only to-stdout "$e"
e=$( (echo both >&2) 2>&1)
check redirected both "$e"

echo "== done"
[ "$fails" -eq 0 ]
