#include "event.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../common/clock.h"
#include "../../common/spawn.h"
#include "../views/output.h"

struct bd_wallclock bd_wallclock_now(void)
{
        struct bd_wallclock c = {.wall_ns = bd_wall_ns(), .mono_ns = bd_now_ns()};
        return c;
}

uint64_t bd_wallclock_of(const struct bd_wallclock *c, uint64_t mono_ns)
{
        return c->wall_ns - (c->mono_ns > mono_ns ? c->mono_ns - mono_ns : 0);
}

void bd_wallclock_iso(uint64_t wall_ns, int date, char *buf, size_t cap)
{
        time_t s = (time_t)(wall_ns / 1000000000u);
        struct tm tm;
        gmtime_r(&s, &tm);
        char b[32];
        strftime(b, sizeof(b), date ? "%Y-%m-%dT%H:%M:%S" : "%H:%M:%S", &tm);
        snprintf(buf, cap, "%s.%06" PRIu64 "%s", b, wall_ns % 1000000000u / 1000u, date ? "Z" : "");
}

int bd_state_alarms(enum bd_state s)
{
        return s != BD_STATE_HEALTHY && s != BD_STATE_UNKNOWN;
}

int bd_event_alarms(const struct bd_watcher *w, const struct bd_event *ev)
{
        if (ev->state == BD_STATE_OOPS && ev->since_ns == w->oops_announced)
                return 0;
        /* The new kernel of a reboot already alarmed on. */
        if (ev->state == BD_STATE_REBOOTED && ev->previous == BD_STATE_REBOOTED)
                return 0;
        return bd_state_alarms(ev->state);
}

int bd_event_wants_incident(const struct bd_watcher *w, const struct bd_event *ev)
{
        return bd_event_alarms(w, ev) && ev->state != BD_STATE_NIC_UNREACHABLE &&
               ev->state != BD_STATE_REBOOTED;
}

void bd_event_announced(struct bd_watcher *w, const struct bd_event *ev)
{
        if (ev->state == BD_STATE_OOPS)
                w->oops_announced = ev->since_ns;
}

static void put_text(FILE *f, const char *s)
{
        bd_put_text(f, s, strlen(s));
}

void bd_event_write_text(FILE *f, const struct bd_watcher *w, const struct bd_event *ev,
                         const char *incident, const struct bd_wallclock *clk)
{
        char when[48];
        bd_wallclock_iso(bd_wallclock_of(clk, ev->t_ns), 0, when, sizeof(when));
        /* Names in the evidence and the note come from target memory. */
        fprintf(f, "%s ", when);
        put_text(f, w->target.name);
        fprintf(f, " %s", bd_state_name(ev->state));
        if (ev->cpu >= 0)
                fprintf(f, " cpu %d", ev->cpu);
        if (ev->pid > 0)
                fprintf(f, " pid %d", (int)ev->pid);
        if (ev->what[0] && ev->pid <= 0) {
                fputs(" (", f);
                put_text(f, ev->what);
                fputc(')', f);
        }
        fprintf(f, " [was %s]: ", bd_state_name(ev->previous));
        put_text(f, ev->evidence);
        if (w->note[0]) {
                fputs(" (", f);
                put_text(f, w->note);
                fputc(')', f);
        }
        if (incident)
                fprintf(f, "; saved in %s", incident);
        fputc('\n', f);
}

void bd_event_write_json(FILE *f, const struct bd_watcher *w, const struct bd_event *ev,
                         const char *incident, const struct bd_wallclock *clk)
{
        char when[48];
        uint64_t wall = bd_wallclock_of(clk, ev->t_ns);
        bd_wallclock_iso(wall, 1, when, sizeof(when));
        fprintf(f, "{\"time\":\"%s\",\"unix_ns\":%" PRIu64 ",\"target\":", when, wall);
        bd_json_string(f, w->target.name);
        fprintf(f, ",\"state\":\"%s\",\"previous\":\"%s\",\"alarm\":%s,\"cpu\":%d,\"pid\":%d",
                bd_state_name(ev->state), bd_state_name(ev->previous),
                bd_event_alarms(w, ev) ? "true" : "false", ev->cpu, (int)ev->pid);
        fprintf(f, ",\"what\":");
        bd_json_string(f, ev->what);
        fprintf(f, ",\"evidence\":");
        bd_json_string(f, ev->evidence);
        fprintf(f, ",\"since_unix_ns\":%" PRIu64 ",\"probe_rtt_us\":%.1f",
                bd_wallclock_of(clk, ev->since_ns), (double)w->last.rtt_ns / 1e3);
        if (w->note[0]) {
                fprintf(f, ",\"note\":");
                bd_json_string(f, w->note);
        }
        if (incident) {
                fprintf(f, ",\"incident\":");
                bd_json_string(f, incident);
        }
        fprintf(f, "}\n");
}

struct bd_error *bd_event_json(char **json, size_t *len, const struct bd_watcher *w,
                               const struct bd_event *ev, const char *incident,
                               const struct bd_wallclock *clk)
{
        *json = NULL;
        *len = 0;
        FILE *f = open_memstream(json, len);
        if (!f)
                return &bd_error_nomem;
        bd_event_write_json(f, w, ev, incident, clk);
        if (fclose(f)) {
                free(*json);
                *json = NULL;
                *len = 0;
                return &bd_error_nomem;
        }
        return NULL;
}

