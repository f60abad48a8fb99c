#include "record.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Appends to buf while it has room; a line cut short is still a line. */
struct line {
        char *buf;
        size_t cap, len;
};

static void put(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct line *l, const char *fmt, ...)
{
        if (l->len + 1 >= l->cap)
                return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(l->buf + l->len, l->cap - l->len - 1, fmt, ap);
        va_end(ap);
        if (n > 0)
                l->len += (size_t)n < l->cap - l->len - 1 ? (size_t)n : l->cap - l->len - 2;
}

size_t bd_record_line(const struct bd_watcher *w, char *buf, size_t cap)
{
        const struct bd_probe_sample *s = &w->last;
        struct line l = {buf, cap, 0};
        put(&l,
            "%s t=%" PRIu64 " rtt=%" PRIu64 " err=%d jiffies=%" PRIu64 " panic_cpu=%d "
            "oops=%d taint=%#" PRIx64 " state=%d threads=%" PRId64 "/%" PRId64 " pid_max=%" PRId64
            " files=%" PRId64 "/%" PRId64 " free=%" PRId64 "/%" PRId64 " oom=%" PRIu64,
            w->target.name, s->t_ns, s->rtt_ns, s->read_error, s->jiffies, (int)s->panic_cpu,
            (int)s->oops_in_progress, s->tainted_mask, (int)s->system_state, s->nr_threads,
            s->max_threads, s->pid_max, s->nr_files, s->max_files, s->free_pages, s->min_free_pages,
            s->oom_kills);
        if (s->hung_scanned)
                put(&l, " hung=%d/%" PRIu64, (int)s->hung_pid, s->hung_ns);
        if (s->suspicious)
                put(&l, " suspicious=1");
        for (unsigned c = 0; c < s->ncpus && c < BD_PROBE_MAX_CPUS; c++) {
                const struct bd_probe_cpu *q = &s->cpu[c];
                put(&l,
                    " cpu%u=%d,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%u,%d,%" PRIu64 ",%" PRIu64
                    ",%" PRIu64 ",%" PRIu64,
                    c, q->present, q->clock, q->nr_switches, q->timer_irqs, q->nr_running,
                    q->curr == q->idle, q->hrtimer_interrupts, q->touch_ts, q->idle_since,
                    q->wake_at);
        }
        if (l.cap) {
                l.buf[l.len++] = '\n';
                l.buf[l.len] = '\0';
        }
        return l.len;
}

void bd_record_queue_init(struct bd_record_queue *q)
{
        memset(q, 0, sizeof(*q));
        pthread_mutex_init(&q->lock, NULL);
}

void bd_record_queue_push(struct bd_record_queue *q, const struct bd_watcher *w)
{
        char line[BD_RECORD_LINE_MAX];
        size_t n = bd_record_line(w, line, sizeof(line));
        pthread_mutex_lock(&q->lock);
        if (q->len + n > q->cap && q->len + n <= BD_RECORD_QUEUE_MAX) {
                size_t cap = q->cap ? q->cap : 1u << 16;
                while (cap < q->len + n)
                        cap *= 2;
                char *grown = realloc(q->buf, cap);
                if (grown) {
                        q->buf = grown;
                        q->cap = cap;
                }
        }
        if (q->len + n <= q->cap) {
                memcpy(q->buf + q->len, line, n);
                q->len += n;
        } else {
                q->dropped++;
        }
        pthread_mutex_unlock(&q->lock);
}

int bd_record_queue_write(struct bd_record_queue *q, FILE *f, uint64_t *dropped)
{
        /* The queue's buffer is taken whole and a fresh one starts: the
         * threads go on queueing while this one writes. */
        pthread_mutex_lock(&q->lock);
        char *buf = q->buf;
        size_t len = q->len;
        *dropped = q->dropped;
        q->buf = NULL;
        q->len = q->cap = 0;
        q->dropped = 0;
        pthread_mutex_unlock(&q->lock);
        int rc = len && fwrite(buf, 1, len, f) != len ? -1 : 0;
        free(buf);
        return fflush(f) || rc ? -1 : 0;
}

void bd_record_queue_destroy(struct bd_record_queue *q)
{
        free(q->buf);
        pthread_mutex_destroy(&q->lock);
}
