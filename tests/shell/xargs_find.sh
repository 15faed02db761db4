# xargs and find -exec: each runs a program per file or batch (fork + exec).
. "${0%/*}/lib.sh"
T=$(mktemp -d) || exit 1
cd "$T" || exit 1
mkdir -p d/sub/deeper d/other
for n in a b c; do echo "file $n" >"d/$n.txt"; done
echo deep >d/sub/deeper/x.txt
echo other >d/other/y.log
echo "with space" >"d/sp ace.txt"

echo "== xargs"
seq 1 10 | xargs echo
seq 1 10 | xargs -n 3 echo
seq 1 5 | xargs -I{} echo "item {} done"
printf 'a\nb\nc\n' | xargs -n 1 sh -c 'echo "sh got $0"'
echo 1 2 3 | xargs -n 1 expr 10 +
check xargs-sum 5050 "$(seq 1 100 | xargs -n 7 echo | awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s }')"
seq 1 3 | xargs sh -c 'exit 0'
check xargs-ok 0 $?
seq 1 3 | xargs -n 1 sh -c 'exit 1'
check xargs-fail 123 $?
echo x | xargs sh -c 'exit 255' 2>/dev/null
check xargs-255 124 $?
echo x | xargs /nonexistent/prog 2>/dev/null
check xargs-notfound 127 $?
printf '' | xargs echo empty-input
printf '' | xargs -r echo not-run
echo "-r ran nothing"

echo "== find -exec"
find d -name '*.txt' | sort
find d -type f -name '*.txt' -exec cat {} \; | sort
find d -type f -exec echo found {} + | tr ' ' '\n' | grep -c '^d/'
find d -name '*.log' -exec sh -c 'echo "log: $1 has $(wc -l <"$1") line"' sh {} \;
find d -type d | sort | xargs -n 1 basename
find d -name 'sp*' -exec cat {} \;
check exec-status 0 "$(find d -name 'a.txt' -exec false {} \; ; echo $?)"
find d -type f -print0 | xargs -0 wc -c | sort | tail -n 3
check find-exec-count 6 "$(find d -type f -exec echo {} \; | wc -l | tr -d ' ')"
find d -name '*.txt' -exec grep -l file {} + | sort

echo "== find -exec rm, then nothing is left"
find d -name '*.txt' -exec rm {} \;
check removed 0 "$(find d -name '*.txt' | wc -l | tr -d ' ')"

cd / && rm -rf "$T"
echo "== done"
[ "$fails" -eq 0 ]
