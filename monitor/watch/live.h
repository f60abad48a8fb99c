/* The live view of `bdmon watch` on a terminal: a row per target, redrawn
 * in place (state, probe round trip, probes, a mark per cpu, the note),
 * and the latest events under it as their text lines. */
#ifndef BD_LIVE_H
#define BD_LIVE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../../common/error.h"
#include "event.h"
#include "watch.h"

#define BD_LIVE_EVENTS 10
#define BD_LIVE_LINE   320 /* an event line is kept to BD_LIVE_LINE - 1 bytes */

/* The latest events; zeroed, none. */
struct bd_live {
        char events[BD_LIVE_EVENTS][BD_LIVE_LINE];
        size_t nev, next;
};

/* Keep ev's text line (bd_event_write_text()) as the newest event, the
 * oldest going when there are BD_LIVE_EVENTS. A longer line is cut, its
 * newline with it. */
struct bd_error *bd_live_add(struct bd_live *v, const struct bd_watcher *w,
                             const struct bd_event *ev, const char *incident,
                             const struct bd_wallclock *clk);
/* The same for the line of w's repair (bd_event_write_repair_text()). */
struct bd_error *bd_live_add_repair(struct bd_live *v, const struct bd_watcher *w,
                                    const char *record, const struct bd_wallclock *clk);
/* The same for text another part of the watch tells (its first
 * BD_LIVE_LINE - 1 bytes). */
struct bd_error *bd_live_add_text(struct bd_live *v, const char *text);
/* The whole screen for the n watchers summed up in w, from the terminal's clearing to
 * the oldest-first events: interval_ns is the probe period shown, clk's
 * wall-clock reading the time. The caller flushes f. */
void bd_live_draw(FILE *f, const struct bd_live *v, const struct bd_watcher_summary *w, size_t n,
                  uint64_t interval_ns, const struct bd_wallclock *clk);

#endif
