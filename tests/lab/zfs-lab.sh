#!/bin/bash
# zfs-lab.sh — real OpenZFS for zfsyncd's test suite on a Debian 12 host whose own kernel
# cannot load zfs.ko (e.g. a Firecracker VM without module support). This is the project's
# own copy of the shared reference script (a fresh clone has no ../shared); differences:
# the cache dir is keyed by kernel ABI + OpenZFS version, `setup` is seconds when that key is
# already built, `path` prints the dir, and `zfs-vm run` takes a caller-owned share (VM_SHARE).
#
# It builds a throw-away QEMU guest: Debian's 6.1 kernel + OpenZFS (zfs-dkms source from
# bookworm-backports, compiled here against linux-headers) + zfsutils-linux userland. The
# guest's root is the HOST's / shared read-only over 9p, with the OpenZFS files layered on
# top and a tmpfs overlay for writes, so the guest has the same Python/venv/project files
# as the host. Acceleration: KVM when the CPU exposes vmx/svm, else TCG (software).
#
#   ./zfs-lab.sh setup        apt deps + download + build everything into $LAB (idempotent;
#                             no apt-get update and no build when $LAB is already built)
#   ./zfs-lab.sh path         print $LAB
#   ./zfs-lab.sh selftest     boot the guest and run the OpenZFS feature test (65 checks)
#   ./zfs-lab.sh all          setup + selftest
#   ./zfs-lab.sh pack [FILE]  write the built artifacts (~14 MB .tar.zst) for CI caching
#   ./zfs-lab.sh unpack FILE  restore artifacts into the dir keyed by THEIR kernel + OpenZFS
#                             version; afterwards only `apt-get install qemu-system-x86` is
#                             needed (no headers, no compiler). Prints that dir.
# Then:
#   $LAB/bin/zfs-vm run <script> [cwd]   run a bash script as root in a fresh guest
#                                        (output streamed, exit status returned; the job
#                                        can write results to "$SHARE_DIR")
#   S=$($LAB/bin/zfs-vm start); $LAB/bin/zfs-vm-exec $S zfs list; $LAB/bin/zfs-vm stop $S
#
# Env: LAB=${XDG_CACHE_HOME:-$HOME/.cache}/zfsyncd-lab/<KVER>-zfs-<ZFS_VERSION>
#      ZFS_SUITE=bookworm-backports  KVER=<auto: ABI of linux-image-amd64>
#      ZFS_VERSION=<auto: version of zfs-dkms in $ZFS_SUITE>
#      VM_ACCEL=auto|tcg|kvm  VM_MEM=4096  VM_CPUS=$(nproc)  VM_TIMEOUT=3600
#      VM_SHARE=<existing dir to use as the share of `zfs-vm run`; default: a new $LAB/run.*>
set -eEuo pipefail
# -E so that the ERR trap also fires inside functions: every failure names its line.
trap 'echo "zfs-lab.sh: FAILED (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
ZFS_SUITE=${ZFS_SUITE:-bookworm-backports}
LAB_BASE=${XDG_CACHE_HOME:-$HOME/.cache}/zfsyncd-lab
LAB_FIXED=${LAB:-}        # an explicit LAB wins over the keyed default (as in the reference)
KVER_ENV=${KVER:-}
ZFSVER_ENV=${ZFS_VERSION:-}
export DEBIAN_FRONTEND=noninteractive
TIMINGS=/dev/null         # setup() points this at a file once it knows $LAB

die() { echo "zfs-lab.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
step() {  # step "<label>" cmd...   — runs cmd, appends wall time to $TIMINGS
  local label=$1; shift; local t0 t1; t0=$(now)
  echo ">>> $label"
  "$@"
  t1=$(now)
  awk -v a="$t0" -v b="$t1" -v l="$label" 'BEGIN{printf "%8.1fs  %s\n", b-a, l}' | tee -a "$TIMINGS"
}

# ---------------------------------------------------------------- cache key
# What the current apt lists name; "" when they cannot (no lists yet, no backports/contrib).
# `|| true`: with pipefail, head closing the pipe early or apt-cache not knowing the package
# must give "", not abort; the caller decides whether "" is fatal.
apt_kver() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/.*Depends: linux-image-\(.*\)$/\1/p' | head -1 || true
}
apt_zfsver() {
  apt-cache show "zfs-dkms/$ZFS_SUITE" 2>/dev/null | sed -n 's/^Version: //p' | head -1 || true
}
# resolve: set KVER, ZFSVER and LAB. Order: environment, then (for an explicit LAB) the files
# the build left there, then the apt lists. Returns 1 when the key is still unknown.
resolve() {
  KVER=$KVER_ENV; ZFSVER=$ZFSVER_ENV
  if [ -n "$LAB_FIXED" ]; then
    if [ -z "$KVER" ] && [ -f "$LAB_FIXED/KVER" ]; then KVER=$(cat "$LAB_FIXED/KVER"); fi
    if [ -z "$ZFSVER" ] && [ -f "$LAB_FIXED/ZFSVER" ]; then ZFSVER=$(cat "$LAB_FIXED/ZFSVER"); fi
  fi
  [ -n "$KVER" ] || KVER=$(apt_kver)
  [ -n "$ZFSVER" ] || ZFSVER=$(apt_zfsver)
  # both end up in a directory name and on QEMU's command line: refuse anything odd
  if [ -z "$KVER" ] || [ -z "$ZFSVER" ]; then LAB=$LAB_FIXED; return 1; fi
  case "$KVER$ZFSVER" in
    *[!A-Za-z0-9.+~:_-]*) die "unexpected kernel ABI / OpenZFS version: '$KVER' / '$ZFSVER'" ;;
  esac
  LAB=${LAB_FIXED:-$LAB_BASE/$KVER-zfs-$ZFSVER}
}
resolve_or_die() {
  resolve || die "cannot determine the kernel ABI (KVER='$KVER') and the zfs-dkms version in \
$ZFS_SUITE (ZFS_VERSION='$ZFSVER') from the apt lists; run \`$0 setup\` (it runs apt-get update)"
}
resolve_kver() {  # kept for the build steps below: they only need KVER, already resolved
  [ -n "${KVER:-}" ] || resolve_or_die
}

