#include "copy.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../common/clock.h"
#include "../kernel/pgtable.h"

/* The beacon's fields before its region table: what a read checks. The
 * library maps the beacon page-aligned, so they lie in its first page. */
#define HEAD_LEN offsetof(struct bd_agent_beacon, region)

/* Page-table entries checked in the one ordered read, at most. */
#define MAX_REFS 32
/* Pinned: the slot's pieces read this many at a time, the pin renewed
 * between them once half its lease has gone, so that a read longer than
 * the lease (16 MiB through a slow fabric) keeps it; and the head read at
 * most this many times for a commit that was under way as the pin came. */
#define PIN_PIECES    256
#define PIN_HEAD_WAIT 8

struct bd_agent_copier {
        struct bd_program *prog;
        int32_t pid;
        struct bd_user_mm mm;
        struct bd_agent_view view;
        uint8_t *buf[BD_AGENT_MAX_REGIONS];
        /* Per slot, a piece per page of every region: where it is read
         * from. Translated when first needed and checked after every read,
         * so that the tables cost one batch a level per copy, not a walk
         * per page. */
        struct bd_phys_iov *iov[2];
        size_t npieces[2];
        int mapped[2];
        uint64_t head_pa;
        int head_mapped;
        struct bd_pgtable_cache *tables;
        struct bd_pgtable_range *ranges; /* the head's page and a slot's regions */
        /* Every page-table entry the translations of the head and both
         * slots went through, as read then (the one-read path checks them
         * in the same request); nrefs SIZE_MAX: too many to. */
        struct {
                uint64_t phys, value;
        } ref[MAX_REFS];
        size_t nrefs;
        int pin; /* bd_agent_copier_pin() */
};

static void drop_buffers(struct bd_agent_copier *c)
{
        for (int i = 0; i < BD_AGENT_MAX_REGIONS; i++) {
                free(c->buf[i]);
                c->buf[i] = NULL;
        }
        for (int s = 0; s < 2; s++) {
                free(c->iov[s]);
                c->iov[s] = NULL;
                c->npieces[s] = 0;
                c->mapped[s] = 0;
        }
        free(c->ranges);
        c->ranges = NULL;
        c->head_mapped = 0;
}

static uint64_t pages_of(uint64_t addr, uint64_t len)
{
        return ((addr + len + 4095) >> 12) - (addr >> 12);
}

/* (Re)read the beacon and size the buffers for its regions. */
static struct bd_error *load(struct bd_agent_copier *c)
{
        drop_buffers(c);
        struct bd_error *err = bd_agent_read(c->prog, c->pid, &c->view);
        if (!err)
                err = bd_user_mm_of_pid(c->prog, c->pid, &c->mm);
        if (err)
                return err;
        for (int s = 0; s < 2; s++) {
                size_t pieces = 0;
                for (uint32_t i = 0; i < c->view.b.nregions; i++)
                        pieces += pages_of(c->view.b.region[i].slot[s], c->view.b.region[i].len);
                if (!(c->iov[s] = calloc(pieces ? pieces : 1, sizeof(*c->iov[s]))))
                        return &bd_error_nomem;
        }
        for (uint32_t i = 0; i < c->view.b.nregions; i++)
                if (!(c->buf[i] = malloc(c->view.b.region[i].len)))
                        return &bd_error_nomem;
        if (!(c->ranges = calloc(c->view.b.nregions + 1, sizeof(*c->ranges))))
                return &bd_error_nomem;
        return NULL;
}

struct bd_error *bd_agent_copier_new(struct bd_program *prog, int32_t pid,
                                     struct bd_agent_copier **out)
{
        *out = NULL;
        struct bd_agent_copier *c = calloc(1, sizeof(*c));
        if (!c || !(c->tables = calloc(1, sizeof(*c->tables)))) {
                free(c);
                return &bd_error_nomem;
        }
        c->prog = prog;
        c->pid = pid;
        struct bd_error *err = load(c);
        if (err) {
                bd_agent_copier_free(c);
                return err;
        }
        *out = c;
        return NULL;
}

void bd_agent_copier_free(struct bd_agent_copier *c)
{
        if (!c)
                return;
        drop_buffers(c);
        bd_pgtable_cache_release(c->tables);
        free(c->tables);
        free(c);
}

struct bd_error *bd_agent_copier_pin(struct bd_agent_copier *c, int on)
{
        if (on && sodium_init() < 0)
                return bd_error_new(BD_ERR_INTERNAL, "libsodium does not initialise");
        c->pin = on;
        return NULL;
}

