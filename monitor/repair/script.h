/* Repair scripts: Lua 5.4 in a sandbox that speaks the kernel's own terms.
 *
 * A script is a file of Lua text (never a binary chunk) that defines:
 *   needs = { "task_struct.pid", "signal_struct.flags", ... }
 *       the BTF members it reads or writes, "struct.member[.member]"; a
 *       target whose BTF lacks one is refused before the script runs;
 *   function plan(args) ... end
 *       finds its victims and records steps (guard, cas, set_bit, kill);
 *       it reads memory but cannot write;
 *   function verify(args) ... end   (optional)
 *       after the plan was applied, says whether its effect happened:
 *       true, false (not yet), "pending" (done in memory, waiting for the
 *       target to act, e.g. a sleeping task's kill) or "again" (this
 *       phase's effect is seen and another phase follows: plan again now,
 *       e.g. a fork bomb is gone and max_threads can be restored), each
 *       with a reason.
 *
 * What a script sees:
 *   kernel.sym(NAME [, TYPE])   a global variable as an object; NAME may
 *                               be a loaded module's (or MODULE:NAME), and
 *                               then needs TYPE (BTF describes vmlinux)
 *   kernel.percpu(NAME, CPU)    one CPU's copy of a per-CPU variable
 *   kernel.cpus()               how many CPUs
 *   kernel.task(PID)            the task with that pid, or nil
 *   kernel.tasks()              every thread, a list of task objects
 *   kernel.ps()                 every thread as a row read in a few batches:
 *                               pid tgid ppid comm state exit_state flags
 *                               policy on_cpu cpu start_time rss (pages, nil
 *                               without an mm), sigpending (the thread's
 *                               own set's first word), ti_flags and
 *                               signal_flags (nil when the layout lacks
 *                               them) and task (the object)
 *   kernel.enum(NAME)           an enumerator's value
 *   kernel.addr(OBJ)            an object's address (to print or compare)
 *   kernel.value(OBJ)           what OBJ holds, as a member would read
 *                               (kernel.value(kernel.sym("max_threads")))
 *   kernel.object(TYPE, ADDR)   an object at an address: only with --raw
 *   obj.member, obj[i]          integers for integer, enum and pointer
 *                               members (nil for a NULL pointer when it is
 *                               followed), strings for char arrays, objects
 *                               for the rest; a pointer is followed when
 *                               indexed
 *   guard(OBJ, PATH, WHY)       PATH must hold its value until the end
 *                               (PATH "" is OBJ itself)
 *   cas(OBJ, PATH, OLD, NEW, WHY)
 *   set_bit(OBJ, PATH, BIT, WHY)
 *   kill(TASK, WHY)             SIGKILL without the target CPU's help; true,
 *                               or false (nothing planned) when the plan
 *                               has no room left for its steps
 *   note(TEXT), print(...)      lines for the plan's report
 *   use(NAME)                   the value of lib/NAME.lua beside the script
 *                               (Lua text, run once, same sandbox)
 *   options.raw, options.force  what the command line allowed
 * Writes take an object and a path, never a number as an address. There
 * is no io, os, debug, package, require, load, loadfile, dofile or
 * string.dump; every run has an instruction budget and the state a memory
 * cap. */
#ifndef BD_REPAIR_SCRIPT_H
#define BD_REPAIR_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/error.h"
#include "../kernel/program.h"
#include "plan.h"

#define BD_REPAIR_DEFAULT_INSTRUCTIONS 20000000ull
#define BD_REPAIR_DEFAULT_MEMORY       (32u << 20)
#define BD_REPAIR_MIN_MEMORY           (512u << 10)
#define BD_REPAIR_SCRIPT_MAX           (1u << 20)

struct bd_repair_options {
        int raw;                   /* kernel.object() allowed */
        int force;                 /* the operator takes a risk memory cannot rule out */
        uint64_t max_instructions; /* per run of the script; 0: the default */
        size_t max_memory;         /* the Lua state's heap; 0: the default */
};

enum bd_verdict {
        BD_VERDICT_DONE = 0,
        BD_VERDICT_PENDING, /* done in memory; the target has yet to act */
        BD_VERDICT_NOT_YET,
        BD_VERDICT_AGAIN, /* this phase's effect is seen; plan the next one now */
};

struct bd_repair_script;

/* Load a script from path (or, with text non-NULL, from text, path naming
 * it) and check its needs against prog's BTF. */
struct bd_error *bd_repair_script_load(struct bd_program *prog, const char *path, const char *text,
                                       const struct bd_repair_options *o,
                                       struct bd_repair_script **out);
/* Run plan(args), adding its steps to plan. */
struct bd_error *bd_repair_script_plan(struct bd_repair_script *s, char *const *args,
                                       unsigned nargs, struct bd_repair_plan *plan);
/* Run verify(args); a script without one is done. why gets its reason. */
struct bd_error *bd_repair_script_verify(struct bd_repair_script *s, char *const *args,
                                         unsigned nargs, enum bd_verdict *v, char *why, size_t cap);
void bd_repair_script_close(struct bd_repair_script *s);

const char *bd_verdict_name(enum bd_verdict v);

#endif
