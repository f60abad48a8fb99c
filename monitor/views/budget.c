#include "budget.h"

#include <inttypes.h>
#include <stdio.h>

#include "../../common/clock.h"

uint64_t bd_budget(const struct bd_program *prog, uint64_t dflt)
{
        return prog->opt.max_read ? prog->opt.max_read : dflt;
}

struct bd_error *bd_budget_check(uint64_t n, uint64_t each, uint64_t budget, const char *what)
{
        if (!each || n <= budget / each)
                return NULL;
        char size[32];
        bd_size_text(budget, size, sizeof(size));
        return bd_error_new(BD_ERR_RANGE,
                            "more than %" PRIu64 " %s at %" PRIu64
                            " bytes each would pass the %s budget (" BD_BUDGET_OPTION " raises it)",
                            budget / each, what, each, size);
}

void bd_reads_start(struct bd_reads *r, const struct bd_phys *p)
{
        *r = (struct bd_reads){p->batches, p->round_trips, p->bytes_read, bd_now_ns()};
}

void bd_reads_stop(struct bd_reads *r, const struct bd_phys *p)
{
        *r = (struct bd_reads){p->batches - r->batches, p->round_trips - r->round_trips,
                               p->bytes_read - r->bytes_read, bd_now_ns() - r->elapsed_ns};
}

void bd_size_text(uint64_t bytes, char *buf, size_t cap)
{
        static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        unsigned u = 0;
        while (u + 1 < sizeof(units) / sizeof(units[0]) && bytes >> (10 * (u + 1)))
                u++;
        uint64_t unit = 1ull << (10 * u);
        if (bytes % unit)
                snprintf(buf, cap, "%.1f %s", (double)bytes / (double)unit, units[u]);
        else
                snprintf(buf, cap, "%" PRIu64 " %s", bytes / unit, units[u]);
}