const struct bd_agent_view *bd_agent_copier_view(const struct bd_agent_copier *c)
{
        return &c->view;
}

/* The entries a translation went through, kept once each; past
 * MAX_REFS the one-read path is given up (nrefs SIZE_MAX). */
static void keep_refs(struct bd_agent_copier *c, const struct bd_pgtable_leaf *leaf)
{
        for (unsigned i = 0; i < leaf->nchain && c->nrefs != SIZE_MAX; i++) {
                size_t k = 0;
                while (k < c->nrefs && c->ref[k].phys != leaf->chain_phys[i])
                        k++;
                if (k < c->nrefs)
                        continue;
                if (c->nrefs == MAX_REFS) {
                        c->nrefs = SIZE_MAX;
                        break;
                }
                c->ref[c->nrefs].phys = leaf->chain_phys[i];
                c->ref[c->nrefs++].value = leaf->chain[i];
        }
}

static struct bd_error *translate(struct bd_agent_copier *c, uint64_t va, uint64_t *pa)
{
        struct bd_pgtable_leaf leaf;
        struct bd_error *err = bd_pgtable_lookup(c->prog->phys, c->tables, c->mm.pgd_phys,
                                                 c->prog->k->levels, va, &leaf);
        if (err)
                return err;
        keep_refs(c, &leaf);
        if (!leaf.present || leaf.protnone)
                return bd_error_new(BD_ERR_NOT_FOUND, "the page at 0x%" PRIx64 " is not in memory",
                                    va);
        *pa = leaf.paddr;
        return NULL;
}

/* The page tables as they are now, for the head's page and slot s's
 * regions: read afresh a level at a time (a page moved since the last
 * pass must be seen moved). *moved: a frame differs from what was read
 * through. */
static struct bd_error *map(struct bd_agent_copier *c, int s, int *moved)
{
        bd_pgtable_cache_release(c->tables);
        memset(c->tables, 0, sizeof(*c->tables));
        size_t n = 0;
        c->ranges[n++] = (struct bd_pgtable_range){c->view.beacon, c->view.beacon + 4096};
        for (uint32_t i = 0; i < c->view.b.nregions; i++) {
                const struct bd_agent_region *r = &c->view.b.region[i];
                c->ranges[n++] = (struct bd_pgtable_range){r->slot[s] & ~4095ull,
                                                           (r->slot[s] + r->len + 4095) & ~4095ull};
        }
        struct bd_error *err = bd_pgtable_prefetch(c->prog->phys, c->tables, c->mm.pgd_phys,
                                                   c->prog->k->levels, c->ranges, n);
        uint64_t pa;
        if (!err)
                err = translate(c, c->view.beacon, &pa);
        if (err)
                return err;
        *moved = c->head_mapped && pa != c->head_pa;
        c->head_pa = pa;
        c->head_mapped = 1;
        size_t k = 0;
        for (uint32_t i = 0; i < c->view.b.nregions; i++) {
                const struct bd_agent_region *r = &c->view.b.region[i];
                uint64_t va = r->slot[s], left = r->len;
                uint8_t *to = c->buf[i];
                while (left) {
                        uint64_t len = 4096 - (va & 4095);
                        if (len > left)
                                len = left;
                        if ((err = translate(c, va, &pa)))
                                return err;
                        struct bd_phys_iov *p = &c->iov[s][k++];
                        *moved |= c->mapped[s] && p->addr != pa;
                        *p = (struct bd_phys_iov){pa, to, (size_t)len};
                        va += len;
                        to += len;
                        left -= len;
                }
        }
        c->npieces[s] = k;
        c->mapped[s] = 1;
        return NULL;
}

static struct bd_error *read_head(struct bd_agent_copier *c, struct bd_agent_beacon *h)
{
        return bd_phys_read(c->prog->phys, c->head_pa, h, HEAD_LEN);
}

static uint64_t token_for(int s)
{
        uint64_t t;
        randombytes_buf(&t, sizeof(t));
        return (t & ~3ull) | (uint64_t)(s + 1);
}

/* The pin word swapped from `from` to `to` (one audited compare-and-swap);
 * *token becomes `to`, or 0 when the word held something else. */
