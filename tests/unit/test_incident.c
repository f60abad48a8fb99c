/* Incidents and metrics of bdmon watch: where a failure report starts in a
 * kernel log, the incident directory written whole or not at all and named
 * after its event, the limits on incidents (a rate per target, a quota on
 * the directory, the kernel log's budget), and the Prometheus text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../monitor/kernel/kernel.h"
#include "../../monitor/source/phys_file.h"
#include "../../monitor/watch/event.h"
#include "../../monitor/watch/incident.h"
#include "../../monitor/watch/metrics.h"
#include "../../monitor/views/printk.h"
#include "helpers.h"
#include "printk_ring.h"

#define SEC 1000000000ull

static struct bd_printk_record rec(uint64_t ts, const char *text)
{
        return (struct bd_printk_record){
            .seq = ts, .ts_nsec = ts, .text = text, .text_len = (uint16_t)strlen(text)};
}

static void test_report_start(void **state)
{
        (void)state;
        struct bd_printk_record r[] = {
            rec(1 * SEC, "Linux version 6.1"),
            rec(2 * SEC, "BUG: kernel NULL pointer dereference, address: 0"), /* an old one */
            rec(3 * SEC, "Oops: 0002 [#1] PREEMPT SMP"),
            rec(60 * SEC, "random: crng init done"),
            rec(100 * SEC, "sysrq: Trigger a crash"),
            rec(100 * SEC + 1000, "Kernel panic - not syncing: sysrq triggered crash"),
            rec(100 * SEC + 2000, "CPU: 0 PID: 1 Comm: sh"),
        };
        struct bd_printk_log log = {.records = r, .n = 7};
        /* The last report, from its first opening line. */
        assert_int_equal(bd_incident_report_start(&log), 4);
        log.n = 4;
        assert_int_equal(bd_incident_report_start(&log), 1);
        log.n = 1;
        assert_int_equal(bd_incident_report_start(&log), -1);
        log.n = 0;
        assert_int_equal(bd_incident_report_start(&log), -1);
}

static void test_write_without_kernel(void **state)
{
        (void)state;
        char dir[] = "/tmp/bdincident.XXXXXX", path[1200], file[1400];
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/deep/er", dir);
        char out[1300];
        struct bd_error *err = bd_incident_write(path, "host2-x-frozen", NULL,
                                                 "{\"state\":\"frozen\"}\n", out, sizeof(out));
        assert_null(err);
        snprintf(file, sizeof(file), "%s/host2-x-frozen/event.json", path);
        FILE *f = fopen(file, "r");
        assert_non_null(f);
        char buf[64] = "";
        assert_non_null(fgets(buf, sizeof(buf), f));
        fclose(f);
        assert_string_equal(buf, "{\"state\":\"frozen\"}\n");
        snprintf(file, sizeof(file), "%s/host2-x-frozen", path);
        assert_string_equal(out, file);
        /* The same name again: the first incident is kept, the second
         * refused, nothing half-written left. */
        err = bd_incident_write(path, "host2-x-frozen", NULL, "{}\n", out, sizeof(out));
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_IO);
        bd_error_destroy(err);
        snprintf(file, sizeof(file), "test $(ls -A '%s' | wc -l) = 1", path);
        assert_int_equal(system(file), 0);
        snprintf(file, sizeof(file), "rm -rf '%s'", dir);
        assert_int_equal(system(file), 0);
}

/* An event's incident: named after target, time and state, holding the
 * event's JSON as bdmon watch prints it, without the incident field. */
