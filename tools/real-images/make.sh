#!/usr/bin/env bash
# Make real Linux hibernation images with Debian's own kernels under QEMU (no KVM needed).
#
#   tools/real-images/make.sh [--out DIR] [--force] [NAME...]
#
# NAME: 6.1-lzo, 6.1-nocompress, 6.12-lz4 (the default set), 6.12-lzo, 6.12-nocompress.
# For each it writes, into DIR
# (default build/real-images):
#   NAME.swap.zst       the swap device as the hibernating kernel left it (zstd -19)
#   NAME.hibernate.log  serial console of the boot that wrote the image
#   NAME.resume.log     serial console of the boot that resumed from a COPY of it
#   NAME.cmdline        the two kernel command lines and the QEMU command
# An image counts only if the resumed system found its payload intact ("SWSIM: PAYLOAD OK").
# Idempotent: an image whose three files exist is kept unless --force.
# Fresh-machine safe: installs its Debian packages, fetches the kernels with `apt-get download`
# and unpacks them with `dpkg -x` into a scratch folder (SCRATCH, default
# /tmp/swsim-real-images); nothing is installed onto the host. See docs/real-images.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/real-images/lib.sh
. "$HERE/lib.sh"

OUT=build/real-images
FORCE=0
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --force) FORCE=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) echo "make.sh: unknown option $1" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=("${ALL_CONFIGS[@]}")
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

need_packages
for name in "${names[@]}"; do
  config "$name"   # sets KSERIES, KARGS, INIT_ARGS, SWAP_MB
  prepare_kernel "$KSERIES"   # sets KVER, KREL, KDIR, VMLINUZ, INITRD
  full="linux-$KREL-${name#*-}-${MEM_MB}m"
  [ "$FLAVOR" = amd64 ] || full="linux-$KREL-${FLAVOR%-amd64}-${name#*-}-${MEM_MB}m"
  if [ "$FORCE" = 0 ] && [ -s "$OUT/$full.swap.zst" ] && [ -s "$OUT/$full.hibernate.log" ] \
      && [ -s "$OUT/$full.resume.log" ]; then
    echo "== $full: already made (--force to redo)"
    continue
  fi
  make_image "$full"
done