# ---------------------------------------------------------------- apt
apt_sources() {
  apt-get update -qq
  # OpenZFS comes from bookworm-backports contrib, which a stock Debian 12 does not list
  if [ -z "$(apt_zfsver)" ] && [ ! -f /etc/apt/sources.list.d/zfs-lab-contrib.sources ]; then
    cat > /etc/apt/sources.list.d/zfs-lab-contrib.sources <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-backports
Components: contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt-get update -qq
  fi
}
# The guest runs the OpenZFS userland from the layer against the HOST's libraries: the
# host needs what zfsutils-linux and its libraries depend on (all there on a standard Debian
# 12, but not necessarily on a minimal one).
RUNTIME_PKGS=(qemu-system-x86 libblkid1 libssl3 libtirpc3 libudev1 libuuid1 zlib1g)
apt_runtime() { apt-get install -y -qq --no-install-recommends "${RUNTIME_PKGS[@]}" > /dev/null; }
runtime_missing() {  # true when one of RUNTIME_PKGS is not installed
  local st
  st=$(dpkg-query -W -f='${Status}\n' "${RUNTIME_PKGS[@]}" 2> /dev/null || true)
  [ "$(grep -c '^install ok installed$' <<< "$st")" -ne "${#RUNTIME_PKGS[@]}" ]
}
apt_build() {
  resolve_kver
  apt-get install -y -qq --no-install-recommends busybox-static kmod cpio make gcc \
    "linux-headers-$KVER" > /dev/null
}

