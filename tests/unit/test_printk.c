/* The printk ring decoder on synthetic rings in small RAM files: records in
 * order (one wrapping the data ring), uncommitted ones skipped, corrupt
 * ids, lpos, lengths and counts rejected without a crash or a leak, and a
 * ring larger than its budget read only in its newest part. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../monitor/kernel/kernel.h"
#include "../../monitor/source/phys_file.h"
#include "../../monitor/views/printk.h"
#include "../../monitor/kernel/vmcoreinfo.h"
#include "helpers.h"
#include "printk_ring.h"

static struct ring_img ring;
static struct bd_vmcoreinfo vi;

static void set_vi(const char *text)
{
        vi.len = strlen(text);
        memcpy(vi.text, text, vi.len + 1);
}

/* Five records from lpos 216 of a 256-byte data ring: the second block
 * does not fit before the end and is stored at the start. The sixth is
 * still reserved (being written). */
static void build(void)
{
        ring_init(&ring, 1000, 216);
        ring_add(&ring, 2, "Linux version 6.1.0", 1000, 0);
        ring_add(&ring, 2, "wraps the data ring", 2500000, 1);
        ring_add(&ring, 1, "two\nlines", 12345678901ull, 0x80000003u);
        ring_add(&ring, 2, "", 12345678902ull, 7);
        ring_add(&ring, 2, "last finalized", 99000000000ull, 42);
        ring_add(&ring, 0, "in progress", 99000000001ull, 42);
        set_vi(ring_vmcoreinfo);
}

/* Decode the current ring image, followed by zeros up to size bytes (a
 * sparse file), within budget (0: bd_printk_read()'s); the caller frees
 * *log. */
static struct bd_error *decode_image(uint64_t size, uint64_t budget, struct bd_printk_log **log)
{
        char path[64];
        temp_file(path, ring.mem, sizeof(ring.mem));
        assert_int_equal(truncate(path, (off_t)size), 0);
        struct bd_phys *p;
        assert_bd_ok(bd_phys_open_file(path, 0, &p));
        unlink(path);
        snprintf(p->name, sizeof(p->name), "synthetic");
        struct bd_printk_layout lay;
        struct bd_kernel *k = NULL;
        struct bd_error *err = bd_printk_layout_get(&vi, &lay);
        if (!err)
                err = bd_kernel_open(p, &vi, &k);
        if (!err)
                err = budget ? bd_printk_read_within(k, &lay, budget, log)
                             : bd_printk_read(k, &lay, log);
        bd_kernel_close(k);
        bd_phys_close(p);
        return err;
}

static struct bd_error *decode(struct bd_printk_log **log)
{
        return decode_image(sizeof(ring.mem), 0, log);
}

static void expect_text(const struct bd_printk_record *r, const char *text)
{
        assert_int_equal(r->text_len, strlen(text));
        assert_memory_equal(r->text, text, r->text_len);
}

static void test_records(void **state)
{
        (void)state;
        build();
        struct bd_printk_log *log;
        assert_bd_ok(decode(&log));
        assert_int_equal(log->n, 5);
        assert_int_equal(log->descriptors, 8);
        assert_int_equal(log->skipped_state, 1);
        assert_int_equal(log->skipped_corrupt, 0);
        expect_text(&log->records[0], "Linux version 6.1.0");
        expect_text(&log->records[1], "wraps the data ring");
        expect_text(&log->records[2], "two\nlines");
        expect_text(&log->records[3], "");
        expect_text(&log->records[4], "last finalized");
        for (size_t i = 0; i < log->n; i++)
                assert_int_equal(log->records[i].seq, i);
        assert_int_equal(log->records[1].ts_nsec, 2500000);
        assert_int_equal(log->records[2].caller_id, 0x80000003u);
        assert_int_equal(log->records[4].caller_id, 42);
        bd_printk_log_free(log);
}

/* The ring may have gone round many times: ids and lpos far from zero, and
 * descriptor slots reused (the oldest id's slot now holds a newer one). */
