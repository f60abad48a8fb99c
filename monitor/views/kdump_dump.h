/* Write a target's memory in the kdump-compressed format (makedumpfile's
 * "-c" output; crash, drgn through libkdumpfile, and libkdumpfile's Python
 * binding read it): a header block, a sub-header block with VMCOREINFO and
 * the vmcore's notes, two bitmaps (pages that exist, pages stored), a
 * descriptor per stored page, and each page compressed alone with zlib
 * or zstd (kept as it is when that does not shrink it). Written from the format's
 * public description: header version 6, 4 KiB blocks, x86-64.
 *
 * Everything but the pages is written first, so that the file says from
 * its start what it will hold; then each page as it is read, in pfn
 * order, its data appended and then its descriptor put at its final place
 * (so a descriptor on disk means its data is). A run that stops leaves a
 * partial file that --resume continues: the descriptors that check out
 * say how far it got. Zero pages point at one shared block at the start
 * of the data, also at dump level 1: crash refuses a dump whose zero
 * kernel pages are left out (the mem_section root table of a 5-level
 * kernel is mostly zero pages) unless told --zero_excluded, and the dump
 * must open with no flags. A NIC tells them without moving them. */
#ifndef BD_KDUMP_DUMP_H
#define BD_KDUMP_DUMP_H

#include <stdint.h>

#include "../source/phys.h"
#include "dump_pages.h"
#include "vmcore.h"

/* How pages are compressed: the format's flag for each, in the header's
 * status and in each compressed page's descriptor. zlib (makedumpfile -c)
 * is what every reader takes; zstd (-z) costs the monitor's CPU far less
 * (bench/dump: a -d 31 dump as fast as uncompressed ELF, zlib's 40 %
 * slower), and crash, libkdumpfile and drgn on Debian 12 read it. */
enum bd_kdump_compression {
        BD_KDUMP_ZLIB = 0x1,
        BD_KDUMP_ZSTD = 0x20,
};

/* d gives the notes, VMCOREINFO, utsname, phys_base and the time. */
struct bd_error *bd_kdump_dump(struct bd_phys *p, const struct bd_vmcore_desc *d,
                               const struct bd_dump_options *o, struct bd_dump_stats *st);

#endif
