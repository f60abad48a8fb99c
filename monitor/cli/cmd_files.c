/* bdmon files: a process's open files, like ls -l /proc/PID/fd with the
 * flags and position /proc/PID/fdinfo shows. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../views/files.h"
#include "../views/output.h"
#include "cli.h"

/* Holds every O_* name at once. */
#define FLAGS_TEXT 256

static void print_json(const struct bd_file *f)
{
        printf("{\"fd\":%d,\"file\":\"0x%" PRIx64 "\"", f->fd, f->file);
        if (f->have_file) {
                char flags[FLAGS_TEXT];
                bd_file_flags_text(f->flags, flags, sizeof(flags));
                printf(",\"flags\":%" PRIu32 ",\"flags_text\":\"%s\",\"pos\":%" PRId64
                       ",\"mode\":%" PRIu32 ",\"access\":\"%s%s\"",
                       f->flags, flags, f->pos, f->mode, f->mode & BD_FMODE_READ ? "r" : "",
                       f->mode & BD_FMODE_WRITE ? "w" : "");
                if (f->mnt_id >= 0)
                        printf(",\"mnt_id\":%d", f->mnt_id);
        }
        if (f->have_inode) {
                printf(",\"ino\":%" PRIu64 ",\"i_mode\":%" PRIu32 ",\"kind\":\"%s\"", f->ino,
                       f->i_mode, bd_file_kind_name(f->kind));
                if (f->kind == BD_FILE_ANON && bd_file_anon_name(f->anon))
                        printf(",\"anon\":\"%s\"", bd_file_anon_name(f->anon));
        }
        printf(",\"path\":");
        if (f->path)
                bd_json_string(stdout, f->path);
        else
                printf("null");
        if (f->error) {
                printf(",\"error\":");
                bd_json_string(stdout, f->error);
        }
        printf("}");
}

static void print_line(const struct bd_file *f)
{
        char mode[11] = "?", flags[FLAGS_TEXT] = "?", pos[24] = "?", ino[24] = "?";
        if (f->have_file) {
                bd_file_mode_text(f->mode, mode);
                bd_file_flags_text(f->flags, flags, sizeof(flags));
                snprintf(pos, sizeof(pos), "%" PRId64, f->pos);
        }
        if (f->have_inode)
                snprintf(ino, sizeof(ino), "%" PRIu64, f->ino);
        printf("%5d %-10s %10s %10s %-10s %-24s ", f->fd, mode, pos, ino,
               f->have_inode ? bd_file_kind_name(f->kind) : "?", flags);
        if (f->path)
                bd_put_text(stdout, f->path, strlen(f->path));
        else
                putchar('?');
        if (f->error)
                printf(" (%s)", f->error);
        putchar('\n');
}

int cmd_files(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)nargs;
        int32_t pid;
        struct bd_program *prog;
        int rc = cli_open_process(cli, p, args[0], &pid, &prog);
        if (rc)
                return rc;
        struct bd_files *fs = NULL;
        struct bd_error *err = bd_files_read(prog, pid, &fs);
        if (err) {
                bd_program_close(prog);
                return cli_report(err);
        }
        if (cli->json) {
                printf("{\"target\":");
                bd_json_string(stdout, p->name);
                printf(",\"pid\":%" PRId32 ",\"max_fds\":%" PRIu32 ",\"files\":[", pid,
                       fs->max_fds);
        } else {
                printf("%5s %-10s %10s %10s %-10s %-24s %s\n", "FD", "MODE", "POS", "INODE", "KIND",
                       "FLAGS", "PATH");
        }
        for (size_t i = 0; i < fs->n; i++) {
                if (cli->json) {
                        printf("%s", i ? "," : "");
                        print_json(&fs->f[i]);
                } else {
                        print_line(&fs->f[i]);
                }
        }
        const struct bd_reads *st = &fs->st;
        if (cli->json)
                printf("],\"batches\":%" PRIu64 ",\"round_trips\":%" PRIu64
                       ",\"bytes_read\":%" PRIu64 ",\"elapsed_ms\":%.3f}\n",
                       st->batches, st->round_trips, st->bytes_read, (double)st->elapsed_ns / 1e6);
        else if (!cli->quiet)
                fprintf(stderr,
                        "bdmon: %zu open files of pid %" PRId32 " (max_fds %" PRIu32
                        ") in %.1f ms: %" PRIu64 " dependent batches, %" PRIu64 " reads, %" PRIu64
                        " KiB\n",
                        fs->n, pid, fs->max_fds, (double)st->elapsed_ns / 1e6, st->batches,
                        st->round_trips, st->bytes_read >> 10);
        bd_files_free(fs);
        bd_program_close(prog);
        return cli_flush();
}