static void test_reused_slots(void **state)
{
        (void)state;
        ring_init(&ring, (1ull << 40) + 5, 7ull << 40);
        for (int i = 0; i < 10; i++)
                ring_add(&ring, 2, "x", (uint64_t)i, 0);
        /* The kernel moves the tails on as it reuses: the 8 newest ids. */
        ring.first_id = ring.next_id - 8;
        ring.tail_lpos = ring.head_lpos - 8 * 16;
        ring_header(&ring);
        set_vi(ring_vmcoreinfo);
        struct bd_printk_log *log;
        assert_bd_ok(decode(&log));
        assert_int_equal(log->n, 8);
        assert_int_equal(log->records[0].seq, 2);
        assert_int_equal(log->records[7].seq, 9);
        bd_printk_log_free(log);
}

static void test_corrupt_lpos(void **state)
{
        (void)state;
        build();
        uint64_t d = ring_desc(1001);
        /* begin after next; next beyond head; a block larger than the ring;
         * a data-less begin that is not NO_LPOS. */
        const uint64_t bad[][2] = {{400, 300}, {300, 5000}, {216, 216 + 512}, {1, 300}, {216, 216}};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                build();
                ring_put64(&ring, d + 8, bad[i][0]);
                ring_put64(&ring, d + 16, bad[i][1]);
                struct bd_printk_log *log;
                assert_bd_ok(decode(&log));
                assert_int_equal(log->n, 4);
                assert_int_equal(log->skipped_corrupt, 1);
                bd_printk_log_free(log);
        }
}

static void test_corrupt_text_len_and_block_id(void **state)
{
        (void)state;
        build();
        uint16_t len = 60000;
        memcpy(ring.mem + ring_info(1000) + 16, &len, 2);
        /* The data block of 1004 claims to belong to another id. */
        uint64_t begin = ring_get64(&ring, ring_desc(1004) + 8);
        ring_put64(&ring, RING_DATA + (begin & 255), 77);
        struct bd_printk_log *log;
        assert_bd_ok(decode(&log));
        assert_int_equal(log->n, 3);
        assert_int_equal(log->skipped_corrupt, 2);
        expect_text(&log->records[0], "wraps the data ring");
        bd_printk_log_free(log);
}

/* A descriptor whose id is not the one expected in its slot has been
 * recycled; so has one in the reusable state. */
static void test_stale_descriptors(void **state)
{
        (void)state;
        build();
        ring_put64(&ring, ring_desc(1002), 2ull << 62 | 994);
        ring_put64(&ring, ring_desc(1003), 3ull << 62 | 1003);
        struct bd_printk_log *log;
        assert_bd_ok(decode(&log));
        assert_int_equal(log->n, 3);
        assert_int_equal(log->skipped_state, 2);
        assert_int_equal(log->reusable, 1);
        bd_printk_log_free(log);
}

/* The records come out in sequence order whatever the slot order. */
static void test_sorted_by_seq(void **state)
{
        (void)state;
        build();
        ring_put64(&ring, ring_info(1000), 50);
        struct bd_printk_log *log;
        assert_bd_ok(decode(&log));
        assert_int_equal(log->n, 5);
        assert_int_equal(log->records[4].seq, 50);
        expect_text(&log->records[4], "Linux version 6.1.0");
        bd_printk_log_free(log);
}

static void test_huge_counts_rejected(void **state)
{
        (void)state;
        const uint32_t count_bits[] = {40, BD_PRINTK_MAX_COUNT_BITS + 1, 0xffffffffu};
        const uint32_t size_bits[] = {64, BD_PRINTK_MAX_SIZE_BITS + 1, 3};
        for (size_t i = 0; i < 3; i++) {
                build();
                memcpy(ring.mem + RING_RB, &count_bits[i], 4);
                struct bd_printk_log *log;
                assert_bd_error(decode(&log), BD_ERR_NOT_FOUND);
                build();
                memcpy(ring.mem + RING_RB + 48, &size_bits[i], 4);
                assert_bd_error(decode(&log), BD_ERR_NOT_FOUND);
        }
        /* Plausible but larger than the memory behind the pointers: the
         * reads fail, nothing is trusted. */
        build();
        uint32_t big = 22;
        memcpy(ring.mem + RING_RB, &big, 4);
        struct bd_printk_log *log;
        assert_bd_error(decode(&log), BD_ERR_RANGE);
}

