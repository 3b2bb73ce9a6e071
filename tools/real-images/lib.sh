# shellcheck shell=bash disable=SC2034
# (SC2034: the settings and config() outputs are used by make.sh and truth.sh.)
# Shared by make.sh and truth.sh: packages, kernels, initramfs, QEMU runs.
# Settings (environment): SCRATCH, MEM_MB, QEMU_TIMEOUT, KERNEL_6_1, KERNEL_6_12.

SCRATCH=${SCRATCH:-/tmp/swsim-real-images}
MEM_MB=${MEM_MB:-224}                # the VM's RAM; resume needs the same -m. Below ~200 the
                                     # resume of a minimal Debian image runs out of memory.
QEMU_TIMEOUT=${QEMU_TIMEOUT:-1200}   # seconds per boot; a loaded 2-core machine is slow
# The kernels the committed fixtures were made with; when the archive no longer has one, the
# newest linux-image of that series is used instead (and the image name says which).
# FLAVOR is Debian's kernel flavour: amd64 (the generic kernel) or cloud-amd64 (a smaller
# kernel, so smaller images).
FLAVOR=${FLAVOR:-amd64}
KERNEL_6_1=${KERNEL_6_1:-linux-image-6.1.0-57-$FLAVOR}
KERNEL_6_12=${KERNEL_6_12:-linux-image-6.12.117+deb12-$FLAVOR}
ALL_CONFIGS=(6.1-lzo 6.1-nocompress 6.12-lz4)
# Kernel command line shared by every boot (the initramfs writes the resume device itself:
# the boot-time resume= lookup runs before virtio_blk is loaded).
BASE_ARGS="console=ttyS0 no_console_suspend ignore_loglevel pm_debug_messages panic=5"

log() { echo "== $*" >&2; }
die() { echo "make.sh: $*" >&2; exit 1; }

need_packages() {
  local need=() c p
  for c in qemu-system-x86_64:qemu-system-x86 busybox:busybox-static zstd:zstd xz:xz-utils \
      cpio:cpio depmod:kmod modprobe:kmod gcc:gcc; do
    command -v "${c%%:*}" > /dev/null 2>&1 || need+=("${c#*:}")
  done
  [ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)   # the static dumper
  # busybox must be the static one: it runs alone in the initramfs.
  if command -v busybox > /dev/null && ldd "$(command -v busybox)" > /dev/null 2>&1; then
    need+=(busybox-static)
  fi
  [ ${#need[@]} -eq 0 ] && return 0
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  log "installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" > /dev/null
  for p in "${need[@]}"; do dpkg -s "$p" > /dev/null 2>&1 || die "could not install $p"; done
}

# config NAME: the image configurations. KSERIES is the kernel series, INIT_ARGS go to the
# initramfs' /init (swsim.*), KARGS to the kernel.
config() {
  # SWAP_MB: the swap device, just large enough for the image (about 19,200 pages, 75 MiB
  # uncompressed: Debian's kernel itself is most of it) and what shrinking swaps out.
  KARGS=""; INIT_ARGS=""; SWAP_MB=40
  case "$1" in
    6.1-lzo) KSERIES=6.1 ;;
    6.1-nocompress) KSERIES=6.1; KARGS="hibernate=nocompress"; SWAP_MB=88 ;;
    6.12-lz4) KSERIES=6.12; INIT_ARGS="swsim.compressor=lz4" ;;
    6.12-lzo) KSERIES=6.12 ;;
    6.12-nocompress) KSERIES=6.12; KARGS="hibernate=nocompress"; SWAP_MB=88 ;;
    *) die "unknown configuration $1 (known: 6.1-lzo 6.1-nocompress 6.12-lz4 6.12-lzo 6.12-nocompress)" ;;
  esac
}

# pick_package SERIES: the pinned package if the archive has it, else the newest of the series.
pick_package() {
  local want pattern
  if [ "$1" = 6.1 ]; then want=$KERNEL_6_1; pattern="^linux-image-6\.1\.0-[0-9]+-$FLAVOR\$"
  else want=$KERNEL_6_12; pattern="^linux-image-6\.12\.[0-9]+\+deb[0-9]+-$FLAVOR\$"; fi
  if apt-cache show "$want" > /dev/null 2>&1; then echo "$want"; return; fi
  apt-cache pkgnames linux-image-6. | grep -E "$pattern" | sort -V | tail -1
}

# first_file GLOB...: the first existing path the glob matched, or nothing.
first_file() { [ -e "$1" ] && echo "$1"; return 0; }

