#!/usr/bin/env bash
# tests/qemu-svm/run.sh: uno's smoke suite on hardware-style KVM (AMD-V), emulated by QEMU.
#
# The development and CI machines have a PVM-style /dev/kvm; users have hardware KVM
# (VT-x/AMD-V). This script checks uno on the latter (issue 3, §4): it boots Debian's cloud
# kernel under `qemu-system-x86_64 -accel tcg -cpu EPYC-Rome,+svm` (software emulation with
# emulated AMD-V), loads kvm/kvm-amd from the same kernel package, and runs uno-vmm inside.
#
# Run after `make` and `make guest-progs` (it builds nothing of uno), from anywhere:
#     tests/qemu-svm/run.sh
# Exit status 0 only when every smoke test passed; 1 on any failure (QEMU does not start, the
# kernel does not boot, a module does not load, /dev/kvm is missing, a test fails or the run
# times out); 2 when something it needs is missing on this machine.
#
# What it does:
#  1. Checks its tools and names the Debian packages to install when one is missing:
#     qemu-system-x86 cpio busybox-static erofs-utils (gzip, apt, dpkg, coreutils, and binutils
#     or kmod, are there on any Debian with build-essential; xz-utils / zstd only if the kernel
#     package ever ships compressed modules). It installs nothing itself.
#  2. Finds the kernel package behind the metapackage linux-image-cloud-amd64
#     (`apt-cache depends`), downloads it with `apt-get download` (the machine's own apt
#     configuration) into build/qemu-svm/cache/ and extracts it with `dpkg-deb -x`; nothing is
#     installed. Later runs reuse the cache; without apt lists or network it falls back to the
#     newest cached package.
#  3. Builds two EROFS images with mkfs.erofs: `busybox` (/bin/busybox from busybox-static and
#     /data/blob, random bytes whose sha256 the host computes) and `guest` (build/guest/musl/
#     hello, faults, fileops, memory, time, procfs and spin in /bin), then an initramfs (cpio newc, gzip): busybox, /init (written
#     below), build/uno-vmm, build/libos.elf, the images, and kvm-amd.ko with every module it
#     needs (`modinfo -F depends`, or the .modinfo section read with objcopy when kmod is not
#     installed; today irqbypass, kvm, kvm_amd), decompressed on the host, in load order.
#  4. /init (inside QEMU) mounts proc, sys, devtmpfs and a tmpfs on /tmp, insmods the modules,
#     waits for /dev/kvm, runs each smoke test as one uno-vmm run with a fresh --upper directory
#     under /tmp, prints `SMOKE PASS name` or `SMOKE FAIL name: reason` (a failing uno-vmm's
#     status, stdout and stderr, truncated, then its stderr in full on indented `| ` lines),
#     then `SMOKE SUMMARY passed=N failed=M`, and powers off. `modules` and `dev-kvm` are tests
#     too; when they fail, the uno tests fail as skipped. A uno-vmm run still going after
#     $UNO_SMOKE_TIMEOUT s is killed, after /init prints its threads' kernel stacks.
#     `SMOKE INFO` lines tell the kernel, the backend `uno-vmm --probe` picks, and the seconds
#     each run took.
#  5. Runs QEMU with a hard timeout, the serial console shown live and kept in
#     build/qemu-svm/qemu.log, then checks the SMOKE lines: the summary must say failed=0 and
#     passed=$EXPECTED, and each test in TESTS below must have its PASS line. On a timeout it
#     asks QEMU's monitor where each vCPU was and prints that (RIP in the L1 kernel, in the
#     libOS, or in user space; full registers in build/qemu-svm/qemu-registers.txt).
#
# Why `-accel tcg,thread=single`: with QEMU 7.2's default multi-threaded TCG, -smp 2 and
# kvm-amd, the L1 kernel livelocks now and then (measured here: 3 of 3 boots that ran the
# suite 40 times hung, after 50 to 220 uno-vmm runs; 2 of about 45 single-suite boots hung):
# one vCPU loops through the int3 handler (exc_int3, asm_exc_int3, irqentry_nmi_enter: the
# breakpoints the kernel patches its code with, as when KVM flips a static key on VM
# creation), the other spins with interrupts off (native_queued_spin_lock_slowpath,
# __schedule); nothing reaches the console. With one TCG thread (still 2 vCPUs) 720 runs,
# and with -smp 1 360 runs, had no hang, and the suite is no slower.
#
# Environment:
#   UNO_BACKEND=cpl3|native|auto   passed to every uno-vmm run as --backend (default: none,
#                                   uno-vmm chooses; it picks native on kvm_amd)
#   UNO_SMOKE_VERBOSE=1            uno-vmm --verbose, and every run's stderr shown, pass or fail
#   UNO_QEMU_TIMEOUT=300           seconds for the whole QEMU run
#   UNO_SMOKE_TIMEOUT=30           seconds for one uno-vmm run inside QEMU
#   UNO_QEMU_ACCEL=tcg,thread=single   QEMU's -accel
#
# Measured on the 2-core development machine: 10 to 12 s in all (13 s the first time, with
# the 27 MB download and the extraction): about 2 s on the host, 8 to 9 s of QEMU, of which
# the kernel takes about 3.5 s to give /dev/kvm and each uno-vmm run 0.1 to 0.3 s.
set -euo pipefail

