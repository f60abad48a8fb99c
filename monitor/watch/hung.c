#include "hung.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/clock.h"
#include "../views/tasks.h"

/* include/linux/sched.h: the hung-task detector counts exactly this state
 * (not TASK_KILLABLE, not TASK_IDLE). Unchanged since Linux 2.6. */
#define TASK_UNINTERRUPTIBLE 0x0002u

/* A task seen in D by the slow scan. */
struct bd_hung_track {
        uint64_t addr;
        int32_t pid;
        uint64_t switches;
        uint64_t first_ns; /* monitor time it was first seen so */
};

/* Tracks are kept in this order, so that each task of a scan is found in
 * the last one's by a search: the target decides how many tasks are in D,
 * and a pass per task would cost their square. */
static int by_task(const void *a, const void *b)
{
        const struct bd_hung_track *x = a, *y = b;
        if (x->pid != y->pid)
                return x->pid < y->pid ? -1 : 1;
        return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static struct bd_hung_track *find_track(struct bd_hung_track *t, size_t n, uint64_t addr,
                                        int32_t pid)
{
        const struct bd_hung_track key = {.addr = addr, .pid = pid};
        return n ? bsearch(&key, t, n, sizeof(*t), by_task) : NULL;
}

struct bd_error *bd_hung_scan(struct bd_program *prog, struct bd_hung *h, struct bd_probe_sample *s)
{
        struct bd_tasks *ts;
        struct bd_error *err = bd_tasks_read(prog, 1, &ts);
        if (err)
                return bd_error_wrap(err, "hung-task scan");
        uint64_t now = bd_now_ns();
        size_t nd = 0;
        for (size_t i = 0; i < ts->n; i++)
                nd += ts->t[i].state == TASK_UNINTERRUPTIBLE && !ts->t[i].exit_state;
        struct bd_hung_track *next = nd ? calloc(nd, sizeof(*next)) : NULL;
        if (nd && !next) {
                bd_tasks_free(ts);
                return &bd_error_nomem;
        }
        size_t k = 0;
        s->hung_scanned = 1;
        s->hung_pid = 0;
        s->hung_ns = 0;
        for (size_t i = 0; i < ts->n; i++) {
                const struct bd_task *t = &ts->t[i];
                if (t->state != TASK_UNINTERRUPTIBLE || t->exit_state)
                        continue;
                uint64_t sw = t->nvcsw + t->nivcsw;
                const struct bd_hung_track *old = find_track(h->seen, h->nseen, t->addr, t->pid);
                int same = old && old->switches == sw;
                next[k] = (struct bd_hung_track){t->addr, t->pid, sw, same ? old->first_ns : now};
                /* Seen twice in D without a switch: then the time since it
                 * last ran counts, not only the time we have watched it. */
                if (same) {
                        uint64_t d = now - next[k].first_ns;
                        if (t->since_run_ns > 0 && (uint64_t)t->since_run_ns > d)
                                d = (uint64_t)t->since_run_ns;
                        if (d > s->hung_ns) {
                                s->hung_ns = d;
                                s->hung_pid = t->pid;
                                memcpy(s->hung_comm, t->comm, sizeof(s->hung_comm));
                        }
                }
                k++;
        }
        if (k)
                qsort(next, k, sizeof(*next), by_task);
        free(h->seen);
        h->seen = next;
        h->nseen = k;
        bd_tasks_free(ts);
        return NULL;
}

void bd_hung_free(struct bd_hung *h)
{
        free(h->seen);
        h->seen = NULL;
        h->nseen = 0;
}
