/* A memory window bdnicd exports: a source of target-physical memory mapped
 * into this process. The source decides the mode: a file mapping can be
 * registered with the RNIC and served one-sided (direct); a PCI BAR mapping
 * is VM_PFNMAP, cannot be pinned by ibv_reg_mr, and is served by copying
 * (mediated). */
#ifndef BD_WINDOW_H
#define BD_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "../common/wire.h"

struct bd_nic_window {
        struct bd_window_desc desc; /* remote_addr/rkey are per connection */
        uint8_t *map;
        size_t map_len;
        char source[256];
};

/* Parse and open "NAME=file:PATH[@BASE]" or "NAME=pci:SELECTOR[/BAR][@BASE]",
 * where SELECTOR is VENDOR:DEVICE (first match) or [DOMAIN:]BUS:DEV.FN and BAR
 * defaults to 2 (ivshmem's shared memory). writable maps the source for
 * writing and marks the window read-write; mediated forces copying even where
 * direct service is possible. */
struct bd_error *bd_window_open(const char *spec, int writable, int mediated,
                                struct bd_nic_window *w);
void bd_window_close(struct bd_nic_window *w);

/* 1 when [offset, offset + length) lies inside the window, without
 * overflow for any 64-bit inputs. */
int bd_window_contains(const struct bd_window_desc *w, uint64_t offset, uint64_t length);

/* Gather a READV request's segments (nsegs of them, wire encoded) from
 * the window into out (cap bytes); *len gets the total. BD_ERR_RANGE if a
 * segment is empty or outside the window, or they add up to more than
 * cap: then nothing is read. */
int bd_window_readv(const struct bd_nic_window *w, const uint8_t *segs, unsigned nsegs,
                    uint8_t *out, size_t cap, size_t *len);
/* Source-specific openers, called by bd_window_open(). */
struct bd_error *bd_window_open_file(const char *path, int writable, struct bd_nic_window *w);
struct bd_error *bd_window_open_pci(const char *selector, int bar, int writable,
                                    struct bd_nic_window *w);

#endif