# prepare_kernel SERIES: download and unpack the kernel (once), build the initramfs.
prepare_kernel() {
  local pkg deb
  pkg=$(pick_package "$1")
  [ -n "$pkg" ] || die "no linux-image package for $1 in the apt sources (apt-get update?)"
  mkdir -p "$SCRATCH/debs"
  deb=$(first_file "$SCRATCH/debs/${pkg}_"*.deb)
  if [ -z "$deb" ]; then
    log "downloading $pkg"
    (cd "$SCRATCH/debs" && apt-get download "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
    deb=$(first_file "$SCRATCH/debs/${pkg}_"*.deb)
    [ -n "$deb" ] || die "apt-get download $pkg failed"
  fi
  KVER=${pkg#linux-image-}
  KREL=$(dpkg-deb -f "$deb" Version); KREL=${KREL%%-*}
  KDIR=$SCRATCH/kernel-$KVER
  if [ ! -e "$KDIR/.unpacked" ]; then
    log "unpacking $deb"
    rm -rf "$KDIR"; mkdir -p "$KDIR"
    dpkg -x "$deb" "$KDIR"
    depmod -b "$KDIR" "$KVER"
    touch "$KDIR/.unpacked"
  fi
  VMLINUZ=$KDIR/boot/vmlinuz-$KVER
  INITRD=$KDIR/initrd.cpio.gz
  build_initrd
}

# build_initrd: static busybox, the modules the VM needs (virtio block, LZ4) in dependency
# order, /init (init.sh) and truth.sh's initramfs part. Rebuilt when an input changed.
build_initrd() {
  local root=$KDIR/initrd mods m path base
  local stamp
  stamp=$(cat "$HERE/init.sh" "$HERE/truth-init.sh" "$HERE/dumper.c" "$(command -v busybox)" | md5sum | cut -d' ' -f1)
  [ -s "$INITRD" ] && [ "$(cat "$KDIR/initrd.stamp" 2> /dev/null)" = "$stamp" ] && return 0
  log "building the initramfs for $KVER"
  rm -rf "$root"; mkdir -p "$root"/{bin,proc,sys,dev,lib/modules,mnt}
  cp "$(command -v busybox)" "$root/bin/busybox"
  for m in $("$root/bin/busybox" --list); do [ "$m" = busybox ] || ln -s busybox "$root/bin/$m"; done
  mods=$(for m in virtio_pci virtio_blk lz4; do
           modprobe -d "$KDIR" -S "$KVER" --show-depends "$m" 2> /dev/null | awk '$1 == "insmod" {print $2}'
         done | awk '!seen[$0]++')
  : > "$root/modules"
  for path in $mods; do
    base=$(basename "$path"); base=${base%.xz}
    case "$path" in
      *.xz) xz -dc "$path" > "$root/lib/modules/$base" ;;
      *) cp "$path" "$root/lib/modules/$base" ;;
    esac
    echo "$base" >> "$root/modules"
  done
  cp "$HERE/init.sh" "$root/init"; chmod 755 "$root/init"
  cp "$HERE/truth-init.sh" "$root/truth.sh"
  gcc -static -O2 -Wall -o "$root/bin/swsim-dump" "$HERE/dumper.c"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$INITRD"
  echo "$stamp" > "$KDIR/initrd.stamp"
}

# run_qemu LOG APPEND DRIVE...: one boot without KVM; the serial console goes to LOG. Returns
# when the VM powers off (or QEMU_TIMEOUT passes: then fails).
run_qemu() {
  local logf=$1 append=$2; shift 2
  local drives=() d
  for d in "$@"; do drives+=(-drive "file=$d,format=raw,if=virtio"); done
  QEMU_CMD="qemu-system-x86_64 -machine pc -accel tcg -cpu qemu64 -m $MEM_MB -smp 1 -display none -monitor none -serial file:$logf -no-reboot -kernel $VMLINUZ -initrd $INITRD -append '$append' ${drives[*]/#/}"
  rm -f "$logf"
  if ! timeout "$QEMU_TIMEOUT" qemu-system-x86_64 -machine pc -accel tcg -cpu qemu64 \
      -m "$MEM_MB" -smp 1 -display none -monitor none -serial "file:$logf" -no-reboot \
      -kernel "$VMLINUZ" -initrd "$INITRD" -append "$append" "${drives[@]}" < /dev/null; then
    echo "QEMU failed or timed out after ${QEMU_TIMEOUT}s; last lines of $logf:" >&2
    tail -5 "$logf" >&2 || true
    return 1
  fi
}

# make_image FULLNAME: hibernate onto a fresh sparse swap file, then resume from a copy.
make_image() {
  local full=$1 work=$SCRATCH/work/$1 happend rappend
  mkdir -p "$work"; rm -f "$work"/*
  truncate -s "${SWAP_MB}M" "$work/swap.img"
  happend="$BASE_ARGS $KARGS swsim.mode=hibernate $INIT_ARGS"
  rappend="$BASE_ARGS $KARGS swsim.mode=resume $INIT_ARGS"
  log "$full: hibernating (kernel $KVER, -m $MEM_MB)"
  local t0=$SECONDS
  run_qemu "$work/hibernate.log" "$happend" "$work/swap.img" || die "$full: hibernation boot failed"
  local hq=$QEMU_CMD
  grep -q 'SWSIM: FAIL' "$work/hibernate.log" && die "$full: $(grep 'SWSIM: FAIL' "$work/hibernate.log")"
  grep -qE 'PM: (hibernation: )?Wrote [0-9]+ kbytes' "$work/hibernate.log" || die "$full: no image written (see $work/hibernate.log)"
  log "$full: image written in $((SECONDS - t0)) s; resuming from a copy"
  cp --sparse=always "$work/swap.img" "$work/resume-copy.img"
  t0=$SECONDS
  run_qemu "$work/resume.log" "$rappend" "$work/resume-copy.img" || die "$full: resume boot failed"
  grep -q 'SWSIM: PAYLOAD OK' "$work/resume.log" || die "$full: the resumed system did not find its payload (see $work/resume.log)"
  log "$full: resumed, payload intact ($((SECONDS - t0)) s)"
  zstd -q -19 -f "$work/swap.img" -o "$OUT/$full.swap.zst"
  cp "$work/hibernate.log" "$OUT/$full.hibernate.log"
  cp "$work/resume.log" "$OUT/$full.resume.log"
  printf 'kernel: %s (%s)\nhibernate: %s\nresume: %s\nqemu: %s\n' "$KVER" "$KREL" "$happend" "$rappend" "$hq" > "$OUT/$full.cmdline"
  log "$full: $(du -h "$OUT/$full.swap.zst" | cut -f1) in $OUT/$full.swap.zst"
}