# ---------------------------------------------------------------- downloads
download() {
  resolve_kver
  mkdir -p "$LAB/debs"; cd "$LAB/debs"
  # root downloads into root's cache dir: apt's _apt sandbox user cannot write there and
  # would only print a scary warning per file
  local -a get=(apt-get download -q -o APT::Sandbox::User=root)
  ls linux-image-"$KVER"_*.deb >/dev/null 2>&1 || "${get[@]}" "linux-image-$KVER"
  # the exact version in the cache key (all six come from one source package)
  ls zfs-dkms_*.deb >/dev/null 2>&1 || "${get[@]}" "zfs-dkms=$ZFSVER" \
    "zfsutils-linux=$ZFSVER" "libnvpair3linux=$ZFSVER" "libuutil3linux=$ZFSVER" \
    "libzfs6linux=$ZFSVER" "libzpool6linux=$ZFSVER"
  chmod 644 ./*.deb; cd "$LAB"
}

# ---------------------------------------------------------------- kernel
kernel() {
  resolve_kver
  [ -f "$LAB/kimg/boot/vmlinuz-$KVER" ] && return 0
  rm -rf "$LAB/kimg.tmp"; dpkg-deb -x "$LAB"/debs/linux-image-"$KVER"_*.deb "$LAB/kimg.tmp"
  depmod -b "$LAB/kimg.tmp" "$KVER"
  mkdir -p "$LAB/kimg/boot" "$LAB/kimg/mods"
  cp "$LAB/kimg.tmp/boot/vmlinuz-$KVER" "$LAB/kimg.tmp/boot/config-$KVER" "$LAB/kimg/boot/"
  # modules the initramfs needs, in dependency order
  local m f
  : > "$LAB/kimg/mods/modules.list"
  for m in virtio_pci 9pnet_virtio 9p overlay virtio_console virtio_rng virtio_blk; do
    modprobe -d "$LAB/kimg.tmp" -S "$KVER" --show-depends "$m" | awk '$1=="insmod"{print $2}' |
    while read -r f; do
      b=$(basename "$f" .ko)
      grep -qx "$b" "$LAB/kimg/mods/modules.list" || { cp "$f" "$LAB/kimg/mods/"; echo "$b" >> "$LAB/kimg/mods/modules.list"; }
    done
  done
  cp "$LAB/kimg.tmp/lib/modules/$KVER"/modules.{builtin,builtin.modinfo,order} "$LAB/kimg/mods/"
  rm -rf "$LAB/kimg.tmp"
}

# ---------------------------------------------------------------- OpenZFS kmod
zfs_kmod() {
  resolve_kver
  local out="$LAB/zfs-kmod/$KVER"
  [ -f "$out/zfs.ko" ] && return 0
  rm -rf "$LAB/zfs-src"; mkdir -p "$LAB/zfs-src"
  dpkg-deb -x "$LAB"/debs/zfs-dkms_*.deb "$LAB/zfs-src"
  local src; src=$(echo "$LAB"/zfs-src/usr/src/zfs-*)
  ( cd "$src"
    ./configure --disable-dependency-tracking --prefix=/usr --with-config=kernel \
      --with-linux="$(readlink -f "/lib/modules/$KVER/source")" \
      --with-linux-obj="$(readlink -f "/lib/modules/$KVER/build")" > "$LAB/zfs-configure.log" 2>&1 ||
      { tail -n 40 "$LAB/zfs-configure.log" >&2; die "OpenZFS configure failed: $LAB/zfs-configure.log"; }
    make -j"$(nproc)" > "$LAB/zfs-make.log" 2>&1 ||
      { tail -n 40 "$LAB/zfs-make.log" >&2; die "OpenZFS make failed: $LAB/zfs-make.log"; } )
  mkdir -p "$out"
  strip --strip-debug -o "$out/spl.ko" "$src/module/spl.ko"
  strip --strip-debug -o "$out/zfs.ko" "$src/module/zfs.ko"
  rm -rf "$LAB/zfs-src"
}

# ---------------------------------------------------------------- zfs layer
zfs_layer() {  # OpenZFS userland + modules as an overlay lower layer (merged-/usr paths)
  resolve_kver
  local L="$LAB/zfsroot" S="$LAB/zfsroot.stage" d
  rm -rf "$L" "$S"; mkdir -p "$L" "$S"
  for d in "$LAB"/debs/zfsutils-linux_*.deb "$LAB"/debs/lib*linux_*.deb; do dpkg-deb -x "$d" "$S"; done
  for d in bin sbin lib; do
    if [ -d "$S/$d" ]; then mkdir -p "$L/usr/$d"; cp -a "$S/$d/." "$L/usr/$d/"; rm -rf "${S:?}/$d"; fi
  done
  cp -a "$S/." "$L/"; rm -rf "$S" "$L/usr/share/doc" "$L/usr/share/man"
  local M="$L/usr/lib/modules/$KVER"; mkdir -p "$M/extra"
  cp "$LAB/zfs-kmod/$KVER"/*.ko "$M/extra/"
  cp "$LAB/kimg/mods"/modules.{builtin,builtin.modinfo,order} "$M/"
  depmod -b "$L/usr" "$KVER"
  rm -f "$L/$EXTRA_STAMP"  # a new layer has none of the extra modules yet
}

# ---------------------------------------------------------------- extra kernel modules
# Modules of Debian's kernel that the guest may `modprobe` beyond zfs (each with what it
# depends on, as modprobe --show-depends says): btrfs and loop, for the migration test of
# a BTRFS filesystem on a file (tests/real/test_migration_real.py). The layer records the
# list it holds in $EXTRA_STAMP; `setup` on a lab built before (a CI cache) compares it and
# adds only these modules to the layer, without rebuilding anything else. Change the list
# and the next `setup` everywhere brings the layer up to it.
EXTRA_MODULES="btrfs loop"
EXTRA_STAMP=usr/lib/modules/.zfsyncd-extra-modules
extra_current() { [ "$(cat "$LAB/zfsroot/$EXTRA_STAMP" 2>/dev/null)" = "$EXTRA_MODULES" ]; }
extra_modules() {
  resolve_kver
  local L="$LAB/zfsroot" K="$LAB/kimg.extra" m f rel
  local M="$L/usr/lib/modules/$KVER"
  # an unpacked archive has no .debs: fetch the kernel's again (the key names its version)
  ls "$LAB"/debs/linux-image-"$KVER"_*.deb > /dev/null 2>&1 || download_kernel
  rm -rf "$K"; dpkg-deb -x "$LAB"/debs/linux-image-"$KVER"_*.deb "$K"
  depmod -b "$K" "$KVER"
  for m in $EXTRA_MODULES; do
    modprobe -d "$K" -S "$KVER" --show-depends "$m" | awk '$1=="insmod"{print $2}' |
    while read -r f; do
      rel=${f#"$K"/lib/modules/"$KVER"/}
      mkdir -p "$M/$(dirname "$rel")"; cp "$f" "$M/$rel"
    done
  done
  rm -rf "$K"
  depmod -b "$L/usr" "$KVER"
  echo "$EXTRA_MODULES" > "$L/$EXTRA_STAMP"
}
download_kernel() {
  mkdir -p "$LAB/debs"
  (cd "$LAB/debs" && apt-get download -q -o APT::Sandbox::User=root "linux-image-$KVER" &&
    chmod 644 ./linux-image-*.deb)
}

# ---------------------------------------------------------------- initramfs
initrd() {
  local I="$LAB/initrd.src"; rm -rf "$I"
  mkdir -p "$I"/{bin,proc,sys,dev,mods,host,layer,share,newroot,rw}
  cp /usr/bin/busybox "$I/bin/busybox"
  cp "$LAB"/kimg/mods/*.ko "$I/mods/"; cp "$LAB/kimg/mods/modules.list" "$I/modules.list"
  cat > "$I/init" <<'EOF_INIT'
#!/bin/busybox sh
# overlay root = [9p "layer" (ro)] + 9p "hostroot" (host /, ro) + tmpfs (rw); the 9p
# "share" is moved to the same path as on the host (zl.share=); then stage2.sh runs as PID 1
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
up() { cut -d' ' -f1 /proc/uptime; }
fail() { echo "ZL: FATAL: $*"; echo o > /proc/sysrq-trigger; sleep 10; }
for m in $(cat /modules.list); do insmod /mods/$m.ko || echo "ZL: insmod $m failed"; done
grep -q 'zl.mode=boottest' /proc/cmdline && { echo "ZL: boottest OK at $(up)s"; echo o > /proc/sysrq-trigger; sleep 10; }
O="trans=virtio,version=9p2000.L,msize=512000"
mount -t 9p -o $O,ro,cache=loose hostroot /host || fail "mount hostroot"
mount -t 9p -o $O,cache=none share /share || fail "mount share"
LOWER=/host
mount -t 9p -o $O,ro,cache=loose layer /layer 2>/dev/null && LOWER=/layer:/host
mount -t tmpfs -o size=90% tmpfs /rw; mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=$LOWER,upperdir=/rw/upper,workdir=/rw/work /newroot || fail overlay
SHARE=$(sed -n 's/.*zl\.share=\([^ ]*\).*/\1/p' /proc/cmdline)
mkdir -p /newroot$SHARE; mount --move /share /newroot$SHARE
echo "ZL: root ready at $(up)s"
umount /proc /sys
exec switch_root /newroot /bin/sh $SHARE/stage2.sh
EOF_INIT
  chmod +x "$I/init"
  (cd "$I" && find . | cpio -o -H newc --quiet | gzip -1 > "$LAB/initrd.gz")
  rm -rf "$I"
}

