# Debian's coreutils, findutils, grep/sed from the root (dash as sh): pipelines over files
# of the image and files written to /tmp. Prints only what is the same on any run.
set -e
# First, before anything forks: a directory a (vforked) child makes is there for the shell.
mkdir -p /tmp/uno-child-made && cd /tmp/uno-child-made && echo "the shell sees its child's mkdir"
cd / && rmdir /tmp/uno-child-made
d=$(mktemp -d)
seq 1 2000 > "$d/n"
sort -rn "$d/n" | head -3
shuf -n 5 --random-source="$d/n" "$d/n" | sort -n | wc -l
printf '%s\n' pear apple fig apple | sort | uniq -c | sed 's/^ *//'
tr 'a-z' 'A-Z' < /etc/debian_version | cut -c1-2
wc -l < "$d/n"
sha256sum "$d/n" | cut -d' ' -f1
md5sum /etc/os-release | cut -d' ' -f1
find /usr/lib/python3.11/json -name '*.py' | sort | xargs -n 100 wc -l | tail -1
find /usr/share/perl5 -maxdepth 1 -type d | wc -l
grep -c '^ID=' /etc/os-release
ls /usr/lib/python3.11/json | head -3
cp "$d/n" "$d/m" && cmp "$d/n" "$d/m" && echo same
mv "$d/m" "$d/k" && ls "$d" | tr '\n' ' ' && echo
stat -c '%s %F' "$d/n"
ln -s n "$d/link" && readlink "$d/link" && test -L "$d/link" && echo is-link
chmod 600 "$d/n" && stat -c '%a' "$d/n"
date -u -d @86400 '+%Y-%m-%d %H:%M'
echo "$((6 * 7))" | od -An -c | tr -s ' '
split -l 500 "$d/n" "$d/part." && ls "$d" | grep -c part
cat "$d"/part.* | sort -n | tail -1
du -s --apparent-size -B1 "$d/n" | cut -f1
dd if=/dev/zero of="$d/z" bs=1k count=64 2>/dev/null && stat -c %s "$d/z"
rm -r "$d" && test ! -e "$d" && echo cleaned