void bd_event_write_saved(FILE *f, int json, const struct bd_watcher *w, const struct bd_event *ev,
                          const char *incident)
{
        if (json) {
                fprintf(f, "{\"target\":");
                bd_json_string(f, w->target.name);
                fprintf(f, ",\"incident\":");
                bd_json_string(f, incident);
                fprintf(f, "}\n");
        } else {
                fprintf(f, "%s: %s saved in %s\n", w->target.name, bd_state_name(ev->state),
                        incident);
        }
}

/* Why the repair ended as it did, in a line. */
static void repair_why(const struct bd_watch_repair *r, char *buf, size_t cap)
{
        if (r->err)
                snprintf(buf, cap, "%s", r->err->message);
        else if (!r->apply)
                snprintf(buf, cap, "%zu step%s, nothing written (%s)", r->run.plan.n,
                         r->run.plan.n == 1 ? "" : "s",
                         r->rule->apply ? "mode=apply needs --write" : "mode=plan");
        else
                snprintf(buf, cap, "%s", r->run.plan.verdict_why);
}

void bd_event_write_repair_text(FILE *f, const struct bd_watcher *w, const char *record,
                                const struct bd_wallclock *clk)
{
        const struct bd_watch_repair *r = &w->repair;
        char when[48], why[sizeof(r->err->message)];
        bd_wallclock_iso(clk->wall_ns, 0, when, sizeof(when));
        fprintf(f, "%s ", when);
        put_text(f, w->target.name);
        fprintf(f, " repair %s", r->rule->script);
        for (unsigned i = 0; i < r->rule->nargs; i++)
                fprintf(f, " %s", r->args[i]);
        if (r->attempt > 1)
                fprintf(f, " (attempt %u)", r->attempt);
        fprintf(f, ": %s", r->verdict);
        /* A script's reasons and errors may quote the target's names. */
        repair_why(r, why, sizeof(why));
        if (why[0]) {
                fputs(": ", f);
                put_text(f, why);
        }
        if (record)
                fprintf(f, "; saved in %s", record);
        fputc('\n', f);
}

void bd_event_write_repair_json(FILE *f, const struct bd_watcher *w, int with_plan,
                                const char *record, const struct bd_wallclock *clk)
{
        const struct bd_watch_repair *r = &w->repair;
        const struct bd_repair_plan *plan = &r->run.plan;
        char when[48], why[sizeof(r->err->message)];
        bd_wallclock_iso(clk->wall_ns, 1, when, sizeof(when));
        fprintf(f, "{\"time\":\"%s\",\"unix_ns\":%" PRIu64 ",\"target\":", when, clk->wall_ns);
        bd_json_string(f, w->target.name);
        fprintf(f, ",\"state\":\"%s\",\"rule_line\":%u,\"repair\":", bd_state_name(r->event.state),
                r->rule->line);
        bd_json_string(f, r->rule->script);
        fputs(",\"script\":", f);
        bd_json_string(f, r->path);
        fputs(",\"args\":[", f);
        for (unsigned i = 0; i < r->rule->nargs; i++) {
                fputs(i ? "," : "", f);
                bd_json_string(f, r->args[i]);
        }
        repair_why(r, why, sizeof(why));
        fprintf(f, "],\"attempt\":%u,\"mode\":\"%s\",\"verdict\":\"%s\",\"why\":", r->attempt,
                r->apply ? "apply" : "plan", r->verdict);
        bd_json_string(f, why);
        fprintf(f, ",\"rounds\":%u,\"steps\":%zu,\"writes\":%u", r->run.rounds, plan->n,
                plan->writes);
        if (r->err) {
                fputs(",\"error\":", f);
                bd_json_string(f, r->err->message);
        }
        /* Every plan has its script's name: an empty one was never made. */
        if (with_plan && plan->script[0]) {
                fputs(",\"plan\":", f);
                bd_repair_plan_write_json(f, plan, r->run.rounds > 0);
        }
        if (record) {
                fputs(",\"record\":", f);
                bd_json_string(f, record);
        }
        fputs("}\n", f);
}

struct bd_error *bd_event_hook(const char *cmd, const struct bd_watcher *w,
                               const struct bd_event *ev, const char *incident,
                               const struct bd_wallclock *clk, pid_t *pid)
{
        char *json;
        size_t len;
        struct bd_error *err = bd_event_json(&json, &len, w, ev, incident, clk);
        if (err)
                return err;
        if (len && json[len - 1] == '\n')
                json[len - 1] = '\0';
        char target[4 * sizeof(w->target.name)], evidence[4 * sizeof(ev->evidence)], cpu[16],
            who[16];
        bd_text_escape(target, sizeof(target), w->target.name);
        bd_text_escape(evidence, sizeof(evidence), ev->evidence);
        snprintf(cpu, sizeof(cpu), "%d", ev->cpu);
        snprintf(who, sizeof(who), "%d", (int)ev->pid);
        const struct bd_env env[] = {
            {"BDMON_TARGET", target},
            {"BDMON_STATE", bd_state_name(ev->state)},
            {"BDMON_PREVIOUS", bd_state_name(ev->previous)},
            {"BDMON_EVIDENCE", evidence},
            {"BDMON_EVENT", json},
            {"BDMON_CPU", cpu},
            {"BDMON_PID", who},
            {"BDMON_INCIDENT", incident ? incident : ""},
        };
        pid_t child;
        err = bd_spawn_shell(cmd, env, sizeof(env) / sizeof(env[0]), 0, &child);
        free(json);
        if (err)
                return err;
        if (pid)
                *pid = child;
        return NULL;
}