# ---------------------------------------------------------------- runtime scripts
put() {  # put FILE: write stdin to FILE by rename, so a bash already running FILE is unharmed
  cat > "$1.tmp.$$"
  mv -f "$1.tmp.$$" "$1"
}
scripts() {
  mkdir -p "$LAB/guest" "$LAB/bin"
  put "$LAB/guest/stage2.sh" <<'EOF_STAGE2'
#!/bin/sh
# Guest PID 1 after switch_root: mount pseudo-fs, load zfs, run job.sh, power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
SHARE=$(dirname "$0"); export SHARE_DIR="$SHARE"
# sysrq-o powers off asynchronously and PID 1 must not exit meanwhile (that panics the
# kernel). `sleep` comes from the 9p root that is going away: it may fail to start, so loop,
# and quietly, or a half error message lands in front of the host's next line.
poweroff_now() { sync; echo o > /proc/sysrq-trigger; while :; do sleep 10; done 2> /dev/null; }
trap poweroff_now EXIT
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
hostname zfsguest; ip link set lo up 2>/dev/null
up() { cut -d' ' -f1 /proc/uptime; }
echo "STAGE2: userland up at $(up)s"
modprobe zfs || echo "STAGE2: modprobe zfs FAILED"
echo "STAGE2: zfs $(cat /sys/module/zfs/version 2>/dev/null) loaded at $(up)s"
cd "$SHARE"; [ -f "$SHARE/cwd" ] && . "$SHARE/cwd"
{ bash "$SHARE/job.sh"; echo $? > "$SHARE/job.rc"; } 2>&1 | tee "$SHARE/job.out"
echo "STAGE2: job finished rc=$(cat "$SHARE/job.rc") at $(up)s"
zpool export -a 2>/dev/null
poweroff_now
EOF_STAGE2
  put "$LAB/guest/agent.py" <<'EOF_AGENT'
#!/usr/bin/env python3
"""Guest command agent on virtio-serial port "zfsagent". Newline-delimited JSON.
request {"argv": [...], "stdin": b64, "cwd": str|None} -> {"rc", "out": b64, "err": b64, "secs"}
{"argv": ["__poweroff__"]} ends the agent (the guest then powers off)."""
import base64, glob, json, os, subprocess, sys, time
def find_port(name="zfsagent"):
    for p in glob.glob("/sys/class/virtio-ports/*/name"):
        if open(p).read().strip() == name:
            return "/dev/" + p.split("/")[-2]
    sys.exit("agent: virtio port %r not found" % name)
fd = os.open(find_port(), os.O_RDWR)
rf = os.fdopen(fd, "rb", buffering=0)
def send(data):                     # virtio-serial writes are partial (<= 32 KiB): loop
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
open(os.path.join(os.environ.get("SHARE_DIR", "/tmp"), "agent.ready"), "w").write("ok\n")
print("agent: ready", flush=True)
buf = b""
while True:
    chunk = rf.read(65536)
    if not chunk:                   # no host client connected: poll
        time.sleep(0.05); continue
    buf += chunk
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        if not line.strip():
            continue
        req = json.loads(line)
        if req["argv"] == ["__poweroff__"]:
            send(b'{"rc": 0, "out": "", "err": "", "secs": 0}\n'); sys.exit(0)
        t0 = time.time()
        try:
            p = subprocess.run(req["argv"], input=base64.b64decode(req.get("stdin", "")),
                               capture_output=True, cwd=req.get("cwd") or None)
            rc, out, err = p.returncode, p.stdout, p.stderr
        except OSError as e:
            rc, out, err = 127, b"", str(e).encode() + b"\n"
        send(json.dumps({"rc": rc, "out": base64.b64encode(out).decode(),
                         "err": base64.b64encode(err).decode(),
                         "secs": round(time.time() - t0, 3)}).encode() + b"\n")
EOF_AGENT
  put "$LAB/bin/zfs-vm-exec" <<'EOF_EXEC'
#!/usr/bin/env python3
"""zfs-vm-exec <share-dir> <cmd> [args...]: run a command in a guest started with
`zfs-vm start`; forwards stdin (when not a tty), prints stdout/stderr, returns its status.
Shim example:  printf '#!/bin/sh\nexec zfs-vm-exec "$ZFS_VM" zfs "$@"\n' > bin/zfs"""
import base64, fcntl, json, os, socket, sys
share, argv = sys.argv[1], sys.argv[2:]
data = b"" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
with open(os.path.join(share, "agent.lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    s = socket.socket(socket.AF_UNIX); s.connect(os.path.join(share, "agent.sock"))
    s.sendall(json.dumps({"argv": argv, "stdin": base64.b64encode(data).decode(),
                          "cwd": os.environ.get("ZFS_VM_CWD")}).encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(1 << 20)
        if not chunk:
            sys.exit("zfs-vm-exec: connection closed")
        buf += chunk
    s.close()
r = json.loads(buf)
sys.stdout.buffer.write(base64.b64decode(r["out"])); sys.stdout.flush()
sys.stderr.buffer.write(base64.b64decode(r["err"])); sys.stderr.flush()
sys.exit(r["rc"])
EOF_EXEC
  put "$LAB/bin/zfs-vm" <<'EOF_VM'
#!/bin/bash
# zfs-vm run <script> [cwd] | start | stop <share>   (see zfs-lab.sh header)
set -euo pipefail
LAB=${LAB:-$(cd "$(dirname "$0")/.." && pwd)}
KVER=${KVER:-$(cat "$LAB/KVER")}
accel=${VM_ACCEL:-auto}
if [ "$accel" = auto ]; then
  accel=tcg; grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ] && accel=kvm
fi
qemu_cmd() {  # $1 share dir, $2 serial target
  local a=(-accel tcg,thread=multi -cpu max)
  [ "$accel" = kvm ] && a=(-enable-kvm -cpu host)
  QEMU=(qemu-system-x86_64 "${a[@]}" -smp "${VM_CPUS:-$(nproc)}" -m "${VM_MEM:-4096}"
    -nodefaults -no-user-config -display none -no-reboot -serial "$2"
    -kernel "$LAB/kimg/boot/vmlinuz-$KVER" -initrd "$LAB/initrd.gz"
    -append "console=ttyS0 panic=-1 quiet loglevel=3 zl.share=$1"
    -fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap"
    -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
    -fsdev "local,id=layer,path=$LAB/zfsroot,security_model=none,readonly=on"
    -device virtio-9p-pci,fsdev=layer,mount_tag=layer
    -fsdev "local,id=share,path=$1,security_model=none,multidevs=remap"
    -device virtio-9p-pci,fsdev=share,mount_tag=share
    -device virtio-rng-pci -device virtio-serial-pci
    -chardev "socket,id=agent,path=$1/agent.sock,server=on,wait=off"
    -device virtserialport,chardev=agent,name=zfsagent)
}
new_share() {
  local s
  if [ -n "${VM_SHARE:-}" ]; then  # caller-owned (it collects results from there afterwards)
    [ -d "$VM_SHARE" ] || { echo "zfs-vm: VM_SHARE=$VM_SHARE is not a directory" >&2; exit 2; }
    s=$(cd "$VM_SHARE" && pwd -P); rm -f "$s/job.rc" "$s/job.out"
  else
    s=$(mktemp -d "$LAB/run.XXXXXX")
  fi
  # the path goes on the kernel command line (zl.share=) and into QEMU's -fsdev option
  case "$s" in *[[:space:],]*) echo "zfs-vm: share path must not contain blanks or commas: $s" >&2; exit 2 ;; esac
  cp "$LAB/guest/stage2.sh" "$s/"; echo "$s"
}
for f in "$LAB/kimg/boot/vmlinuz-$KVER" "$LAB/initrd.gz" "$LAB/zfsroot"; do
  [ -e "$f" ] || echo "zfs-vm: WARNING: $f is missing: the guest will not boot (run zfs-lab.sh setup)" >&2
done
case "${1:-}" in
run)
  [ -f "${2:-}" ] || { echo "zfs-vm run: no such job script: ${2:-}" >&2; exit 2; }
  SHARE=$(new_share); cp "$2" "$SHARE/job.sh"
  [ -n "${3:-}" ] && printf "cd '%s'\n" "$3" > "$SHARE/cwd"
  qemu_cmd "$SHARE" stdio; t0=$(date +%s.%N); set +e
  # --foreground: stay in the caller's process group, so Ctrl-C or a CI job kill also ends
  # QEMU instead of leaving it running (in its own group) for up to VM_TIMEOUT
  timeout --foreground "${VM_TIMEOUT:-3600}" "${QEMU[@]}" < /dev/null; qrc=$?; set -e
  awk -v a="$t0" -v b="$(date +%s.%N)" -v q=$qrc -v s="$SHARE" -v ac="$accel" \
    'BEGIN{printf "HOST: qemu(%s) exit=%d wall=%.1fs share=%s\n", ac, q, b-a, s}'
  rc=$(cat "$SHARE/job.rc" 2>/dev/null || true)
  case "$rc" in ''|*[!0-9]*) ;; *) exit "$rc" ;; esac
  if [ "$qrc" = 124 ]; then
    echo "HOST: FAIL: guest timed out after ${VM_TIMEOUT:-3600}s without reporting an exit status" >&2
  else
    echo "HOST: FAIL: guest did not report an exit status (qemu exit $qrc): it did not boot," \
      "or crashed; see the console output above" >&2
  fi
  exit 125 ;;
