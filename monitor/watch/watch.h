/* One watched target of `bdmon watch`: its source, its kernel, the probe
 * and the classifier, and the recovery around them. A watcher never gives
 * up: a NIC that stops answering is reconnected, a kernel that vanished
 * (reboot) is looked for again, and the classifier is told what happened
 * through the samples it is fed. */
#ifndef BD_WATCH_H
#define BD_WATCH_H

#include <stdint.h>

#include "../../common/error.h"
#include "classify.h"
#include "../source/phys.h"
#include "probe.h"
#include "../kernel/program.h"
#include "../source/target.h"

/* Probe round-trip histogram buckets, seconds (Prometheus "le"). */
#define BD_WATCH_RTT_BUCKETS 12
extern const double bd_watch_rtt_bounds[BD_WATCH_RTT_BUCKETS];

struct bd_watch_options {
        struct bd_open_options open;
        struct bd_program_options prog;
        uint64_t interval_ns;
        uint64_t hung_every_ns; /* slow scan period, 0: never */
        struct bd_classify_config cls;
};

struct bd_watcher {
        struct bd_target target;
        struct bd_watch_options opt;
        struct bd_phys *phys;
        struct bd_program *prog;
        struct bd_probe *probe;
        struct bd_classifier cls;
        struct bd_probe_sample last; /* the last sample fed */
        struct bd_event event;       /* the last change of verdict */
        uint64_t next_probe_ns, next_hung_ns, next_open_ns;
        uint64_t probes, probe_errors, reopens;
        uint64_t rtt_count[BD_WATCH_RTT_BUCKETS + 1]; /* the last one: +Inf */
        double rtt_sum_s;
        uint64_t oops_announced; /* since_ns of the oops last alarmed on, 0 */
        int open_error;          /* enum bd_err of the last failed connect or kernel search, 0 */
        int new_kernel;          /* the kernel was found again after a reboot, no verdict yet */
        struct bd_vmcoreinfo replaced; /* the kernel a reboot replaced */
        char note[256];                /* why the watcher has no kernel right now, "" if it has */
};

void bd_watcher_init(struct bd_watcher *w, const struct bd_target *t,
                     const struct bd_watch_options *opt);
void bd_watcher_close(struct bd_watcher *w);
/* Do what is due at monitor time now (connect, probe, scan); 1 and
 * w->event filled when the verdict changed. */
int bd_watcher_step(struct bd_watcher *w, uint64_t now);
/* When the watcher next needs bd_watcher_step(). */
uint64_t bd_watcher_due(const struct bd_watcher *w);
/* The current verdict: w->event.state once a first sample was judged. */
enum bd_state bd_watcher_state(const struct bd_watcher *w);

#endif
