/* `bdmon watch --record` (watch/record.h): the widest sample is one whole
 * line; lines pushed from many threads while another writes all arrive,
 * whole; past the queue's bound lines are dropped and counted, never
 * half-written. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../monitor/watch/record.h"

static void widest(struct bd_watcher *w)
{
        memset(w, 0, sizeof(*w));
        memset(w->target.name, 'n', sizeof(w->target.name) - 1);
        struct bd_probe_sample *s = &w->last;
        s->t_ns = s->rtt_ns = s->jiffies = s->oom_kills = s->hung_ns = UINT64_MAX;
        s->tainted_mask = UINT64_MAX;
        s->nr_threads = s->max_threads = s->pid_max = INT64_MIN;
        s->nr_files = s->max_files = s->free_pages = s->min_free_pages = INT64_MIN;
        s->read_error = s->hung_pid = INT32_MIN;
        s->hung_scanned = s->suspicious = 1;
        s->ncpus = BD_PROBE_MAX_CPUS;
        for (unsigned c = 0; c < BD_PROBE_MAX_CPUS; c++) {
                struct bd_probe_cpu *q = &s->cpu[c];
                q->present = INT32_MIN;
                q->clock = q->nr_switches = q->timer_irqs = UINT64_MAX;
                q->hrtimer_interrupts = q->touch_ts = UINT64_MAX;
                q->nr_running = UINT32_MAX;
        }
}

static void test_widest_line(void **state)
{
        (void)state;
        static struct bd_watcher w;
        widest(&w);
        char buf[BD_RECORD_LINE_MAX];
        size_t n = bd_record_line(&w, buf, sizeof(buf));
        assert_true(n > 0 && n < sizeof(buf) - 1);
        assert_int_equal(strlen(buf), n);
        assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);
        char last[32];
        snprintf(last, sizeof(last), " cpu%u=", BD_PROBE_MAX_CPUS - 1);
        assert_non_null(strstr(buf, last));
        assert_non_null(strstr(buf, " suspicious=1"));

        /* Cut short, it is still a line. */
        char small[100];
        n = bd_record_line(&w, small, sizeof(small));
        assert_int_equal(n, sizeof(small) - 1);
        assert_int_equal(small[n - 1], '\n');
}

#define THREADS 4
#define PUSHES  2000

struct pusher {
        struct bd_record_queue *q;
        struct bd_watcher w;
};

static void *push_all(void *arg)
{
        struct pusher *p = arg;
        for (int i = 0; i < PUSHES; i++) {
                p->w.last.t_ns = (uint64_t)i;
                bd_record_queue_push(p->q, &p->w);
        }
        return NULL;
}

static size_t count_lines(FILE *f, const char *prefix)
{
        rewind(f);
        char line[BD_RECORD_LINE_MAX];
        size_t n = 0;
        while (fgets(line, sizeof(line), f)) {
                assert_non_null(strchr(line, '\n'));
                if (prefix)
                        assert_int_equal(strncmp(line, prefix, strlen(prefix)), 0);
                n++;
        }
        return n;
}

static void test_threads_and_a_writer(void **state)
{
        (void)state;
        static struct bd_record_queue q;
        static struct pusher p[THREADS];
        bd_record_queue_init(&q);
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++) {
                p[i].q = &q;
                snprintf(p[i].w.target.name, sizeof(p[i].w.target.name), "t%d", i);
                p[i].w.last.ncpus = 2;
                assert_int_equal(pthread_create(&t[i], NULL, push_all, &p[i]), 0);
        }
        FILE *f = tmpfile();
        assert_non_null(f);
        uint64_t dropped, all_dropped = 0;
        for (int k = 0; k < 50; k++) {
                assert_int_equal(bd_record_queue_write(&q, f, &dropped), 0);
                all_dropped += dropped;
        }
        for (int i = 0; i < THREADS; i++)
                pthread_join(t[i], NULL);
        assert_int_equal(bd_record_queue_write(&q, f, &dropped), 0);
        all_dropped += dropped;
        assert_int_equal(all_dropped, 0);
        assert_int_equal(count_lines(f, "t"), THREADS * PUSHES);
        fclose(f);
        bd_record_queue_destroy(&q);
}

static void test_bounded(void **state)
{
        (void)state;
        static struct bd_record_queue q;
        static struct bd_watcher w;
        bd_record_queue_init(&q);
        widest(&w);
        char buf[BD_RECORD_LINE_MAX];
        size_t len = bd_record_line(&w, buf, sizeof(buf));
        size_t pushes = BD_RECORD_QUEUE_MAX / len + 100;
        for (size_t i = 0; i < pushes; i++)
                bd_record_queue_push(&q, &w);
        FILE *f = tmpfile();
        assert_non_null(f);
        uint64_t dropped;
        assert_int_equal(bd_record_queue_write(&q, f, &dropped), 0);
        assert_true(ftell(f) <= (long)BD_RECORD_QUEUE_MAX);
        size_t lines = count_lines(f, NULL);
        assert_true(dropped >= 100);
        assert_int_equal(lines + dropped, pushes);
        /* Written, the queue takes lines again. */
        bd_record_queue_push(&q, &w);
        assert_int_equal(bd_record_queue_write(&q, f, &dropped), 0);
        assert_int_equal(dropped, 0);
        fclose(f);
        bd_record_queue_destroy(&q);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_widest_line),
            cmocka_unit_test(test_threads_and_a_writer),
            cmocka_unit_test(test_bounded),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
