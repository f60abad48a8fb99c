/* The threads of `bdmon watch`: see workers.h. */
#include "workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/clock.h"

/* Enough for the deepest step (a repair script's Lua, an incident's
 * views, libbpf parsing BTF) with the sanitizers' redzones; it is address
 * space, touched only as deep as a thread goes. */
#define WORKER_STACK (8u << 20)

struct worker {
        struct bd_workers *ws;
        struct bd_watcher *w;
        pthread_t thread;
        int started;
        /* Guards shown; with wake, its thread's sleep: a lock and a
         * condition each, as a thousand threads sharing one would queue
         * for it at every wake. */
        pthread_mutex_t lock;
        pthread_cond_t wake;
        struct bd_watcher_summary shown;
};

struct bd_workers {
        struct bd_watch_hooks h;
        size_t n;
        struct worker *k;
        pthread_mutex_t lock; /* guards failed and why */
        int stop;             /* atomic: set once, then each thread is woken */
        int failed;
        char why[128];
};

static void publish(struct worker *k)
{
        struct bd_watcher_summary s;
        bd_watcher_summarize(k->w, &s);
        pthread_mutex_lock(&k->lock);
        k->shown = s;
        pthread_mutex_unlock(&k->lock);
}

static int stopping(struct bd_workers *ws)
{
        return __atomic_load_n(&ws->stop, __ATOMIC_ACQUIRE);
}

/* End the watch: every thread is told and woken. */
static void stop_all(struct bd_workers *ws)
{
        __atomic_store_n(&ws->stop, 1, __ATOMIC_RELEASE);
        for (size_t i = 0; i < ws->n; i++) {
                pthread_mutex_lock(&ws->k[i].lock);
                pthread_cond_signal(&ws->k[i].wake);
                pthread_mutex_unlock(&ws->k[i].lock);
        }
}

/* Record the first hook's code and end the watch. */
static void fail(struct bd_workers *ws, int rc)
{
        pthread_mutex_lock(&ws->lock);
        if (!ws->failed)
                ws->failed = rc;
        pthread_mutex_unlock(&ws->lock);
        stop_all(ws);
}

/* Sleep until monitor time due, or until the watch ends; 1 if it ended. */
static int sleep_until(struct worker *k, uint64_t due)
{
        struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
        pthread_mutex_lock(&k->lock);
        while (!stopping(k->ws) && bd_now_ns() < due)
                if (pthread_cond_timedwait(&k->wake, &k->lock, &ts) == ETIMEDOUT)
                        break;
        pthread_mutex_unlock(&k->lock);
        return stopping(k->ws);
}

static void *run(void *arg)
{
        struct worker *k = arg;
        struct bd_workers *ws = k->ws;
        struct bd_watcher *w = k->w;
        const struct bd_watch_hooks *h = &ws->h;
        int changed = bd_watcher_step(w, bd_now_ns());
        publish(k);
        int rc = h->first(h->arg, w, changed);
        while (!rc && !sleep_until(k, bd_watcher_due(w))) {
                uint64_t seen = w->probes + w->probe_errors;
                changed = bd_watcher_step(w, bd_now_ns());
                if (w->probes + w->probe_errors != seen && h->sample)
                        h->sample(h->arg, w);
                if (changed)
                        rc = h->event(h->arg, w);
                if (!rc && bd_watcher_repair_step(w, bd_now_ns()))
                        rc = h->repair(h->arg, w);
                else if (!rc)
                        bd_watcher_repair_again(w, bd_now_ns());
                publish(k);
        }
        if (rc) {
                fail(ws, rc);
                return NULL;
        }
        /* A repair cut short is told too: some of its writes may be made. */
        pthread_mutex_lock(&ws->lock);
        char why[sizeof(ws->why)];
        memcpy(why, ws->why, sizeof(why));
        pthread_mutex_unlock(&ws->lock);
        if (bd_watcher_repair_stop(w, why) && (rc = h->repair(h->arg, w)))
                fail(ws, rc);
        publish(k);
        return NULL;
}

struct bd_error *bd_workers_start(struct bd_watcher *w, size_t n, const struct bd_watch_hooks *h,
                                  struct bd_workers **out)
{
        struct bd_workers *ws = calloc(1, sizeof(*ws));
        if (!ws || !(ws->k = calloc(n ? n : 1, sizeof(*ws->k)))) {
                free(ws);
                return &bd_error_nomem;
        }
        ws->h = *h;
        ws->n = n;
        snprintf(ws->why, sizeof(ws->why), "the watch stopped");
        pthread_mutex_init(&ws->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, WORKER_STACK);
        struct bd_error *err = NULL;
        for (size_t i = 0; i < n; i++) {
                struct worker *k = &ws->k[i];
                k->ws = ws;
                k->w = &w[i];
                pthread_mutex_init(&k->lock, NULL);
                pthread_cond_init(&k->wake, &ca);
                bd_watcher_summarize(k->w, &k->shown);
        }
        pthread_condattr_destroy(&ca);
        for (size_t i = 0; i < n && !err; i++) {
                int e = pthread_create(&ws->k[i].thread, &attr, run, &ws->k[i]);
                if (e)
                        err = bd_error_new(BD_ERR_INTERNAL,
                                           "watch: cannot start a thread for target %zu of %zu: %s",
                                           i + 1, n, strerror(e));
                else
                        ws->k[i].started = 1;
        }
        pthread_attr_destroy(&attr);
        if (err) {
                bd_workers_stop(ws, "the watch could not start");
                return err;
        }
        *out = ws;
        return NULL;
}

void bd_workers_summaries(struct bd_workers *ws, struct bd_watcher_summary *out)
{
        for (size_t i = 0; i < ws->n; i++) {
                pthread_mutex_lock(&ws->k[i].lock);
                out[i] = ws->k[i].shown;
                pthread_mutex_unlock(&ws->k[i].lock);
        }
}

int bd_workers_failed(struct bd_workers *ws)
{
        pthread_mutex_lock(&ws->lock);
        int rc = ws->failed;
        pthread_mutex_unlock(&ws->lock);
        return rc;
}

int bd_workers_stop(struct bd_workers *ws, const char *why)
{
        pthread_mutex_lock(&ws->lock);
        if (!stopping(ws) && why)
                snprintf(ws->why, sizeof(ws->why), "%s", why);
        pthread_mutex_unlock(&ws->lock);
        stop_all(ws);
        for (size_t i = 0; i < ws->n; i++)
                if (ws->k[i].started)
                        pthread_join(ws->k[i].thread, NULL);
        int rc = ws->failed;
        for (size_t i = 0; i < ws->n; i++) {
                pthread_mutex_destroy(&ws->k[i].lock);
                pthread_cond_destroy(&ws->k[i].wake);
        }
        pthread_mutex_destroy(&ws->lock);
        free(ws->k);
        free(ws);
        return rc;
}
