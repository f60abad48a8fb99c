/* What a view may read from the target, and hold, for what the target's
 * own numbers ask: a ring's size, a count of tasks or VMAs. The kernel's
 * limits do not help here (log_buf_len may be 2 GiB, pid_max 4 million),
 * so each such view has a byte budget: its default beside it (printk.h,
 * tasks.h, vmas.h), or bdmon's --max-read. A view that can show the newest
 * part of what it reads (the kernel log) reads only the budget's worth and
 * says so; the others refuse a count that does not fit. */
#ifndef BD_BUDGET_H
#define BD_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/error.h"
#include "../kernel/program.h"

/* The option that raises a budget, as messages name it. */
#define BD_BUDGET_OPTION "--max-read"

/* The budget of a view of prog whose own default is dflt. */
uint64_t bd_budget(const struct bd_program *prog, uint64_t dflt);

/* NULL if n items of each bytes fit budget; else BD_ERR_RANGE saying how
 * many what fit it, the budget, and the option that raises it. */
struct bd_error *bd_budget_check(uint64_t n, uint64_t each, uint64_t budget, const char *what);

/* bytes as people read it: "16 MiB", "1.5 GiB", "300 KiB", "17 bytes". */
void bd_size_text(uint64_t bytes, char *buf, size_t cap);

/* What a view's reads cost, from bd_reads_start() to bd_reads_stop(). */
struct bd_reads {
        uint64_t batches;     /* waits for a pipelined batch: the dependent steps */
        uint64_t round_trips; /* operations on the source */
        uint64_t bytes_read;
        uint64_t elapsed_ns;
};

void bd_reads_start(struct bd_reads *r, const struct bd_phys *p);
void bd_reads_stop(struct bd_reads *r, const struct bd_phys *p);

#endif