start)
  SHARE=$(new_share); cp "$LAB/guest/agent.py" "$SHARE/"
  echo 'exec python3 "$SHARE_DIR/agent.py"' > "$SHARE/job.sh"
  qemu_cmd "$SHARE" "file:$SHARE/console.log"
  nohup timeout "${VM_TIMEOUT:-3600}" "${QEMU[@]}" < /dev/null > "$SHARE/qemu.out" 2>&1 &
  echo $! > "$SHARE/qemu.pid"
  for _ in $(seq 1800); do [ -f "$SHARE/agent.ready" ] && break; sleep 0.1; done
  [ -f "$SHARE/agent.ready" ] || { echo "agent did not come up; see $SHARE/console.log" >&2; exit 1; }
  echo "$SHARE" ;;
stop)
  SHARE=$2; "$LAB/bin/zfs-vm-exec" "$SHARE" __poweroff__ < /dev/null || true
  pid=$(cat "$SHARE/qemu.pid")
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill "$pid" 2>/dev/null || true ;;
*) echo "usage: zfs-vm run <script> [cwd] | start | stop <share>"; exit 2 ;;
esac
EOF_VM
  chmod +x "$LAB/bin/zfs-vm" "$LAB/bin/zfs-vm-exec"
  put "$LAB/guest/zfs-features.sh" <<'EOF_FEAT'
