/* stale_read: after a batch that failed with reads in flight, does the
 * monitor's next read get its own bytes?
 *
 *   stale_read -k KEYFILE [-t MS] [-s SECONDS] [rdma:]HOST[:PORT] ADDR LEN
 *
 * Reads LEN bytes at physical ADDR through bdmon's own NIC source (with
 * MS as its timeout, default 1000) once as a reference, then again and
 * again for SECONDS (default 20) while the test stops and continues the
 * NIC. A read that times out is what a stopped NIC causes; a connection
 * the source says it no longer uses is opened again. What must never
 * happen: a read that completes with other bytes, or fails on an answer to
 * an earlier read (a protocol error). Prints counts: good, timed-out,
 * reconnected, stale. Exit 0 when none was stale and the last read was
 * good, 1 otherwise, 2 on usage errors or no first read. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/clock.h"
#include "../../monitor/source/phys_nic.h"
#include "../../monitor/source/target.h"

static struct bd_error *open_nic(const struct bd_target *t, int timeout_ms, struct bd_phys **p)
{
        struct bd_nic_options opt = {
            .host = t->host, .port = t->port, .key_path = t->key, .timeout_ms = timeout_ms};
        return bd_phys_open_nic(&opt, p);
}

int main(int argc, char **argv)
{
        int timeout_ms = 1000, seconds = 20, opt;
        const char *key_path = NULL;
        while ((opt = getopt(argc, argv, "k:t:s:")) != -1) {
                if (opt == 'k')
                        key_path = optarg;
                else if (opt == 't')
                        timeout_ms = atoi(optarg);
                else if (opt == 's')
                        seconds = atoi(optarg);
                else
                        return 2;
        }
        if (!key_path || argc - optind != 3 || timeout_ms <= 0 || seconds <= 0) {
                fprintf(stderr, "usage: stale_read -k KEYFILE [-t MS] [-s SECONDS] "
                                "[rdma:]HOST[:PORT] ADDR LEN\n");
                return 2;
        }
        uint64_t addr = strtoull(argv[optind + 1], NULL, 0);
        size_t len = (size_t)strtoull(argv[optind + 2], NULL, 0);
        struct bd_target t;
        struct bd_phys *p = NULL;
        uint8_t *want = malloc(len), *got = malloc(len);
        struct bd_error *err = bd_target_parse_spec(argv[optind], key_path, &t);
        if (!err && (!want || !got))
                err = &bd_error_nomem;
        if (!err)
                err = open_nic(&t, timeout_ms, &p);
        if (!err)
                err = bd_phys_read(p, addr, want, len);
        if (err) {
                fprintf(stderr, "stale_read: %s\n", err->message);
                return 2;
        }
        unsigned good = 0, timed_out = 0, reconnected = 0, stale = 0;
        int last_good = 0;
        uint64_t end = bd_now_ns() + (uint64_t)seconds * 1000000000u;
        while (bd_now_ns() < end) {
                if (!p && (err = open_nic(&t, timeout_ms, &p))) {
                        bd_error_destroy(err);
                        p = NULL;
                        continue;
                }
                memset(got, 0, len);
                err = bd_phys_read(p, addr, got, len);
                last_good = !err && !memcmp(got, want, len);
                if (last_good) {
                        good++;
                } else if (!err || err->code == BD_ERR_PROTOCOL) {
                        stale++;
                        fprintf(stderr, "stale_read: stale: %s\n",
                                err ? err->message : "other bytes than the first read's");
                } else if (strstr(err->message, "no longer used")) {
                        reconnected++;
                        bd_phys_close(p);
                        p = NULL;
                } else {
                        timed_out++;
                }
                bd_error_destroy(err);
                struct timespec ts = {0, 100000000};
                nanosleep(&ts, NULL);
        }
        printf("good %u timed-out %u reconnected %u stale %u\n", good, timed_out, reconnected,
               stale);
        if (p)
                bd_phys_close(p);
        free(want), free(got);
        return !stale && last_good ? 0 : 1;
}
