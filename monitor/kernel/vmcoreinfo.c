#include "vmcoreinfo.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/clock.h"

#define PAGE 4096u

static int plausible(const char *text, size_t len)
{
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)text[i];
                if (ch != '\n' && (ch < 0x20 || ch > 0x7e))
                        return 0;
        }
        /* Every kernel since 2.6.24 writes these two first. */
        return len >= 12 && !memcmp(text, "OSRELEASE=", 10) && memmem(text, len, "\nPAGESIZE=", 10);
}

int bd_vmcoreinfo_match(const uint8_t *page, size_t len, struct bd_vmcoreinfo *out)
{
        static const char name[] = "VMCOREINFO";
        const char *text = NULL;
        size_t tlen = 0;
        /* ELF note: namesz(4) descsz(4) type(4) name padded to 4, then desc. */
        if (len >= 12 + 12 && !memcmp(page + 12, name, sizeof(name))) {
                uint32_t namesz, descsz;
                memcpy(&namesz, page, 4);
                memcpy(&descsz, page + 4, 4);
                if (namesz != sizeof(name) || descsz > BD_VMCOREINFO_MAX || 24 + descsz > len)
                        return 0;
                text = (const char *)page + 24;
                tlen = strnlen(text, descsz);
        } else if (len >= 10 && !memcmp(page, "OSRELEASE=", 10)) {
                text = (const char *)page;
                tlen = strnlen(text, len < BD_VMCOREINFO_MAX ? len : BD_VMCOREINFO_MAX);
        } else {
                return 0;
        }
        if (!plausible(text, tlen))
                return 0;
        memcpy(out->text, text, tlen);
        out->text[tlen] = '\0';
        out->len = tlen;
        return 1;
}

const char *bd_vmcoreinfo_get(const struct bd_vmcoreinfo *vi, const char *key, char *buf,
                              size_t cap)
{
        size_t klen = strlen(key);
        const char *p = vi->text;
        if (!cap)
                return NULL;
        while (p && *p) {
                if (!strncmp(p, key, klen) && p[klen] == '=') {
                        const char *v = p + klen + 1;
                        size_t vlen = strcspn(v, "\n");
                        if (vlen >= cap)
                                vlen = cap - 1;
                        memcpy(buf, v, vlen);
                        buf[vlen] = '\0';
                        return buf;
                }
                p = strchr(p, '\n');
                if (p)
                        p++;
        }
        return NULL;
}

int bd_vmcoreinfo_number(const struct bd_vmcoreinfo *vi, const char *key, int hex, uint64_t *out)
{
        char buf[64];
        /* A value that fills the buffer may have been cut short: refuse it
         * rather than parse a prefix. Signs and blanks are not numbers. */
        if (!bd_vmcoreinfo_get(vi, key, buf, sizeof(buf)) || strlen(buf) == sizeof(buf) - 1 ||
            !isxdigit((unsigned char)buf[0]))
                return -1;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(buf, &end, hex ? 16 : 10);
        if (*end || errno)
                return -1;
        *out = v;
        return 0;
}

int bd_vmcoreinfo_signed(const struct bd_vmcoreinfo *vi, const char *key, int64_t *out)
{
        char buf[64];
        const char *digits = buf;
        if (!bd_vmcoreinfo_get(vi, key, buf, sizeof(buf)) || strlen(buf) == sizeof(buf) - 1)
                return -1;
        if (*digits == '-')
                digits++;
        if (!isdigit((unsigned char)*digits))
                return -1;
        char *end;
        errno = 0;
        long long v = strtoll(buf, &end, 10);
        if (*end || errno)
                return -1;
        *out = v;
        return 0;
}

/* The scan asks which pages start as a copy of VMCOREINFO does (the ELF
 * note's name after its three words, or the text's first key), 64 MiB a
 * time: a NIC looks where the memory is and sends a bitmap (a 512 MiB
 * machine's search moved 4 MiB of pages before, a few KiB now); other
 * sources read the pages. Only the pages it names are read, CANDIDATES at
 * a time, and checked in full. */
#define SCAN_CHUNK (64u << 20)
#define CANDIDATES 32u
static const struct bd_page_pattern copy_starts[] = {
    {.at = 12, .len = sizeof("VMCOREINFO"), .bytes = "VMCOREINFO"},
    {.at = 0, .len = 10, .bytes = "OSRELEASE="},
};

/* Where the scan looks, in order: where kernels put VMCOREINFO first, then
 * the rest in memory order, each byte once. Both copies (vmcoreinfo_data
 * and vmcoreinfo_note) are among the first pages the buddy allocator hands
 * out (crash_save_vmcoreinfo_init, a subsys_initcall), and since Linux 5.10
 * memblock hands its pages to the buddy allocator at the tails of the free
 * lists, so the lowest free pages go first: just above 4 GiB where
 * ZONE_NORMAL starts (machines with more than 4 GiB), else just above
 * 16 MiB, where ZONE_DMA32 starts. The lab's kernels put them 2 to 9 MiB
 * above 16 MiB in most boots. */
#define MIB(n) ((uint64_t)(n) << 20)
static const struct {
        uint64_t lo, hi;
} scan_order[] = {
    {MIB(4096), MIB(4096 + 256)}, {MIB(16), MIB(16 + 256)},      {0, MIB(16)},
    {MIB(16 + 256), MIB(4096)},   {MIB(4096 + 256), UINT64_MAX},
};

