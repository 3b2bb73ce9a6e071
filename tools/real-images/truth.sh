#!/usr/bin/env bash
# Ground truth of one real resume (issue 11 part 4): resume a real 6.12 image under QEMU with
# kprobe/tracepoint events printed to the console, after a dump of the boot-time memory state.
#
#   tools/real-images/truth.sh [--image NAME.swap.zst] [--out DIR]
#
# Default image: tests/data/real/linux-6.12.117-lz4-224m.swap.zst (made by make.sh with the
# same kernel and -m); default DIR: tests/data/real/truth-6.12. Writes there: kpageflags.zst,
# kpagecount.zst, zoneinfo, iomem, buddyinfo, pagetypeinfo, meminfo, vmstat, image_size (the
# dump), alloc.txt, alloc-detail.tsv, getbuf.txt, counts.json (truth.py, from the console),
# resume.log.zst (the console) and cmdline. See docs/real-images.md and DIR/README.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/real-images/lib.sh
. "$HERE/lib.sh"
REPO=$(cd "$HERE/../.." && pwd)
IMAGE=$REPO/tests/data/real/linux-6.12.117-lz4-224m.swap.zst
OUT=$REPO/tests/data/real/truth-6.12
while [ $# -gt 0 ]; do
  case "$1" in
    --image) IMAGE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "truth.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -s "$IMAGE" ] || die "no image $IMAGE (make it with make.sh 6.12-lz4)"
m=$(basename "$IMAGE" | sed -n 's/.*-\([0-9]*\)m\.swap\.zst$/\1/p')
[ -n "$m" ] && MEM_MB=$m   # resume needs the -m the image was made with

need_packages
config 6.12-lz4
prepare_kernel "$KSERIES"
work=$SCRATCH/work/truth-$KREL
mkdir -p "$work" "$OUT"; rm -f "$work"/*
zstd -dq "$IMAGE" -o "$work/swap.img"
# The dump is written past the swap area, on the same disk (see truth-init.sh).
dump_offset=$(stat -c %s "$work/swap.img")
truncate -s $((dump_offset + 4 * 1024 * 1024)) "$work/swap.img"
# tp_printk: trace events go to the console; a larger printk buffer so that none is dropped.
append="$BASE_ARGS $KARGS swsim.mode=truth swsim.dump_offset=$dump_offset $INIT_ARGS tp_printk log_buf_len=4M"
log "truth: resuming $(basename "$IMAGE") with the probes (kernel $KVER, -m $MEM_MB); slow"
t0=$SECONDS
run_qemu "$work/resume.log" "$append" "$work/swap.img" || die "truth: QEMU failed (see $work/resume.log)"
grep -q 'SWSIM: PAYLOAD OK' "$work/resume.log" || die "truth: the resumed system did not report its payload (see $work/resume.log)"
log "truth: resumed, payload intact ($((SECONDS - t0)) s); extracting"
python3 "$HERE/truth.py" --log "$work/resume.log" --dump "$work/swap.img" --dump-offset "$dump_offset" --out "$OUT"
zstd -q -19 -f "$work/resume.log" -o "$OUT/resume.log.zst"
printf 'kernel: %s (%s)\nimage: %s\nresume: %s\nqemu: %s\n' "$KVER" "$KREL" "$(basename "$IMAGE")" "$append" "$QEMU_CMD" > "$OUT/cmdline"
log "truth: written to $OUT"
