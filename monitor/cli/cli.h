/* What every bdmon command shares: the parsed command line, error reporting
 * (one line on stderr, the error's code as exit status), number parsing, and
 * opening a target's kernel as a program. Commands live one per file
 * (cmd_*.c) and only print; the library under monitor/ does the work. */
#ifndef BD_CLI_H
#define BD_CLI_H

#include <stdint.h>

#include <stdio.h>

#include "../../common/error.h"
#include "../source/phys.h"
#include "../kernel/program.h"
#include "../resurrect/resurrect.h"
#include "../resurrect/standby.h"
#include "../source/target.h"

struct cli {
        const char *config;
        const char *source;
        const char *key;
        const char *audit;
        const char *layout;    /* --layout FILE */
        const char *output;    /* -o FILE */
        const char *images;    /* resurrect --images DIR */
        const char *to;        /* resurrect --to COMMAND: the standby's restore */
        const char *to_images; /* resurrect --to-images DIR: images as it sees them */
        const char *type;      /* print --type STRUCT */
        const char *plan;      /* repair --plan FILE */
        const char *format;    /* dump --format elf|kdump */
        long dump_level;       /* dump -d LEVEL */
        int resume;            /* dump --resume */
        const char *compress;  /* dump --compress zlib|zstd */
        int apply;             /* repair --apply */
        int force;             /* repair --force */
        int json, raw, write, rescan, quiet, no_cache, threads, follow, kernel_addr;
        int tcp, udp;         /* net: only these protocols (neither: both) */
        long pid;             /* read --pid, maps: -1 when not given */
        long resurrect;       /* watch --resurrect PID, -1 when not given */
        long cpu;             /* print: one CPU's copy of a per-CPU variable, or -1 */
        uint64_t interval_ms; /* dmesg --follow polling, watch probing */
        int interval_set;     /* --interval given: the commands' defaults differ */
        /* watch */
        const char *on_alarm, *incidents, *metrics, *record;
        const char *repair; /* --repair POLICY */
        const char *shard;  /* --shard I/N */
        unsigned replicas;  /* --replicas R, 0: not given */
        int no_capture;
        uint64_t duration_ms, hung_ms;
        unsigned incident_rate;  /* --incident-rate: incidents a minute per target */
        uint64_t incident_quota; /* --incident-quota: bytes of the incident directory */
        uint64_t max_read;       /* --max-read, 0: each view's default budget */
        /* checkpoint */
        const char *store;   /* --store DIR */
        unsigned keep;       /* --keep N: versions kept */
        uint64_t store_size; /* --store-size SIZE: bytes they may hold */
        int pin;             /* --pin: the reader pin, for large regions */
        const char *restore; /* --restore VERSION: checkpoints DIR VERSION */
        struct bd_open_options open;
};

/* A command: args are what follows TARGET. */
struct cli_command {
        const char *name;
        int nargs;     /* after TARGET; -1: no target, no arguments */
        int more_args; /* up to this many more arguments may follow */
        int (*run)(struct cli *cli, struct bd_phys *p, char **args, int nargs);
};

/* One line on stderr, naming the target once one is set; returns the
 * error's code as the exit status. */
int cli_report(struct bd_error *err);
void cli_set_target(const char *name);
int cli_usage_error(const char *fmt, const char *arg);
int cli_parse_number(const char *s, uint64_t *out, int allow_suffix);
/* A period in milliseconds: N, Nms or Ns. 0, or -1 when s is none. */
int cli_parse_ms(const char *s, uint64_t *ms);
/* 0, or BD_ERR_IO when standard output could not be written (a closed pipe
 * must not look like success). */
int cli_flush(void);

/* A progress line on stderr for long work ("WHAT: DONE / TOTAL MiB"),
 * redrawn every step bytes and at the end; nothing with -q or when stderr
 * is no terminal. cli_progress is the callback the library takes. */
void cli_progress_begin(const struct cli *cli, const char *what, uint64_t step);
void cli_progress(uint64_t done, uint64_t total);

/* The target's kernel: VMCOREINFO from the remembered location or a scan
 * (with progress on a terminal), as the command line asks. The _untyped
 * form for a command that reads no kernel structure (bd_program_options'
 * no_types). */
struct bd_error *cli_open_program(struct cli *cli, struct bd_phys *p, struct bd_program **out);
struct bd_error *cli_open_program_untyped(struct cli *cli, struct bd_phys *p,
                                          struct bd_program **out);
/* A command about one process: its PID argument (arg), then the target's
 * kernel. 0, or the exit status of what failed, said on stderr. */
int cli_open_process(struct cli *cli, struct bd_phys *p, const char *arg, int32_t *pid,
                     struct bd_program **prog);

/* A process written as CRIU images (cli->images) and, with cli->to, given
 * to the standby: what resurrect does, and watch --resurrect when its
 * target panics. err: the images were not written; standby_err: the
 * standby's restore was not run (the kernel still ran) or failed. */
struct cli_resurrection {
        int32_t pid;
        struct bd_resurrect_stats st;
        struct bd_standby_result sb;
        struct bd_error *err, *standby_err;
};
void cli_resurrect(struct cli *cli, struct bd_program *prog, int32_t pid,
                   struct cli_resurrection *r);
/* resurrect's JSON object, or its lines; neither says the errors. */
void cli_resurrection_json(FILE *f, const struct cli *cli, const struct cli_resurrection *r);
void cli_resurrection_text(FILE *f, const struct cli *cli, const struct cli_resurrection *r);
void cli_resurrection_free(struct cli_resurrection *r);

int cmd_info(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_dmesg(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_sym(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_type(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_print(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_ps(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_maps(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_files(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_agent(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_checkpoint(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_checkpoints(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_net(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_layouts_check(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_layouts_export(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_dump(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_core(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_resurrect(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_read(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_windows(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_cas(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_repair(struct cli *cli, struct bd_phys *p, char **args, int nargs);
int cmd_targets(struct cli *cli, struct bd_phys *p, char **args, int nargs);
/* watch opens its targets itself: there may be many, and they come and go. */
int cmd_watch(struct cli *cli, char **targets, int ntargets);

#endif
