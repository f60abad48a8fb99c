/* A repair plan: the writes a repair will make to a live kernel, each next to
 * what must still hold when it is made, computed (by a script, script.h)
 * before anything is written and applied only on request.
 *
 * Steps are of two kinds. A guard is a field whose value must not have
 * changed (a victim's pid, tgid and start time): the run of guards just
 * before a run of updates (a victim) is read again with each of those
 * updates, in one batch with the word it changes, so a freed and reused
 * object is never written. A guard is not read for the updates of a later
 * run (another victim's): the updates before may have ended its victim,
 * whose memory is then free for reuse. An update is a compare-and-swap
 * against the value read (cas) or the setting of one bit (set_bit) in a
 * word the target keeps changing (re-read and retried while the guards
 * hold). Fields narrower than 8 bytes are changed by a CAS on their
 * aligned 8-byte word that leaves the neighbours as read. Every write goes
 * through bd_phys_cas_batch, which enforces --write and audits it. */
#ifndef BD_REPAIR_PLAN_H
#define BD_REPAIR_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../../common/error.h"
#include "../kernel/program.h"

#define BD_REPAIR_MAX_STEPS 65536
#define BD_REPAIR_MAX_ARGS  16
#define BD_REPAIR_TEXT      160

enum bd_step_kind {
        BD_STEP_GUARD = 1,
        BD_STEP_CAS = 2,
        BD_STEP_SET_BIT = 3,
};

enum bd_step_outcome {
        BD_OUTCOME_PLANNED = 0, /* not reached */
        BD_OUTCOME_HELD,        /* guard: still as planned */
        BD_OUTCOME_CHANGED,     /* guard: no longer as planned; the repair stopped */
        BD_OUTCOME_DONE,        /* update: written */
        BD_OUTCOME_ALREADY,     /* update: the word already held the new value */
        BD_OUTCOME_MISMATCH,    /* update: the field no longer held what was read */
        BD_OUTCOME_MOVED,       /* the address no longer translates as planned */
        BD_OUTCOME_ERROR,       /* the read or the CAS failed */
};

struct bd_repair_step {
        enum bd_step_kind kind;
        char path[BD_REPAIR_TEXT]; /* "task 4242 (bomb).thread_info.flags" */
        char why[BD_REPAIR_TEXT];
        uint64_t vaddr, paddr; /* the field; paddr as translated at plan time */
        unsigned size;         /* 1, 2, 4 or 8, naturally aligned */
        uint64_t read;         /* the field's value when planned */
        uint64_t expect;       /* guard: the value that must hold; cas: the value to find */
        uint64_t value;        /* cas: the new value; set_bit: the bit number */
        /* Filled in by bd_repair_apply(). */
        enum bd_step_outcome outcome;
        uint64_t found; /* the field's value when applied */
        unsigned attempts;
        char detail[BD_REPAIR_TEXT];
};

struct bd_repair_plan {
        char script[256];
        char target[64];
        char build_id[130];
        char args[BD_REPAIR_MAX_ARGS][128];
        unsigned nargs;
        struct bd_repair_step *steps;
        size_t n, cap;
        char notes[1024]; /* the script's notes, one per line */
        /* Filled in by bd_repair_apply(). */
        unsigned writes; /* CAS operations issued */
        int stopped_at;  /* index of the step that stopped the repair, -1 */
        /* Filled in by whoever checks the effect (the script's verify). */
        char verdict[16];
        char verdict_why[BD_REPAIR_TEXT];
};

void bd_repair_plan_init(struct bd_repair_plan *plan);
/* A fresh plan for script on target (a kernel of build_id), with its
 * arguments. Every string a plan keeps is printable ASCII: other bytes (a
 * task's name may hold any) become '?'. */
void bd_repair_plan_start(struct bd_repair_plan *plan, const char *script, const char *target,
                          const char *build_id, char *const *args, unsigned nargs);
void bd_repair_plan_free(struct bd_repair_plan *plan);

/* Add a step for the field at vaddr, reading its current value (into
 * step->read) through prog. Refuses fields that are not 1, 2, 4 or 8 bytes
 * and naturally aligned. */
struct bd_error *bd_repair_plan_add(struct bd_repair_plan *plan, struct bd_program *prog,
                                    enum bd_step_kind kind, const char *path, uint64_t vaddr,
                                    unsigned size, uint64_t expect, uint64_t value,
                                    const char *why);
void bd_repair_plan_note(struct bd_repair_plan *plan, const char *text);

/* Apply plan to prog's target: the guards before each update are read
 * again, then the update is made. A victim's updates are made in order;
 * the updates before every guard (a limit, say) first of all, then the
 * victims side by side, in waves: the first update of every victim, each
 * read in one batch with its guards, then swapped in one pipelined batch
 * of CAS, then every victim's second, and so on. A hundred victims cost a
 * few round trips per wave, not a few each. A word that changed between
 * the read and the swap is tried again in the next wave, while its guards
 * hold. A guard or field that changed stops the repair before its wave
 * writes anything (plan->stopped_at: the first such step), and each step's
 * outcome says exactly what was and was not done. Returns NULL when every
 * step held or was made; otherwise an error naming the step
 * (BD_ERR_CAS_FAILED for a changed guard or field, the read's or the CAS's
 * own error otherwise). */
struct bd_error *bd_repair_apply(struct bd_repair_plan *plan, struct bd_program *prog);

/* One line per step, for a terminal; strings from the target are escaped. */
void bd_repair_plan_write_text(FILE *f, const struct bd_repair_plan *plan, int applied);
/* The plan as one JSON object: what --plan FILE saves and --json prints. */
void bd_repair_plan_write_json(FILE *f, const struct bd_repair_plan *plan, int applied);
/* A plan saved by bd_repair_plan_write_json(). The file is untrusted:
 * every field is checked. */
struct bd_error *bd_repair_plan_read(const char *path, struct bd_repair_plan *plan);
/* The same from len bytes of text (the fuzz target's way in). */
struct bd_error *bd_repair_plan_parse(const char *text, size_t len, struct bd_repair_plan *plan);

const char *bd_step_kind_name(enum bd_step_kind kind);
const char *bd_step_outcome_name(enum bd_step_outcome outcome);

#endif
