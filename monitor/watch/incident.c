#include "incident.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cache/cache.h"
#include "../views/printk.h"

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
        char note[256] = "";
        if (prog) {
                struct bd_error *err = bd_printk_layout_get(&prog->vi, &lay);
                if (!err)
                        err = bd_printk_read(prog->k, &lay, &log);
                if (err) {
                        snprintf(note, sizeof(note), "the kernel log could not be read: %s\n",
                                 err->message);
                        bd_error_destroy(err);
                        log = NULL;
                }
        }
        int bad = write_file(tmp, "event.json", event_json, NULL, 0);
        if (log || note[0])
                bad |= write_file(tmp, "dmesg.txt", note[0] ? note : NULL, log, 0);
        long from = log ? bd_incident_report_start(log) : -1;
        if (from >= 0)
                bad |= write_file(tmp, "report.txt", NULL, log, from);
        bd_printk_log_free(log);
        if (bad || rename(tmp, final)) {
                int e = errno;
                static const char *const files[] = {"event.json", "dmesg.txt", "report.txt"};
                for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                        char f[1200];
                        snprintf(f, sizeof(f), "%s/%s", tmp, files[i]);
                        unlink(f);
                }
                rmdir(tmp);
                return bd_error_new(BD_ERR_IO, "incident: writing %s: %s", final, strerror(e));
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
        bd_wallclock_iso(bd_wallclock_of(clk, ev->t_ns), 1, when, sizeof(when));
        snprintf(name, sizeof(name), "%s-%s-%s", w->target.name, when, bd_state_name(ev->state));
        for (char *s = name; *s; s++)
                if (*s == '/' || *s == ':')
                        *s = *s == ':' ? '-' : '_';
        struct bd_error *err = bd_event_json(&json, &len, w, ev, NULL, clk);
        if (err)
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