/* Offer a copy to the caller's check; with no check, the first is taken. */
static struct bd_error *offer(bd_vmcoreinfo_check check, void *ctx, struct bd_vmcoreinfo *copy,
                              struct bd_vmcoreinfo_scan *scan, int *take)
{
        scan->copies++;
        *take = 1;
        return check ? check(ctx, copy, take) : NULL;
}

/* Read the pages bits names among npages from at (but the hint's, offered
 * already), CANDIDATES at a time, and offer each copy found in them. */
static struct bd_error *offer_pages(struct bd_phys *p, uint64_t at, uint64_t npages,
                                    const uint8_t *bits, uint64_t hint, uint8_t *pages,
                                    bd_vmcoreinfo_check check, void *ctx, struct bd_vmcoreinfo *out,
                                    struct bd_vmcoreinfo_scan *scan, int *take)
{
        for (uint64_t i = 0; i < npages;) {
                struct bd_phys_iov iov[CANDIDATES];
                unsigned n = 0;
                for (; i < npages && n < CANDIDATES; i++) {
                        if (!(bits[i / 8] >> (i % 8) & 1) || at + i * PAGE == hint)
                                continue;
                        iov[n] = (struct bd_phys_iov){at + i * PAGE, pages + n * PAGE, PAGE};
                        n++;
                }
                struct bd_error *err = n ? bd_phys_read_batch(p, iov, n) : NULL;
                for (unsigned k = 0; !err && k < n; k++) {
                        if (!bd_vmcoreinfo_match(pages + k * PAGE, PAGE, out))
                                continue;
                        out->phys = iov[k].addr;
                        if ((err = offer(check, ctx, out, scan, take)) || *take)
                                return err;
                }
                if (err)
                        return err;
        }
        return NULL;
}

struct bd_error *bd_vmcoreinfo_find(struct bd_phys *p, uint64_t hint, bd_vmcoreinfo_check check,
                                    void *ctx, struct bd_vmcoreinfo *out,
                                    struct bd_vmcoreinfo_scan *scan,
                                    void (*progress)(uint64_t done, uint64_t total))
{
        uint64_t t0 = bd_now_ns();
        memset(scan, 0, sizeof(*scan));
        uint8_t page[PAGE];
        int take = 0;
        struct bd_error *err = NULL;
        int hw = hint ? bd_phys_window_of(p, hint) : -1;
        /* A stale hint (another boot, another layout) only costs the scan. */
        if (hw >= 0 && bd_phys_window_of(p, hint + PAGE - 1) == hw) {
                err = bd_phys_read(p, hint, page, PAGE);
                if (err && err->code != BD_ERR_RANGE)
                        return err;
                scan->bytes_scanned = PAGE;
                if (!err && bd_vmcoreinfo_match(page, PAGE, out)) {
                        out->phys = hint;
                        if ((err = offer(check, ctx, out, scan, &take)) || take) {
                                scan->from_hint = !err;
                                scan->elapsed_ns = bd_now_ns() - t0;
                                return err;
                        }
                }
                bd_error_destroy(err);
                err = NULL;
        } else {
                hint = 0;
        }

        uint64_t total = 0;
        for (unsigned w = 0; w < p->nwindows; w++)
                total += p->windows[w].length;
        uint8_t *bits = malloc(SCAN_CHUNK / PAGE / 8), *pages = malloc(CANDIDATES * PAGE);
        if (!bits || !pages) {
                free(bits);
                free(pages);
                return &bd_error_nomem;
        }
        for (size_t r = 0; r < sizeof(scan_order) / sizeof(scan_order[0]); r++)
                for (unsigned w = 0; w < p->nwindows; w++) {
                        const struct bd_window_desc *win = &p->windows[w];
                        /* Both copies are page-allocated: only page starts
                         * can match. */
                        uint64_t start =
                            win->base > scan_order[r].lo ? win->base : scan_order[r].lo;
                        uint64_t end = win->base + win->length;
                        if (end > scan_order[r].hi)
                                end = scan_order[r].hi;
                        start = (start + PAGE - 1) & ~(uint64_t)(PAGE - 1);
                        for (uint64_t at = start; at + PAGE <= end; at += SCAN_CHUNK) {
                                uint64_t npages =
                                    (end - at < SCAN_CHUNK ? end - at : SCAN_CHUNK) / PAGE;
                                err = bd_phys_pagematch(
                                    p, at, npages, copy_starts,
                                    sizeof(copy_starts) / sizeof(copy_starts[0]), bits);
                                if (err)
                                        goto out;
                                scan->bytes_scanned += npages * PAGE;
                                if (progress)
                                        progress(scan->bytes_scanned, total);
                                if ((err = offer_pages(p, at, npages, bits, hint, pages, check, ctx,
                                                       out, scan, &take)) ||
                                    take)
                                        goto out;
                        }
                }
        err = bd_error_new(
            BD_ERR_NOT_FOUND, "no Linux kernel found: %s in %llu bytes of physical memory",
            scan->copies ? "no copy of VMCOREINFO passed the checks" : "VMCOREINFO is nowhere",
            (unsigned long long)total);
out:
        free(bits);
        free(pages);
        scan->elapsed_ns = bd_now_ns() - t0;
        return err;
}
