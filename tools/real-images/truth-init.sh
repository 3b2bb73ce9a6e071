# shellcheck shell=sh disable=SC2016,SC2154
# (SC2016: the probe definitions' $args are the tracer's, not the shell's; SC2154: $dev, say
# and finish come from /init.)
# Sourced by /init in swsim.mode=truth (see truth.sh): kprobe/tracepoint events printed to the
# console (tp_printk: the trace buffer does not survive the jump into the image), then
# swsim-dump takes the boot-time memory state, writes it to /dev/vda and writes the resume
# device: everything the allocator hands out after the dump is on the console, in order.
T=/sys/kernel/tracing
mount -t tracefs tracefs $T || finish "FAIL tracefs"
# The dump goes to /dev/vda past its swap area (truth.sh enlarged the copy): a second disk
# would make SeaBIOS reserve more memory, and the image's e820 checksum would not match.
dump_offset=${dump_offset:-41943040}
probe() {
  echo "$1" >> $T/dynamic_events || { say "probe refused: $1"; sed 's/^/SWSIM: error_log /' $T/error_log > /dev/console; }
}
# The page allocator: every __alloc_pages_noprof() returns through here (slab, vmalloc's
# fallback, get_zeroed_page, folios): the struct page, order, gfp and the task.
probe 'r:swsim/alloc __alloc_pages_noprof page=$retval:x64 order=$arg2:u32 gfp=$arg1:x32 comm=$comm'
# Bulk allocations (vmalloc) fill an array and bypass the above; 25 entries per event.
probe 'p:swsim/bulk_in alloc_pages_bulk_noprof nr=$arg4:s32 comm=$comm'
for k in 0 1 2 3; do
  args=""; j=0
  while [ $j -lt 25 ]; do args="$args p$j=+$(( (k * 25 + j) * 8 ))(\$arg6):x64"; j=$((j + 1)); done
  probe "r:swsim/bulk$k alloc_pages_bulk_noprof n=\$retval:s32$args"
done
# Who asked: the caller of get_zeroed_page()/__get_free_pages() (get_image_page, the
# prepare_image() loop inlined in snapshot_write_next, swap.c's readers).
probe 'p:swsim/gzp get_zeroed_page_noprof caller=$stack0:symbol comm=$comm'
probe 'p:swsim/gfp get_free_pages_noprof caller=$stack0:symbol order=$arg2:u32 comm=$comm'
# The reader's window (swap.c), and the basic bitmaps (snapshot.c) made before it.
for f in swsusp_read load_image load_compressed_image create_basic_memory_bitmaps; do
  probe "p:swsim/${f}_in $f comm=\$comm"
  probe "r:swsim/${f}_out $f comm=\$comm"
done
# Per image pfn, in image order: where get_buffer() put the page (its own frame or a copy).
probe 'r:swsim/getbuf get_buffer.constprop.0 ret=$retval:x64 pfn=@orig_bm+48:u64 pbl=@restore_pblist:x64'
# The resuming write, with the bases needed to turn struct page and kernel addresses into pfns.
probe 'p:swsim/resume_store resume_store vmemmap=@vmemmap_base:x64 pob=@page_offset_base:x64'
# The kernel's own counts at the jump into the image.
probe 'p:swsim/arch swsusp_arch_resume copy=@nr_copy_pages:u32 meta=@nr_meta_pages:u32 zero=@nr_zero_pages:u32 unsafe=@allocated_unsafe_pages:u32 pbl=@restore_pblist:x64'
echo 1 > $T/events/swsim/enable || finish "FAIL enabling the probes"
echo 1 > $T/events/kmem/mm_page_free/enable
echo 1 > $T/events/kmem/mm_page_free_batched/enable
say "probes on: $(grep -c . $T/dynamic_events) events; dumping to /dev/vda at $dump_offset"
/bin/swsim-dump /dev/vda "$dump_offset" "$dev" /proc/zoneinfo /proc/buddyinfo /proc/pagetypeinfo /proc/meminfo \
  /proc/vmstat /proc/iomem /sys/power/image_size /proc/kpagecount /proc/kpageflags
finish "FAIL swsim-dump returned"
