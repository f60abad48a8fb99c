#include "watch.h"

#include <stdio.h>
#include <string.h>

#include "../../common/clock.h"

const double bd_watch_rtt_bounds[BD_WATCH_RTT_BUCKETS] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0,
};

/* A source or kernel that failed is tried again this often: a dead NIC or
 * a booting kernel must not be hammered, nor wait long once back. */
#define REOPEN_NS 1000000000ull

void bd_watcher_init(struct bd_watcher *w, const struct bd_target *t,
                     const struct bd_watch_options *opt)
{
        memset(w, 0, sizeof(*w));
        w->target = *t;
        w->opt = *opt;
        bd_classifier_init(&w->cls, &opt->cls);
        snprintf(w->note, sizeof(w->note), "not connected yet");
}

static void drop_kernel(struct bd_watcher *w)
{
        bd_probe_close(w->probe);
        bd_program_close(w->prog);
        w->probe = NULL;
        w->prog = NULL;
}

static void drop_source(struct bd_watcher *w)
{
        drop_kernel(w);
        bd_phys_close(w->phys);
        w->phys = NULL;
}

/* The kernel is gone (rebooted): look for one that is not it. Its
 * VMCOREINFO copies may still lie in memory, first in a plain scan. */
static void forget_kernel(struct bd_watcher *w)
{
        if (w->prog) {
                w->replaced = w->prog->vi;
                w->opt.prog.replaced = &w->replaced;
        }
        drop_kernel(w);
}

void bd_watcher_close(struct bd_watcher *w)
{
        drop_source(w);
}

enum bd_state bd_watcher_state(const struct bd_watcher *w)
{
        return w->probes || w->probe_errors ? w->event.state : BD_STATE_UNKNOWN;
}

uint64_t bd_watcher_due(const struct bd_watcher *w)
{
        return w->probe ? w->next_probe_ns : w->next_open_ns;
}

/* Feed the classifier a failed probe of the given kind. */
static int feed_error(struct bd_watcher *w, int code, uint64_t now)
{
        struct bd_probe_sample s;
        memset(&s, 0, sizeof(s));
        s.t_ns = now;
        s.read_error = code;
        w->probe_errors++;
        w->last = s;
        return bd_classifier_feed(&w->cls, &s, &w->event);
}

/* Connect and find the kernel; on failure say why and when to retry. */
static int open_kernel(struct bd_watcher *w, uint64_t now, int *changed)
{
        struct bd_error *err = NULL;
        *changed = 0;
        w->next_open_ns = now + REOPEN_NS;
        if (!w->phys && (err = bd_target_open(&w->target, &w->opt.open, &w->phys))) {
                snprintf(w->note, sizeof(w->note), "%s", err->message);
                int code = err->code;
                bd_error_destroy(err);
                w->open_error = code;
                /* Whatever kept us from the NIC, the target is out of reach. */
                *changed = feed_error(w, code == BD_ERR_UNREACHABLE ? code : BD_ERR_IO, now);
                return -1;
        }
        if (!(err = bd_program_open(w->phys, &w->opt.prog, &w->prog)))
                err = bd_probe_open(w->prog, &w->probe);
        if (err) {
                snprintf(w->note, sizeof(w->note), "%s", err->message);
                int code = err->code;
                bd_error_destroy(err);
                w->open_error = code;
                drop_kernel(w);
                /* The NIC answered: the kernel is what is missing. */
                if (bd_err_transport(code))
                        drop_source(w);
                *changed = feed_error(w, code, now);
                return -1;
        }
        /* The kernel after a reboot, whose first verdict may well be
         * "rebooted" again. */
        w->new_kernel = w->opt.prog.replaced != NULL;
        w->opt.prog.replaced = NULL;
        w->opt.prog.rescan = 0;
        w->note[0] = '\0';
        w->open_error = 0;
        w->reopens++;
        w->next_probe_ns = now;
        w->next_hung_ns = now;
        return 0;
}

static void count_rtt(struct bd_watcher *w, uint64_t rtt_ns)
{
        double s = (double)rtt_ns / 1e9;
        unsigned b = 0;
        while (b < BD_WATCH_RTT_BUCKETS && s > bd_watch_rtt_bounds[b])
                b++;
        w->rtt_count[b]++;
        w->rtt_sum_s += s;
}

int bd_watcher_step(struct bd_watcher *w, uint64_t now)
{
        int changed;
        if (!w->probe) {
                if (now < w->next_open_ns)
                        return 0;
                if (open_kernel(w, now, &changed))
                        return changed;
        }
        if (now < w->next_probe_ns)
                return 0;
        struct bd_probe_sample s;
        bd_probe_read(w->probe, &s);
        /* Jitter-tolerant: the next probe is due one interval after this
         * one was due, but never in a burst to catch up. */
        w->next_probe_ns += w->opt.interval_ns;
        if (w->next_probe_ns < s.t_ns)
                w->next_probe_ns = s.t_ns + w->opt.interval_ns;
        if (s.read_error) {
                w->probe_errors++;
                if (bd_err_transport(s.read_error)) {
                        /* The connection may be dead: reconnect from scratch. */
                        snprintf(w->note, sizeof(w->note), "probe failed: %s",
                                 bd_err_name(s.read_error));
                        drop_source(w);
                        w->next_open_ns = s.t_ns + REOPEN_NS / 10;
                } else if (s.read_error == BD_ERR_NOT_FOUND) {
                        /* VMCOREINFO moved or vanished: find the new kernel. */
                        snprintf(w->note, sizeof(w->note),
                                 "the kernel's VMCOREINFO changed (reboot?): looking for it");
                        forget_kernel(w);
                        w->next_open_ns = s.t_ns + REOPEN_NS / 10;
                }
                w->last = s;
                return bd_classifier_feed(&w->cls, &s, &w->event);
        }
        w->probes++;
        count_rtt(w, s.rtt_ns);
        /* The task walk is dear (a round trip per tree level, then every
         * task): only when the runqueues count tasks in D, or to see a hung
         * one gone. */
        if (w->opt.hung_every_ns && s.t_ns >= w->next_hung_ns &&
            (s.nr_uninterruptible > 0 || w->cls.hung)) {
                struct bd_error *err = bd_probe_scan_hung(w->probe, &s);
                /* A scan that fails (a task list changing under it) only
                 * means no verdict on hung tasks this time. */
                bd_error_destroy(err);
                w->next_hung_ns = bd_now_ns() + w->opt.hung_every_ns;
        }
        w->last = s;
        int verdict = bd_classifier_feed(&w->cls, &s, &w->event);
        if (verdict && w->event.state == BD_STATE_REBOOTED && !w->new_kernel) {
                /* The addresses probed are the old kernel's: find the new
                 * one before reading anything more. */
                snprintf(w->note, sizeof(w->note), "looking for the new kernel");
                forget_kernel(w);
                w->next_open_ns = s.t_ns + REOPEN_NS / 10;
        }
        if (verdict && w->event.state != BD_STATE_UNKNOWN)
                w->new_kernel = 0;
        return verdict;
}