/* head - tail spans far more ids than the ring has slots: at most count
 * descriptors are looked at. */
static void test_span_bounded(void **state)
{
        (void)state;
        build();
        ring_put64(&ring, RING_RB + 32, 1005 - (1ull << 60)); /* tail_id */
        struct bd_printk_log *log;
        assert_bd_ok(decode(&log));
        assert_true(log->n <= 8);
        assert_int_equal(log->n, 5);
        assert_int_equal(log->skipped_corrupt, 1);
        bd_printk_log_free(log);
        /* The data ring's tail ahead of its head: only the last ring-full
         * of text is considered, and it is all still there. */
        build();
        ring_put64(&ring, RING_RB + 72, ring.head_lpos + 8);
        assert_bd_ok(decode(&log));
        assert_int_equal(log->n, 5);
        bd_printk_log_free(log);
        /* A tail just behind the head: every block lies before it. */
        build();
        ring_put64(&ring, RING_RB + 72, ring.head_lpos - 8);
        assert_bd_ok(decode(&log));
        assert_int_equal(log->n, 0);
        assert_int_equal(log->skipped_corrupt, 5);
        bd_printk_log_free(log);
}

/* log's budget note names the budget, what was read, and the option that
 * raises the budget. */
static void expect_note(const struct bd_printk_log *log, const char *budget, const char *read)
{
        char note[512];
        bd_printk_budget_note(log, note, sizeof(note));
        assert_non_null(strstr(note, budget));
        assert_non_null(strstr(note, read));
        assert_non_null(strstr(note, "(--max-read raises the budget)"));
}

/* A ring of 8 descriptors and 256 bytes of text costs 1408 bytes: within
 * 700, the newest 3 descriptors and 127 bytes of text are read, and the
 * note says so, naming the budget and the option that raises it. */
static void test_budget_newest(void **state)
{
        (void)state;
        build();
        struct bd_printk_log *log;
        assert_bd_ok(decode_image(sizeof(ring.mem), 700, &log));
        assert_int_equal(log->ring_cost, 1408);
        assert_int_equal(log->read_descriptors, 3);
        assert_int_equal(log->read_text, 127);
        assert_true(log->bytes_read <= 700);
        assert_int_equal(log->n, 2);
        assert_int_equal(log->skipped_state, 1); /* the newest, still reserved */
        assert_int_equal(log->skipped_corrupt, 0);
        expect_text(&log->records[0], "");
        expect_text(&log->records[1], "last finalized");
        expect_note(log, "over the 700 bytes budget", "newest 3 descriptors and 127 bytes of text");
        bd_printk_log_free(log);
        /* Within its cost, all of it, and no note. */
        assert_bd_ok(decode_image(sizeof(ring.mem), 1408, &log));
        assert_int_equal(log->n, 5);
        char note[512];
        bd_printk_budget_note(log, note, sizeof(note));
        assert_string_equal(note, "");
        bd_printk_log_free(log);
}

/* Records longer than the 32 bytes of text a descriptor stands for: the
 * newest descriptors are read, but the text of the older ones lies before
 * the text read. They are left out, not counted as corrupt. */
static void test_budget_text_before_window(void **state)
{
        (void)state;
        ring_init(&ring, 2000, 0);
        static const char line[] = "a line of forty-eight bytes, as long as it says.";
        for (int i = 0; i < 4; i++)
                ring_add(&ring, 2, line, (uint64_t)i, 0);
        set_vi(ring_vmcoreinfo);
        struct bd_printk_log *log;
        assert_bd_ok(decode_image(sizeof(ring.mem), 704, &log));
        assert_int_equal(log->read_descriptors, 4);
        assert_int_equal(log->read_text, 128);
        assert_int_equal(log->n, 2);
        assert_int_equal(log->skipped_corrupt, 0);
        assert_int_equal(log->records[0].seq, 2);
        assert_int_equal(log->records[1].seq, 3);
        expect_text(&log->records[1], line);
        bd_printk_log_free(log);
}

/* A header claiming 2^22 descriptors and 256 MiB of text (832 MiB to read
 * whole; the newest ids and lpos placed where the small ring has them):
 * within the default 16 MiB, the newest part is read and the records are
 * there. */
