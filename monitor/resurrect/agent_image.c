#include "agent_image.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criu/memfd.pb-c.h>
#include <criu/pagemap.pb-c.h>

/* A memfd created without MFD_ALLOW_SEALING, as the library creates its
 * own, reports F_SEAL_SEAL: criu then creates it the same way. */
#define F_SEAL_SEAL_ 1u

static int has_thread(const struct bd_threads *ts, int32_t tid)
{
        for (size_t i = 0; i < ts->n; i++)
                if (ts->t[i].pid == tid)
                        return 1;
        return 0;
}

/* The regions' committed slots, for a rollback. */
static struct bd_error *read_committed(const struct bd_agent_beacon *b, const struct bd_vmas *vs,
                                       struct bd_user_pages *pages, struct bd_agent_image *ai)
{
        if (!b->nregions)
                return NULL;
        if (b->generation[b->committed] & 1)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "libbdagent %s: the committed slot %" PRIu64
                                    " is marked as being written",
                                    b->name, b->committed);
        for (uint32_t i = 0; i < b->nregions; i++) {
                const struct bd_agent_region *r = &b->region[i];
                /* bd_agent_check() put the region inside one mapping. */
                const struct bd_vma *v = bd_vmas_holding(vs, r->live, r->len);
                if (v && (v->flags & BD_VM_SHARED))
                        return bd_error_new(BD_ERR_RANGE,
                                            "libbdagent %s: region %s is in shared memory, "
                                            "whose rollback the images cannot carry",
                                            b->name, r->name);
                uint8_t *bytes = malloc((size_t)r->len);
                if (!bytes)
                        return &bd_error_nomem;
                ai->region[i].live = r->live, ai->region[i].len = r->len;
                ai->region[i].bytes = bytes;
                ai->nregions = i + 1;
                struct bd_error *err =
                    bd_user_pages_peek(pages, r->slot[b->committed], bytes, (size_t)r->len);
                if (err)
                        return bd_error_wrap(err, "libbdagent %s: region %s's committed copy",
                                             b->name, r->name);
                ai->st.bytes += r->len;
        }
        ai->st.regions = b->nregions;
        return NULL;
}

struct bd_error *bd_agent_image_plan(int32_t pid, const struct bd_vmas *vs,
                                     const struct bd_threads *ts, struct bd_user_pages *pages,
                                     struct bd_agent_image *out)
{
        memset(out, 0, sizeof(*out));
        /* The mappings and page reader resurrect has already: the beacon
         * is read once, its mapping's contents, and checked from them. */
        const struct bd_vma *v = bd_agent_vma(vs);
        if (!v)
                return NULL;
        if (!(v->flags & BD_VM_SHARED) || v->pgoff)
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "pid %d: its libbdagent beacon is not at the start of a "
                                    "shared mapping of its memfd",
                                    pid);
        /* A beacon's mapping is the library's: one beacon, rounded to pages. */
        if (v->end - v->start != ((sizeof(struct bd_agent_beacon) + 4095) & ~(uint64_t)4095))
                return bd_error_new(BD_ERR_PROTOCOL,
                                    "pid %d: its libbdagent mapping is not a beacon's size", pid);
        out->file = v->file, out->start = v->start, out->len = v->end - v->start;
        if (!(out->contents = malloc((size_t)out->len)))
                return &bd_error_nomem;
        struct bd_agent_view view;
        struct bd_error *err =
            bd_user_pages_peek(pages, out->start, out->contents, (size_t)out->len);
        if (!err)
                err = bd_agent_check(out->contents, (size_t)out->len, out->start, vs, &view);
        if (err)
                return bd_error_wrap(err, "pid %d: its libbdagent beacon", pid);
        const struct bd_agent_beacon *b = &view.b;
        out->st.present = 1;
        memcpy(out->st.name, b->name, sizeof(out->st.name));
        out->st.commits = b->commits;
        out->signal = b->signal;
        /* The threads that were inside a request. */
        struct bd_agent_beacon *img = (struct bd_agent_beacon *)out->contents;
        for (uint32_t i = 0; i < b->nthreads; i++) {
                struct bd_agent_thread *t = &img->thread[i];
                if (!b->thread[i].inside)
                        continue;
                if (has_thread(ts, b->thread[i].tid)) {
                        out->tid[out->ntids++] = b->thread[i].tid;
                } else {
                        t->inside = 0;
                        out->st.threads_gone++;
                }
        }
        img->in_request =
            b->in_request > out->st.threads_gone ? b->in_request - out->st.threads_gone : 0;
        img->resurrected = b->resurrected + 1;
        /* A reader's pin dies with the host: no commit waits for it. */
        img->pin = 0;
        img->rolled_back = out->ntids;
        out->st.rolled_back = out->ntids;
        return out->ntids ? read_committed(b, vs, pages, out) : NULL;
}

