#!/bin/sh
# shellcheck disable=SC2013,SC2034,SC1091
# (word-splitting /proc/cmdline and /modules is meant; dump_offset and /truth.sh are for
# truth-init.sh, which this script sources in swsim.mode=truth.)
# /init of the swsim real-image initramfs (busybox). The mode comes from the kernel command
# line: swsim.mode=hibernate | resume | truth. See docs/real-images.md.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mode=hibernate; compressor=; payload_kb=256; image_size=0
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    swsim.mode=*) mode=${arg#swsim.mode=} ;;
    swsim.compressor=*) compressor=${arg#swsim.compressor=} ;;
    swsim.payload_kb=*) payload_kb=${arg#swsim.payload_kb=} ;;
    swsim.image_size=*) image_size=${arg#swsim.image_size=} ;;
    swsim.dump_offset=*) dump_offset=${arg#swsim.dump_offset=} ;;
  esac
done
say() { echo "SWSIM: $*" > /dev/console; }
finish() { say "$1"; sync; poweroff -f; sleep 30; }

for m in $(cat /modules); do insmod "/lib/modules/$m" || say "insmod $m failed"; done
i=0
while [ ! -e /sys/block/vda/dev ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -e /sys/block/vda/dev ] || finish "FAIL no /dev/vda"
dev=$(cat /sys/block/vda/dev)
if [ -n "$compressor" ]; then
  echo "$compressor" > /sys/module/hibernate/parameters/compressor || say "compressor $compressor refused"
fi
[ -e /sys/module/hibernate/parameters/compressor ] && say "compressor $(cat /sys/module/hibernate/parameters/compressor)"

case "$mode" in
  resume|truth)
    [ "$mode" = truth ] && . /truth.sh
    say "resume from $dev"
    echo "$dev" > /sys/power/resume
    finish "FAIL no image resumed (resume returned)" ;;
esac

# mode=hibernate: a tiny payload in ramfs (never swapped out, so it is in the image), then
# hibernate to /dev/vda. After the resume boot jumps into the image, this script carries on
# after the write to /sys/power/state and checks the payload.
mkswap /dev/vda > /dev/null || finish "FAIL mkswap"
swapon /dev/vda || finish "FAIL swapon"
echo "$dev" > /sys/power/resume
mkdir -p /payload && mount -t ramfs ramfs /payload
dd if=/dev/urandom of=/payload/random bs=1024 count="$payload_kb" 2> /dev/null
dd if=/dev/zero of=/payload/zero bs=1024 count="$payload_kb" 2> /dev/null
i=0; while [ $i -lt 2000 ]; do echo "swsim payload line $i"; i=$((i + 1)); done > /payload/text
md5sum /payload/* > /payload.md5
echo "$image_size" > /sys/power/image_size
sed "s/^/SWSIM: meminfo /" /proc/meminfo > /dev/console
say "image_size $(cat /sys/power/image_size), hibernating to $dev"
echo shutdown > /sys/power/disk
echo disk > /sys/power/state || finish "FAIL hibernation refused"
say "back from hibernation: $(cat /proc/uptime)"
if md5sum -c /payload.md5 > /dev/null 2>&1; then finish "PAYLOAD OK"; else finish "FAIL payload differs"; fi
