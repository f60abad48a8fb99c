#include "incident.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cache/cache.h"
#include "../views/budget.h"
#include "../views/printk.h"

static struct bd_incident_limits limits = {BD_INCIDENT_PER_MINUTE, BD_INCIDENT_QUOTA};

/* The incidents each target raised lately, keyed by its name. More targets
 * than a watch has: when full, the one that raised none for longest gives
 * way. */
#define RATE_TARGETS 256
#define MINUTE_NS    60000000000ull

static struct rate {
        char target[sizeof(((struct bd_target *)0)->name)];
        uint64_t *times; /* the last limits.per_minute captures, a ring; NULL: unused */
        unsigned n, next;
        uint64_t last;
} rates[RATE_TARGETS];

void bd_incident_set_limits(const struct bd_incident_limits *l)
{
        for (size_t i = 0; i < RATE_TARGETS; i++)
                free(rates[i].times);
        memset(rates, 0, sizeof(rates));
        limits = *l;
}

static struct rate *rate_of(const char *target)
{
        struct rate *old = &rates[0];
        for (size_t i = 0; i < RATE_TARGETS; i++) {
                struct rate *r = &rates[i];
                if (r->times && !strcmp(r->target, target))
                        return r;
                if (old->times && (!r->times || r->last < old->last))
                        old = r;
        }
        free(old->times);
        memset(old, 0, sizeof(*old));
        if (!(old->times = calloc(limits.per_minute, sizeof(*old->times))))
                return NULL;
        snprintf(old->target, sizeof(old->target), "%s", target);
        return old;
}

/* Count an incident of target at now unless it raised its minute's worth. */
static struct bd_error *rate_take(const char *target, uint64_t now)
{
        struct rate *r = rate_of(target);
        if (!r)
                return &bd_error_nomem;
        /* Full, the ring's next slot holds the oldest of the last ones. */
        if (r->n == limits.per_minute && now - r->times[r->next] < MINUTE_NS)
                return bd_error_new(BD_ERR_RANGE,
                                    "incident of %s not saved: it raised %u in the last minute, "
                                    "the most --incident-rate allows",
                                    target, limits.per_minute);
        r->times[r->next] = now;
        r->next = (r->next + 1) % limits.per_minute;
        r->n += r->n < limits.per_minute;
        r->last = now;
        return NULL;
}

/* Bytes of the regular files in dir and, depth levels down, in its
 * directories; names starting with '.' (incidents being written) are left
 * out. */
static uint64_t dir_bytes(const char *dir, int depth)
{
        DIR *d = opendir(dir);
        if (!d)
                return 0;
        uint64_t sum = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                char path[1400];
                struct stat st;
                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                if (lstat(path, &st))
                        continue;
                if (S_ISREG(st.st_mode))
                        sum += (uint64_t)st.st_size;
                else if (S_ISDIR(st.st_mode) && depth > 0)
                        sum += dir_bytes(path, depth - 1);
        }
        closedir(d);
        return sum;
}

/* The lines that open a kernel failure report. */
static const char *const openers[] = {
    "------------[ cut here ]------------",
    "BUG: ",
    "Oops: ",
    "general protection fault",
    "Kernel panic - not syncing",
    "watchdog: BUG: soft lockup",
    "watchdog: Watchdog detected hard LOCKUP",
    "INFO: task ",
    "Out of memory",
    "sysrq: Trigger a crash",
};

/* A report's lines follow its opener closely; anything this much later is
 * another report. */
#define REPORT_SPAN_NS 10000000000ull

static int opens_report(const struct bd_printk_record *r)
{
        for (size_t i = 0; i < sizeof(openers) / sizeof(openers[0]); i++) {
                size_t n = strlen(openers[i]);
                for (size_t at = 0; at + n <= r->text_len; at++)
                        if (!memcmp(r->text + at, openers[i], n))
                                return 1;
        }
        return 0;
}

long bd_incident_report_start(const struct bd_printk_log *log)
{
        long last = -1;
        for (size_t i = log->n; i-- > 0;)
                if (opens_report(&log->records[i])) {
                        last = (long)i;
                        break;
                }
        if (last < 0)
                return -1;
        uint64_t t = log->records[last].ts_nsec;
        long start = last;
        for (long i = last - 1; i >= 0; i--) {
                const struct bd_printk_record *r = &log->records[i];
                if (r->ts_nsec > t || t - r->ts_nsec > REPORT_SPAN_NS)
                        break;
                if (opens_report(r))
                        start = i;
        }
        return start;
}

static int write_file(const char *dir, const char *name, const char *text,
                      const struct bd_printk_log *log, long from)
{
        char path[1200];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "w");
        if (!f)
                return -1;
        if (text)
                fputs(text, f);
        for (size_t i = from < 0 ? 0 : (size_t)from; log && i < log->n; i++)
                bd_printk_write_text(f, &log->records[i]);
        return fclose(f);
}

static int mkdirs(const char *dir)
{
        char p[1024];
        snprintf(p, sizeof(p), "%s", dir);
        for (char *s = p + 1; *s; s++)
                if (*s == '/') {
                        *s = '\0';
                        if (mkdir(p, 0755) && errno != EEXIST)
                                return -1;
                        *s = '/';
                }
        return mkdir(p, 0755) && errno != EEXIST ? -1 : 0;
}

