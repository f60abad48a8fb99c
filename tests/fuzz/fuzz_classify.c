/* libFuzzer target: bdmon watch's classifier on hostile probe readings.
 * Every value a probe reads comes from a possibly dying kernel's memory, so
 * the input is a run of samples whose every byte is the fuzzer's, with
 * monitor time kept increasing as the watch loop guarantees.
 *
 * Invariants: each verdict is a known state with a cpu in [-1, ncpus), a
 * NUL-terminated subject and evidence line, its first evidence no later
 * than itself; the classifier never reports the same verdict twice in a
 * row. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../monitor/watch/classify.h"
#include "fuzz_check.h"

/* Enough of a sample for the classifier to see everything that varies. */
#define CHUNK (offsetof(struct bd_probe_sample, cpu) + 4 * sizeof(struct bd_probe_cpu))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct bd_classifier c;
        bd_classifier_init(&c, NULL);
        uint64_t t = 1000000000ull;
        struct bd_event ev, last = {.state = BD_STATE_UNKNOWN, .cpu = -1};
        int have_last = 0;
        for (size_t off = 0; off + CHUNK <= size; off += CHUNK) {
                struct bd_probe_sample s;
                memset(&s, 0, sizeof(s));
                memcpy(&s, data + off, CHUNK);
                /* The loop stamps samples itself, 1 to 64 ms apart. */
                t += 1000000ull * (1 + (s.t_ns & 63));
                s.t_ns = t;
                s.rtt_ns %= 100000000ull;
                s.read_error = s.read_error & 1 ? (int)(s.read_error >> 1) % 13 : 0;
                if (!bd_classifier_feed(&c, &s, &ev))
                        continue;
                CHECK(strcmp(bd_state_name(ev.state), "invalid"));
                CHECK(ev.cpu >= -1 && ev.cpu < BD_PROBE_MAX_CPUS);
                CHECK(memchr(ev.what, '\0', sizeof(ev.what)));
                CHECK(memchr(ev.evidence, '\0', sizeof(ev.evidence)));
                CHECK(ev.since_ns <= ev.t_ns && ev.t_ns == t);
                CHECK(!have_last || !(ev.state == last.state && ev.cpu == last.cpu &&
                                      ev.pid == last.pid && !strcmp(ev.what, last.what)));
                last = ev;
                have_last = 1;
        }
        return 0;
}
