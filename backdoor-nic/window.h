/* A memory window bdnicd exports: a source of target-physical memory mapped
 * into this process. The source decides how it is read: a file mapping can
 * be registered with the RNIC and read one-sided (direct); a PCI BAR mapping
 * is VM_PFNMAP, cannot be pinned by ibv_reg_mr, and is read by copying
 * (mediated). Writes, to either, are made by this process on the mapping. */
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
/* Answer a ZEROMAP (npats 0) or PAGEMATCH request: bit i of out set when
 * the i-th page (BD_ZEROMAP_PAGE bytes) of [offset, offset + length) holds
 * only zeros, or one of the patterns at its place; *len gets the bitmap's
 * bytes. BD_ERR_RANGE, and nothing is read, when length is not whole
 * pages, the range leaves the window, or the bitmap would not fit cap. */
int bd_window_pagemap(const struct bd_nic_window *w, uint64_t offset, uint32_t length,
                      const struct bd_page_pattern *pats, unsigned npats, uint8_t *out, size_t cap,
                      size_t *len);
/* How many bytes a READ, WRITE or CAS request names (a CAS: an 8-byte
 * word at an 8-aligned offset); 0 when they are not all inside the window. */
uint64_t bd_window_span(const struct bd_window_desc *w, const struct bd_request *rq);

/* Make a WRITE or CAS request on the window's mapping, with this CPU, and
 * audit it, naming peer, before the memory is changed: one line per request
 * (see window.c for its fields). Returns 0 or a bd_err status: BD_ERR_RANGE
 * when bd_window_span() refuses it, BD_ERR_READONLY when the audit line
 * could not be written, and then nothing is written. A CAS puts the value
 * it found in *found. The caller has checked that the window may be
 * written. */
int bd_window_write(const struct bd_nic_window *w, const char *peer, const struct bd_request *rq,
                    uint64_t *found);

/* Make a CASV request's nops compare-and-swaps (wire encoded in ops), in
 * order, each as bd_window_write() makes a CAS, and put one answer per
 * operation in answers (nops * BD_CASV_ANSWER_LEN bytes). Returns
 * BD_ERR_RANGE, and makes none, when any names a word that is unaligned or
 * outside the window; else 0, each answer saying how its operation went
 * (BD_ERR_READONLY from the first whose audit line could not be written
 * on: those are not made). */
int bd_window_casv(const struct bd_nic_window *w, const char *peer, const uint8_t *ops,
                   unsigned nops, uint8_t *answers);

/* Source-specific openers, called by bd_window_open(). */
struct bd_error *bd_window_open_file(const char *path, int writable, struct bd_nic_window *w);
struct bd_error *bd_window_open_pci(const char *selector, int bar, int writable,
                                    struct bd_nic_window *w);

#endif
