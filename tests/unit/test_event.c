/* A watch event as bdmon watch shows it: the text line, the JSON object,
 * the incident notice, the hook's environment and the live view, pinned
 * byte for byte on synthetic events at a fixed clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../monitor/watch/event.h"
#include "../../monitor/views/output.h"
#include "../../monitor/watch/live.h"

#define SEC 1000000000ull

/* 2023-11-14T22:13:20.123456789Z at monitor time 100 s. */
static const struct bd_wallclock clk = {.mono_ns = 100 * SEC, .wall_ns = 1700000000123456789ull};

static void watcher(struct bd_watcher *w, const char *name)
{
        struct bd_watch_options opt = {.interval_ns = 10000000,
                                       .cls = bd_classify_config_default()};
        struct bd_target t;
        memset(&t, 0, sizeof(t));
        snprintf(t.name, sizeof(t.name), "%s", name);
        bd_watcher_init(w, &t, &opt);
        w->note[0] = '\0';
}

static struct bd_event event(enum bd_state state, enum bd_state previous, int cpu, int32_t pid,
                             const char *what, const char *evidence)
{
        struct bd_event ev = {.state = state,
                              .previous = previous,
                              .t_ns = 99 * SEC + SEC / 2,
                              .since_ns = 98 * SEC,
                              .cpu = cpu,
                              .pid = pid};
        snprintf(ev.what, sizeof(ev.what), "%s", what);
        snprintf(ev.evidence, sizeof(ev.evidence), "%s", evidence);
        return ev;
}

typedef void (*event_writer)(FILE *f, const struct bd_watcher *w, const struct bd_event *ev,
                             const char *incident, const struct bd_wallclock *clk);

/* What a writer puts out, as a string to free(). */
static char *written(event_writer write, const struct bd_watcher *w, const struct bd_event *ev,
                     const char *incident)
{
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);
        assert_non_null(f);
        write(f, w, ev, incident, &clk);
        assert_int_equal(fclose(f), 0);
        return s;
}

static char *text_of(const struct bd_watcher *w, const struct bd_event *ev, const char *incident)
{
        return written(bd_event_write_text, w, ev, incident);
}

static char *json_of(const struct bd_watcher *w, const struct bd_event *ev, const char *incident)
{
        return written(bd_event_write_json, w, ev, incident);
}

static void test_wallclock(void **state)
{
        (void)state;
        char buf[48];
        assert_int_equal(bd_wallclock_of(&clk, 100 * SEC), clk.wall_ns);
        assert_int_equal(bd_wallclock_of(&clk, 99 * SEC), clk.wall_ns - SEC);
        /* After the reading: the reading. */
        assert_int_equal(bd_wallclock_of(&clk, 101 * SEC), clk.wall_ns);
        bd_wallclock_iso(clk.wall_ns, 0, buf, sizeof(buf));
        assert_string_equal(buf, "22:13:20.123456");
        bd_wallclock_iso(clk.wall_ns, 1, buf, sizeof(buf));
        assert_string_equal(buf, "2023-11-14T22:13:20.123456Z");
        struct bd_wallclock now = bd_wallclock_now();
        assert_true(now.wall_ns > clk.wall_ns);
        assert_int_equal(bd_wallclock_of(&now, now.mono_ns), now.wall_ns);
}

static void test_alarms(void **state)
{
        (void)state;
        struct bd_watcher w;
        watcher(&w, "host2");
        assert_false(bd_state_alarms(BD_STATE_HEALTHY));
        assert_false(bd_state_alarms(BD_STATE_UNKNOWN));
        for (enum bd_state s = BD_STATE_PANICKED; s <= BD_STATE_NIC_UNREACHABLE; s++)
                assert_true(bd_state_alarms(s));
        struct bd_event ev = event(BD_STATE_PANICKED, BD_STATE_HEALTHY, 0, 0, "", "");
        assert_true(bd_event_alarms(&w, &ev));
        assert_true(bd_event_wants_incident(&w, &ev));
        ev.state = BD_STATE_REBOOTED;
        assert_true(bd_event_alarms(&w, &ev));
        assert_false(bd_event_wants_incident(&w, &ev));
        ev.state = BD_STATE_NIC_UNREACHABLE;
        assert_true(bd_event_alarms(&w, &ev));
        assert_false(bd_event_wants_incident(&w, &ev));
        ev.state = BD_STATE_HEALTHY;
        assert_false(bd_event_wants_incident(&w, &ev));
        bd_event_announced(&w, &ev);
        assert_int_equal(w.oops_announced, 0);
        /* An oops alarms once: coming back to it after a lockup does not. */
        ev.state = BD_STATE_OOPS;
        assert_true(bd_event_alarms(&w, &ev));
        bd_event_announced(&w, &ev);
        assert_int_equal(w.oops_announced, ev.since_ns);
        assert_false(bd_event_alarms(&w, &ev));
        assert_false(bd_event_wants_incident(&w, &ev));
        ev.since_ns++;
        assert_true(bd_event_alarms(&w, &ev));
        bd_watcher_close(&w);
}

