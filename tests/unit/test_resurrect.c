/* CRIU images without a kernel: the system-call decision on made-up
 * registers, image files as the installed crit reads them back (the
 * framing, the magics, the generated formats), and libbdagent's part of
 * them: its memfd's images and a region rolled back over the pages read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <criu/inventory.pb-c.h>
#include <criu/pstree.pb-c.h>

#include "../../common/bytes.h"
#include "../../monitor/resurrect/agent_image.h"
#include "../../monitor/resurrect/criu_image.h"
#include "../../monitor/resurrect/syscall_restart.h"
#include "helpers.h"

static void regs_in(uint8_t *r, int64_t nr, uint64_t si, uint64_t r10)
{
        memset(r, 0, BD_PT_REGS_SIZE);
        bd_put_le(r + BD_REG_AX, (uint64_t)-38, 8); /* -ENOSYS: still in the call */
        bd_put_le(r + BD_REG_ORIG_AX, (uint64_t)nr, 8);
        bd_put_le(r + BD_REG_IP, 0x7f0000001002ull, 8);
        bd_put_le(r + BD_REG_SI, si, 8);
        bd_put_le(r + BD_REG_R10, r10, 8);
}

static void test_syscall_fix(void **state)
{
        (void)state;
        uint8_t r[BD_PT_REGS_SIZE];
        /* futex(FUTEX_WAIT_PRIVATE) without a timeout: runs again. */
        regs_in(r, 202, 0x80, 0);
        assert_int_equal(bd_syscall_fix(r, 1), BD_SYSCALL_REWOUND);
        assert_int_equal(bd_le64(r + BD_REG_AX), 202);
        assert_int_equal(bd_le64(r + BD_REG_IP), 0x7f0000001000ull);
        /* The same with a timeout: -EINTR, ip as it was. */
        regs_in(r, 202, 0x80, 0x7ffd0000);
        assert_int_equal(bd_syscall_fix(r, 1), BD_SYSCALL_EINTR);
        assert_int_equal((int64_t)bd_le64(r + BD_REG_AX), -4);
        assert_int_equal(bd_le64(r + BD_REG_IP), 0x7f0000001002ull);
        /* poll and nanosleep return -EINTR, as from criu's dump. */
        regs_in(r, 7, 1, 0);
        assert_int_equal(bd_syscall_fix(r, 1), BD_SYSCALL_EINTR);
        regs_in(r, 35, 0, 0);
        assert_int_equal(bd_syscall_fix(r, 1), BD_SYSCALL_EINTR);
        /* read and accept run again; write never is rewound. */
        regs_in(r, 0, 0, 0);
        assert_int_equal(bd_syscall_fix(r, 1), BD_SYSCALL_REWOUND);
        regs_in(r, 43, 0, 0);
        assert_int_equal(bd_syscall_fix(r, 1), BD_SYSCALL_REWOUND);
        regs_in(r, 1, 0, 0);
        assert_int_equal(bd_syscall_fix(r, 1), BD_SYSCALL_EINTR);
        /* Not in a call: no syscall instruction before ip, a result in
         * ax, or a page fault's error code. */
        regs_in(r, 202, 0x80, 0);
        assert_int_equal(bd_syscall_fix(r, 0), BD_SYSCALL_NONE);
        bd_put_le(r + BD_REG_AX, 0, 8);
        assert_int_equal(bd_syscall_fix(r, 1), BD_SYSCALL_NONE);
        regs_in(r, -1, 0, 0);
        assert_int_equal(bd_syscall_fix(r, 1), BD_SYSCALL_NONE);
        assert_string_equal(bd_syscall_fix_name(BD_SYSCALL_REWOUND), "rewound");
}

/* What the installed crit says of an image: its decoded JSON. */
static char *crit_decode(const char *path)
{
        char cmd[4200];
        snprintf(cmd, sizeof(cmd), "/usr/bin/crit decode -i '%s' 2>&1", path);
        FILE *f = popen(cmd, "r");
        assert_non_null(f);
        static char out[8192];
        size_t n = fread(out, 1, sizeof(out) - 1, f);
        out[n] = 0;
        int rc = pclose(f);
        if (rc)
                fprintf(stderr, "crit decode %s: %s\n", path, out);
        assert_int_equal(rc, 0);
        return out;
}

/* crit's JSON of image name in dir. */
static char *crit_decode_in(const char *dir, const char *name)
{
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return crit_decode(path);
}