static struct bd_error *swap_pin(struct bd_agent_copier *c, uint64_t from, uint64_t to,
                                 uint64_t *token)
{
        uint64_t old;
        struct bd_error *err = bd_phys_cas(
            c->prog->phys, c->head_pa + offsetof(struct bd_agent_beacon, pin), from, to, &old);
        *token = err ? 0 : to;
        if (err && err->code == BD_ERR_CAS_FAILED) {
                bd_error_destroy(err);
                return NULL;
        }
        return err ? bd_error_wrap(err, "pid %d: the reader pin", c->pid) : NULL;
}

/* Pin slot s (agent_beacon.h): *token the pin set, 0 when another
 * reader's was there; then the head read again, until its generation is
 * even (a commit under way as the pin came ends soon, and none begins in
 * the slot after): the generation the pin holds. */
static struct bd_error *pin(struct bd_agent_copier *c, int s, struct bd_agent_beacon *head,
                            uint64_t *token, struct bd_agent_copy *out)
{
        struct bd_error *err = swap_pin(c, 0, token_for(s), token);
        out->pin_busy += !err && !*token;
        for (int i = 0; !err && *token && i < PIN_HEAD_WAIT; i++)
                if ((err = read_head(c, head)) || !(head->generation[s] & 1))
                        break;
        return err;
}

/* Slot s's pieces; pinned, a part at a time with the pin renewed. */
static struct bd_error *read_slot(struct bd_agent_copier *c, int s, uint64_t *token)
{
        if (!*token)
                return bd_phys_read_batch(c->prog->phys, c->iov[s], c->npieces[s]);
        uint64_t since = bd_now_ns(), half = BD_AGENT_PIN_LEASE_MS * 1000000ull / 2;
        struct bd_error *err = NULL;
        for (size_t at = 0; !err && at < c->npieces[s]; at += PIN_PIECES) {
                size_t n = c->npieces[s] - at < PIN_PIECES ? c->npieces[s] - at : PIN_PIECES;
                /* A fresh token: the library's lease begins again. Lost (it
                 * ran out): the copy shows torn. */
                if (*token && bd_now_ns() - since > half) {
                        err = swap_pin(c, *token, token_for(s), token);
                        since = bd_now_ns();
                }
                if (!err)
                        err = bd_phys_read_batch(c->prog->phys, c->iov[s] + at, n);
        }
        return err;
}

/* Both slots translated afresh, the entries they went through kept. */
static struct bd_error *map_both(struct bd_agent_copier *c)
{
        int moved;
        c->nrefs = 0;
        struct bd_error *err = map(c, 0, &moved);
        return err ? err : map(c, 1, &moved);
}

/* Whether the head, both slots' regions, the head again and the kept
 * page-table entries fit one request: then one ordered read takes them
 * all, the time between the two heads is the NIC's copying rather than
 * round trips, and the entries read last say whether the pages were still
 * where they were read from. */
static int fits_one_read(const struct bd_agent_copier *c)
{
        if (c->nrefs == SIZE_MAX)
                return 0;
        size_t bytes = 2 * HEAD_LEN + 8 * c->nrefs;
        for (uint32_t i = 0; i < c->view.b.nregions; i++)
                bytes += 2 * c->view.b.region[i].len;
        return bytes <= BD_INLINE_MAX &&
               c->npieces[0] + c->npieces[1] + 2 + c->nrefs <= BD_READV_MAX_SEGS;
}

/* The head, slot s's regions (s from that head) and the head again, in
 * that order (pieces of one batch may complete in any order); *moved: the
 * pages were not all where they were read from. */
