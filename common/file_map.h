/* Map a whole regular file MAP_SHARED: a live source (a VM's RAM file) stays
 * live, and an RNIC can pin the very pages other processes see. */
#ifndef BD_FILE_MAP_H
#define BD_FILE_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum bd_map_mode {
        BD_MAP_RO,
        BD_MAP_RW,
        BD_MAP_RW_IF_POSSIBLE, /* read-write when the file allows it */
};

struct bd_file_map {
        uint8_t *data;
        size_t size;
        int writable;
        uint64_t dev, ino; /* the file mapped, as fstat() saw it */
};

/* Empty and non-regular files are refused: there is nothing to serve. */
struct bd_error *bd_file_map(const char *path, enum bd_map_mode mode, struct bd_file_map *out);
void bd_file_unmap(struct bd_file_map *m);

#endif
