/* `bdmon watch --record`: every sample as one line (the format
 * tests/unit/test_classify.c replays), and the queue the lines wait in
 * for the thread that writes them. A target's thread only formats and
 * copies its line: a write to the record's file can stall for a second
 * while the kernel flushes dirty pages, and no target's probes may wait
 * for a disk. */
#ifndef BD_RECORD_H
#define BD_RECORD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "watch.h"

/* Room for a sample of BD_PROBE_MAX_CPUS cpus, with every number at its
 * widest. */
#define BD_RECORD_LINE_MAX 16384

/* w's latest sample as a line, newline included; returns its length. */
size_t bd_record_line(const struct bd_watcher *w, char *buf, size_t cap);

/* Lines waiting to be written, up to BD_RECORD_QUEUE_MAX bytes: past
 * that, while the file does not keep up, lines are dropped and counted. */
#define BD_RECORD_QUEUE_MAX (16u << 20)

struct bd_record_queue {
        pthread_mutex_t lock;
        char *buf;
        size_t len, cap;
        uint64_t dropped; /* lines, since the last bd_record_queue_write() */
};

void bd_record_queue_init(struct bd_record_queue *q);
/* From any thread: w's latest sample joins the queue. */
void bd_record_queue_push(struct bd_record_queue *q, const struct bd_watcher *w);
/* From the one writing thread: write and flush what waits, outside the
 * lock; *dropped gets the lines dropped since the last call. -1 with
 * errno if the file took it not. */
int bd_record_queue_write(struct bd_record_queue *q, FILE *f, uint64_t *dropped);
void bd_record_queue_destroy(struct bd_record_queue *q);

#endif