static void test_images_crit_reads(void **state)
{
        (void)state;
        char dir[64];
        snprintf(dir, sizeof(dir), "/tmp/bd-images-%d", (int)getpid());
        struct bd_criu_dir d;
        assert_bd_ok(bd_criu_dir_create(dir, &d));
        TaskKobjIdsEntry root = TASK_KOBJ_IDS_ENTRY__INIT;
        root.vm_id = 1;
        InventoryEntry inv = INVENTORY_ENTRY__INIT;
        inv.img_version = 2;
        inv.root_ids = &root;
        const ProtobufCMessage *msg = &inv.base;
        assert_bd_ok(bd_criu_img_write(&d, "inventory.img", BD_CRIU_MAGIC_INVENTORY, &msg, 1));
        uint32_t threads[] = {42, 43};
        PstreeEntry pe = PSTREE_ENTRY__INIT;
        pe.pid = 42, pe.pgid = 40, pe.sid = 40;
        pe.n_threads = 2, pe.threads = threads;
        msg = &pe.base;
        assert_bd_ok(bd_criu_img_write(&d, "pstree.img", BD_CRIU_MAGIC_PSTREE, &msg, 1));
        /* Nothing is there under the final name before the commit. */
        struct stat st;
        assert_int_not_equal(stat(dir, &st), 0);
        assert_bd_ok(bd_criu_dir_commit(&d));
        const char *out = crit_decode_in(dir, "pstree.img");
        assert_non_null(strstr(out, "\"magic\": \"PSTREE\""));
        assert_non_null(strstr(out, "\"pid\": 42"));
        assert_non_null(strstr(out, "43"));
        out = crit_decode_in(dir, "inventory.img");
        assert_non_null(strstr(out, "\"magic\": \"INVENTORY\""));
        assert_non_null(strstr(out, "\"img_version\": 2"));
        /* A directory that exists is refused, never written into. */
        assert_bd_error(bd_criu_dir_create(dir, &d), BD_ERR_USAGE);
        char cmd[160];
        snprintf(cmd, sizeof(cmd), "rm -r '%s'", dir);
        assert_int_equal(system(cmd), 0);
        /* A discarded directory leaves nothing behind. */
        assert_bd_ok(bd_criu_dir_create(dir, &d));
        assert_bd_ok(bd_criu_img_write(&d, "pstree.img", BD_CRIU_MAGIC_PSTREE, &msg, 1));
        char tmp[4200];
        snprintf(tmp, sizeof(tmp), "%s", d.tmp);
        bd_criu_dir_discard(&d);
        assert_int_not_equal(stat(tmp, &st), 0);
        assert_int_not_equal(stat(dir, &st), 0);
}

/* Two regions, one across a page boundary: only their bytes change, and
 * only where the range read holds them. */
static void test_agent_rollback_patch(void **state)
{
        (void)state;
        uint8_t a[16], b[5000];
        memset(a, 0xaa, sizeof(a)), memset(b, 0xbb, sizeof(b));
        struct bd_agent_image ai = {.nregions = 2};
        ai.region[0].live = 0x10000ff8, ai.region[0].len = sizeof(a), ai.region[0].bytes = a;
        ai.region[1].live = 0x10003000, ai.region[1].len = sizeof(b), ai.region[1].bytes = b;
        assert_false(bd_agent_image_overlaps(&ai, 0x0fff0000, 0x10000));
        assert_false(bd_agent_image_overlaps(&ai, 0x10002000, 0x1000));
        assert_true(bd_agent_image_overlaps(&ai, 0x10001000, 0x1000));
        assert_true(bd_agent_image_overlaps(&ai, 0x10004000, 0x1000));
        static uint8_t page[0x1000];
        memset(page, 0x11, sizeof(page));
        bd_agent_image_patch(&ai, 0x10000000, page, sizeof(page));
        assert_int_equal(page[0xff7], 0x11);
        assert_int_equal(page[0xff8], 0xaa);
        assert_int_equal(page[0xfff], 0xaa);
        memset(page, 0x11, sizeof(page));
        bd_agent_image_patch(&ai, 0x10001000, page, sizeof(page));
        assert_int_equal(page[7], 0xaa);
        assert_int_equal(page[8], 0x11);
        /* Two pages at once: the second region's start and end. */
        static uint8_t two[0x2000];
        memset(two, 0x11, sizeof(two));
        bd_agent_image_patch(&ai, 0x10003000, two, sizeof(two));
        assert_int_equal(two[0], 0xbb);
        assert_int_equal(two[4999], 0xbb);
        assert_int_equal(two[5000], 0x11);
        assert_true(bd_agent_image_signals(&(struct bd_agent_image){.tid = {7, 9}, .ntids = 2}, 9));
        assert_false(
            bd_agent_image_signals(&(struct bd_agent_image){.tid = {7, 9}, .ntids = 1}, 9));
}

/* The memfd's images as crit reads them: the inode named as the library
 * named it, its pages by offset in pagemap-shmem-ID, the bytes in
 * pages-N.img. */
static void test_agent_memfd_images(void **state)
{
        (void)state;
        char dir[64], path[128];
        snprintf(dir, sizeof(dir), "/tmp/bd-agent-images-%d", (int)getpid());
        static uint8_t contents[8192];
        memset(contents, 0x5a, sizeof(contents));
        struct bd_agent_image ai = {.len = sizeof(contents), .contents = contents};
        strcpy(ai.st.name, "svc");
        struct bd_criu_dir d;
        assert_bd_ok(bd_criu_dir_create(dir, &d));
        assert_bd_ok(bd_agent_image_write(&d, &ai, 7, 2, 1000, 1001));
        assert_bd_ok(bd_criu_dir_commit(&d));
        const char *out = crit_decode_in(dir, "memfd.img");
        assert_non_null(strstr(out, "\"magic\": \"MEMFD_INODE\""));
        assert_non_null(strstr(out, "\"name\": \"bdagent:svc\""));
        assert_non_null(strstr(out, "\"size\": 8192"));
        assert_non_null(strstr(out, "\"shmid\": 7"));
        assert_non_null(strstr(out, "\"uid\": 1000"));
        out = crit_decode_in(dir, "pagemap-shmem-7.img");
        assert_non_null(strstr(out, "\"pages_id\": 2"));
        assert_non_null(strstr(out, "\"nr_pages\": 2"));
        struct stat st;
        snprintf(path, sizeof(path), "%s/pages-2.img", dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, sizeof(contents));
        char cmd[160];
        snprintf(cmd, sizeof(cmd), "rm -r '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_syscall_fix),
            cmocka_unit_test(test_images_crit_reads),
            cmocka_unit_test(test_agent_rollback_patch),
            cmocka_unit_test(test_agent_memfd_images),
        };
        return cmocka_run_group_tests_name("resurrect", tests, NULL, NULL);
}