static void test_capture(void **state)
{
        (void)state;
        char dir[] = "/tmp/bdincident.XXXXXX", path[1200], expect[1200];
        assert_non_null(mkdtemp(dir));
        struct bd_watcher w;
        struct bd_watch_options opt = {.interval_ns = 10000000,
                                       .cls = bd_classify_config_default()};
        struct bd_target t = {.name = "rack/host2"};
        bd_watcher_init(&w, &t, &opt);
        struct bd_event ev = {.state = BD_STATE_PANICKED,
                              .previous = BD_STATE_HEALTHY,
                              .t_ns = 99 * SEC + SEC / 2,
                              .since_ns = 98 * SEC,
                              .cpu = 0,
                              .evidence = "panic_cpu 0"};
        const struct bd_wallclock clk = {.mono_ns = 100 * SEC, .wall_ns = 1700000000123456789ull};
        assert_null(bd_incident_capture(dir, &w, &ev, &clk, path, sizeof(path)));
        snprintf(expect, sizeof(expect), "%s/rack_host2-2023-11-14T22-13-19.623456Z-panicked", dir);
        assert_string_equal(path, expect);
        char file[1300], buf[1024] = "", *json;
        size_t len;
        snprintf(file, sizeof(file), "%s/event.json", path);
        FILE *f = fopen(file, "r");
        assert_non_null(f);
        buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
        fclose(f);
        assert_null(bd_event_json(&json, &len, &w, &ev, NULL, &clk));
        assert_string_equal(buf, json);
        assert_null(strstr(buf, "\"incident\""));
        free(json);
        /* The same again: refused, and no path. */
        struct bd_error *err = bd_incident_capture(dir, &w, &ev, &clk, path, sizeof(path));
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_IO);
        bd_error_destroy(err);
        assert_string_equal(path, "");
        snprintf(file, sizeof(file), "rm -rf '%s'", dir);
        assert_int_equal(system(file), 0);
        bd_watcher_close(&w);
}

static const struct bd_incident_limits default_limits = {BD_INCIDENT_PER_MINUTE, BD_INCIDENT_QUOTA};