struct bd_error *bd_incident_write(const char *dir, const char *name, struct bd_program *prog,
                                   const char *event_json, char *path, size_t cap)
{
        char tmp[1100], final[1100];
        snprintf(final, sizeof(final), "%s/%s", dir, name);
        snprintf(tmp, sizeof(tmp), "%s/.%s.tmp%d", dir, name, (int)getpid());
        if (mkdirs(dir) || (mkdir(tmp, 0755) && errno != EEXIST))
                return bd_error_new(BD_ERR_IO, "incident: %s: %s", tmp, strerror(errno));
        struct bd_printk_log *log = NULL;
        struct bd_printk_layout lay;
        char note[600] = "";
        if (prog) {
                struct bd_error *err = bd_printk_layout_get(&prog->vi, &lay);
                if (!err)
                        err = bd_printk_read_within(prog->k, &lay,
                                                    bd_budget(prog, BD_PRINTK_BUDGET), &log);
                if (err) {
                        snprintf(note, sizeof(note), "the kernel log could not be read: %s\n",
                                 err->message);
                        bd_error_destroy(err);
                        log = NULL;
                } else {
                        bd_printk_budget_note(log, note, sizeof(note) - 1);
                        if (note[0])
                                strcat(note, "\n");
                }
        }
        int bad = write_file(tmp, "event.json", event_json, NULL, 0);
        if (log || note[0])
                bad |= write_file(tmp, "dmesg.txt", note[0] ? note : NULL, log, 0);
        long from = log ? bd_incident_report_start(log) : -1;
        if (from >= 0)
                bad |= write_file(tmp, "report.txt", NULL, log, from);
        bd_printk_log_free(log);
        struct bd_error *err = NULL;
        uint64_t mine = bad ? 0 : dir_bytes(tmp, 0), held = bad ? 0 : dir_bytes(dir, 1);
        if (!bad && held + mine > limits.quota) {
                char h[32], m[32], q[32];
                bd_size_text(held, h, sizeof(h));
                bd_size_text(mine, m, sizeof(m));
                bd_size_text(limits.quota, q, sizeof(q));
                err = bd_error_new(BD_ERR_RANGE,
                                   "incident %s not saved: %s holds %s of incidents, and this "
                                   "one's %s would pass the %s quota (--incident-quota raises "
                                   "it; old incidents are not removed)",
                                   final, dir, h, m, q);
        } else if (bad || rename(tmp, final)) {
                err = bd_error_new(BD_ERR_IO, "incident: writing %s: %s", final, strerror(errno));
        }
        if (err) {
                static const char *const files[] = {"event.json", "dmesg.txt", "report.txt"};
                for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                        char f[1200];
                        snprintf(f, sizeof(f), "%s/%s", tmp, files[i]);
                        unlink(f);
                }
                rmdir(tmp);
                return err;
        }
        snprintf(path, cap, "%s", final);
        return NULL;
}

struct bd_error *bd_incident_capture(const char *dir, const struct bd_watcher *w,
                                     const struct bd_event *ev, const struct bd_wallclock *clk,
                                     char *path, size_t cap)
{
        char when[48], name[256], *json;
        size_t len;
        if (cap)
                path[0] = '\0';
        struct bd_error *err = rate_take(w->target.name, ev->t_ns);
        if (err)
                return err;
        bd_wallclock_iso(bd_wallclock_of(clk, ev->t_ns), 1, when, sizeof(when));
        snprintf(name, sizeof(name), "%s-%s-%s", w->target.name, when, bd_state_name(ev->state));
        for (char *s = name; *s; s++)
                if (*s == '/' || *s == ':')
                        *s = *s == ':' ? '-' : '_';
        if ((err = bd_event_json(&json, &len, w, ev, NULL, clk)))
                return err;
        err = bd_incident_write(dir, name, w->prog, json, path, cap);
        free(json);
        return err;
}

struct bd_error *bd_incident_add_repair(const char *incident, const struct bd_watcher *w,
                                        const struct bd_wallclock *clk, char *path, size_t cap)
{
        char file[1300], *json = NULL;
        size_t len = 0;
        if (cap)
                path[0] = '\0';
        /* A repair run again while its alarm holds keeps the earlier records. */
        if (w->repair.attempt > 1)
                snprintf(file, sizeof(file), "%s/repair-%u.json", incident, w->repair.attempt);
        else
                snprintf(file, sizeof(file), "%s/repair.json", incident);
        FILE *f = open_memstream(&json, &len);
        if (!f)
                return &bd_error_nomem;
        bd_event_write_repair_json(f, w, 1, NULL, clk);
        if (fclose(f)) {
                free(json);
                return &bd_error_nomem;
        }
        int bad = bd_cache_write_atomic(file, json, len), e = errno;
        free(json);
        if (bad)
                return bd_error_new(BD_ERR_IO, "incident: writing %s: %s", file, strerror(e));
        snprintf(path, cap, "%s", file);
        return NULL;
}