# The smoke tests /init runs (names in order; keep in step with /init below): the run
# passes only if each of them has its PASS line.
TESTS=(modules dev-kvm echo exit-3 true false sha256 ls fault-null libos-hidden hello uname fork-pipe signal-spin fileops memory time procfs)
EXPECTED=${#TESTS[@]}

QEMU_TIMEOUT=${UNO_QEMU_TIMEOUT:-300}
SMOKE_TIMEOUT=${UNO_SMOKE_TIMEOUT:-30}
BACKEND=${UNO_BACKEND:-}
ACCEL=${UNO_QEMU_ACCEL:-tcg,thread=single}
VERBOSE=${UNO_SMOKE_VERBOSE:-}
META_PKG=linux-image-cloud-amd64

W=build/qemu-svm
CACHE=$W/cache
LOG=$W/qemu.log

t_start=$(date +%s.%N)
say() { echo "qemu-svm: $*"; }
die() { echo "qemu-svm: FAIL: $*" >&2; exit 1; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

cd "$(dirname "$0")/../.."
[[ -f README.md && -d vmm && -d libos ]] || die "$(pwd) does not look like uno's repository root"
[[ "$QEMU_TIMEOUT" =~ ^[0-9]+$ && "$SMOKE_TIMEOUT" =~ ^[0-9]+$ ]] ||
    die "UNO_QEMU_TIMEOUT and UNO_SMOKE_TIMEOUT must be whole seconds"
[[ -z "$BACKEND" || "$BACKEND" =~ ^[a-z0-9]+$ ]] || die "UNO_BACKEND='$BACKEND': expected cpl3, native or auto"

# ---- 1. what this needs -------------------------------------------------------------------
missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_cmd qemu-system-x86_64 qemu-system-x86
need_cmd cpio cpio
need_cmd gzip gzip
need_cmd mkfs.erofs erofs-utils
need_cmd apt-get apt
need_cmd apt-cache apt
need_cmd dpkg-deb dpkg
need_cmd timeout coreutils
command -v modinfo >/dev/null 2>&1 || need_cmd objcopy binutils
# busybox inside QEMU and inside the image must be the static one (busybox-static's /bin/busybox).
if [[ ! -x /bin/busybox ]] || ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed"; then
    missing+=(busybox-static)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    echo "qemu-svm: missing Debian packages: ${missing[*]}" >&2
    echo "qemu-svm: install them with: apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 2
fi
for f in build/uno-vmm build/libos.elf; do
    [[ -f $f ]] || { echo "qemu-svm: $f is missing: run make first" >&2; exit 2; }
done
for f in build/guest/musl/hello build/guest/musl/faults build/guest/musl/fileops build/guest/musl/memory build/guest/musl/time build/guest/musl/procfs; do
    [[ -f $f ]] || { echo "qemu-svm: $f is missing: run make guest-progs first" >&2; exit 2; }
done

mkdir -p "$CACHE"

# ---- 2. Debian's cloud kernel, downloaded and extracted, not installed ----------------------
# The .deb file name apt-get download gives PKG at VERSION (an epoch's colon becomes %3a).
deb_name() { echo "${1}_${2//:/%3a}_amd64.deb"; }

kpkg="" kver_deb=""
if deps=$(apt-cache depends "$META_PKG" 2>/dev/null); then
    kpkg=$(grep -o 'linux-image-[0-9][0-9a-z.+-]*-cloud-amd64' <<<"$deps" | sort -V | tail -n 1 || true)
fi
if [[ -n "$kpkg" ]]; then
    kver_deb=$(apt-cache policy "$kpkg" | awk '$1 == "Candidate:" { print $2 }')
    [[ -n "$kver_deb" && "$kver_deb" != "(none)" ]] || kpkg=""
fi
deb=""
if [[ -n "$kpkg" ]]; then
    deb="$CACHE/$(deb_name "$kpkg" "$kver_deb")"
    if [[ ! -f "$deb" ]]; then
        say "downloading $kpkg $kver_deb (apt-get download)"
        if ! (cd "$CACHE" && apt-get download -q "$kpkg=$kver_deb") >"$W/apt.log" 2>&1 || [[ ! -f "$deb" ]]; then
            sed 's/^/  apt: /' "$W/apt.log" >&2
            say "warning: could not download $kpkg $kver_deb" >&2
            deb=""
        fi
    fi
fi
if [[ -z "$deb" ]]; then
    # No apt lists, no network: the newest kernel package a previous run left in the cache.
    deb=$(ls -1 "$CACHE"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -n 1 || true)
    [[ -n "$deb" ]] || die "cannot find the package behind $META_PKG (apt-cache depends $META_PKG): run apt-get update"
    say "warning: using the cached $(basename "$deb")" >&2
fi
kdir="${deb%.deb}"
if [[ ! -f "$kdir/.extracted" ]]; then
    rm -rf "$kdir"
    dpkg-deb -x "$deb" "$kdir" || die "dpkg-deb -x $deb failed"
    touch "$kdir/.extracted"
    # Keep only this kernel in the cache.
    for old in "$CACHE"/linux-image-*; do
        [[ "$old" == "$deb" || "$old" == "$kdir" ]] || rm -rf "$old"
    done
fi
vmlinuz=$(ls -1 "$kdir"/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
[[ -n "$vmlinuz" ]] || die "no boot/vmlinuz-* in $deb"
kver=${vmlinuz##*/vmlinuz-}
moddir="$kdir/lib/modules/$kver"
[[ -d "$moddir" ]] || die "no lib/modules/$kver in $deb"
say "kernel $kver from $(basename "$deb")"

# ---- 3. the initramfs ----------------------------------------------------------------------
root="$W/initramfs"
rm -rf "$root" "$W/images"
mkdir -p "$root"/{bin,uno,modules,images,smoke} "$W/images"

# Modules: kvm-amd and kvm, and what they depend on, decompressed, dependencies first.
declare -A modfile=() seen=()
while IFS= read -r -d '' f; do
    n=${f##*/}; n=${n%%.ko*}; modfile[${n//-/_}]=$f
done < <(find "$moddir" -name '*.ko*' -print0)
mod_depends() {   # module file -> its dependencies, comma-separated
    if command -v modinfo >/dev/null 2>&1; then
        modinfo -F depends "$1"
    else
        objcopy -O binary -j .modinfo "$1" "$W/modinfo.bin" && tr '\0' '\n' <"$W/modinfo.bin" | sed -n 's/^depends=//p'
    fi
}
load_order=()
add_module() {
    local n=${1//-/_} f out deps d
    [[ -z "${seen[$n]:-}" ]] || return 0
    seen[$n]=1
    f=${modfile[$n]:-}
    if [[ -z "$f" ]]; then
        grep -q "/${n}.ko\$\|/${n//_/-}.ko\$" "$moddir/modules.builtin" 2>/dev/null && return 0
        die "module $n is not in $(basename "$deb")"
    fi
    out="$root/modules/$n.ko"
    case "$f" in
        *.ko)     cp "$f" "$out" ;;
        *.ko.xz)  command -v xz >/dev/null || { echo "qemu-svm: install xz-utils (compressed modules)" >&2; exit 2; }
                  xz -dc "$f" >"$out" ;;
        *.ko.zst) command -v zstd >/dev/null || { echo "qemu-svm: install zstd (compressed modules)" >&2; exit 2; }
                  zstd -qdc "$f" >"$out" ;;
        *.ko.gz)  gzip -dc "$f" >"$out" ;;
        *)        die "module $f: unknown compression" ;;
    esac
    deps=$(mod_depends "$out") || die "cannot read the dependencies of $f"
    for d in ${deps//,/ }; do add_module "$d"; done
    load_order+=("$n")
}
add_module kvm_amd
printf '%s\n' "${load_order[@]}" >"$root/modules/order"
say "modules: ${load_order[*]}"

# EROFS images, made on the host.
img_src="$W/images/src"
mkdir -p "$img_src/busybox/bin" "$img_src/busybox/data" "$img_src/guest/bin"
cp /bin/busybox "$img_src/busybox/bin/busybox"
head -c 300007 /dev/urandom >"$img_src/busybox/data/blob"   # not a whole number of blocks
blob_sha=$(sha256sum "$img_src/busybox/data/blob" | cut -d' ' -f1)
cp build/guest/musl/hello build/guest/musl/faults build/guest/musl/fileops \
    build/guest/musl/memory build/guest/musl/time build/guest/musl/procfs build/guest/musl/spin \
    "$img_src/guest/bin/"
for img in busybox guest; do
    mkfs.erofs --quiet --all-root "$root/images/$img.erofs" "$img_src/$img" || die "mkfs.erofs $img failed"
done

cp /bin/busybox "$root/bin/busybox"
cp build/uno-vmm build/libos.elf "$root/uno/"
uno_args="--libos /uno/libos.elf"
[[ -n "$BACKEND" ]] && uno_args+=" --backend $BACKEND"
[[ -n "$VERBOSE" ]] && uno_args+=" --verbose"
cat >"$root/smoke/config" <<EOF
UNO_ARGS="$uno_args"
BLOB_SHA=$blob_sha
SMOKE_TIMEOUT=$SMOKE_TIMEOUT
SHOW_STDERR=${VERBOSE:+1}
EOF

# /init: busybox ash. Every test is one uno-vmm run; see the header for the output format.
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
. /smoke/config
dmesg -n 5   # from here on the console shows kernel warnings too (quiet hid them at boot)

P=0 F=0 KVM=0 TIMES=""
echo "SMOKE INFO kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpus, svm flag: $(grep -q -w svm /proc/cpuinfo && echo yes || echo no)"
oneline() { head -c 300 "$1" | tr '\n' '|'; }
pass() { echo "SMOKE PASS $1"; P=$((P + 1)); }
fail() { n=$1; shift; echo "SMOKE FAIL $n: $*"; F=$((F + 1)); }
finish() {
    [ -n "$TIMES" ] && echo "SMOKE INFO seconds per uno-vmm run:$TIMES"
    echo "SMOKE SUMMARY passed=$P failed=$F"
    sync; sleep 1
    poweroff -f; sleep 5; reboot -f
}

# modules and /dev/kvm
MODS=ok
for m in $(cat /modules/order); do
    if ! msg=$(insmod /modules/$m.ko 2>&1); then
        MODS="insmod $m.ko: $msg"
        break
    fi
done
[ "$MODS" = ok ] && [ ! -d /sys/module/kvm_amd ] && MODS="no /sys/module/kvm_amd after insmod"
if [ "$MODS" = ok ]; then pass modules
else fail modules "$MODS; dmesg: $(dmesg | grep -i -E 'kvm|svm' | tail -n 5 | tr '\n' '|')"; fi
[ "$MODS" = ok ] && for i in 1 2 3 4 5 6 7 8 9 10; do [ -c /dev/kvm ] && break; sleep 1; done
if [ -c /dev/kvm ]; then
    KVM=1; pass dev-kvm
    echo "SMOKE INFO uptime at /dev/kvm: $(cut -d' ' -f1 /proc/uptime) s"
    echo "SMOKE INFO uno-vmm --probe: $(/uno/uno-vmm --probe $(echo " $UNO_ARGS" | sed 's/ --libos [^ ]*//; s/ --verbose//') 2>&1 | tr '\n' ' ')"
else
    fail dev-kvm "no /dev/kvm after loading the modules; dmesg: $(dmesg | grep -i -E 'kvm|svm' | tail -n 5 | tr '\n' '|')"
fi

# One uno-vmm run: IMAGE PROGRAM ARGS... -> $ST, /tmp/out, /tmp/err. A watchdog kills it
# after $SMOKE_TIMEOUT s, first printing where each of its threads is in the kernel.
run() {
    img=/images/$1.erofs; shift
    up=$(mktemp -d /tmp/upper.XXXXXX)
    rm -f /tmp/timedout
    t0=$(cut -d' ' -f1 /proc/uptime)
    /uno/uno-vmm --image $img --upper $up $UNO_ARGS -- "$@" </dev/null >/tmp/out 2>/tmp/err &
    pid=$!
    (
        sleep $SMOKE_TIMEOUT
        [ -d /proc/$pid ] || exit 0
        touch /tmp/timedout
        echo "smoke: $NAME: uno-vmm still running after ${SMOKE_TIMEOUT}s; its threads:"
        for t in /proc/$pid/task/*; do
            echo "    thread ${t##*/} ($(cat $t/comm)): $(grep State: $t/status), wchan $(cat $t/wchan)"
            sed 's/^/        /' $t/stack 2>/dev/null
        done
        kill -KILL $pid
    ) &
    wd=$!
    wait $pid
    ST=$?
    kill $wd 2>/dev/null; wait $wd 2>/dev/null
    DT=$(awk -v a=$t0 -v b=$(cut -d' ' -f1 /proc/uptime) 'BEGIN { printf "%.2f", b - a }')
    TIMES="$TIMES $NAME=$DT"
    if [ -n "$SHOW_STDERR" ] && [ -s /tmp/err ]; then sed "s/^/    | $NAME: /" /tmp/err; fi
}
# A failed check: the reason, then the run's stderr in full (lines that are not SMOKE lines).
bad() {
    why="$1"
    [ -e /tmp/timedout ] && why="$why (killed after ${SMOKE_TIMEOUT}s)"
    fail $NAME "$why; status=$ST stdout='$(oneline /tmp/out)' stderr='$(oneline /tmp/err)'"
    [ -z "$SHOW_STDERR" ] && head -n 40 /tmp/err | sed "s/^/    | /"
}
# test NAME: skipped (failed) without /dev/kvm
test_start() {
    NAME=$1
    echo "smoke: running $NAME"
    [ $KVM = 1 ] && return 0
    fail $NAME "skipped: no /dev/kvm"
    return 1
}
out() { cat /tmp/out; }

if test_start echo; then
    run busybox /bin/busybox echo hello from uno
    if [ $ST = 0 ] && [ "$(out)" = "hello from uno" ]; then pass $NAME; else bad "expected status 0 and 'hello from uno'"; fi
fi
if test_start exit-3; then
    run busybox /bin/busybox sh -c 'exit 3'
    if [ $ST = 3 ]; then pass $NAME; else bad "expected status 3"; fi
fi
if test_start true; then
    run busybox /bin/busybox true
    if [ $ST = 0 ]; then pass $NAME; else bad "expected status 0"; fi
fi
if test_start false; then
    run busybox /bin/busybox false
    if [ $ST = 1 ]; then pass $NAME; else bad "expected status 1"; fi
fi
if test_start sha256; then
    run busybox /bin/busybox sha256sum /data/blob
    got=$(out | cut -d' ' -f1)
    if [ $ST = 0 ] && [ "$got" = "$BLOB_SHA" ]; then pass $NAME; else bad "expected status 0 and $BLOB_SHA"; fi
fi
if test_start ls; then
    run busybox /bin/busybox ls /
    if [ $ST = 0 ] && out | grep -qx bin && out | grep -qx data; then pass $NAME; else bad "expected status 0 and bin, data"; fi
fi
if test_start fault-null; then
    run guest /bin/faults null
    if [ $ST = 139 ] && out | grep -qx "about to null"; then pass $NAME; else bad "expected status 139 and 'about to null'"; fi
fi
if test_start libos-hidden; then
    # The native backend's libOS pages are supervisor-only: the app cannot read them.
    run guest /bin/faults kernel
    if [ $ST = 139 ] && out | grep -qx "about to kernel"; then pass $NAME; else bad "expected status 139 and 'about to kernel'"; fi
fi
if test_start hello; then
    run guest /bin/hello
    if [ $ST = 0 ] && [ "$(out)" = "hello, world" ]; then pass $NAME; else bad "expected status 0 and 'hello, world'"; fi
fi
if test_start uname; then
    run busybox /bin/busybox uname -a
    if [ $ST = 0 ] && out | grep -q Linux; then pass $NAME; else bad "expected status 0 and Linux"; fi
fi
if test_start fork-pipe; then
    # fork clones the VM (the child VMM builds a new one), a pipe between the two, wait.
    run busybox /bin/busybox sh -c 'x=$(echo forked); echo "$x" | /bin/busybox tr a-z A-Z'
    if [ $ST = 0 ] && [ "$(out)" = "FORKED" ]; then pass $NAME; else bad "expected status 0 and FORKED"; fi
fi
if test_start signal-spin; then
    # A signal to a child computing in app code: the VMM enters the libOS at ring 0 (upcall).
    run guest /bin/spin
    if [ $ST = 0 ] && [ "$(out)" = "spinning child: exited 5" ]; then pass $NAME; else bad "expected status 0 and 'spinning child: exited 5'"; fi
fi
# Self-checking guest programs (status 1 when one of their checks failed): many system calls
# through the native backend's user-memory accessors (SMAP), memory mapping, clocks, /proc.
for prog in fileops memory time procfs; do
    if test_start $prog; then
        case $prog in
            fileops) run guest /bin/fileops /work ;;
            time) run guest /bin/time "$(date +%s)" ;;
            *) run guest /bin/$prog ;;
        esac
        if [ $ST = 0 ]; then pass $NAME; else bad "expected status 0"; fi
    fi
