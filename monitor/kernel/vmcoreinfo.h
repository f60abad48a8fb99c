/* VMCOREINFO: the kernel's own description of itself (release, build id,
 * KASLR offset, paging mode, symbol addresses), kept in memory for crash
 * dumps. Finding it in raw physical memory is how the monitor recognises a
 * kernel with no help from it. */
#ifndef BD_VMCOREINFO_H
#define BD_VMCOREINFO_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/error.h"
#include "../source/phys.h"

/* The kernel caps it at one page (VMCOREINFO_BYTES). */
#define BD_VMCOREINFO_MAX 4096

struct bd_vmcoreinfo {
        uint64_t phys; /* where the copy that was used lives */
        char text[BD_VMCOREINFO_MAX + 1];
        size_t len;
};

struct bd_vmcoreinfo_scan {
        uint64_t bytes_scanned;
        uint64_t elapsed_ns;
        unsigned copies; /* offered to the check, the taken one included */
        int from_hint;
};

/* If the page (or the first len bytes of one) starts with VMCOREINFO, either
 * as the ELF note (name "VMCOREINFO") or as the raw data page, copy the text
 * into out and return 1. Validates sizes and content: it is hostile input. */
int bd_vmcoreinfo_match(const uint8_t *page, size_t len, struct bd_vmcoreinfo *out);

/* Value of KEY in "KEY=value" lines, copied into buf; NULL if absent. */
const char *bd_vmcoreinfo_get(const struct bd_vmcoreinfo *vi, const char *key, char *buf,
                              size_t cap);
/* Numeric value: hex for KERNELOFFSET and SYMBOL(), decimal for NUMBER(). */
int bd_vmcoreinfo_number(const struct bd_vmcoreinfo *vi, const char *key, int hex, uint64_t *out);

/* Signed decimal value, for NUMBER()s the kernel prints with %ld (phys_base
 * is negative under KASLR). */
int bd_vmcoreinfo_signed(const struct bd_vmcoreinfo *vi, const char *key, int64_t *out);

/* What a scan does with each copy it finds: sets *take to 1 to stop there,
 * leaves it 0 to go on, or returns an error that ends the scan. A copy is
 * hostile input (anyone who can write a page can write one): the check is
 * where the kernel it describes is held against the memory. */
typedef struct bd_error *(*bd_vmcoreinfo_check)(void *ctx, const struct bd_vmcoreinfo *copy,
                                                int *take);

/* Find VMCOREINFO: first at hint (if non-zero), then by scanning every
 * window page by page, where kernels put it first (above 4 GiB and above
 * 16 MiB, 256 MiB of each), then the rest in memory order (the hint's page
 * is not offered twice). Each copy is
 * offered to check (NULL: the first is taken). progress, if set, is called
 * now and then with bytes done. BD_ERR_NOT_FOUND when no copy is taken. */
struct bd_error *bd_vmcoreinfo_find(struct bd_phys *p, uint64_t hint, bd_vmcoreinfo_check check,
                                    void *ctx, struct bd_vmcoreinfo *out,
                                    struct bd_vmcoreinfo_scan *scan,
                                    void (*progress)(uint64_t done, uint64_t total));

#endif