static void test_text_line(void **state)
{
        (void)state;
        struct bd_watcher w;
        watcher(&w, "host2");
        struct bd_event ev = event(BD_STATE_SOFT_LOCKUP, BD_STATE_HEALTHY, 1, 42, "stress-ng",
                                   "no switch for 300 ms");
        char *s = text_of(&w, &ev, NULL);
        assert_string_equal(
            s,
            "22:13:19.623456 host2 soft-lockup cpu 1 pid 42 [was healthy]: no switch for 300 ms\n");
        free(s);
        /* What without a pid; the note; the incident. */
        ev = event(BD_STATE_EXHAUSTED, BD_STATE_OOPS, -1, 0, "memory", "free 10 < min 20");
        snprintf(w.note, sizeof(w.note), "probe failed: io");
        s = text_of(&w, &ev, "/inc/host2-x-exhausted");
        assert_string_equal(s, "22:13:19.623456 host2 exhausted (memory) [was oops]: free 10 < "
                               "min 20 (probe failed: io); saved in /inc/host2-x-exhausted\n");
        free(s);
        /* Task names read from memory cannot drive the terminal: C0 and C1
         * controls and bytes that are not UTF-8 are escaped, UTF-8 kept. */
        w.note[0] = '\0';
        ev = event(BD_STATE_HUNG_TASK, BD_STATE_HEALTHY, -1, -1, "a\x1b[2Jb\xc2\x9b",
                   "\"q\"\x01\xc3\xa9\xff");
        s = text_of(&w, &ev, NULL);
        assert_string_equal(s, "22:13:19.623456 host2 hung-task (a\\x1b[2Jb\\xc2\\x9b) "
                               "[was healthy]: \"q\"\\x01\xc3\xa9\\xff\n");
        free(s);
        bd_watcher_close(&w);
}

static void test_escape(void **state)
{
        (void)state;
        static const char *const cases[][2] = {
            {"tab\tkept", "tab\tkept"},
            {"nl\n", "nl\\x0a"},
            {"\xc3\xa9 \xf0\x9f\x98\x80", "\xc3\xa9 \xf0\x9f\x98\x80"},
            {"c1\xc2\x85", "c1\\xc2\\x85"},
            {"overlong\xc0\xaf", "overlong\\xc0\\xaf"},
            {"surrogate\xed\xa0\x80", "surrogate\\xed\\xa0\\x80"},
            {"cut\xe2\x82", "cut\\xe2\\x82"},
            {"big\xf4\x90\x80\x80", "big\\xf4\\x90\\x80\\x80"},
        };
        char buf[64];
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bd_text_escape(buf, sizeof(buf), cases[i][0]);
                assert_string_equal(buf, cases[i][1]);
        }
        /* Cut between characters, never inside an escape. */
        assert_int_equal(bd_text_escape(buf, 6,
                                        "ab\x01"
                                        "cd"),
                         2);
        assert_string_equal(buf, "ab");
}

