/* libFuzzer target: a process's open files with the input as kernel
 * memory (the image mapping, physical 0 upwards, and page tables at
 * physical 0 for every other address): a struct files_struct at K(0x40),
 * laid out as tests/unit/files_img.h's BTF says, its fdtable, bitmaps,
 * files, inodes, dentries, mounts and names wherever the input puts them.
 * The special files' operations are at K(0x100) (eventpoll, eventfd,
 * signalfd, timerfd) and K(0x140) (pipefs, sockfs, anon_inodefs), 8 bytes
 * apart.
 *
 * Invariants: no crash, hang, leak or out-of-bounds read; on success fds
 * ascending below a max_fds the kernel allows, no more files than the
 * budget holds, every file with a path of at most PATH_MAX bytes or an
 * error saying why, on one line; on failure a one-line error with a code
 * hostile memory can cause. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/kernel/kernel.h"
#include "../../monitor/views/files.h"
#include "../unit/files_img.h"
#include "fuzz_check.h"
#include "mem_phys.h"

#define BUDGET (1u << 20)
#define FILES  K(0x40)
#define FOPS   0x100
#define DOPS   0x140

static struct bd_layout layout;

static void check_files(const struct bd_files *fs)
{
        CHECK(fs->max_fds && fs->max_fds % 64 == 0 && fs->max_fds <= BD_NR_OPEN_MAX);
        /* A file costs far more than 512 bytes of the budget. */
        CHECK(fs->n <= fs->max_fds && fs->n * 512 <= BUDGET);
        for (size_t i = 0; i < fs->n; i++) {
                const struct bd_file *f = &fs->f[i];
                CHECK(f->fd >= 0 && (uint32_t)f->fd < fs->max_fds);
                CHECK(!i || f->fd > fs->f[i - 1].fd);
                CHECK(f->path || f->error);
                CHECK(!f->path || (f->path[0] && strlen(f->path) < BD_PATH_MAX));
                if (f->error)
                        CHECK(f->error[0] && !strchr(f->error, '\n') && !strstr(f->error, "fuzz"));
                CHECK((unsigned)f->kind <= BD_FILE_ANON && (unsigned)f->anon < BD_ANON_COUNT);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!layout.source[0]) {
                struct btf *btf = fi_btf();
                CHECK(btf);
                bd_layout_from_btf(&layout, btf);
                btf__free(btf);
        }
        struct mem_phys m;
        struct bd_kernel k;
        uint8_t *mem = mem_kernel_copy(&m, &k, data, size);
        CHECK(mem);
        struct bd_files_syms syms = {0};
        for (int i = BD_ANON_OTHER + 1; i < BD_ANON_COUNT; i++)
                syms.fops[i] = K(FOPS + 8 * (i - 1));
        for (int i = 0; i < BD_PSEUDO_COUNT; i++)
                syms.dops[i] = K(DOPS + 8 * i);
        struct bd_files *fs = NULL;
        struct bd_error *err = bd_files_from_table(&k, &layout, &syms, FILES, BUDGET, &fs);
        if (err) {
                CHECK(!fs);
                check_memory_error(err);
                bd_error_destroy(err);
        } else {
                check_files(fs);
                bd_files_free(fs);
        }
        free(mem);
        return 0;
}
