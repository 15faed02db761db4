# Sourced by the scripts here (first line after their header: . "${0%/*}/lib.sh", so a script
# must be run by a path with a slash: sh /NAME.sh, sh ./NAME.sh). check NAME EXPECTED GOT
# prints "ok NAME" or "FAIL NAME: expected [EXPECTED] got [GOT]" and counts the failures in
# $fails; a script ends with [ "$fails" -eq 0 ].
fails=0
check() {
  if [ "$2" = "$3" ]; then echo "ok $1"; else echo "FAIL $1: expected [$2] got [$3]"; fails=$((fails + 1)); fi
}
