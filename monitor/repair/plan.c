#include "plan.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/grow.h"
#include "../cache/cache.h"
#include "../views/output.h"

/* How often a write is tried again while its guards hold: the target's own
 * CPUs change the neighbours of a field (or the word of a bit) with plain
 * stores, and every change makes the CAS miss. */
#define UPDATE_TRIES 64

/* A saved plan is a few KiB per hundred steps. */
#define PLAN_FILE_MAX (4u << 20)

static const char *const kind_names[] = {
    [BD_STEP_GUARD] = "guard",
    [BD_STEP_CAS] = "cas",
    [BD_STEP_SET_BIT] = "set_bit",
};

static const char *const outcome_names[] = {
    [BD_OUTCOME_PLANNED] = "planned", [BD_OUTCOME_HELD] = "held",
    [BD_OUTCOME_CHANGED] = "changed", [BD_OUTCOME_DONE] = "done",
    [BD_OUTCOME_ALREADY] = "already", [BD_OUTCOME_MISMATCH] = "mismatch",
    [BD_OUTCOME_MOVED] = "moved",     [BD_OUTCOME_ERROR] = "error",
};

const char *bd_step_kind_name(enum bd_step_kind kind)
{
        return (unsigned)kind < sizeof(kind_names) / sizeof(kind_names[0]) && kind_names[kind]
                   ? kind_names[kind]
                   : "unknown";
}

const char *bd_step_outcome_name(enum bd_step_outcome outcome)
{
        return (unsigned)outcome < sizeof(outcome_names) / sizeof(outcome_names[0])
                   ? outcome_names[outcome]
                   : "unknown";
}

/* The text a plan keeps (paths with a task's comm, a script's reasons,
 * names from the command line) as printable ASCII, so that a saved plan
 * reads back byte for byte whatever the target put in a name. */
static void copy_text(char *dst, size_t cap, const char *src)
{
        size_t i = 0;
        for (; src[i] && i + 1 < cap; i++)
                dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
        dst[i] = '\0';
}

static int is_text(const char *s)
{
        for (; *s; s++)
                if (*s < 0x20 || *s >= 0x7f)
                        return 0;
        return 1;
}

void bd_repair_plan_start(struct bd_repair_plan *plan, const char *script, const char *target,
                          const char *build_id, char *const *args, unsigned nargs)
{
        bd_repair_plan_init(plan);
        copy_text(plan->script, sizeof(plan->script), script);
        copy_text(plan->target, sizeof(plan->target), target);
        copy_text(plan->build_id, sizeof(plan->build_id), build_id);
        for (unsigned i = 0; i < nargs && i < BD_REPAIR_MAX_ARGS; i++)
                copy_text(plan->args[plan->nargs++], sizeof(plan->args[0]), args[i]);
}

void bd_repair_plan_init(struct bd_repair_plan *plan)
{
        memset(plan, 0, sizeof(*plan));
        plan->stopped_at = -1;
}

void bd_repair_plan_free(struct bd_repair_plan *plan)
{
        free(plan->steps);
        bd_repair_plan_init(plan);
}