static void test_json(void **state)
{
        (void)state;
        struct bd_watcher w;
        watcher(&w, "ho\"st");
        w.last.rtt_ns = 123456;
        struct bd_event ev =
            event(BD_STATE_PANICKED, BD_STATE_HEALTHY, 0, 0, "", "panic_cpu 0\x01\\\n\xc3\xa9");
        char *s = json_of(&w, &ev, NULL);
        assert_string_equal(s, "{\"time\":\"2023-11-14T22:13:19.623456Z\","
                               "\"unix_ns\":1699999999623456789,\"target\":\"ho\\\"st\","
                               "\"state\":\"panicked\",\"previous\":\"healthy\",\"alarm\":true,"
                               "\"cpu\":0,\"pid\":0,\"what\":\"\","
                               "\"evidence\":\"panic_cpu 0\\u0001\\\\\\n\xc3\xa9\","
                               "\"since_unix_ns\":1699999998123456789,\"probe_rtt_us\":123.5}\n");
        free(s);
        /* Note and incident last; an oops already told is no alarm. */
        ev = event(BD_STATE_OOPS, BD_STATE_HARD_LOCKUP, -1, 7, "kwork\x7f", "oops");
        w.oops_announced = ev.since_ns;
        snprintf(w.note, sizeof(w.note), "looking for the new kernel");
        s = json_of(&w, &ev, "/inc/x");
        assert_string_equal(s, "{\"time\":\"2023-11-14T22:13:19.623456Z\","
                               "\"unix_ns\":1699999999623456789,\"target\":\"ho\\\"st\","
                               "\"state\":\"oops\",\"previous\":\"hard-lockup\",\"alarm\":false,"
                               "\"cpu\":-1,\"pid\":7,\"what\":\"kwork\\u007f\","
                               "\"evidence\":\"oops\",\"since_unix_ns\":1699999998123456789,"
                               "\"probe_rtt_us\":123.5,\"note\":\"looking for the new kernel\","
                               "\"incident\":\"/inc/x\"}\n");
        /* The same in a string. */
        char *j;
        size_t len;
        assert_null(bd_event_json(&j, &len, &w, &ev, "/inc/x", &clk));
        assert_int_equal(len, strlen(s));
        assert_string_equal(j, s);
        free(j);
        free(s);
        bd_watcher_close(&w);
}

static void test_saved(void **state)
{
        (void)state;
        struct bd_watcher w;
        watcher(&w, "ho\"st");
        struct bd_event ev = event(BD_STATE_FROZEN, BD_STATE_HEALTHY, -1, 0, "", "");
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);
        bd_event_write_saved(f, 1, &w, &ev, "/inc/a\"b");
        bd_event_write_saved(f, 0, &w, &ev, "/inc/a\"b");
        fclose(f);
        assert_string_equal(s, "{\"target\":\"ho\\\"st\",\"incident\":\"/inc/a\\\"b\"}\n"
                               "ho\"st: frozen saved in /inc/a\"b\n");
        free(s);
        bd_watcher_close(&w);
}

/* The hook's command sees the event in BDMON_*, old values replaced. */
static void test_hook_environment(void **state)
{
        (void)state;
        char dir[] = "/tmp/bdevent.XXXXXX", cmd[256], file[128];
        assert_non_null(mkdtemp(dir));
        snprintf(file, sizeof(file), "%s/env", dir);
        snprintf(cmd, sizeof(cmd), "env | grep ^BDMON_ | LC_ALL=C sort > %s", file);
        struct bd_watcher w;
        watcher(&w, "host2");
        w.last.rtt_ns = 2000;
        struct bd_event ev = event(BD_STATE_HUNG_TASK, BD_STATE_HEALTHY, 3, 1234, "dd",
                                   "task dd (pid 1234) in D for 1200 ms");
        setenv("BDMON_TARGET", "stale", 1);
        setenv("BDMON_INCIDENT", "stale", 1);
        for (int with_incident = 0; with_incident < 2; with_incident++) {
                const char *incident = with_incident ? "/inc/host2-y-hung-task" : NULL;
                pid_t pid = -1;
                int status;
                assert_null(bd_event_hook(cmd, &w, &ev, incident, &clk, &pid));
                assert_true(pid > 0);
                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                char *json, expect[2048], got[2048] = "";
                size_t len;
                assert_null(bd_event_json(&json, &len, &w, &ev, incident, &clk));
                json[len - 1] = '\0';
                snprintf(expect, sizeof(expect),
                         "BDMON_CPU=3\nBDMON_EVENT=%s\n"
                         "BDMON_EVIDENCE=task dd (pid 1234) in D for 1200 ms\n"
                         "BDMON_INCIDENT=%s\nBDMON_PID=1234\nBDMON_PREVIOUS=healthy\n"
                         "BDMON_STATE=hung-task\nBDMON_TARGET=host2\n",
                         json, incident ? incident : "");
                free(json);
                FILE *f = fopen(file, "r");
                assert_non_null(f);
                size_t n = fread(got, 1, sizeof(got) - 1, f);
                fclose(f);
                got[n] = '\0';
                assert_string_equal(got, expect);
        }
        unsetenv("BDMON_TARGET");
        unsetenv("BDMON_INCIDENT");
        unlink(file);
        rmdir(dir);
        bd_watcher_close(&w);
}