#!/bin/bash
# OpenZFS feature check for a snapshot/replication daemon (runs inside the guest).
set -u
PASS=0; FAIL=0; FAILED=()
now() { date +%s.%N; }
run() {  # run 0|nz <cmd...>   (nz: expected to fail)
  local expect=$1; shift; local s rc; echo "+ $*"; s=$(now); "$@"; rc=$?
  awk -v a="$s" -v b="$(now)" -v r=$rc -v c="$*" 'BEGIN{printf "TIMING %7.3fs rc=%d : %s\n", b-a, r, substr(c,1,110)}'
  if { [ "$expect" = 0 ] && [ $rc -eq 0 ]; } || { [ "$expect" = nz ] && [ $rc -ne 0 ]; }; then PASS=$((PASS+1))
  else FAIL=$((FAIL+1)); FAILED+=("$*"); echo "!!! UNEXPECTED rc=$rc"; fi
}
sh_() { bash -o pipefail -c "$1"; }
IMG=/var/tmp/zfsimg; mkdir -p $IMG
run 0 truncate -s 1G $IMG/src.img $IMG/dst.img
run 0 zfs version
run 0 zpool create -f -o ashift=12 -O compression=lz4 -m /mnt/src src $IMG/src.img
run 0 zpool create -f -o ashift=12 -m /mnt/dst dst $IMG/dst.img
run 0 zpool list -Hp
echo "=== create / snapshot / user properties / list -Hp"
run 0 zfs create -o com.example:managed=yes src/data
run 0 sh_ "echo one > /mnt/src/data/f1"
run 0 zfs snapshot src/data@s1
run 0 sh_ "dd if=/dev/urandom of=/mnt/src/data/f2 bs=1M count=4 status=none"
run 0 zfs snapshot src/data@s2
run 0 sh_ "echo three > /mnt/src/data/f3"
run 0 zfs snapshot -r src@s3
run 0 zfs set com.example:keep=7 src/data@s3
run 0 zfs get -Hp -o name,property,value,source com.example:managed,com.example:keep,used,creation src/data src/data@s3
run 0 zfs list -Hp -t all -o name,used,refer,creation,guid -s creation
run 0 zfs list -j -t snapshot src/data
echo "=== send -nvP"
run 0 zfs send -nvP src/data@s1
run 0 zfs send -nvP -I @s1 src/data@s3
echo "=== full + incremental (-I) replication"
run 0 sh_ "zfs send src/data@s1 | zfs recv -u dst/data"
run 0 sh_ "zfs send -I @s1 src/data@s3 | zfs recv -u dst/data"
run 0 zfs list -Hp -t snapshot -o name,guid -r dst/data
run 0 sh_ "zfs send -p -R src@s3 | zfs recv -u -F dst/full"
run 0 zfs get -H -o value com.example:managed dst/full/data
echo "=== bookmarks"
run 0 zfs bookmark src/data@s3 src/data#b3
run 0 zfs list -Hp -t bookmark -o name,guid,createtxg
run 0 zfs destroy src/data@s3
run 0 sh_ "echo four > /mnt/src/data/f4"
run 0 zfs snapshot src/data@s4
run 0 sh_ "zfs send -i src/data#b3 src/data@s4 | zfs recv -u dst/data"
run 0 zfs list -H -t snapshot -o name -r dst/data
echo "=== holds"
run 0 zfs hold keepme src/data@s4
run 0 zfs holds -H src/data@s4
run nz zfs destroy src/data@s4
run 0 zfs release keepme src/data@s4
run 0 zfs holds -H src/data@s4
echo "=== clone / promote / rename"
run 0 zfs create src/pc
run 0 zfs snapshot src/pc@base
run 0 zfs clone -o com.example:role=clone src/pc@base src/pcclone
run 0 zfs promote src/pcclone
run 0 zfs get -H -o name,value origin src/pc src/pcclone
run 0 zfs rename src/pcclone src/pcclone-renamed
run 0 zfs rename src/pcclone-renamed@base src/pcclone-renamed@base2
run 0 zfs rename -r src@s3 src@s3r
run 0 zfs list -H -t all -o name -r src
echo "=== resumable receive"
run 0 zfs create src/big
run 0 sh_ "dd if=/dev/urandom of=/mnt/src/big/blob bs=1M count=16 status=none"
run 0 zfs snapshot src/big@full
run nz sh_ "zfs send src/big@full | head -c 6000000 | zfs recv -s -u dst/big"
TOKEN=$(zfs get -H -o value receive_resume_token dst/big); echo "token: ${TOKEN:0:40}..."
run 0 test -n "$TOKEN" -a "$TOKEN" != "-"
run 0 zfs send -nvP -t "$TOKEN"
run 0 sh_ "zfs send -t '$TOKEN' | zfs recv -s -u dst/big"
run 0 zfs list -Hp -o name,used -t snapshot dst/big
run 0 sh_ "zfs send src/big@full | head -c 3000000 | zfs recv -s -u dst/big2; test \"\$(zfs get -H -o value receive_resume_token dst/big2)\" != -"
run 0 zfs recv -A dst/big2
echo "=== encryption + raw send"
run 0 sh_ "echo 'correct horse battery' | zfs create -o encryption=on -o keyformat=passphrase -o keylocation=prompt src/enc"
run 0 zfs snapshot src/enc@e1
run 0 sh_ "zfs send -w src/enc@e1 | zfs recv -u dst/enc"
run 0 zfs get -H -o value encryption,keystatus dst/enc
echo "=== destroy / export / import"
run 0 zfs destroy -R src/pcclone-renamed
run 0 zfs destroy -r dst/full
run 0 zpool export dst
run 0 zpool import -d $IMG dst
run 0 zpool status -x
run 0 zpool destroy dst
run 0 zpool destroy src
echo "SUMMARY: PASS=$PASS FAIL=$FAIL"; for f in "${FAILED[@]}"; do echo "FAILED: $f"; done
[ $FAIL -eq 0 ]
EOF_FEAT
}