static uint64_t field_mask(unsigned size)
{
        return size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

static int size_ok(unsigned size, uint64_t vaddr)
{
        return (size == 1 || size == 2 || size == 4 || size == 8) && !(vaddr & (size - 1));
}

static uint64_t le_value(const uint8_t *b, unsigned size)
{
        uint64_t v = 0;
        for (unsigned i = 0; i < size; i++)
                v |= (uint64_t)b[i] << (8 * i);
        return v;
}

static struct bd_error *read_field(struct bd_program *prog, uint64_t vaddr, unsigned size,
                                   uint64_t *value, uint64_t *paddr)
{
        /* Through the kernel's read, not at paddr: a plan's reads come from
         * the memo of the moment it was made (bd_kernel_memo_start). */
        uint8_t buf[8] = {0};
        struct bd_error *err = bd_kernel_translate(prog->k, vaddr, paddr, NULL);
        if (!err)
                err = bd_kernel_read(prog->k, vaddr, buf, size);
        if (err)
                return err;
        *value = le_value(buf, size);
        return NULL;
}

struct bd_error *bd_repair_plan_add(struct bd_repair_plan *plan, struct bd_program *prog,
                                    enum bd_step_kind kind, const char *path, uint64_t vaddr,
                                    unsigned size, uint64_t expect, uint64_t value, const char *why)
{
        if (!size_ok(size, vaddr))
                return bd_error_fault(BD_ERR_USAGE, vaddr,
                                      "%s: a %u-byte field at 0x%" PRIx64
                                      " cannot be changed by one compare-and-swap",
                                      path, size, vaddr);
        if (kind == BD_STEP_SET_BIT && value >= 8 * size)
                return bd_error_new(BD_ERR_USAGE, "%s: bit %" PRIu64 " is past its %u bytes", path,
                                    value, size);
        if ((kind == BD_STEP_CAS || kind == BD_STEP_GUARD) &&
            ((expect & ~field_mask(size)) || (value & ~field_mask(size))))
                return bd_error_new(BD_ERR_USAGE, "%s: a value does not fit its %u bytes", path,
                                    size);
        if (plan->n >= BD_REPAIR_MAX_STEPS)
                return bd_error_new(BD_ERR_RANGE, "a plan has at most %d steps",
                                    BD_REPAIR_MAX_STEPS);
        struct bd_repair_step st = {.kind = kind, .vaddr = vaddr, .size = size};
        struct bd_error *err = read_field(prog, vaddr, size, &st.read, &st.paddr);
        if (err)
                return bd_error_wrap(err, "%s", path);
        st.expect = kind == BD_STEP_GUARD ? st.read : expect;
        st.value = value;
        copy_text(st.path, sizeof(st.path), path);
        copy_text(st.why, sizeof(st.why), why ? why : "");
        if (kind == BD_STEP_CAS && st.read != expect)
                return bd_error_fault(BD_ERR_CAS_FAILED, vaddr,
                                      "%s holds 0x%" PRIx64 ", not the expected 0x%" PRIx64, path,
                                      st.read, expect);
        if (bd_grow((void **)&plan->steps, &plan->cap, plan->n + 1, sizeof(*plan->steps), 16))
                return &bd_error_nomem;
        plan->steps[plan->n++] = st;
        return NULL;
}

void bd_repair_plan_note(struct bd_repair_plan *plan, const char *text)
{
        size_t used = strlen(plan->notes);
        if (used + 2 > sizeof(plan->notes))
                return;
        copy_text(plan->notes + used, sizeof(plan->notes) - used - 1, text);
        strcat(plan->notes, "\n");
}

/* A victim: the run of guards [g0, u0) and the run of updates [u0, u1)
 * after it. Updates before every guard (g0 == u0 == 0: a limit, say) form
 * one too. */
struct victim {
        size_t g0, u0, u1;
        size_t next; /* the update to make next */
        uint64_t word, word_pa;
        uint8_t *bufs; /* its guards' values as read, then the word */
};

static size_t victims_of(const struct bd_repair_plan *plan, struct victim *v)
{
        size_t n = 0;
        for (size_t i = 0; i < plan->n;) {
                size_t g0 = i;
                while (i < plan->n && plan->steps[i].kind == BD_STEP_GUARD)
                        i++;
                size_t u0 = i;
                while (i < plan->n && plan->steps[i].kind != BD_STEP_GUARD)
                        i++;
                /* Guards with no update after them guard nothing. */
                if (i > u0)
                        v[n++] = (struct victim){.g0 = g0, .u0 = u0, .u1 = i, .next = u0};
        }
        return n;
}

static struct bd_error *stop(struct bd_repair_plan *plan, size_t idx, enum bd_step_outcome outcome,
                             struct bd_error *err)
{
        plan->steps[idx].outcome = outcome;
        if (plan->stopped_at < 0 || (size_t)plan->stopped_at > idx)
                plan->stopped_at = (int)idx;
        return err;
}

/* Where the victim's guards and the word of its next update are now, into
 * iov: its guards must not have moved. */
static struct bd_error *locate_victim(struct bd_repair_plan *plan, struct bd_program *prog,
                                      struct victim *v, struct bd_kernel_iov *iov)
{
        const struct bd_repair_step *st = &plan->steps[v->next];
        size_t n = v->u0 - v->g0;
        for (size_t i = 0; i <= n; i++) {
                struct bd_repair_step *g = i < n ? &plan->steps[v->g0 + i] : NULL;
                uint64_t va = g ? g->vaddr : st->vaddr & ~7ull, pa;
                struct bd_error *err = bd_kernel_translate(prog->k, va, &pa, NULL);
                if (err)
                        return stop(plan, v->next, BD_OUTCOME_ERROR, err);
                iov[i] = (struct bd_kernel_iov){va, v->bufs + 8 * i, g ? g->size : 8};
                if (g && pa != g->paddr)
                        return stop(plan, v->g0 + i, BD_OUTCOME_MOVED,
                                    bd_error_fault(BD_ERR_CAS_FAILED, g->vaddr,
                                                   "guard %s: now at physical 0x%" PRIx64
                                                   ", not 0x%" PRIx64,
                                                   g->path, pa, g->paddr));
                if (!g)
                        v->word_pa = pa;
        }
        return NULL;
}

/* What the victim's next update is to write, judged from what was just
 * read: 1 and *desired to swap in; 0 when nothing is to be written (it
 * already holds); an error when a guard or the field changed. */
static struct bd_error *judge(struct bd_repair_plan *plan, struct victim *v, int *write,
                              uint64_t *desired)
{
        *write = 0;
        size_t n = v->u0 - v->g0;
        for (size_t i = 0; i < n; i++) {
                struct bd_repair_step *g = &plan->steps[v->g0 + i];
                g->found = le_value(v->bufs + 8 * i, g->size);
                g->outcome = BD_OUTCOME_HELD;
                if (g->found != g->expect)
                        return stop(plan, v->g0 + i, BD_OUTCOME_CHANGED,
                                    bd_error_fault(BD_ERR_CAS_FAILED, g->vaddr,
                                                   "guard %s: 0x%" PRIx64 " now, 0x%" PRIx64
                                                   " when planned",
                                                   g->path, g->found, g->expect));
        }
        struct bd_repair_step *st = &plan->steps[v->next];
        v->word = le_value(v->bufs + 8 * n, 8);
        uint64_t field_pa = v->word_pa + (st->vaddr & 7);
        if (field_pa != st->paddr)
                return stop(plan, v->next, BD_OUTCOME_MOVED,
                            bd_error_fault(BD_ERR_CAS_FAILED, st->vaddr,
                                           "%s: now at physical 0x%" PRIx64 ", not 0x%" PRIx64,
                                           st->path, field_pa, st->paddr));
        unsigned shift = 8 * (unsigned)(st->vaddr & 7);
        uint64_t mask = field_mask(st->size) << shift;
        st->found = (v->word & mask) >> shift;
        uint64_t field;
        if (st->kind == BD_STEP_CAS) {
                if (st->found == st->value) {
                        st->outcome = BD_OUTCOME_ALREADY;
                        return NULL;
                }
                if (st->found != st->expect)
                        return stop(plan, v->next, BD_OUTCOME_MISMATCH,
                                    bd_error_fault(BD_ERR_CAS_FAILED, st->vaddr,
                                                   "%s: 0x%" PRIx64 " now, 0x%" PRIx64
                                                   " when planned; not written",
                                                   st->path, st->found, st->expect));
                field = st->value;
        } else {
                field = st->found | 1ull << st->value;
                if (field == st->found) {
                        st->outcome = BD_OUTCOME_ALREADY;
                        return NULL;
                }
        }
        *desired = (v->word & ~mask) | (field << shift);
        *write = 1;
        return NULL;
}

/* One wave over the victims [0, n) with an update left: every one's guards
 * and word read in one batch; if all still hold, every write swapped in
 * one pipelined batch. A victim whose word changed between the read and
 * the swap (its neighbours, the target's own stores) keeps its update for
 * the next wave. */
static struct bd_error *wave(struct bd_repair_plan *plan, struct bd_program *prog, struct victim *v,
                             size_t n, struct bd_kernel_iov *iov, struct bd_phys_cas_op *ops,
                             size_t *who)
{
        size_t niov = 0;
        struct bd_error *err = NULL;
        for (size_t i = 0; i < n && !err; i++) {
                if (v[i].next == v[i].u1)
                        continue;
                err = locate_victim(plan, prog, &v[i], iov + niov);
                niov += v[i].u0 - v[i].g0 + 1;
        }
        if (!err && (err = bd_kernel_read_batch(prog->k, iov, niov)))
                return err;
        size_t nops = 0;
        for (size_t i = 0; i < n && !err; i++) {
                if (v[i].next == v[i].u1)
                        continue;
                int write;
                uint64_t desired = 0;
                if ((err = judge(plan, &v[i], &write, &desired)))
                        break;
                if (!write) {
                        v[i].next++;
                        continue;
                }
                struct bd_repair_step *st = &plan->steps[v[i].next];
                if (++st->attempts > UPDATE_TRIES) {
                        st->attempts = UPDATE_TRIES;
                        err = stop(plan, v[i].next, BD_OUTCOME_ERROR,
                                   bd_error_fault(BD_ERR_CAS_FAILED, st->vaddr,
                                                  "%s: the word kept changing; %d tries", st->path,
                                                  UPDATE_TRIES));
                        break;
                }
                ops[nops] = (struct bd_phys_cas_op){
                    .addr = v[i].word_pa, .expect = v[i].word, .desired = desired};
                who[nops++] = i;
        }
        /* A guard that no longer holds stops the repair before this wave
         * writes anything. */
        if (err)
                return err;
        plan->writes += (unsigned)nops;
        err = bd_phys_cas_batch(prog->phys, ops, nops);
        for (size_t k = 0; k < nops; k++) {
                struct victim *vi = &v[who[k]];
                struct bd_repair_step *st = &plan->steps[vi->next];
                if (ops[k].status == BD_OK) {
                        st->outcome = BD_OUTCOME_DONE;
                        snprintf(st->detail, sizeof(st->detail), "word 0x%" PRIx64 " -> 0x%" PRIx64,
                                 ops[k].expect, ops[k].desired);
                        vi->next++;
                } else if (ops[k].status != BD_ERR_CAS_FAILED) {
                        stop(plan, vi->next, BD_OUTCOME_ERROR, NULL);
                }
        }
        return err;
}

struct bd_error *bd_repair_apply(struct bd_repair_plan *plan, struct bd_program *prog)
{
        plan->stopped_at = -1;
        plan->writes = 0;
        for (size_t i = 0; i < plan->n; i++) {
                struct bd_repair_step *st = &plan->steps[i];
                st->outcome = BD_OUTCOME_PLANNED;
                st->attempts = 0;
                st->detail[0] = '\0';
        }
        /* At most a victim per update, and a read per step. */
        struct victim *v = calloc(plan->n + 1, sizeof(*v));
        struct bd_kernel_iov *iov = calloc(plan->n + 1, sizeof(*iov));
        struct bd_phys_cas_op *ops = calloc(plan->n + 1, sizeof(*ops));
        size_t *who = calloc(plan->n + 1, sizeof(*who));
        uint8_t *bufs = calloc(plan->n + 1, 16);
        struct bd_error *err = v && iov && ops && who && bufs ? NULL : &bd_error_nomem;
        size_t n = err ? 0 : victims_of(plan, v);
        for (size_t i = 0, at = 0; i < n; i++) {
                v[i].bufs = bufs + 8 * at;
                at += v[i].u0 - v[i].g0 + 1;
        }
        /* The updates before every guard (a limit lowered so that no victim
         * is replaced) are all made before any victim's. */
        size_t first = n && v[0].g0 == v[0].u0 ? 1 : 0;
        while (first && !err && v[0].next < v[0].u1)
                err = wave(plan, prog, v, 1, iov, ops, who);
        for (;;) {
                size_t left = 0;
                for (size_t i = first; i < n; i++)
                        left += v[i].next < v[i].u1;
                if (err || !left)
                        break;
                err = wave(plan, prog, v + first, n - first, iov, ops, who);
        }
        free(v);
        free(iov);
        free(ops);
        free(who);
        free(bufs);
        if (err) {
                if (plan->stopped_at < 0)
                        plan->stopped_at = 0;
                return bd_error_wrap(err, "step %d of %zu", plan->stopped_at + 1, plan->n);
        }
        /* No guard is read after the last update: once made, the updates may
         * end the victim, whose memory is then free for reuse. */
        return NULL;
}

/* The text of a step, from a script or the target: escaped. */
static void put_text(FILE *f, const char *s)
{
        bd_put_text(f, s, strlen(s));
}

void bd_repair_plan_write_text(FILE *f, const struct bd_repair_plan *plan, int applied)
{
        fprintf(f, "repair ");
        put_text(f, plan->script);
        fprintf(f, " on ");
        put_text(f, plan->target);
        fprintf(f, ": %zu step%s%s\n", plan->n, plan->n == 1 ? "" : "s",
                applied ? "" : " planned, nothing written (--apply writes)");
        for (const char *s = plan->notes; *s;) {
                size_t n = strcspn(s, "\n");
                fputs("  note: ", f);
                bd_put_text(f, s, n);
                fputc('\n', f);
                s += n + (s[n] == '\n');
        }
        for (size_t i = 0; i < plan->n; i++) {
                const struct bd_repair_step *st = &plan->steps[i];
                fprintf(f, "  %2zu %-7s ", i + 1, bd_step_kind_name(st->kind));
                put_text(f, st->path);
                fprintf(f, " @0x%" PRIx64 ": ", st->vaddr);
                if (st->kind == BD_STEP_GUARD)
                        fprintf(f, "must stay 0x%" PRIx64, st->expect);
                else if (st->kind == BD_STEP_CAS)
                        fprintf(f, "0x%" PRIx64 " -> 0x%" PRIx64, st->expect, st->value);
                else
                        fprintf(f, "set bit %" PRIu64 " of 0x%" PRIx64, st->value, st->read);
                if (st->why[0]) {
                        fputs(" (", f);
                        put_text(f, st->why);
                        fputc(')', f);
                }
                if (applied) {
                        fprintf(f, ": %s", bd_step_outcome_name(st->outcome));
                        if (st->outcome != BD_OUTCOME_PLANNED)
                                fprintf(f, ", found 0x%" PRIx64, st->found);
                        if (st->detail[0])
                                fprintf(f, ", %s", st->detail);
                }
                fputc('\n', f);
        }
        if (applied)
                fprintf(f, "%u write%s; %s\n", plan->writes, plan->writes == 1 ? "" : "s",
                        plan->stopped_at < 0 ? "every step held or was made"
                                             : "stopped: the steps after it were not made");
        if (plan->verdict[0]) {
                fprintf(f, "effect: %s", plan->verdict);
                if (plan->verdict_why[0]) {
                        fputs(" (", f);
                        put_text(f, plan->verdict_why);
                        fputc(')', f);
                }
                fputc('\n', f);
        }
}

static void hex(FILE *f, const char *key, uint64_t v)
{
        fprintf(f, ",\"%s\":\"0x%" PRIx64 "\"", key, v);
}

void bd_repair_plan_write_json(FILE *f, const struct bd_repair_plan *plan, int applied)
{
        fputs("{\"script\":", f);
        bd_json_string(f, plan->script);
        fputs(",\"target\":", f);
        bd_json_string(f, plan->target);
        fputs(",\"build_id\":", f);
        bd_json_string(f, plan->build_id);
        fputs(",\"args\":[", f);
        for (unsigned i = 0; i < plan->nargs; i++) {
                if (i)
                        fputc(',', f);
                bd_json_string(f, plan->args[i]);
        }
        fputs("],\"notes\":[", f);
        int first = 1;
        for (const char *s = plan->notes; *s;) {
                size_t n = strcspn(s, "\n");
                char line[sizeof(plan->notes)];
                memcpy(line, s, n);
                line[n] = '\0';
                if (!first)
                        fputc(',', f);
                first = 0;
                bd_json_string(f, line);
                s += n + (s[n] == '\n');
        }
        fputs("],\"steps\":[", f);
        for (size_t i = 0; i < plan->n; i++) {
                const struct bd_repair_step *st = &plan->steps[i];
                fprintf(f, "%s{\"kind\":\"%s\",\"path\":", i ? "," : "",
                        bd_step_kind_name(st->kind));
                bd_json_string(f, st->path);
                fputs(",\"why\":", f);
                bd_json_string(f, st->why);
                hex(f, "vaddr", st->vaddr);
                hex(f, "paddr", st->paddr);
                fprintf(f, ",\"size\":%u", st->size);
                hex(f, "read", st->read);
                hex(f, "expect", st->expect);
                hex(f, "value", st->value);
                if (applied) {
                        fprintf(f, ",\"outcome\":\"%s\"", bd_step_outcome_name(st->outcome));
                        hex(f, "found", st->found);
                        fprintf(f, ",\"attempts\":%u,\"detail\":", st->attempts);
                        bd_json_string(f, st->detail);
                }
                fputc('}', f);
        }
        fputc(']', f);
        if (applied)
                fprintf(f, ",\"writes\":%u,\"stopped_at\":%d", plan->writes,
                        plan->stopped_at < 0 ? -1 : plan->stopped_at + 1);
        if (plan->verdict[0]) {
                fprintf(f, ",\"verdict\":\"%s\",\"verdict_why\":", plan->verdict);
                bd_json_string(f, plan->verdict_why);
        }
        fputs("}\n", f);
}

/* Reading a saved plan back: every field present, of its type, in range. */

static struct bd_error *bad_plan(const char *what)
{
        return bd_error_new(BD_ERR_PROTOCOL, "plan file: %s", what);
}

static int get_string(struct json_object *o, const char *key, char *buf, size_t cap)
{
        struct json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return -1;
        const char *s = json_object_get_string(v);
        size_t n = (size_t)json_object_get_string_len(v);
        if (n >= cap || strlen(s) != n || !is_text(s))
                return -1;
        memcpy(buf, s, n + 1);
        return 0;
}

static int get_hex(struct json_object *o, const char *key, uint64_t *out)
{
        char buf[24], *end;
        if (get_string(o, key, buf, sizeof(buf)) || strncmp(buf, "0x", 2) || !buf[2])
                return -1;
        errno = 0;
        unsigned long long v = strtoull(buf + 2, &end, 16);
        if (errno || *end)
                return -1;
        *out = v;
        return 0;
}

static struct bd_error *read_step(struct json_object *o, struct bd_repair_step *st)
{
        char kind[16];
        struct json_object *size;
        if (!json_object_is_type(o, json_type_object) || get_string(o, "kind", kind, sizeof(kind)))
                return bad_plan("a step without a kind");
        for (unsigned k = BD_STEP_GUARD; k <= BD_STEP_SET_BIT; k++)
                if (!strcmp(kind, kind_names[k]))
                        st->kind = (enum bd_step_kind)k;
        if (!st->kind)
                return bad_plan("a step of an unknown kind");
        if (get_string(o, "path", st->path, sizeof(st->path)) ||
            get_string(o, "why", st->why, sizeof(st->why)) || get_hex(o, "vaddr", &st->vaddr) ||
            get_hex(o, "paddr", &st->paddr) || get_hex(o, "read", &st->read) ||
            get_hex(o, "expect", &st->expect) || get_hex(o, "value", &st->value) ||
            !json_object_object_get_ex(o, "size", &size) ||
            !json_object_is_type(size, json_type_int))
                return bad_plan("a step with a missing or malformed field");
        int64_t sz = json_object_get_int64(size);
        if (sz != 1 && sz != 2 && sz != 4 && sz != 8)
                return bad_plan("a step with a size other than 1, 2, 4 or 8");
        st->size = (unsigned)sz;
        uint64_t m = field_mask(st->size);
        if (!size_ok(st->size, st->vaddr) || (st->paddr & (st->size - 1)) ||
            (st->vaddr & 7) != (st->paddr & 7) || (st->read & ~m) || (st->expect & ~m) ||
            (st->kind == BD_STEP_SET_BIT ? st->value >= 8 * st->size : (st->value & ~m)))
                return bad_plan("a step whose address, size and values disagree");
        return NULL;
}

static struct bd_error *read_plan(struct json_object *root, struct bd_repair_plan *plan)
{
        struct json_object *args, *notes, *steps;
        if (!json_object_is_type(root, json_type_object) ||
            get_string(root, "script", plan->script, sizeof(plan->script)) ||
            get_string(root, "target", plan->target, sizeof(plan->target)) ||
            get_string(root, "build_id", plan->build_id, sizeof(plan->build_id)) ||
            !json_object_object_get_ex(root, "args", &args) ||
            !json_object_is_type(args, json_type_array) ||
            !json_object_object_get_ex(root, "notes", &notes) ||
            !json_object_is_type(notes, json_type_array) ||
            !json_object_object_get_ex(root, "steps", &steps) ||
            !json_object_is_type(steps, json_type_array))
                return bad_plan("not a plan (script, target, build_id, args, notes, steps)");
        size_t nargs = json_object_array_length(args);
        if (nargs > BD_REPAIR_MAX_ARGS)
                return bad_plan("too many arguments");
        for (size_t i = 0; i < nargs; i++) {
                struct json_object *a = json_object_array_get_idx(args, i);
                const char *s =
                    json_object_is_type(a, json_type_string) ? json_object_get_string(a) : NULL;
                if (!s || strlen(s) >= sizeof(plan->args[0]) || !is_text(s))
                        return bad_plan("an argument that is not a short string");
                strcpy(plan->args[plan->nargs++], s);
        }
        for (size_t i = 0; i < json_object_array_length(notes); i++) {
                struct json_object *a = json_object_array_get_idx(notes, i);
                if (!json_object_is_type(a, json_type_string) ||
                    !is_text(json_object_get_string(a)))
                        return bad_plan("a note that is not a line of text");
                bd_repair_plan_note(plan, json_object_get_string(a));
        }
        size_t n = json_object_array_length(steps);
        if (n > BD_REPAIR_MAX_STEPS)
                return bad_plan("too many steps");
        if (n && !(plan->steps = calloc(n, sizeof(*plan->steps))))
                return &bd_error_nomem;
        plan->cap = n;
        for (; plan->n < n; plan->n++) {
                struct bd_error *err =
                    read_step(json_object_array_get_idx(steps, plan->n), &plan->steps[plan->n]);
                if (err)
                        return bd_error_wrap(err, "step %zu", plan->n + 1);
        }
        return NULL;
}

struct bd_error *bd_repair_plan_parse(const char *text, size_t len, struct bd_repair_plan *plan)
{
        bd_repair_plan_init(plan);
        if (len > PLAN_FILE_MAX)
                return bd_error_new(BD_ERR_RANGE, "plan file: larger than %u bytes", PLAN_FILE_MAX);
        struct json_tokener *tok = json_tokener_new_ex(16);
        if (!tok)
                return &bd_error_nomem;
        struct json_object *root = json_tokener_parse_ex(tok, text, (int)len);
        /* One object and nothing after it but a newline. */
        size_t end = json_tokener_get_parse_end(tok);
        int whole = root && json_tokener_get_error(tok) == json_tokener_success &&
                    (end == len || (end + 1 == len && text[end] == '\n'));
        json_tokener_free(tok);
        struct bd_error *err = whole ? read_plan(root, plan) : bad_plan("not one JSON object");
        json_object_put(root);
        if (err)
                bd_repair_plan_free(plan);
        return err;
}

struct bd_error *bd_repair_plan_read(const char *path, struct bd_repair_plan *plan)
{
        bd_repair_plan_init(plan);
        void *text;
        size_t len;
        struct bd_error *err = bd_cache_read(path, PLAN_FILE_MAX, &text, &len);
        if (err)
                return err;
        err = bd_repair_plan_parse(text, len, plan);
        free(text);
        return err ? bd_error_wrap(err, "%s", path) : NULL;
}