int bd_agent_image_overlaps(const struct bd_agent_image *ai, uint64_t va, uint64_t len)
{
        for (size_t i = 0; i < ai->nregions; i++)
                if (va < ai->region[i].live + ai->region[i].len && ai->region[i].live < va + len)
                        return 1;
        return 0;
}

void bd_agent_image_patch(const struct bd_agent_image *ai, uint64_t va, uint8_t *buf, uint64_t len)
{
        for (size_t i = 0; i < ai->nregions; i++) {
                uint64_t lo = ai->region[i].live, hi = lo + ai->region[i].len;
                lo = lo > va ? lo : va;
                hi = hi < va + len ? hi : va + len;
                if (lo < hi)
                        memcpy(buf + (lo - va), ai->region[i].bytes + (lo - ai->region[i].live),
                               (size_t)(hi - lo));
        }
}

int bd_agent_image_signals(const struct bd_agent_image *ai, int32_t tid)
{
        for (size_t i = 0; i < ai->ntids; i++)
                if (ai->tid[i] == tid)
                        return 1;
        return 0;
}

struct bd_error *bd_agent_image_write(struct bd_criu_dir *dir, const struct bd_agent_image *ai,
                                      uint32_t shmid, uint32_t pages_id, uint32_t uid, uint32_t gid)
{
        char name[64], memfd[sizeof(BD_AGENT_MEMFD_PREFIX) + BD_AGENT_NAME_MAX];
        snprintf(memfd, sizeof(memfd), "%s%s", BD_AGENT_MEMFD_PREFIX, ai->st.name);
        MemfdInodeEntry ie = MEMFD_INODE_ENTRY__INIT;
        ie.name = memfd, ie.uid = uid, ie.gid = gid;
        ie.size = ai->len, ie.shmid = shmid, ie.seals = F_SEAL_SEAL_;
        ie.inode_id = 1;
        const ProtobufCMessage *msg = &ie.base;
        struct bd_error *err =
            bd_criu_img_write(dir, "memfd.img", BD_CRIU_MAGIC_MEMFD_INODE, &msg, 1);
        if (err)
                return err;
        /* Its pages by offset in the memfd, not by address. */
        PagemapHead head = PAGEMAP_HEAD__INIT;
        head.pages_id = pages_id;
        PagemapEntry e = PAGEMAP_ENTRY__INIT;
        e.vaddr = 0, e.nr_pages = (uint32_t)(ai->len / 4096);
        e.has_flags = 1, e.flags = BD_CRIU_PE_PRESENT;
        const ProtobufCMessage *msgs[2] = {&head.base, &e.base};
        snprintf(name, sizeof(name), "pagemap-shmem-%u.img", shmid);
        err = bd_criu_img_write(dir, name, BD_CRIU_MAGIC_PAGEMAP, msgs, 2);
        int fd = -1;
        snprintf(name, sizeof(name), "pages-%u.img", pages_id);
        if (!err)
                err = bd_criu_raw_open(dir, name, &fd);
        if (!err)
                err = bd_criu_raw_write(fd, ai->contents, (size_t)ai->len);
        if (fd >= 0 && close(fd) && !err)
                err = bd_error_new(BD_ERR_IO, "images: %s: write failed", name);
        return err;
}

void bd_agent_image_free(struct bd_agent_image *ai)
{
        for (size_t i = 0; i < ai->nregions; i++)
                free(ai->region[i].bytes);
        free(ai->contents);
        memset(ai, 0, sizeof(*ai));
}
