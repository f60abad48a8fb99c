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

/* Scan in large pipelined chunks: the transport moves 4 MiB about as fast as
 * it moves 4 KiB several times, and only each page's first bytes matter. */
#define SCAN_CHUNK (4u << 20)

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
        uint8_t *buf = malloc(SCAN_CHUNK);
        if (!buf)
                return &bd_error_nomem;
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
                                size_t len =
                                    end - at < SCAN_CHUNK ? (size_t)(end - at) : SCAN_CHUNK;
                                len &= ~(size_t)(PAGE - 1);
                                if ((err = bd_phys_read(p, at, buf, len)))
                                        goto out;
                                scan->bytes_scanned += len;
                                if (progress)
                                        progress(scan->bytes_scanned, total);
                                for (size_t off = 0; off < len; off += PAGE) {
                                        /* The hint's copy was offered already. */
                                        if ((hint && at + off == hint) ||
                                            !bd_vmcoreinfo_match(buf + off, PAGE, out))
                                                continue;
                                        out->phys = at + off;
                                        if ((err = offer(check, ctx, out, scan, &take)) || take)
                                                goto out;
                                }
                        }
                }
        err = bd_error_new(
            BD_ERR_NOT_FOUND, "no Linux kernel found: %s in %llu bytes of physical memory",
            scan->copies ? "no copy of VMCOREINFO passed the checks" : "VMCOREINFO is nowhere",
            (unsigned long long)total);
out:
        free(buf);
        scan->elapsed_ns = bd_now_ns() - t0;
        return err;
}
