/* One watched target of `bdmon watch`: its source, its kernel, the probe
 * and the classifier, and the recovery around them. A watcher never gives
 * up: a NIC that stops answering is reconnected, a kernel that vanished
 * (reboot) is looked for again, and the classifier is told what happened
 * through the samples it is fed.
 *
 * A watcher is stepped by one thread only (workers.h gives each target
 * its own); others see it through bd_watcher_summarize().
 *
 * With a repair policy (--repair, repair/policy.h) an alarm may start a
 * repair script. It runs in the target's thread, a step at a time
 * (bd_watcher_repair_step()): loading the script, each plan, each apply
 * and each verify is one step (milliseconds; a walk of every task at
 * most), and the pauses between verifies are spent probing, so the
 * target goes on being probed while a repair waits for its effect. A
 * target runs one repair at a time; an alarm that comes while one runs
 * starts none. */
#ifndef BD_WATCH_H
#define BD_WATCH_H

#include <stdint.h>

#include "../../common/error.h"
#include "classify.h"
#include "../source/phys.h"
#include "probe.h"
#include "../kernel/program.h"
#include "../repair/policy.h"
#include "../repair/run.h"
#include "../source/target.h"

/* Probe round-trip histogram buckets, seconds (Prometheus "le"). */
#define BD_WATCH_RTT_BUCKETS 12
extern const double bd_watch_rtt_bounds[BD_WATCH_RTT_BUCKETS];
/* How far behind its schedule a probe started, seconds: a monitor with
 * more targets than it can serve shows here first. */
#define BD_WATCH_LATE_BUCKETS 9
extern const double bd_watch_late_bounds[BD_WATCH_LATE_BUCKETS];

struct bd_watch_options {
        struct bd_open_options open;
        struct bd_program_options prog;
        uint64_t interval_ns;
        uint64_t hung_every_ns; /* slow scan period, 0: never */
        struct bd_classify_config cls;
        /* --repair, or NULL; its mode=apply rules write when
         * open.write_enabled. */
        const struct bd_policy *policy;
};

/* The states a policy may name (those a kernel can be read in), for
 * bd_policy_parse(): out receives BD_WATCH_POLICY_STATES entries. */
#define BD_WATCH_POLICY_STATES 7
void bd_watch_policy_states(struct bd_policy_state out[BD_WATCH_POLICY_STATES]);

enum bd_watch_repair_state { BD_WATCH_REPAIR_IDLE, BD_WATCH_REPAIR_RUNNING, BD_WATCH_REPAIR_ENDED };

/* The repair a watcher runs or ran last. */
struct bd_watch_repair {
        enum bd_watch_repair_state state;
        const struct bd_policy_rule *rule;            /* NULL: none yet */
        struct bd_event event;                        /* the alarm it answers */
        char incident[1200];                          /* where its record goes, "" for none */
        int apply;                                    /* mode=apply and --write */
        char args[BD_REPAIR_MAX_ARGS][BD_POLICY_ARG]; /* expanded */
        char *argv[BD_REPAIR_MAX_ARGS];
        char path[1200]; /* the script found */
        struct bd_repair_script *script;
        struct bd_repair_run run; /* its plan, rounds and verdict */
        struct bd_error *err;     /* what ended it early, or NULL */
        char verdict[16];         /* once ended: planned, error, or the run's verdict */
        unsigned attempt;         /* 1 for the alarm's first run, then 2, 3... */
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
        uint64_t found_ns;       /* monitor time the kernel was last found */
        uint64_t rescan_wait_ns; /* before the next search if it goes again soon */
        uint64_t probes, probe_errors, reopens;
        uint64_t rtt_count[BD_WATCH_RTT_BUCKETS + 1]; /* the last one: +Inf */
        double rtt_sum_s;
        uint64_t late_count[BD_WATCH_LATE_BUCKETS + 1];
        double late_sum_s;
        uint64_t oops_announced; /* since_ns of the oops last alarmed on, 0 */
        int open_error;          /* enum bd_err of the last failed connect or kernel search, 0 */
        unsigned reboots_seen;   /* the classifier's count, when the kernel was last dropped */
        struct bd_program_gone gone; /* kernels reboots replaced, and dead copies */
        char note[256];              /* why the watcher has no kernel right now, "" if it has */
        /* The first healthy sample of this boot's limits (${baseline.*}):
         * what a repair may restore after a fault changed them. */
        struct {
                int have;
                int64_t max_threads, pid_max, max_files;
        } baseline;
        uint64_t rule_ran[BD_POLICY_MAX_RULES]; /* monitor time a rule last ran here, 0: never */
        struct bd_watch_repair repair;
        /* The alarm now told: whether there is one, and its incident ("":
         * none), for the repairs run again while it holds. */
        int alarming;
        char alarm_incident[sizeof(((struct bd_watch_repair *)0)->incident)];
};

/* What the live view and the metrics show of a watcher: copied out of it
 * by its own thread after each step, so that they never read a watcher
 * while it is being stepped. */
struct bd_watcher_summary {
        char name[sizeof(((struct bd_target *)0)->name)];
        enum bd_state state;
        uint64_t probes, probe_errors;
        uint64_t rtt_count[BD_WATCH_RTT_BUCKETS + 1];
        double rtt_sum_s;
        uint64_t late_count[BD_WATCH_LATE_BUCKETS + 1];
        double late_sum_s;
        uint64_t rtt_ns; /* the last probe's */
        unsigned ncpus;
        char cpu_mark[BD_PROBE_MAX_CPUS]; /* '-' absent, '!' stuck, '.' idles, '*' runs a task */
        char note[sizeof(((struct bd_watcher *)0)->note)];
};

void bd_watcher_summarize(const struct bd_watcher *w, struct bd_watcher_summary *s);

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

/* The numbers a rule's arguments may name, as w knows them for ev. */
void bd_watcher_vars(const struct bd_watcher *w, const struct bd_event *ev,
                     struct bd_policy_vars *v);
/* Start the repair the policy calls for on ev, an alarm just told whose
 * incident (NULL: none) is to hold its record: the first rule matching ev,
 * if its rate limit allows it at now and no repair runs. 1 if one
 * started; bd_watcher_repair_step() then runs it. */
int bd_watcher_repair_start(struct bd_watcher *w, const struct bd_event *ev, const char *incident,
                            uint64_t now);
/* While the alarm last told holds (the verdict has not changed since,
 * whatever a repair said), its rule runs again once the rule's rate limit
 * allows at now: attempt 2, 3... of a repair that could not finish (a fork
 * bomb whose members outran it), or the first when the limit refused it at
 * the alarm. The next alarm never comes while the state holds. 1 if one
 * started. */
int bd_watcher_repair_again(struct bd_watcher *w, uint64_t now);
/* Do the repair's next step if due at now; 1 when it has ended
 * (w->repair says how). */
int bd_watcher_repair_step(struct bd_watcher *w, uint64_t now);
/* End a running repair before its time, saying why; 1 if one ran. */
int bd_watcher_repair_stop(struct bd_watcher *w, const char *why);

#endif
