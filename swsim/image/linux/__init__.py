"""Linux's own hibernation image formats: the swap device and the /dev/snapshot stream.

One concept per module: :mod:`.layout` (every offset, flag and bound, with the kernel's names),
:mod:`.crc32` (the kernel's ``crc32_le``), :mod:`.chunks` (none/LZO/LZ4 chunks of up to 32
pages), :mod:`.device` (random access to a swap device, spooled when it is compressed or a
pipe), :mod:`.swapmap` (the chain of ``swap_map_page``), :mod:`.pages` (the page stream a
swap image or a snapshot stream holds), :mod:`.source` (their :class:`ImageSource`) and
:mod:`.writer` (writing both). docs/kernel-formats.md documents the formats with offsets.
"""
