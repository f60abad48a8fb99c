#include "live.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../views/output.h"

/* Keep what was written to f, a memstream over *line, as the newest
 * event line. */
static struct bd_error *keep(struct bd_live *v, FILE *f, char **line, size_t *len)
{
        if (fclose(f)) {
                free(*line);
                return &bd_error_nomem;
        }
        char *slot = v->events[v->next];
        if (*len >= BD_LIVE_LINE)
                *len = BD_LIVE_LINE - 1;
        memcpy(slot, *line, *len);
        slot[*len] = '\0';
        free(*line);
        v->next = (v->next + 1) % BD_LIVE_EVENTS;
        v->nev += v->nev < BD_LIVE_EVENTS;
        return NULL;
}

struct bd_error *bd_live_add(struct bd_live *v, const struct bd_watcher *w,
                             const struct bd_event *ev, const char *incident,
                             const struct bd_wallclock *clk)
{
        char *line = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&line, &len);
        if (!f)
                return &bd_error_nomem;
        bd_event_write_text(f, w, ev, incident, clk);
        return keep(v, f, &line, &len);
}

struct bd_error *bd_live_add_repair(struct bd_live *v, const struct bd_watcher *w,
                                    const char *record, const struct bd_wallclock *clk)
{
        char *line = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&line, &len);
        if (!f)
                return &bd_error_nomem;
        bd_event_write_repair_text(f, w, record, clk);
        return keep(v, f, &line, &len);
}

struct bd_error *bd_live_add_text(struct bd_live *v, const char *text)
{
        char *line = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&line, &len);
        if (!f)
                return &bd_error_nomem;
        fputs(text, f);
        return keep(v, f, &line, &len);
}

void bd_live_draw(FILE *f, const struct bd_live *v, const struct bd_watcher_summary *w, size_t n,
                  uint64_t interval_ns, const struct bd_wallclock *clk)
{
        char when[48];
        bd_wallclock_iso(clk->wall_ns, 0, when, sizeof(when));
        fprintf(f, "\033[H\033[2Jbdmon watch: %zu target%s, probe every %.1f ms   %s\n\n", n,
                n == 1 ? "" : "s", (double)interval_ns / 1e6, when);
        fprintf(f, "%-12s %-16s %9s %10s  %s\n", "TARGET", "STATE", "RTT", "PROBES",
                "CPUS (* runs a task, . idles, ! stuck)");
        for (size_t i = 0; i < n; i++) {
                const struct bd_watcher_summary *t = &w[i];
                enum bd_state st = t->state;
                fprintf(f, "%-12.12s %s%-16s\033[0m %7.2fms %10" PRIu64 "  ", t->name,
                        st == BD_STATE_HEALTHY ? "\033[32m"
                        : bd_state_alarms(st)  ? "\033[1;31m"
                                               : "\033[33m",
                        bd_state_name(st), (double)t->rtt_ns / 1e6, t->probes);
                fwrite(t->cpu_mark, 1, t->ncpus, f);
                if (t->note[0]) {
                        fputs("  ", f);
                        bd_put_text(f, t->note, strnlen(t->note, sizeof(t->note)));
                }
                fputc('\n', f);
        }
        if (v->nev)
                fprintf(f, "\nRecent events:\n");
        for (size_t k = 0; k < v->nev; k++)
                fprintf(f, "  %s",
                        v->events[(v->next + BD_LIVE_EVENTS - v->nev + k) % BD_LIVE_EVENTS]);
}
