# Nested sh -c with quoting, $0 and "$@" passing, eval, and exit statuses through levels.
. "${0%/*}/lib.sh"
echo "== arguments"
sh -c 'echo "0=$0 1=$1 2=$2 #=$#"' zero one "two words"
sh -c 'for a in "$@"; do echo "[$a]"; done' sh "a b" "" 'c"d' "e'f" '$HOME' '*'
sh -c 'echo "$*"' sh x y z

echo "== quoting levels"
sh -c 'sh -c "echo level2 \"\$0\"" inner'
sh -c "sh -c 'echo \"level 2 with spaces\"'"
sh -c 'sh -c '\''sh -c "echo level3: \\\$0=\$0" deep'\'''
sh -c 'v="a  b"; sh -c "echo \"[$v]\""'
v='outer $v'
sh -c "echo '$v'"
sh -c 'echo "$1"' sh "$v"
sh -c 'sh -c "sh -c \"sh -c \\\"echo four levels\\\"\""'

echo "== exit statuses through levels"
sh -c 'exit 5'; check one 5 $?
sh -c 'sh -c "exit 6"'; check two 6 $?
sh -c 'sh -c "sh -c \"exit 7\""; echo "inner status $?"; exit 2'; check outer 2 $?
sh -c 'sh -c "kill -TERM \$\$"; echo "killed child: $?"'
sh -c 'exit 256'; check wrap 0 $?
sh -c 'false'; check false 1 $?
sh -c '/nonexistent/cmd' 2>/dev/null; check notfound 127 $?
sh -c 'no_such_command_here' 2>/dev/null; check notfound-path 127 $?

echo "== environment and variables"
X=exported sh -c 'echo "X=$X"'
Y=local
sh -c 'echo "Y=${Y-unset}"'
export Y
sh -c 'echo "Y=${Y-unset}"'
sh -c 'Z=1; export Z; sh -c "echo Z=\$Z"'
check env-only-for-command "" "$(sh -c 'echo ${X:-}')"

echo "== eval"
cmd='echo "eval: $((1 + 2))"'
eval "$cmd"
eval 'a=1; b=2'
check eval-vars "1 2" "$a $b"
eval "sh -c 'exit 3'"; check eval-status 3 $?
n=3
eval "v$n=three"
check eval-name three "$v3"

echo "== stdin passes through levels"
echo "piped in" | sh -c 'sh -c "sh -c cat"'
printf 'x\ny\n' | sh -c 'read -r a; sh -c "read -r b; echo \"inner read \$b\""; echo "outer read $a"'

echo "== done"
[ "$fails" -eq 0 ]
