/* What `bdmon watch` keeps of a failure: a directory per alarm holding the
 * event, the kernel's log as read at that moment and, where there is one,
 * the panic or oops report cut out of it. Written under a temporary name
 * and renamed, so a reader never sees half an incident. A target can raise
 * alarms at will, so incidents are limited: so many a minute per target,
 * so many bytes in the directory, the log within its budget (budget.h). */
#ifndef BD_INCIDENT_H
#define BD_INCIDENT_H

#include <stddef.h>

#include "../../common/error.h"
#include "../kernel/program.h"
#include "event.h"
#include "watch.h"

/* The limits of incidents, the same for every target of a watch. */
struct bd_incident_limits {
        /* Incidents one target may raise in any minute, at least 1: the
         * next ones are not saved, each with an error saying why. */
        unsigned per_minute;
        /* Bytes the incident directory may hold (its incidents' files): an
         * incident that would pass it is not saved. The ones there are
         * never removed, so the first evidence stays: the operator makes
         * room. */
        uint64_t quota;
};

#define BD_INCIDENT_PER_MINUTE     10
#define BD_INCIDENT_PER_MINUTE_MAX 1000
#define BD_INCIDENT_QUOTA          (1ull << 30)

/* Limits for the incidents from now on (bdmon watch's --incident-rate and
 * --incident-quota); the defaults above until then. Forgets what each
 * target raised so far. */
void bd_incident_set_limits(const struct bd_incident_limits *l);

/* Write DIR/NAME/{event.json,dmesg.txt,report.txt}; event_json is one
 * JSON object and its newline. prog may be NULL (no kernel to read: only
 * the event is kept). The log is read within prog's budget for it; when
 * the ring is larger, dmesg.txt starts with a line saying what was read.
 * Fails with BD_ERR_RANGE, leaving nothing, when the incident would take
 * DIR past the quota. path receives DIR/NAME. */
struct bd_error *bd_incident_write(const char *dir, const char *name, struct bd_program *prog,
                                   const char *event_json, char *path, size_t cap);

/* The incident of ev, w's event, under dir: named TARGET-TIME-STATE (TIME
 * as bd_wallclock_iso() with date; '/' becomes '_' and ':' '-'), holding
 * ev's JSON (bd_event_write_json() without an incident) and w's kernel log
 * (bd_incident_write()). Fails with BD_ERR_RANGE, before reading anything,
 * when w's target already raised the most incidents a minute allows by
 * ev->t_ns (monitor time); every capture let through counts. path
 * receives its directory, "" on error. */
struct bd_error *bd_incident_capture(const char *dir, const struct bd_watcher *w,
                                     const struct bd_event *ev, const struct bd_wallclock *clk,
                                     char *path, size_t cap);

/* Add the record of w's repair (w->repair, just ended) to its incident:
 * INCIDENT/repair.json, bd_event_write_repair_json() with the plan, under
 * a temporary name renamed when whole. path receives the file's path, ""
 * on error. */
struct bd_error *bd_incident_add_repair(const char *incident, const struct bd_watcher *w,
                                        const struct bd_wallclock *clk, char *path, size_t cap);

/* Where a failure report starts in a log: the first line of the last
 * report's opening lines (an oops, a panic, a lockup or hung-task splat),
 * or -1 if the log holds none. Exposed for tests. */
struct bd_printk_log;
long bd_incident_report_start(const struct bd_printk_log *log);

#endif
