#include "agent.h"

#include <inttypes.h>
#include <string.h>

#include "tasks.h"
#include "user_mem.h"

int bd_agent_mapping(const char *path)
{
        /* A memfd's dentry is at the root of the kernel's internal shmem
         * mount, so its path is its name. */
        static const char want[] = "/memfd:" BD_AGENT_MEMFD_PREFIX;
        return !strncmp(path, want, sizeof(want) - 1) && !strchr(path + 1, '/');
}

static struct bd_error *bad(uint64_t at, const char *what)
{
        return bd_error_new(BD_ERR_PROTOCOL, "libbdagent beacon at 0x%" PRIx64 ": %s", at, what);
}

struct bd_error *bd_agent_check(const void *buf, size_t len, uint64_t at, const struct bd_vmas *vs,
                                struct bd_agent_view *out)
{
        struct bd_agent_beacon *b = &out->b;
        out->beacon = at;
        if (len < sizeof(*b))
                return bad(at, "shorter than a beacon");
        memcpy(b, buf, sizeof(*b));
        if (b->magic != BD_AGENT_MAGIC)
                return bad(at, "no beacon magic");
        if (b->version != BD_AGENT_VERSION || b->size != sizeof(*b))
                return bad(at, "a version or size this monitor does not read");
        if (!bd_agent_name_ok(b->name))
                return bad(at, "its name is not one the library writes");
        if (b->pid <= 0 || (uint32_t)b->pid > BD_PID_MAX_LIMIT)
                return bad(at, "its pid is out of range");
        if (b->signal < 32 || b->signal > 64)
                return bad(at, "its signal is not a real-time signal");
        if (b->nregions > BD_AGENT_MAX_REGIONS)
                return bad(at, "more regions than the library registers");
        if (b->nthreads > BD_AGENT_MAX_THREADS)
                return bad(at, "more threads than the library lists");
        if (b->committed > 1 && !(b->committed == BD_AGENT_NONE && !b->nregions))
                return bad(at, "its committed slot is neither 0 nor 1");
        for (uint32_t i = 0; i < b->nregions; i++) {
                const struct bd_agent_region *r = &b->region[i];
                if (!bd_agent_name_ok(r->name))
                        return bad(at, "a region's name is not one the library writes");
                if (!r->len || r->len > BD_AGENT_REGION_MAX)
                        return bad(at, "a region's length is out of range");
                if (!bd_vmas_holding(vs, r->live, r->len))
                        return bad(at, "a region lies outside the process's mappings");
                for (int s = 0; s < 2; s++) {
                        const struct bd_vma *v = bd_vmas_holding(vs, r->slot[s], r->len);
                        if (!v || v->file ||
                            (v->flags & (BD_VM_WRITE | BD_VM_SHARED)) != BD_VM_WRITE)
                                return bad(at, "a region's copy is not in private writable memory");
                }
        }
        for (uint32_t i = 0; i < b->nthreads; i++) {
                const struct bd_agent_thread *t = &b->thread[i];
                /* tid 0: an entry its thread has claimed but not yet
                 * filled in (a live process read mid-way). */
                if (t->tid < 0 || (uint32_t)t->tid > BD_PID_MAX_LIMIT || t->inside > 1)
                        return bad(at, "a thread's entry is malformed");
        }
        return NULL;
}

const struct bd_vma *bd_agent_vma(const struct bd_vmas *vs)
{
        for (size_t i = 0; i < vs->n; i++)
                if (vs->v[i].file && bd_agent_mapping(vs->v[i].name))
                        return &vs->v[i];
        return NULL;
}

struct bd_error *bd_agent_read(struct bd_program *prog, int32_t pid, struct bd_agent_view *out)
{
        struct bd_vmas *vs = NULL;
        struct bd_user_mm um;
        struct bd_error *err = bd_vmas_read(prog, pid, &vs);
        if (!err)
                err = bd_user_mm_of_pid(prog, pid, &um);
        if (err) {
                bd_vmas_free(vs);
                return err;
        }
        const struct bd_vma *v = bd_agent_vma(vs);
        struct bd_agent_beacon buf;
        if (!v)
                err = bd_error_new(BD_ERR_NOT_FOUND,
                                   "pid %d maps no libbdagent beacon (no memfd named "
                                   "'" BD_AGENT_MEMFD_PREFIX "NAME')",
                                   pid);
        else if (v->end - v->start < sizeof(buf))
                err = bd_error_new(BD_ERR_PROTOCOL,
                                   "pid %d: its libbdagent mapping is smaller than a beacon", pid);
        else if ((err = bd_user_read(prog, &um, v->start, &buf, sizeof(buf))) ||
                 (err = bd_agent_check(&buf, sizeof(buf), v->start, vs, out)))
                err = bd_error_wrap(err, "pid %d", pid);
        bd_vmas_free(vs);
        return err;
}