done
finish
EOF
chmod 755 "$root/init" "$root/bin/busybox" "$root/uno/uno-vmm"

initrd="$W/initrd.cpio.gz"
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$initrd" ||
    die "building the initramfs failed"
say "initramfs $(du -k "$initrd" | cut -f1) KiB; host work took $(elapsed "$t_start") s"

# ---- 5. QEMU -------------------------------------------------------------------------------
# The serial console is QEMU's stdout, kept raw in $RAW, shown live and saved in $LOG without
# carriage returns and terminal escapes (SeaBIOS clears the screen). QEMU's own messages go
# to $QERR: TCG warns once per vCPU about each EPYC-Rome feature it does not emulate; those
# are left out when it is shown. The monitor is on two FIFOs: when the run times out, its
# `info registers -a` is saved in $W/qemu-registers.txt and each vCPU's RIP is looked up in
# the kernel's System.map (booted with nokaslr for this) and in the libOS's symbols.
RAW=$W/qemu.raw
QERR=$W/qemu-stderr.log
MON=$W/qemu-monitor
clean() { sed -u -e 's/\r$//' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[A-Za-z]//g'; }
: >"$RAW"
rm -f "$MON.in" "$MON.out" "$W/qemu-registers.txt"
mkfifo "$MON.in" "$MON.out"
say "booting under qemu-system-x86_64 -accel $ACCEL -cpu EPYC-Rome,+svm (timeout ${QEMU_TIMEOUT}s)"
t_qemu=$(date +%s.%N)
qemu-system-x86_64 -accel "$ACCEL" -cpu EPYC-Rome,+svm -m 2048 -smp 2 \
    -nographic -no-reboot -nic none -monitor "pipe:$MON" -kernel "$vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 quiet nokaslr" </dev/null >"$RAW" 2>"$QERR" &
qpid=$!
trap 'kill -KILL $qpid 2>/dev/null || true' EXIT
tail -n +1 -f --pid=$qpid "$RAW" | clean &
tailpid=$!
timed_out=""
while kill -0 $qpid 2>/dev/null; do
    if awk -v a="$t_qemu" -v b="$(date +%s.%N)" -v t="$QEMU_TIMEOUT" 'BEGIN { exit !(b - a >= t) }'; then
        timed_out=1
        echo "info registers -a" >"$MON.in" || true
        timeout 3 cat "$MON.out" >"$W/qemu-registers.txt" 2>/dev/null || true
        kill -TERM $qpid 2>/dev/null || true
        sleep 3
        kill -KILL $qpid 2>/dev/null || true
        break
    fi
    sleep 1
done
wait $qpid 2>/dev/null && qemu_status=0 || qemu_status=$?
wait $tailpid 2>/dev/null || true
trap - EXIT
clean <"$RAW" >"$LOG"
grep -v "TCG doesn't support requested feature" "$QERR" | sed 's/^/qemu-svm: qemu: /' >&2 || true
say "QEMU ran $(elapsed "$t_qemu") s (status $qemu_status); total $(elapsed "$t_start") s"

# Where the vCPUs were when the run timed out: each one's RIP, CPL and HLT, and for an
# address in the libOS the nearest libOS symbol (16 hex digits compare as strings). Debian's
# System.map is a stub: map a kernel address with /proc/kallsyms of another boot (nokaslr).
where_vcpus() {
    local syms="$W/libos-symbols.txt" line rip
    { command -v nm >/dev/null && nm build/libos.elf; } 2>/dev/null | awk 'length($1) == 16' | sort >"$syms" || true
    tr -d '\r' <"$W/qemu-registers.txt" | grep -a -o 'CPU#[0-9]*\|RIP=[0-9a-f]* RFL=[0-9a-f]* \[[^]]*\] CPL=[0-9] II=[0-9] A20=[0-9] SMM=[0-9] HLT=[0-9]' |
    while read -r line; do
        case "$line" in CPU#*) echo -n "  $line: "; continue ;; esac
        rip=${line#RIP=}; rip=${rip%% *}
        echo -n "$line: "
        if [[ "$rip" < "ffff800000000000" ]]; then
            echo "user space (an L1 process, or the L2 guest's application)"
        elif [[ "$rip" > "ffffffff80000000" && "$rip" < "ffffffff81000000" ]]; then
            echo "libOS (L2): $(awk -v r="$rip" '$1 <= r { s = $3 } END { print (s == "" ? "?" : s) }' "$syms")"
        else
            echo "L1 kernel"
        fi
    done
}

smoke=$(grep -a -o 'SMOKE \(PASS\|FAIL\|SUMMARY\) .*' "$LOG" </dev/null || true)
summary=$(grep '^SMOKE SUMMARY ' <<<"$smoke" | tail -n 1 || true)
npass=$(grep -c '^SMOKE PASS ' <<<"$smoke" || true)
fails=$(grep '^SMOKE FAIL ' <<<"$smoke" || true)

problem=""
if [[ -n "$timed_out" ]]; then
    problem="QEMU timed out after ${QEMU_TIMEOUT}s"
elif [[ -z "$summary" && $qemu_status -ne 0 ]]; then
    problem="QEMU failed (status $qemu_status) before the suite finished"
elif [[ -z "$summary" && -z "$smoke" ]]; then
    problem="no SMOKE lines: the kernel did not boot or /init did not run"
elif [[ -z "$summary" ]]; then
    problem="no SMOKE SUMMARY: /init stopped before the end"
elif [[ "$summary" != "SMOKE SUMMARY passed=$EXPECTED failed=0" ]]; then
    problem="$summary, expected passed=$EXPECTED failed=0"
elif [[ "$npass" -ne "$EXPECTED" || -n "$fails" ]]; then
    problem="$npass PASS lines, expected $EXPECTED"
else
    for t in "${TESTS[@]}"; do
        grep -qx "SMOKE PASS $t" <<<"$smoke" || problem="no PASS line for $t"
    done
fi

if [[ -n "$problem" ]]; then
    echo
    echo "qemu-svm: FAIL: $problem" >&2
    [[ -n "$fails" ]] && { echo "qemu-svm: failed tests:" >&2; sed 's/^/  /' <<<"$fails" >&2; }
    echo "qemu-svm: last lines of $LOG:" >&2
    tail -n 30 "$LOG" | sed 's/^/  | /' >&2
    if [[ -n "$timed_out" ]]; then
        echo "qemu-svm: where the vCPUs were (registers in $W/qemu-registers.txt):" >&2
        where_vcpus >&2
    fi
    echo "$npass passed, $(grep -c '^SMOKE FAIL ' <<<"$smoke" || true) failed (of $EXPECTED)"
    exit 1
fi
echo "qemu-svm: PASS: $EXPECTED smoke tests on emulated AMD-V ($(elapsed "$t_start") s)"
echo "$EXPECTED passed, 0 failed"
