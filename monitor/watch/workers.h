/* The threads of `bdmon watch`: one per target, each stepping its own
 * watcher (connect, probe, judge, repair) and sleeping until it is due
 * again, so that a target whose NIC is gone (a connect that waits), whose
 * kernel must be looked for again (a scan) or whose incident is being
 * captured holds up no other target. What the other threads may see of a
 * watcher is its summary, published after each step.
 *
 * The hooks run in the target's thread: never two at once for one target,
 * concurrently for different targets, so what they share (standard
 * output, the live view, the incident directory) is theirs to lock. */
#ifndef BD_WORKERS_H
#define BD_WORKERS_H

#include <stddef.h>

#include "../../common/error.h"
#include "watch.h"

struct bd_watch_hooks {
        /* After the first step (the first contact): changed as
         * bd_watcher_step() said. Non-zero ends the watch with that code. */
        int (*first)(void *arg, struct bd_watcher *w, int changed);
        /* A probe answered or failed: w->last is it. */
        void (*sample)(void *arg, const struct bd_watcher *w);
        /* The verdict changed (w->event), or a repair ended (w->repair).
         * Non-zero ends the watch with that code. */
        int (*event)(void *arg, struct bd_watcher *w);
        int (*repair)(void *arg, struct bd_watcher *w);
        void *arg;
};

struct bd_workers;

/* Start a thread for each of the n watchers w (initialized, not yet
 * stepped). */
struct bd_error *bd_workers_start(struct bd_watcher *w, size_t n, const struct bd_watch_hooks *h,
                                  struct bd_workers **out);
/* Copy the n summaries as last published into out. */
void bd_workers_summaries(struct bd_workers *ws, struct bd_watcher_summary *out);
/* Non-zero once a hook ended the watch: its code. */
int bd_workers_failed(struct bd_workers *ws);
/* Wake every thread and end it: a repair still running is stopped, saying
 * why, and its end told to the repair hook. Then join them and free ws;
 * returns the first non-zero code of a hook, or 0. */
int bd_workers_stop(struct bd_workers *ws, const char *why);

#endif
