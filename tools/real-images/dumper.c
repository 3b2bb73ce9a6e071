/*
 * swsim-dump: the boot-time memory state, taken as close as possible to the resume.
 *
 *   swsim-dump DEVICE OFFSET MAJ:MIN FILE...
 *
 * Runs in the truth initramfs (static). Locks its memory and touches every buffer first, so
 * that nothing it does after the dump allocates pages of its own; opens every file and
 * /sys/power/resume up front; reads the FILEs (the last one, /proc/kpageflags, is the moment
 * of the dump), writes them with O_DIRECT (no page cache) to DEVICE at byte OFFSET (past the
 * swap area: a second disk would change the firmware memory map, which the image must match)
 * after a text manifest page ("swsim-dump 1", then "NAME OFFSET LENGTH" lines), then writes MAJ:MIN to
 * /sys/power/resume: the kernel reads and restores the image inside that write. Markers go
 * to /dev/kmsg so the console shows where the dump sits among the trace events.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096UL
#define MAX_FILES 16
#define SMALL_CAP (64UL << 10)  /* text files */

static int kmsg = -1;

/* The size of a /proc/kpage* file (8 bytes per pfn up to max_pfn), read once to count. */
static size_t proc_size(const char *name)
{
	static char scratch[1 << 16];
	size_t total = 0;
	ssize_t n;
	int fd = open(name, O_RDONLY);
	if (fd < 0)
		return 0;
	while ((n = read(fd, scratch, sizeof(scratch))) > 0)
		total += (size_t)n;
	close(fd);
	return total;
}

static void mark(const char *what)
{
	char line[160];
	int n = snprintf(line, sizeof(line), "<6>SWSIM: %s\n", what);
	if (kmsg >= 0 && write(kmsg, line, (size_t)n) < 0)
		perror("kmsg");
}

int main(int argc, char **argv)
{
	int fds[MAX_FILES], nfiles = argc - 4, out, resume, i;
	off_t base;
	size_t cap[MAX_FILES], len[MAX_FILES], off[MAX_FILES], total = PAGE;
	char *buf[MAX_FILES], *manifest;
	char msg[160];

	if (argc < 5 || nfiles > MAX_FILES) {
		fprintf(stderr, "usage: swsim-dump DEVICE OFFSET MAJ:MIN FILE...\n");
		return 2;
	}
	base = (off_t)strtoull(argv[2], NULL, 0);
	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		perror("mlockall");
	kmsg = open("/dev/kmsg", O_WRONLY);
	out = open(argv[1], O_WRONLY | O_DIRECT);
	resume = open("/sys/power/resume", O_WRONLY);
	if (out < 0 || resume < 0) {
		perror("open dump device or /sys/power/resume");
		return 1;
	}
	if (posix_memalign((void **)&manifest, PAGE, PAGE))
		return 1;
	memset(manifest, 0, PAGE);
	for (i = 0; i < nfiles; i++) {
		const char *name = argv[4 + i];
		/* exact size plus a page: a full buffer means the file grew, an error */
		cap[i] = strstr(name, "kpage") ? (proc_size(name) / PAGE + 2) * PAGE : SMALL_CAP;
		fds[i] = open(name, O_RDONLY);
		if (fds[i] < 0 || posix_memalign((void **)&buf[i], PAGE, cap[i])) {
			fprintf(stderr, "swsim-dump: %s: %s\n", name, strerror(errno));
			return 1;
		}
		memset(buf[i], 0, cap[i]);   /* touch (and, locked, keep) every page now */
	}
	mark("dump begins");
	for (i = 0; i < nfiles; i++) {
		ssize_t n;
		len[i] = 0;
		while ((n = read(fds[i], buf[i] + len[i], cap[i] - len[i])) > 0)
			len[i] += (size_t)n;
		if (n < 0 || len[i] == cap[i]) {
			fprintf(stderr, "swsim-dump: reading %s failed or too large\n", argv[4 + i]);
			return 1;
		}
	}
	mark("kpageflags read");   /* the moment of the dump: the trace starts here */
	{
		size_t used = (size_t)snprintf(manifest, PAGE, "swsim-dump 1\n");
		for (i = 0; i < nfiles; i++) {
			off[i] = total;
			total += (len[i] + PAGE - 1) / PAGE * PAGE;
			used += (size_t)snprintf(manifest + used, PAGE - used, "%s %zu %zu\n",
						 argv[4 + i], off[i], len[i]);
		}
	}
	if (pwrite(out, manifest, PAGE, base) != (ssize_t)PAGE)
		perror("write manifest");
	for (i = 0; i < nfiles; i++) {
		size_t padded = (len[i] + PAGE - 1) / PAGE * PAGE;
		if (padded && pwrite(out, buf[i], padded, base + (off_t)off[i]) != (ssize_t)padded) {
			perror("write dump");
			return 1;
		}
	}
	fdatasync(out);
	snprintf(msg, sizeof(msg), "dump written (%zu bytes), resuming from %s", total, argv[3]);
	mark(msg);
	if (write(resume, argv[3], strlen(argv[3])) < 0)
		perror("write /sys/power/resume");
	mark("FAIL resume returned");
	return 1;
}