static void test_live(void **state)
{
        (void)state;
        struct bd_watcher w[2];
        watcher(&w[0], "host2");
        watcher(&w[1], "a-very-long-target-name");
        snprintf(w[1].note, sizeof(w[1].note), "not connected yet");
        w[0].probes = 3;
        w[0].last.rtt_ns = 250000;
        w[0].event.state = BD_STATE_HEALTHY;
        w[0].last.ncpus = 4;
        w[0].last.cpu[0] = (struct bd_probe_cpu){.present = 1, .curr = 5, .idle = 5};
        w[0].last.cpu[1] = (struct bd_probe_cpu){.present = 1, .curr = 6, .idle = 5};
        w[0].last.cpu[2] = (struct bd_probe_cpu){.present = 1, .curr = 6, .idle = 5};
        w[0].cls.cpu[2].lock = BD_STATE_SOFT_LOCKUP;
        struct bd_live v;
        memset(&v, 0, sizeof(v));
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);
        struct bd_watcher_summary shown[2];
        bd_watcher_summarize(&w[0], &shown[0]);
        bd_watcher_summarize(&w[1], &shown[1]);
        bd_live_draw(f, &v, shown, 2, 10000000, &clk);
        fclose(f);
        assert_string_equal(
            s, "\033[H\033[2Jbdmon watch: 2 targets, probe every 10.0 ms   22:13:20.123456\n\n"
               "TARGET       STATE                  RTT     PROBES  CPUS (* runs a task, . idles, "
               "! stuck)\n"
               "host2        \033[32mhealthy         \033[0m    0.25ms          3  .*!-\n"
               "a-very-long- \033[33munknown         \033[0m    0.00ms          0    not "
               "connected yet\n");
        free(s);
        /* Twelve events: the last ten stay, oldest first. */
        for (int i = 0; i < 12; i++) {
                char what[32];
                snprintf(what, sizeof(what), "e%d", i);
                struct bd_event ev = event(BD_STATE_EXHAUSTED, BD_STATE_HEALTHY, -1, 0, what, "x");
                assert_null(bd_live_add(&v, &w[0], &ev, NULL, &clk));
        }
        assert_int_equal(v.nev, BD_LIVE_EVENTS);
        w[0].event.state = BD_STATE_PANICKED;
        f = open_memstream(&s, &len);
        bd_watcher_summarize(&w[0], &shown[0]);
        bd_live_draw(f, &v, shown, 1, 1000000, &clk);
        fclose(f);
        const char *events = strstr(s, "\nRecent events:\n");
        assert_non_null(events);
        assert_non_null(strstr(s, "1 target, probe every 1.0 ms"));
        assert_non_null(strstr(s, "\033[1;31mpanicked        \033[0m"));
        char expect[1024] = "\nRecent events:\n";
        for (int i = 2; i < 12; i++)
                snprintf(expect + strlen(expect), sizeof(expect) - strlen(expect),
                         "  22:13:19.623456 host2 exhausted (e%d) [was healthy]: x\n", i);
        assert_string_equal(events, expect);
        free(s);
        /* A line longer than the view keeps is cut, newline and all. */
        char incident[400];
        memset(incident, 'i', sizeof(incident) - 1);
        incident[sizeof(incident) - 1] = '\0';
        struct bd_event ev = event(BD_STATE_FROZEN, BD_STATE_HEALTHY, -1, 0, "", "x");
        assert_null(bd_live_add(&v, &w[0], &ev, incident, &clk));
        const char *line = v.events[(v.next + BD_LIVE_EVENTS - 1) % BD_LIVE_EVENTS];
        assert_int_equal(strlen(line), BD_LIVE_LINE - 1);
        assert_memory_equal(line, "22:13:19.623456 host2 frozen [was healthy]: x; saved in iii",
                            59);
        assert_int_equal(line[BD_LIVE_LINE - 2], 'i');
        bd_watcher_close(&w[0]);
        bd_watcher_close(&w[1]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_wallclock),
            cmocka_unit_test(test_alarms),
            cmocka_unit_test(test_text_line),
            cmocka_unit_test(test_escape),
            cmocka_unit_test(test_json),
            cmocka_unit_test(test_saved),
            cmocka_unit_test(test_hook_environment),
            cmocka_unit_test(test_live),
        };
        return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
