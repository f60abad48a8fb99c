# An independent reader for bdmon's kdump-compressed dumps: Debian's
# libkdumpfile (python3-libkdumpfile). Usage: kdump_read.py DUMP OUT PAGES
# writes the first PAGES pages of physical memory to OUT (pages the dump
# left out as zeros) and prints the format, the release and how many
# pages were left out.
import sys

import kdumpfile

dump, out, pages = sys.argv[1], sys.argv[2], int(sys.argv[3])
k = kdumpfile.kdumpfile(dump)
print("format", k.attr["file.format"])
print("release", k.attr["linux.uts.release"])
missing, first = 0, None
with open(out, "wb") as f:
    for pfn in range(pages):
        try:
            f.write(k.read(kdumpfile.KDUMP_MACHPHYSADDR, pfn * 4096, 4096))
        except Exception as e:
            missing += 1
            first = first or "pfn %d: %s" % (pfn, e)
            f.write(bytes(4096))
print("missing", missing)
if first:
    print("first missing", first)