static void test_budget_huge_ring(void **state)
{
        (void)state;
        ring_init(&ring, 5ull << 22, 9ull << 28);
        ring_add(&ring, 2, "Linux version 6.1.0", 1000, 0);
        ring_add(&ring, 2, "second", 2000, 0);
        ring_add(&ring, 2, "last finalized", 3000, 0);
        uint32_t count_bits = 22, size_bits = 28;
        memcpy(ring.mem + RING_RB, &count_bits, 4);
        memcpy(ring.mem + RING_RB + 48, &size_bits, 4);
        set_vi(ring_vmcoreinfo);
        struct bd_printk_log *log;
        assert_bd_ok(decode_image(RING_INFOS + (88ull << 22), 0, &log));
        assert_int_equal(log->descriptors, 1u << 22);
        assert_int_equal(log->data_size, 1u << 28);
        assert_true(log->ring_cost > 800u << 20);
        assert_true(log->read_descriptors < log->descriptors);
        assert_true(log->read_text < log->data_size);
        assert_true(log->bytes_read <= BD_PRINTK_BUDGET);
        assert_true(log->read_descriptors * (24 + 88 + sizeof(struct bd_printk_record)) +
                        log->read_text <=
                    BD_PRINTK_BUDGET);
        assert_int_equal(log->n, 3);
        expect_text(&log->records[0], "Linux version 6.1.0");
        expect_text(&log->records[2], "last finalized");
        expect_note(log, "over the 16 MiB budget",
                    "(4194304 descriptors, 256 MiB of text) takes 832 MiB");
        bd_printk_log_free(log);
}

static void test_missing_or_bad_layout(void **state)
{
        (void)state;
        build();
        struct bd_printk_log *log;
        char text[sizeof(ring_vmcoreinfo) + 64];
        /* Without SYMBOL(prb) there is no ring; without an offset no way to
         * read it. */
        const char *drop[] = {
            "SYMBOL(prb)=", "OFFSET(prb_desc.state_var)=", "OFFSET(atomic_long_t.counter)="};
        for (size_t i = 0; i < 3; i++) {
                snprintf(text, sizeof(text), "%s", ring_vmcoreinfo);
                char *at = strstr(text, drop[i]);
                assert_non_null(at);
                at[0] = 'X';
                set_vi(text);
                struct bd_error *err = decode(&log);
                assert_non_null(err);
                assert_int_equal(err->code, BD_ERR_NOT_FOUND);
                assert_non_null(
                    memmem(err->message, strlen(err->message), drop[i], strlen(drop[i]) - 1));
                bd_error_destroy(err);
        }
        /* An offset past its structure's size. */
        snprintf(text, sizeof(text), "%s", ring_vmcoreinfo);
        memcpy(strstr(text, "OFFSET(printk_info.caller_id)=20"), "OFFSET(printk_info.caller_id)=86",
               32);
        set_vi(text);
        assert_bd_error(decode(&log), BD_ERR_NOT_FOUND);
}

/* The prb pointer leads outside the kernel image into an address no page
 * table maps: a clean error naming the address. */
static void test_unmapped_prb(void **state)
{
        (void)state;
        build();
        ring_put64(&ring, RING_PRB_VAR, 0xffff888000100000ull);
        struct bd_printk_log *log;
        struct bd_error *err = decode(&log);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_NOT_FOUND);
        assert_non_null(strstr(err->message, "0xffff888000100000"));
        bd_error_destroy(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_records),
            cmocka_unit_test(test_reused_slots),
            cmocka_unit_test(test_corrupt_lpos),
            cmocka_unit_test(test_corrupt_text_len_and_block_id),
            cmocka_unit_test(test_stale_descriptors),
            cmocka_unit_test(test_sorted_by_seq),
            cmocka_unit_test(test_huge_counts_rejected),
            cmocka_unit_test(test_span_bounded),
            cmocka_unit_test(test_budget_newest),
            cmocka_unit_test(test_budget_text_before_window),
            cmocka_unit_test(test_budget_huge_ring),
            cmocka_unit_test(test_missing_or_bad_layout),
            cmocka_unit_test(test_unmapped_prb),
        };
        return cmocka_run_group_tests_name("printk", tests, NULL, NULL);
}