/* How many entries dir holds, dot files included. */
static int entries(const char *dir)
{
        char cmd[1200];
        snprintf(cmd, sizeof(cmd), "exit $(ls -A '%s' | wc -l)", dir);
        int st = system(cmd);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void remove_dir(const char *dir)
{
        char cmd[1200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

/* At most 3 a minute per target: the fourth within the minute is not
 * saved, with a message naming the target and the option; a minute after
 * the first, one is let through again; another target has its own count. */
static void test_rate_limit(void **state)
{
        (void)state;
        char dir[] = "/tmp/bdincident.XXXXXX", path[1200];
        assert_non_null(mkdtemp(dir));
        bd_incident_set_limits(&(struct bd_incident_limits){3, BD_INCIDENT_QUOTA});
        struct bd_watch_options opt = {.interval_ns = 10000000,
                                       .cls = bd_classify_config_default()};
        struct bd_watcher w, other;
        struct bd_target t = {.name = "flappy"};
        bd_watcher_init(&w, &t, &opt);
        snprintf(t.name, sizeof(t.name), "steady");
        bd_watcher_init(&other, &t, &opt);
        const struct bd_wallclock clk = {.mono_ns = 100 * SEC, .wall_ns = 1700000000000000000ull};
        struct bd_event ev = {.state = BD_STATE_FROZEN, .previous = BD_STATE_HEALTHY};
        for (int i = 1; i <= 3; i++) {
                ev.t_ns = (uint64_t)i * SEC;
                assert_null(bd_incident_capture(dir, &w, &ev, &clk, path, sizeof(path)));
        }
        ev.t_ns = 60 * SEC;
        struct bd_error *err = bd_incident_capture(dir, &w, &ev, &clk, path, sizeof(path));
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_RANGE);
        assert_non_null(strstr(err->message, "flappy"));
        assert_non_null(strstr(err->message, "--incident-rate"));
        bd_error_destroy(err);
        assert_string_equal(path, "");
        assert_int_equal(entries(dir), 3);
        assert_null(bd_incident_capture(dir, &other, &ev, &clk, path, sizeof(path)));
        ev.t_ns = 61 * SEC;
        assert_null(bd_incident_capture(dir, &w, &ev, &clk, path, sizeof(path)));
        ev.t_ns = 61 * SEC + SEC / 2; /* 2 s and 3 s are still within the minute */
        err = bd_incident_capture(dir, &w, &ev, &clk, path, sizeof(path));
        assert_non_null(err);
        bd_error_destroy(err);
        assert_int_equal(entries(dir), 5);
        bd_incident_set_limits(&default_limits);
        bd_watcher_close(&w);
        bd_watcher_close(&other);
        remove_dir(dir);
}

/* A quota of 100 bytes: a 60-byte incident fits, a second one does not and
 * leaves nothing behind; what is there stays. */
static void test_quota(void **state)
{
        (void)state;
        char dir[] = "/tmp/bdincident.XXXXXX", out[1300];
        assert_non_null(mkdtemp(dir));
        bd_incident_set_limits(&(struct bd_incident_limits){BD_INCIDENT_PER_MINUTE, 100});
        char json[61];
        memset(json, 'x', 59);
        json[59] = '\n';
        json[60] = '\0';
        assert_null(bd_incident_write(dir, "first", NULL, json, out, sizeof(out)));
        struct bd_error *err = bd_incident_write(dir, "second", NULL, json, out, sizeof(out));
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_RANGE);
        assert_non_null(strstr(err->message, "second"));
        assert_non_null(strstr(err->message, "60 bytes"));
        assert_non_null(strstr(err->message, "100 bytes quota"));
        assert_non_null(strstr(err->message, "--incident-quota"));
        bd_error_destroy(err);
        assert_int_equal(entries(dir), 1);
        bd_incident_set_limits(&(struct bd_incident_limits){BD_INCIDENT_PER_MINUTE, 120});
        assert_null(bd_incident_write(dir, "second", NULL, json, out, sizeof(out)));
        assert_int_equal(entries(dir), 2);
        bd_incident_set_limits(&default_limits);
        remove_dir(dir);
}

/* An incident reads the kernel log within its program's budget: of a ring
 * larger than it, the newest records, under a line saying so. */
static void test_log_within_budget(void **state)
{
        (void)state;
        static struct ring_img ring;
        ring_init(&ring, 1000, 0);
        ring_add(&ring, 2, "Linux version 6.1.0", 1000, 0);
        ring_add(&ring, 2, "an older line", 2000, 0);
        ring_add(&ring, 2, "the newest line", 3000, 0);
        char dir[] = "/tmp/bdincident.XXXXXX", file[1400], out[1300];
        assert_non_null(mkdtemp(dir));
        temp_file(file, ring.mem, sizeof(ring.mem));
        struct bd_program prog = {.opt = {.max_read = 400}};
        prog.vi.len = strlen(ring_vmcoreinfo);
        memcpy(prog.vi.text, ring_vmcoreinfo, prog.vi.len + 1);
        assert_bd_ok(bd_phys_open_file(file, 0, &prog.phys));
        unlink(file);
        assert_bd_ok(bd_kernel_open(prog.phys, &prog.vi, &prog.k));
        assert_bd_ok(bd_incident_write(dir, "cut", &prog, "{}\n", out, sizeof(out)));
        snprintf(file, sizeof(file), "%s/dmesg.txt", out);
        char *text = slurp(file, NULL);
        static const char first[] = "the printk ring (8 descriptors, 256 bytes of text)";
        assert_memory_equal(text, first, strlen(first));
        assert_non_null(strstr(text, "400 bytes budget"));
        assert_non_null(strstr(text, "the newest line\n"));
        assert_null(strstr(text, "Linux version"));
        free(text);
        bd_kernel_close(prog.k);
        bd_phys_close(prog.phys);
        remove_dir(dir);
}

static void test_metrics_text(void **state)
{
        (void)state;
        struct bd_watcher w[2];
        struct bd_watch_options opt = {.interval_ns = 10000000,
                                       .cls = bd_classify_config_default()};
        struct bd_target t = {.name = "host\"2"};
        bd_watcher_init(&w[0], &t, &opt);
        snprintf(t.name, sizeof(t.name), "host3");
        bd_watcher_init(&w[1], &t, &opt);
        w[1].probes = 3;
        w[1].event.state = BD_STATE_PANICKED;
        w[1].rtt_count[4] = 2;
        w[1].rtt_count[BD_WATCH_RTT_BUCKETS] = 1;
        w[1].rtt_sum_s = 2.5;
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        struct bd_watcher_summary shown[2];
        bd_watcher_summarize(&w[0], &shown[0]);
        bd_watcher_summarize(&w[1], &shown[1]);
        bd_metrics_write(f, shown, 2);
        fclose(f);
        assert_non_null(
            strstr(text, "bdmon_target_state{target=\"host\\\"2\",state=\"unknown\"} 1\n"));
        assert_non_null(
            strstr(text, "bdmon_target_state{target=\"host3\",state=\"panicked\"} 1\n"));
        assert_non_null(strstr(text, "bdmon_target_state{target=\"host3\",state=\"healthy\"} 0\n"));
        assert_non_null(strstr(text, "bdmon_probes_total{target=\"host3\"} 3\n"));
        assert_non_null(
            strstr(text, "bdmon_probe_rtt_seconds_bucket{target=\"host3\",le=\"0.0005\"} 0\n"));
        assert_non_null(
            strstr(text, "bdmon_probe_rtt_seconds_bucket{target=\"host3\",le=\"0.001\"} 2\n"));
        assert_non_null(
            strstr(text, "bdmon_probe_rtt_seconds_bucket{target=\"host3\",le=\"+Inf\"} 3\n"));
        assert_non_null(strstr(text, "bdmon_probe_rtt_seconds_count{target=\"host3\"} 3\n"));
        free(text);
        bd_watcher_close(&w[0]);
        bd_watcher_close(&w[1]);
}

static void test_metrics_listen(void **state)
{
        (void)state;
        int fd, port;
        struct bd_error *err = bd_metrics_listen("no-port", &fd, &port);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_USAGE);
        bd_error_destroy(err);
        err = bd_metrics_listen("10.0.0.300:80", &fd, &port);
        assert_non_null(err);
        bd_error_destroy(err);
        err = bd_metrics_listen("127.0.0.1:99999", &fd, &port);
        assert_non_null(err);
        bd_error_destroy(err);
        assert_null(bd_metrics_listen("127.0.0.1:0", &fd, &port));
        assert_true(port > 0);
        close(fd);
}