static struct bd_error *read_copy(struct bd_agent_copier *c, struct bd_agent_beacon *head,
                                  struct bd_agent_beacon *after, int *s, int *moved,
                                  uint64_t *token, struct bd_agent_copy *out)
{
        *token = 0;
        struct bd_error *err;
        if (fits_one_read(c)) {
                struct bd_phys_iov ord[BD_READV_MAX_SEGS];
                uint8_t scratch[BD_INLINE_MAX];
                uint64_t entry[MAX_REFS];
                size_t n = 0, at = 0;
                ord[n++] = (struct bd_phys_iov){c->head_pa, head, HEAD_LEN};
                for (int t = 0; t < 2; t++)
                        for (size_t i = 0; i < c->npieces[t]; i++) {
                                ord[n++] = (struct bd_phys_iov){c->iov[t][i].addr, scratch + at,
                                                                c->iov[t][i].len};
                                at += c->iov[t][i].len;
                        }
                ord[n++] = (struct bd_phys_iov){c->head_pa, after, HEAD_LEN};
                for (size_t i = 0; i < c->nrefs; i++)
                        ord[n++] = (struct bd_phys_iov){c->ref[i].phys, &entry[i], 8};
                if ((err = bd_phys_read_ordered(c->prog->phys, ord, n)))
                        return err;
                *s = head->committed == 1;
                for (size_t i = 0, k = 1 + (*s ? c->npieces[0] : 0); i < c->npieces[*s]; i++)
                        memcpy(c->iov[*s][i].buf, ord[k + i].buf, c->iov[*s][i].len);
                *moved = 0;
                for (size_t i = 0; i < c->nrefs; i++)
                        *moved |= entry[i] != c->ref[i].value;
                return *moved ? map_both(c) : NULL;
        }
        if ((err = read_head(c, head)))
                return err;
        *s = head->committed == 1;
        if (c->pin && head->committed <= 1 && (err = pin(c, *s, head, token, out)))
                return err;
        err = read_slot(c, *s, token);
        if (!err)
                err = read_head(c, after);
        /* Taken back; left to its lease when the word no longer holds it. */
        if (*token) {
                uint64_t none;
                struct bd_error *e = swap_pin(c, *token, 0, &none);
                if (!err)
                        err = e;
                else
                        bd_error_destroy(e);
        }
        /* The tables afresh, a level at a time. */
        return err ? err : map(c, *s, moved);
}

/* Whether the head still describes the beacon that was checked. */
static int same_beacon(const struct bd_agent_beacon *a, const struct bd_agent_beacon *h)
{
        return h->magic == a->magic && h->version == a->version && h->size == a->size &&
               h->pid == a->pid && !memcmp(h->name, a->name, sizeof(h->name));
}

struct bd_error *bd_agent_copier_read(struct bd_agent_copier *c, unsigned max_tries,
                                      struct bd_agent_copy *out)
{
        memset(out, 0, sizeof(*out));
        struct bd_agent_beacon head, after;
        struct bd_error *err = c->mapped[0] && c->mapped[1] ? NULL : map_both(c);
        int moved = 0, s = 0;
        uint64_t token = 0;
        while (!err && out->tries < max_tries) {
                out->tries++;
                if ((err = read_copy(c, &head, &after, &s, &moved, &token, out)))
                        break;
                if (!same_beacon(&c->view.b, &head)) {
                        /* Moved, or gone: the tables say which. */
                        uint64_t was = c->head_pa;
                        if (moved)
                                continue;
                        if ((err = map_both(c)))
                                break;
                        if (c->head_pa != was)
                                continue;
                        return bd_error_new(BD_ERR_NOT_FOUND,
                                            "pid %d: its libbdagent beacon is gone", c->pid);
                }
                if (head.nregions != c->view.b.nregions) {
                        /* A region registered since: the table is read and
                         * checked again before anything in it is followed. */
                        if (out->reread)
                                return bd_error_new(BD_ERR_PROTOCOL,
                                                    "pid %d: its beacon's regions keep changing",
                                                    c->pid);
                        if ((err = load(c)) || (err = map_both(c)))
                                break;
                        out->reread = 1;
                        out->tries--;
                        continue;
                }
                if (head.committed == BD_AGENT_NONE)
                        return bd_error_new(BD_ERR_NOT_FOUND, "pid %d has committed nothing yet",
                                            c->pid);
                if (head.committed > 1)
                        return bd_error_new(BD_ERR_PROTOCOL,
                                            "pid %d: its committed slot is neither 0 nor 1",
                                            c->pid);
                uint64_t gen = head.generation[s];
                /* Odd: lapped, the writer is in this slot again; moved: a
                 * page was not where it was read from. */
                if ((gen & 1) || after.generation[s] != gen || moved)
                        continue;
                out->whole = 1;
                out->pinned = token != 0;
                out->slot = s;
                out->generation = gen;
                out->commits = head.commits;
                for (uint32_t i = 0; i < c->view.b.nregions; i++)
                        out->data[i] = c->buf[i];
                return NULL;
        }
        if (!err)
                return NULL;
        /* A page gone from the tables: most likely the process is. */
        struct bd_user_mm now;
        struct bd_error *gone =
            bd_err_transport(err->code) ? NULL : bd_user_mm_of_pid(c->prog, c->pid, &now);
        int exited = !bd_err_transport(err->code) && (gone || now.mm != c->mm.mm);
        bd_error_destroy(gone);
        if (!exited)
                return bd_error_wrap(err, "pid %d's committed state", c->pid);
        bd_error_destroy(err);
        return bd_error_new(BD_ERR_NOT_FOUND, "pid %d has exited", c->pid);
}
