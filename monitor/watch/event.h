/* A watch event as people and programs get it: the text line and the JSON
 * object `bdmon watch` prints, whether the event is an alarm, and the hook
 * that hands an alarm to a command (--on-alarm). Where the output goes is
 * the front end's choice; nothing here prints an error, and writers to a
 * FILE leave checking the stream (ferror, fflush) to the caller.
 *
 * Strings go out as they are in the text line and the hook's environment,
 * task names read from the target included; the JSON escapes them. */
#ifndef BD_EVENT_H
#define BD_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "../../common/error.h"
#include "classify.h"
#include "watch.h"

/* Events carry monitor time (CLOCK_MONOTONIC, bd_now_ns()); people read
 * wall-clock time. One reading of both clocks converts any monitor time. */
struct bd_wallclock {
        uint64_t mono_ns; /* bd_now_ns() at the reading */
        uint64_t wall_ns; /* CLOCK_REALTIME, nanoseconds since the epoch */
};

struct bd_wallclock bd_wallclock_now(void);
/* Wall-clock nanoseconds of monitor time mono_ns; a time after the
 * reading reads as the reading itself. */
uint64_t bd_wallclock_of(const struct bd_wallclock *c, uint64_t mono_ns);
/* UTC, "HH:MM:SS.uuuuuu", or with date "YYYY-MM-DDTHH:MM:SS.uuuuuuZ". */
void bd_wallclock_iso(uint64_t wall_ns, int date, char *buf, size_t cap);

/* Any state but healthy and unknown is one to alarm on. */
int bd_state_alarms(enum bd_state s);
/* Whether ev, w's latest event, is an alarm: its state is one, and it is
 * not the oops already announced (a kernel that oopsed stays "oops" until
 * it reboots: coming back to that state after a later failure is no new
 * alarm) nor the new kernel of a reboot announced already. */
int bd_event_alarms(const struct bd_watcher *w, const struct bd_event *ev);
/* Whether ev is worth an incident directory: an alarm about the kernel's
 * own state (not nic-unreachable, not rebooted). */
int bd_event_wants_incident(const struct bd_watcher *w, const struct bd_event *ev);
/* ev was told (printed, hooked): an oops is alarmed on once. */
void bd_event_announced(struct bd_watcher *w, const struct bd_event *ev);

/* One line, newline included:
 *   TIME TARGET STATE[ cpu N][ pid N][ (WHAT)] [was PREVIOUS]: EVIDENCE
 *   [ (NOTE)][; saved in INCIDENT]
 * TIME as bd_wallclock_iso() without date; WHAT only without a pid; NOTE
 * is w->note when set. incident NULL: none. */
void bd_event_write_text(FILE *f, const struct bd_watcher *w, const struct bd_event *ev,
                         const char *incident, const struct bd_wallclock *clk);
/* One JSON object and a newline, fields in this order: time, unix_ns,
 * target, state, previous, alarm, cpu, pid, what, evidence, since_unix_ns,
 * probe_rtt_us, then note (w->note when set) and incident (when not
 * NULL). */
void bd_event_write_json(FILE *f, const struct bd_watcher *w, const struct bd_event *ev,
                         const char *incident, const struct bd_wallclock *clk);
/* The same JSON object and its newline in a new string (*json, for
 * free()), *len bytes. */
struct bd_error *bd_event_json(char **json, size_t *len, const struct bd_watcher *w,
                               const struct bd_event *ev, const char *incident,
                               const struct bd_wallclock *clk);
/* That ev's incident was saved in incident: the JSON object
 * {"target":...,"incident":...} or the line "TARGET: STATE saved in
 * INCIDENT", newline included. */
void bd_event_write_saved(FILE *f, int json, const struct bd_watcher *w, const struct bd_event *ev,
                          const char *incident);

/* What came of w's repair (w->repair, just ended), as the line
 *   TIME TARGET repair SCRIPT[ ARG...]: VERDICT[: WHY][; saved in RECORD]
 * TIME the wall clock's (clk) without date, SCRIPT and ARGs the rule's
 * (numbers expanded), VERDICT planned, done, pending, not-yet, again or
 * error, WHY the plan's size (planned), the verify's reason or the error;
 * RECORD (NULL: none) the repair's record in its incident. */
void bd_event_write_repair_text(FILE *f, const struct bd_watcher *w, const char *record,
                                const struct bd_wallclock *clk);
/* The same as one JSON object and a newline, fields in this order: time,
 * unix_ns, target, state, rule_line, repair (SCRIPT), script (the file
 * run), args, mode (plan or apply: what was done), verdict, why, rounds,
 * steps, writes, then error (when it failed), plan (with_plan, when one
 * was made: bd_repair_plan_write_json()) and record (when not NULL). */
void bd_event_write_repair_json(FILE *f, const struct bd_watcher *w, int with_plan,
                                const char *record, const struct bd_wallclock *clk);

/* Run cmd with /bin/sh -c in the background, ev in its environment:
 * BDMON_TARGET, BDMON_STATE, BDMON_PREVIOUS, BDMON_EVIDENCE, BDMON_EVENT
 * (bd_event_json() without its newline), BDMON_CPU, BDMON_PID and
 * BDMON_INCIDENT ("" for none). Every stdio stream is flushed first, so
 * the child repeats nothing buffered. *pid (pid may be NULL) receives the
 * child's id: the caller reaps it (waitpid). */
struct bd_error *bd_event_hook(const char *cmd, const struct bd_watcher *w,
                               const struct bd_event *ev, const char *incident,
                               const struct bd_wallclock *clk, pid_t *pid);

#endif
