#include "window.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int bd_window_contains(const struct bd_window_desc *w, uint64_t offset, uint64_t length)
{
        return offset < w->length && length <= w->length - offset;
}

static int parse_u64(const char *s, uint64_t *out)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 0);
        /* strtoull skips blanks and accepts a sign: insist on a digit first. */
        if (!isdigit((unsigned char)*s) || errno || end == s || *end)
                return -1;
        *out = v;
        return 0;
}

struct bd_error *bd_window_open(const char *spec, int writable, int mediated,
                                struct bd_nic_window *w)
{
        memset(w, 0, sizeof(*w));
        const char *eq = strchr(spec, '=');
        if (!eq || eq == spec)
                return bd_error_new(BD_ERR_USAGE,
                                    "window '%s': expected NAME=file:PATH or NAME=pci:SELECTOR",
                                    spec);
        size_t namelen = (size_t)(eq - spec);
        if (namelen >= BD_WINDOW_NAME_MAX)
                return bd_error_new(BD_ERR_USAGE, "window name longer than %d characters",
                                    BD_WINDOW_NAME_MAX - 1);
        memcpy(w->desc.name, spec, namelen);

        char src[sizeof(w->source)];
        if (strlen(eq + 1) >= sizeof(src))
                return bd_error_new(BD_ERR_USAGE, "window '%s': source too long", w->desc.name);
        strcpy(src, eq + 1);
        char *at = strrchr(src, '@');
        if (at) {
                *at = '\0';
                if (parse_u64(at + 1, &w->desc.base))
                        return bd_error_new(BD_ERR_USAGE, "window '%s': bad base address '%s'",
                                            w->desc.name, at + 1);
        }
        snprintf(w->source, sizeof(w->source), "%s", src);

        struct bd_error *err;
        if (!strncmp(src, "file:", 5)) {
                err = bd_window_open_file(src + 5, writable, w);
        } else if (!strncmp(src, "pci:", 4)) {
                int bar = 2;
                char *slash = strchr(src + 4, '/');
                if (slash) {
                        uint64_t b;
                        *slash = '\0';
                        if (parse_u64(slash + 1, &b) || b > 5)
                                return bd_error_new(BD_ERR_USAGE, "window '%s': BAR must be 0 to 5",
                                                    w->desc.name);
                        bar = (int)b;
                }
                err = bd_window_open_pci(src + 4, bar, writable, w);
        } else {
                return bd_error_new(BD_ERR_USAGE,
                                    "window '%s': unknown source '%s' (file: or pci:)",
                                    w->desc.name, src);
        }
        if (err)
                return bd_error_wrap(err, "window '%s'", w->desc.name);
        if (w->desc.base + w->desc.length < w->desc.base) {
                bd_window_close(w);
                return bd_error_new(BD_ERR_USAGE, "window '%s': base + length wraps", w->desc.name);
        }
        w->desc.access = writable ? BD_ACCESS_RW : BD_ACCESS_RO;
        if (mediated)
                w->desc.mode = BD_MODE_MEDIATED;
        return NULL;
}

void bd_window_close(struct bd_nic_window *w)
{
        if (w->map)
                munmap(w->map, w->map_len);
        w->map = NULL;
}

int bd_window_readv(const struct bd_nic_window *w, const uint8_t *segs, unsigned nsegs,
                    uint8_t *out, size_t cap, size_t *len)
{
        size_t total = 0;
        /* Check every segment before copying any: a refused request reads
         * nothing. */
        for (unsigned i = 0; i < nsegs; i++) {
                uint64_t off;
                uint32_t n;
                bd_wire_readv_get(segs, i, &off, &n);
                if (!n || n > cap - total || !bd_window_contains(&w->desc, off, n))
                        return BD_ERR_RANGE;
                total += n;
        }
        size_t at = 0;
        for (unsigned i = 0; i < nsegs; i++) {
                uint64_t off;
                uint32_t n;
                bd_wire_readv_get(segs, i, &off, &n);
                memcpy(out + at, w->map + off, n);
                at += n;
        }
        *len = total;
        return 0;
}
