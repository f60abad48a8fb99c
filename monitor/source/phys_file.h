/* The file source: a raw RAM image (a VM's memory file) or an ELF vmcore on
 * this machine. */
#ifndef BD_PHYS_FILE_H
#define BD_PHYS_FILE_H

#include "phys.h"

struct bd_error *bd_phys_open_file(const char *path, int writable, struct bd_phys **out);

/* Internals, exposed for unit tests and fuzzing. */
/* Work out the windows of a file image: one window at physical 0 for a raw
 * image, one per PT_LOAD segment for an ELF core. Every header field is
 * checked against the file size. */
struct bd_error *bd_file_layout(const uint8_t *data, size_t size, struct bd_window_desc *windows,
                                uint64_t *file_offset, unsigned *nwindows);

#endif