# ---------------------------------------------------------------- top level
setup() {
  mkdir -p "$LAB_BASE"
  # two runs building the same key at once would trample each other's files
  exec 9> "$LAB_BASE/.setup.lock"; flock 9
  # timings go to $LAB/timings.txt only once a build completes; until then (and on the
  # fast path, which keeps the last build's timings) to a scratch file
  TIMINGS_TMP=$(mktemp "$LAB_BASE/.timings.XXXXXX"); TIMINGS=$TIMINGS_TMP
  trap 'rm -f "$TIMINGS_TMP"' EXIT
  local updated=
  # Fast path: the apt lists name a key that is already built: no apt-get update at all.
  # Otherwise refresh the lists first: on a fresh machine they are missing or lack
  # backports, and a stale list can name a kernel ABI whose .deb has left the mirror.
  if ! resolve || [ ! -f "$LAB/BUILT" ]; then
    step "apt-get update (+contrib/backports sources if missing)" apt_sources; updated=1
    resolve_or_die
  fi
  echo ">>> lab: $LAB"
  mkdir -p "$LAB"
  if [ -f "$LAB/BUILT" ]; then
    if runtime_missing; then
      [ -n "$updated" ] || step "apt-get update (+contrib/backports sources if missing)" apt_sources
      step "apt install qemu-system-x86 + OpenZFS runtime libraries" apt_runtime
    fi
    echo ">>> artifacts present, skipping build"
    extra_current || step "add kernel modules to the layer ($EXTRA_MODULES)" extra_modules
    scripts; return 0
  fi
  step "apt install qemu-system-x86 + OpenZFS runtime libraries" apt_runtime
  step "apt install busybox-static kmod cpio make gcc linux-headers" apt_build
  echo "$KVER" > "$LAB/KVER"; echo "$ZFSVER" > "$LAB/ZFSVER"
  step "download kernel + OpenZFS .debs" download
  step "extract kernel, pick initramfs modules" kernel
  step "build OpenZFS kernel modules (configure+make)" zfs_kmod
  step "assemble OpenZFS layer (userland + modules)" zfs_layer
  step "add kernel modules to the layer ($EXTRA_MODULES)" extra_modules
  step "build initramfs" initrd
  step "write runtime scripts" scripts
  cp "$TIMINGS" "$LAB/timings.txt"
  date > "$LAB/BUILT"
}
selftest() {
  resolve_or_die
  [ -f "$LAB/BUILT" ] || die "no lab built at $LAB: run \`$0 setup\` first"
  TIMINGS=$LAB/timings.txt
  step "guest boot + OpenZFS feature test" "$LAB/bin/zfs-vm" run "$LAB/guest/zfs-features.sh"
}
pack() {
  resolve_or_die
  [ -f "$LAB/BUILT" ] || die "no lab built at $LAB"
  local f=${1:-$LAB/zfs-lab-artifacts.tar.zst}
  tar -C "$LAB" -I 'zstd -19 -T0' -cf "$f" KVER ZFSVER BUILT kimg initrd.gz zfsroot guest bin
  ls -la "$f"
}
unpack() {
  [ -f "${1:-}" ] || die "unpack: no such file: ${1:-}"
  mkdir -p "$LAB_BASE"
  local tmp; tmp=$(mktemp -d "$LAB_BASE/.unpack.XXXXXX"); chmod 755 "$tmp"
  tar -C "$tmp" -I zstd -xf "$1"
  if [ ! -f "$tmp/BUILT" ] || [ ! -f "$tmp/KVER" ]; then
    die "unpack: $1 holds no built lab (no BUILT/KVER)"
  fi
  KVER=$(cat "$tmp/KVER")
  if [ ! -f "$tmp/ZFSVER" ]; then  # archives of the shared reference script: ask the module
    modinfo -F version "$tmp/zfsroot/usr/lib/modules/$KVER/extra/zfs.ko" > "$tmp/ZFSVER"
  fi
  KVER_ENV=$KVER; ZFSVER_ENV=$(cat "$tmp/ZFSVER"); resolve_or_die
  if [ -n "$LAB_FIXED" ]; then mkdir -p "$LAB"; cp -a "$tmp/." "$LAB/"; rm -rf "$tmp"
  else rm -rf "$LAB"; mv "$tmp" "$LAB"
  fi
  scripts  # the archive may come from an older script: use this version's runtime scripts
  echo "$LAB"
}
path() { resolve_or_die; echo "$LAB"; }

case "${1:-all}" in
  setup) setup ;;
  path) path ;;
  selftest) selftest ;;
  all) setup; exec 9>&-; selftest; echo; echo "=== timings"; cat "$LAB/timings.txt" ;;
  pack) pack "${2:-}" ;;
  unpack) unpack "${2:-}" ;;
  *) sed -n '2,/^set -e/{/^set -e/!p}' "$0"; exit 2 ;;
esac
