# Builtins and language: command -v, type, functions with local, arithmetic, case, getopts,
# set --/shift, parameter expansion, printf, test, ulimit -n.
. "${0%/*}/lib.sh"

echo "== command -v and type (paths shown without their directory)"
command -v echo
command -v cd
p=$(command -v cat)
echo "cat: ${p##*/}"
command -v no_such_cmd
check command-v-missing 127 $?
f() { :; }
command -v f
type f | head -n 1
type echo
type cat | sed 's| is /.*/| is DIR/|'
alias ll='ls -l'
command -v ll
type no_such_cmd >/dev/null 2>&1
check type-missing-status 127 $?
command echo "command runs the builtin"

echo "== functions and local"
x=global
g() {
  local x=local-in-g
  echo "g sees $x"
  h
}
h() { echo "h sees $x"; }
g
echo "after g: $x"
count() { local n=0; for _ in "$@"; do n=$((n + 1)); done; return $n; }
count a b c; check return-value 3 $?
rec() { if [ "$1" -gt 0 ]; then echo -n "$1 "; rec $(($1 - 1)); else echo end; fi; }
rec 5
fact() { if [ "$1" -le 1 ]; then echo 1; else echo $(($1 * $(fact $(($1 - 1))))); fi; }
check factorial 3628800 "$(fact 10)"
args() { echo "$# args: $*"; shift; echo "after shift: $1"; }
args one two three
echo "script args untouched: $#"

echo "== arithmetic"
echo $((7 / 2)) $((7 % 3)) $((-7 / 2)) $((-7 % 3)) $((2 ** 10))
echo $((1 << 40)) $((0x7fffffffffffffff)) $((-9223372036854775807 - 1))
echo $((0xff)) $((010)) $((5 & 3)) $((5 | 3)) $((5 ^ 3)) $((~0)) $((!0)) $((!5))
echo $((3 > 2)) $((3 < 2)) $((3 == 3)) $((3 != 3)) $((1 && 0)) $((1 || 0))
echo $((2 > 1 ? 10 : 20)) $(( (1 + 2) * (3 + 4) ))
i=5
: $((i += 3)) $((i *= 2)) $((i -= 1))
check compound 15 "$i"
i=0; i=$((i + 1)); : $((i++)); : $((++i))
check increment 3 "$i"
a=6 b=7
check vars-by-name 42 $((a * b))
n=0; while [ $n -lt 100 ]; do n=$((n + 3)); done
check loop 102 "$n"

echo "== case"
for w in apple Banana cherry 42 "" x.tar.gz '*'; do
  case "$w" in
    apple | cherry) echo "$w: fruit a/c" ;;
    [A-Z]*) echo "$w: capital" ;;
    *[0-9]*) echo "$w: has a digit" ;;
    "") echo "(empty)" ;;
    *.tar.*) echo "$w: tarball" ;;
    \*) echo "a star" ;;
    *) echo "$w: other" ;;
  esac
done

echo "== getopts, set --, shift"
set -- -a -b val -c rest1 rest2
while getopts "ab:c" opt; do
  case $opt in
    a) echo "opt a" ;;
    b) echo "opt b=$OPTARG" ;;
    c) echo "opt c" ;;
    *) echo "bad" ;;
  esac
done
shift $((OPTIND - 1))
echo "rest: $*"
set -- 1 2 3 4 5
shift 2
check shift "3 4 5" "$*"
set --
check empty-args 0 $#

echo "== parameter expansion"
s=/usr/local/lib/file.tar.gz
echo "${s##*/} ${s#*/} ${s%.*} ${s%%.*} ${#s}"
echo "${unset:-default} ${unset-dash} ${s:+set} [${empty:=assigned}] $empty"
echo "${s:5:5} ${s/lib/LIB} ${s//l/L}"
( : "${must:?is required}" ) 2>/dev/null; check err-unset 2 $?

echo "== printf and test"
printf '%s|%5s|%-5s|%05d|%x|%o|%c|%%\n' str r l 42 255 8 char
printf '%s\n' a b c
printf '%d %d\n' 1 2 3 4
[ -n "x" ] && [ -z "" ] && [ "a" = "a" ] && [ 3 -lt 4 ] && [ ! -e /nonexistent ] && echo "tests pass"
test -d / && test -f /etc/passwd && test -r /etc/passwd && echo "file tests pass"
[ "abc" \< "abd" ] && echo "string less-than"

echo "== ulimit -n"
n=$(ulimit -n)
case "$n" in unlimited | [0-9]*) echo "ulimit -n prints a number" ;; *) echo "ulimit -n: $n" ;; esac
(ulimit -n 32 && ulimit -n)
(ulimit -n 32 && exec 40>/dev/null) 2>/dev/null
check fd-above-limit 1 "$([ $? -ne 0 ] && echo 1)"
(ulimit -n 32 && exec 20>/dev/null && echo "fd 20 below the limit")

echo "== misc builtins"
pwd >/dev/null && echo "pwd ok"
cd / && check cd / "$(pwd)"
readonly RO=1
(RO=2) 2>/dev/null; check readonly 2 $?
unset x; check unset "" "${x:-}"
true; check true 0 $?
false; check false 1 $?
: ; check colon 0 $?
echo "$(( $(echo 2) + $(printf 3) ))"
times >/dev/null && echo "times ok"

echo "== done"
[ "$fails" -eq 0 ]
