"""The kernel's numbers and structures, without I/O: constants, zones, memory bitmaps, types."""