struct serve_arg {
        int fd;
        struct bd_watcher_summary *shown;
        size_t n;
};

static void *serve_thread(void *p)
{
        struct serve_arg *a = p;
        struct pollfd pfd = {.fd = a->fd, .events = POLLIN};
        if (poll(&pfd, 1, 5000) == 1)
                bd_metrics_serve(a->fd, a->shown, a->n);
        return NULL;
}

/* A thousand targets make megabytes; a client that takes them slowly (a
 * busy Prometheus) still gets them all, however many writes that takes. */
static void test_metrics_serve_large(void **state)
{
        (void)state;
        enum { N = 2000 };
        struct bd_watcher_summary *shown = calloc(N, sizeof(*shown));
        assert_non_null(shown);
        struct bd_watch_options opt = {.interval_ns = 10000000,
                                       .cls = bd_classify_config_default()};
        struct bd_target t = {0};
        for (size_t i = 0; i < N; i++) {
                struct bd_watcher w;
                snprintf(t.name, sizeof(t.name), "target-%zu", i);
                bd_watcher_init(&w, &t, &opt);
                w.probes = i * 1000003;
                bd_watcher_summarize(&w, &shown[i]);
                bd_watcher_close(&w);
        }
        int fd, port;
        assert_null(bd_metrics_listen("127.0.0.1:0", &fd, &port));
        int c = socket(AF_INET, SOCK_STREAM, 0);
        int small = 4096;
        setsockopt(c, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        /* A server that never answers fails the test rather than hang it. */
        struct timeval patience = {10, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof(patience));
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
        const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
        assert_int_equal(write(c, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
        struct serve_arg a = {fd, shown, N};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, serve_thread, &a), 0);
        size_t cap = 16 << 20, got = 0;
        char *buf = malloc(cap + 1);
        assert_non_null(buf);
        ssize_t r;
        /* Slower than the old single write's 200 ms allowed in total. */
        while ((r = read(c, buf + got, 16384 < cap - got ? 16384 : cap - got)) > 0) {
                got += (size_t)r;
                usleep(2000);
        }
        buf[got] = '\0';
        pthread_join(th, NULL);
        close(c);
        close(fd);
        char *body = strstr(buf, "\r\n\r\n");
        assert_non_null(body);
        body += 4;
        const char *cl = strstr(buf, "Content-Length: ");
        assert_non_null(cl);
        size_t want = strtoull(cl + 16, NULL, 10);
        assert_true(want > 1000000);
        assert_int_equal(got - (size_t)(body - buf), want);
        assert_non_null(strstr(body, "bdmon_probes_total{target=\"target-1999\"} 1999005997\n"));
        free(buf);
        free(shown);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_report_start),
            cmocka_unit_test(test_write_without_kernel),
            cmocka_unit_test(test_capture),
            cmocka_unit_test(test_rate_limit),
            cmocka_unit_test(test_quota),
            cmocka_unit_test(test_log_within_budget),
            cmocka_unit_test(test_metrics_text),
            cmocka_unit_test(test_metrics_listen),
            cmocka_unit_test(test_metrics_serve_large),
        };
        return cmocka_run_group_tests_name("incident", tests, NULL, NULL);
}
