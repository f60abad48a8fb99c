/* Repair scripts and plans over a synthetic kernel: the Lua API, plans,
 * guards and updates, the kill primitive's steps and refusals, the sandbox
 * and its budgets, and saved plans. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <bpf/btf.h>

#include "../../monitor/kernel/kernel.h"
#include "../../monitor/kernel/program.h"
#include "../../monitor/repair/plan.h"
#include "../../monitor/repair/script.h"
#include "helpers.h"
#include "../fuzz/mem_phys.h"

#define MEM_SIZE (1u << 20)

/* Where the synthetic objects live. */
#define COUNTERS 0x1000u /* struct counters { u32 max; u32 other; } */
#define TASK     0x2000u /* struct task_struct, pid 4242 */
#define SIGNAL   0x3000u /* its signal_struct */
#define INIT     0x4000u /* pid 1 */
#define TASK2    0x5000u /* another task_struct, pid 4243 */

/* task_struct's layout below, in bytes. */
enum {
        T_TI_FLAGS = 0,
        T_STATE = 8,
        T_FLAGS = 12,
        T_PID = 16,
        T_TGID = 20,
        T_START = 24,
        T_COMM = 32,
        T_PENDING = 48,
        T_SIGNAL = 56,
        T_SIZE = 64
};

static uint8_t *mem;
static struct mem_phys m;
static struct bd_kernel k;
static struct bd_program prog;

static struct btf *make_btf(void)
{
        struct btf *w = btf__new_empty();
        int u32 = btf__add_int(w, "unsigned int", 4, 0);
        int s32 = btf__add_int(w, "int", 4, BTF_INT_SIGNED);
        int u64 = btf__add_int(w, "long long unsigned int", 8, 0);
        int s16 = btf__add_int(w, "short int", 2, BTF_INT_SIGNED);
        int chr = btf__add_int(w, "char", 1, BTF_INT_CHAR);
        int comm = btf__add_array(w, s32, chr, 16);
        int sig = btf__add_array(w, s32, u64, 1);
        int ti = btf__add_struct(w, "thread_info", 8);
        btf__add_field(w, "flags", u64, 0, 0);
        /* As the kernel has it: a typedef of an anonymous struct. */
        int anon = btf__add_struct(w, NULL, 8);
        btf__add_field(w, "sig", sig, 0, 0);
        int sigset = btf__add_typedef(w, "sigset_t", anon);
        int pending = btf__add_struct(w, "sigpending", 8);
        btf__add_field(w, "signal", sigset, 0, 0);
        int ss = btf__add_struct(w, "signal_struct", 8);
        btf__add_field(w, "flags", u32, 0, 0);
        btf__add_field(w, "oom_score_adj", s16, 32, 0);
        int ss_ptr = btf__add_ptr(w, ss);
        btf__add_struct(w, "task_struct", T_SIZE);
        btf__add_field(w, "thread_info", ti, T_TI_FLAGS * 8, 0);
        btf__add_field(w, "__state", u32, T_STATE * 8, 0);
        btf__add_field(w, "flags", u32, T_FLAGS * 8, 0);
        btf__add_field(w, "pid", s32, T_PID * 8, 0);
        btf__add_field(w, "tgid", s32, T_TGID * 8, 0);
        btf__add_field(w, "start_time", u64, T_START * 8, 0);
        btf__add_field(w, "comm", comm, T_COMM * 8, 0);
        btf__add_field(w, "pending", pending, T_PENDING * 8, 0);
        btf__add_field(w, "signal", ss_ptr, T_SIGNAL * 8, 0);
        btf__add_struct(w, "counters", 8);
        btf__add_field(w, "max", u32, 0, 0);
        btf__add_field(w, "other", u32, 32, 0);
        uint32_t size;
        const void *raw = btf__raw_data(w, &size);
        struct btf *b = btf__new(raw, size);
        btf__free(w);
        return b;
}

static void put(uint32_t off, const void *v, size_t n)
{
        memcpy(mem + off, v, n);
}

static void put32(uint32_t off, uint32_t v)
{
        put(off, &v, 4);
}

static void put64(uint32_t off, uint64_t v)
{
        put(off, &v, 8);
}

static uint64_t get64(uint32_t off)
{
        uint64_t v;
        memcpy(&v, mem + off, 8);
        return v;
}

static void make_task(uint32_t at, int32_t pid, uint32_t flags, uint32_t state, const char *comm)
{
        put32(at + T_STATE, state);
        put32(at + T_FLAGS, flags);
        put32(at + T_PID, (uint32_t)pid);
        put32(at + T_TGID, (uint32_t)pid);
        put64(at + T_START, 123456789);
        put(at + T_COMM, comm, strlen(comm) + 1);
        put64(at + T_SIGNAL, K(SIGNAL));
}

static int setup(void **state)
{
        (void)state;
        mem = calloc(1, MEM_SIZE);
        if (!mem)
                return -1;
        mem_phys_init(&m, mem, MEM_SIZE);
        m.writable = mem;
        m.base.write_enabled = 1;
        memset(&k, 0, sizeof(k));
        k.phys = &m.base;
        k.levels = 4;
        memset(&prog, 0, sizeof(prog));
        prog.phys = &m.base;
        prog.k = &k;
        snprintf(prog.build_id, sizeof(prog.build_id), "0123abcd");
        prog.btf = make_btf();
        if (!prog.btf)
                return -1;
        put32(COUNTERS, 100);
        put32(COUNTERS + 4, 7);
        make_task(TASK, 4242, 0, 1, "bomb");
        make_task(INIT, 1, 0, 1, "init");
        put32(SIGNAL, 0);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        btf__free(prog.btf);
        free(mem);
        return 0;
}

static const struct bd_repair_options raw = {.raw = 1};

/* Load text as a script; its error, or NULL with *s set. */
static struct bd_error *load(const char *text, const struct bd_repair_options *o,
                             struct bd_repair_script **s)
{
        return bd_repair_script_load(&prog, "test.lua", text, o, s);
}

/* Plan text with one argument (an address in hex); the error, if any. */
static struct bd_error *plan_of(const char *text, struct bd_repair_plan *plan)
{
        struct bd_repair_script *s;
        bd_repair_plan_init(plan);
        struct bd_error *err = load(text, &raw, &s);
        if (err)
                return err;
        err = bd_repair_script_plan(s, NULL, 0, plan);
        bd_repair_script_close(s);
        return err;
}

#define NEEDS "needs = { 'counters.max', 'task_struct.pid' }\n"

static void test_plan_changes_nothing(void **state)
{
        (void)state;
        static const char script[] = NEEDS "function plan()\n"
                                           "  local c = kernel.object('counters', "
                                           "0xffffffff80001000)\n"
                                           "  assert(c.max == 100 and c.other == 7)\n"
                                           "  cas(c, 'max', 100, 42, 'lower it')\n"
                                           "end\n";
        uint8_t before[0x5000];
        memcpy(before, mem, sizeof(before));
        struct bd_repair_plan plan;
        assert_bd_ok(plan_of(script, &plan));
        assert_int_equal(plan.n, 1);
        assert_int_equal(plan.steps[0].kind, BD_STEP_CAS);
        assert_int_equal(plan.steps[0].read, 100);
        assert_int_equal(plan.steps[0].value, 42);
        assert_int_equal(plan.steps[0].size, 4);
        assert_true(plan.steps[0].vaddr == K(COUNTERS));
        assert_true(plan.steps[0].paddr == COUNTERS);
        assert_string_equal(plan.steps[0].why, "lower it");
        assert_memory_equal(before, mem, sizeof(before));
        bd_repair_plan_free(&plan);
}

/* counters.max from 100 to 42 */
static const char lower_max[] =
    NEEDS "function plan()\n"
          "  cas(kernel.object('counters', 0xffffffff80001000), 'max', 100, 42)\n"
          "end\n";

static void test_apply_keeps_neighbours(void **state)
{
        (void)state;
        struct bd_repair_plan plan;
        assert_bd_ok(plan_of(lower_max, &plan));
        put32(COUNTERS + 4, 8); /* the neighbour moves between plan and apply */
        assert_bd_ok(bd_repair_apply(&plan, &prog));
        assert_int_equal(plan.steps[0].outcome, BD_OUTCOME_DONE);
        assert_int_equal(plan.writes, 1);
        assert_int_equal(get64(COUNTERS), 42 | 8ull << 32);
        /* Applied again: the field already holds the new value. */
        assert_bd_ok(bd_repair_apply(&plan, &prog));
        assert_int_equal(plan.steps[0].outcome, BD_OUTCOME_ALREADY);
        assert_int_equal(plan.writes, 0);
        bd_repair_plan_free(&plan);
        put32(COUNTERS, 100);
        put32(COUNTERS + 4, 7);
}

static void test_field_changed_before_apply(void **state)
{
        (void)state;
        struct bd_repair_plan plan;
        assert_bd_ok(plan_of(lower_max, &plan));
        put32(COUNTERS, 101);
        assert_bd_error(bd_repair_apply(&plan, &prog), BD_ERR_CAS_FAILED);
        assert_int_equal(plan.steps[0].outcome, BD_OUTCOME_MISMATCH);
        assert_int_equal(plan.stopped_at, 0);
        assert_int_equal(plan.writes, 0);
        assert_int_equal(get64(COUNTERS), 101 | 7ull << 32);
        bd_repair_plan_free(&plan);
        put32(COUNTERS, 100);
}

static void test_plan_refuses_wrong_expectation(void **state)
{
        (void)state;
        struct bd_repair_plan plan;
        assert_bd_error(plan_of(NEEDS "function plan()\n"
                                      "  cas(kernel.object('counters', 0xffffffff80001000),"
                                      " 'max', 99, 42)\n"
                                      "end\n",
                                &plan),
                        BD_ERR_CAS_FAILED);
        bd_repair_plan_free(&plan);
}

static const char kill_script[] =
    "needs = { 'task_struct.pid', 'task_struct.tgid', 'task_struct.start_time',\n"
    "          'task_struct.pending', 'task_struct.thread_info', 'signal_struct.flags' }\n"
    "function plan(args)\n"
    "  kill(kernel.object('task_struct', tonumber(args[1])), 'a test')\n"
    "end\n";

static struct bd_error *plan_kill(uint32_t at, struct bd_repair_plan *plan)
{
        struct bd_repair_script *s;
        bd_repair_plan_init(plan);
        struct bd_error *err = load(kill_script, &raw, &s);
        if (err)
                return err;
        char arg[32];
        snprintf(arg, sizeof(arg), "0x%llx", (unsigned long long)K(at));
        char *args[] = {arg};
        err = bd_repair_script_plan(s, args, 1, plan);
        bd_repair_script_close(s);
        return err;
}

static void test_kill_steps(void **state)
{
        (void)state;
        struct bd_repair_plan plan;
        assert_bd_ok(plan_kill(TASK, &plan));
        assert_int_equal(plan.n, 5);
        for (int i = 0; i < 3; i++)
                assert_int_equal(plan.steps[i].kind, BD_STEP_GUARD);
        assert_true(plan.steps[2].vaddr == K(TASK + T_START));
        assert_int_equal(plan.steps[3].kind, BD_STEP_SET_BIT);
        assert_true(plan.steps[3].vaddr == K(TASK + T_PENDING));
        assert_int_equal(plan.steps[3].value, 8); /* SIGKILL's bit */
        assert_true(plan.steps[4].vaddr == K(TASK + T_TI_FLAGS));
        assert_int_equal(plan.steps[4].value, 2); /* TIF_SIGPENDING */
        assert_non_null(strstr(plan.steps[0].path, "task_struct"));
        /* Asleep: the kill waits for a wakeup, and the plan says so. */
        assert_non_null(strstr(plan.notes, "pending until woken"));
        assert_bd_ok(bd_repair_apply(&plan, &prog));
        assert_int_equal(get64(TASK + T_PENDING), 1ull << 8);
        assert_int_equal(get64(TASK + T_TI_FLAGS), 1ull << 2);
        assert_int_equal(plan.writes, 2);
        bd_repair_plan_free(&plan);
        put64(TASK + T_PENDING, 0);
        put64(TASK + T_TI_FLAGS, 0);
}

/* counters.max lowered, then two victims killed. */
static const char two_kills[] =
    "needs = { 'counters.max', 'task_struct.pid', 'task_struct.tgid',\n"
    "  'task_struct.start_time', 'task_struct.pending', 'task_struct.thread_info',\n"
    "  'signal_struct.flags' }\n"
    "function plan()\n"
    "  cas(kernel.object('counters', 0xffffffff80001000), 'max', 100, 42)\n"
    "  kill(kernel.object('task_struct', 0xffffffff80002000))\n"
    "  kill(kernel.object('task_struct', 0xffffffff80005000))\n"
    "end\n";

/* Victims side by side: the limit first, then a wave per update of a
 * victim, each one batch of reads and one of swaps; a guard that changed
 * stops the repair before its wave writes anything. */
static void test_waves(void **state)
{
        (void)state;
        make_task(TASK2, 4243, 0, 0, "bomb");
        struct bd_repair_plan plan;
        bd_repair_plan_init(&plan);
        struct bd_repair_script *s;
        assert_bd_ok(load(two_kills, &raw, &s));
        assert_bd_ok(bd_repair_script_plan(s, NULL, 0, &plan));
        assert_int_equal(plan.n, 11);
        uint64_t batches = m.base.batches;
        assert_bd_ok(bd_repair_apply(&plan, &prog));
        assert_int_equal(m.base.batches - batches, 3);
        assert_int_equal(plan.writes, 5);
        assert_int_equal(plan.stopped_at, -1);
        assert_int_equal(get64(COUNTERS) & 0xffffffff, 42);
        assert_int_equal(get64(TASK + T_PENDING), 1ull << 8);
        assert_int_equal(get64(TASK2 + T_TI_FLAGS), 1ull << 2);
        for (size_t i = 0; i < plan.n; i++)
                assert_int_equal(plan.steps[i].outcome, plan.steps[i].kind == BD_STEP_GUARD
                                                            ? BD_OUTCOME_HELD
                                                            : BD_OUTCOME_DONE);
        bd_repair_plan_free(&plan);
        put32(COUNTERS, 100);
        put64(TASK + T_PENDING, 0);
        put64(TASK + T_TI_FLAGS, 0);
        put64(TASK2 + T_PENDING, 0);
        put64(TASK2 + T_TI_FLAGS, 0);

        /* The second victim's slot reused: the limit is made, no kill. */
        assert_bd_ok(bd_repair_script_plan(s, NULL, 0, &plan));
        put32(TASK2 + T_PID, 9999);
        assert_bd_error(bd_repair_apply(&plan, &prog), BD_ERR_CAS_FAILED);
        assert_int_equal(plan.stopped_at, 6);
        assert_int_equal(plan.steps[6].outcome, BD_OUTCOME_CHANGED);
        assert_int_equal(plan.steps[0].outcome, BD_OUTCOME_DONE);
        assert_int_equal(plan.steps[4].outcome, BD_OUTCOME_PLANNED);
        assert_int_equal(plan.writes, 1);
        assert_int_equal(get64(TASK + T_PENDING), 0);
        assert_int_equal(get64(TASK2 + T_PENDING), 0);
        bd_repair_plan_free(&plan);
        bd_repair_script_close(s);
        put32(COUNTERS, 100);
        memset(mem + TASK2, 0, T_SIZE);
}

static const char kill_when_full[] =
    "needs = { 'task_struct.pid', 'task_struct.tgid', 'task_struct.start_time',\n"
    "          'task_struct.pending', 'task_struct.thread_info', 'signal_struct.flags' }\n"
    "function plan(args)\n"
    "  local t = kernel.object('task_struct', tonumber(args[1]))\n"
    "  for i = 1, tonumber(args[2]) do guard(t, 'pid', 'filler') end\n"
    "  note(tostring(kill(t, 'a test')))\n"
    "end\n";

/* A kill that no longer fits the plan plans nothing and says so: the
 * script leaves the rest for another round. */
static void test_kill_when_full(void **state)
{
        (void)state;
        static const unsigned fillers[] = {BD_REPAIR_MAX_STEPS - 5, BD_REPAIR_MAX_STEPS - 4};
        for (int i = 0; i < 2; i++) {
                struct bd_repair_script *s;
                struct bd_repair_plan plan;
                bd_repair_plan_init(&plan);
                assert_bd_ok(load(kill_when_full, &raw, &s));
                char a0[32], a1[32];
                snprintf(a0, sizeof(a0), "0x%llx", (unsigned long long)K(TASK));
                snprintf(a1, sizeof(a1), "%u", fillers[i]);
                char *args[] = {a0, a1};
                assert_bd_ok(bd_repair_script_plan(s, args, 2, &plan));
                assert_int_equal(plan.n, i ? BD_REPAIR_MAX_STEPS - 4 : BD_REPAIR_MAX_STEPS);
                /* The last note says what kill() returned. */
                const char *said = i ? "false\n" : "true\n";
                size_t len = strlen(plan.notes);
                assert_true(len >= strlen(said));
                assert_string_equal(plan.notes + len - strlen(said), said);
                bd_repair_plan_free(&plan);
                bd_repair_script_close(s);
        }
}

/* A task_struct freed and reused between plan and apply: nothing written. */
static void test_kill_reused_task(void **state)
{
        (void)state;
        struct bd_repair_plan plan;
        assert_bd_ok(plan_kill(TASK, &plan));
        put32(TASK + T_PID, 4243);
        assert_bd_error(bd_repair_apply(&plan, &prog), BD_ERR_CAS_FAILED);
        assert_int_equal(plan.steps[0].outcome, BD_OUTCOME_CHANGED);
        assert_int_equal(plan.steps[3].outcome, BD_OUTCOME_PLANNED);
        assert_int_equal(plan.writes, 0);
        assert_int_equal(get64(TASK + T_PENDING), 0);
        bd_repair_plan_free(&plan);
        put32(TASK + T_PID, 4242);
}

static void test_kill_refusals(void **state)
{
        (void)state;
        struct bd_repair_plan plan;
        struct bd_error *err = plan_kill(INIT, &plan);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_USAGE);
        assert_non_null(strstr(err->message, "pid 1 is init"));
        bd_error_destroy(err);
        bd_repair_plan_free(&plan);
        put32(TASK + T_FLAGS, 0x00200000); /* PF_KTHREAD */
        assert_bd_error(plan_kill(TASK, &plan), BD_ERR_USAGE);
        bd_repair_plan_free(&plan);
        put32(TASK + T_FLAGS, 0);
        put32(SIGNAL, 0x40); /* SIGNAL_UNKILLABLE */
        assert_bd_error(plan_kill(TASK, &plan), BD_ERR_USAGE);
        bd_repair_plan_free(&plan);
        put32(SIGNAL, 0);
}

static void test_needs(void **state)
{
        (void)state;
        struct bd_repair_script *s = NULL;
        struct bd_error *err = load("needs = { 'task_struct.pid', 'task_struct.no_such' }\n"
                                    "function plan() end\n",
                                    &raw, &s);
        assert_non_null(err);
        assert_int_equal(err->code, BD_ERR_NOT_FOUND);
        assert_non_null(strstr(err->message, "task_struct.no_such"));
        assert_null(strstr(err->message, "task_struct.pid,"));
        bd_error_destroy(err);
        assert_bd_error(load("function plan() end\n", &raw, &s), BD_ERR_USAGE);
}

/* Each of these must fail, and none may reach outside the sandbox. */
static void test_sandbox(void **state)
{
        (void)state;
        static const char *const bad[] = {
            "io.open('/etc/passwd')",
            "os.execute('true')",
            "load('return 1')()",
            "loadfile('/etc/passwd')",
            "dofile('/etc/passwd')",
            "require('io')",
            "string.dump(function() end)",
            "debug.getinfo(1)",
            "package.loadlib('libc.so.6', 'system')",
            "getmetatable(kernel.object('counters', 0xffffffff80001000)).__index = nil",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char text[512];
                snprintf(text, sizeof(text), NEEDS "function plan() %s end\n", bad[i]);
                struct bd_repair_plan plan;
                struct bd_error *err = plan_of(text, &plan);
                if (!err)
                        fail_msg("'%s' ran", bad[i]);
                assert_int_equal(err->code, BD_ERR_USAGE);
                bd_error_destroy(err);
                bd_repair_plan_free(&plan);
        }
        /* A binary chunk is refused before it runs. */
        struct bd_repair_script *s;
        assert_bd_error(load("\x1bLua\x54\x00", &raw, &s), BD_ERR_USAGE);
        assert_bd_error(load("function plan( end", &raw, &s), BD_ERR_USAGE);
}

static void test_raw_addresses_need_raw(void **state)
{
        (void)state;
        struct bd_repair_script *s;
        assert_bd_ok(load(NEEDS "function plan()\n"
                                "  cas(kernel.object('counters', 0xffffffff80001000), 'max',"
                                " 100, 1)\n"
                                "end\n",
                          NULL, &s));
        struct bd_repair_plan plan;
        bd_repair_plan_init(&plan);
        assert_bd_error(bd_repair_script_plan(s, NULL, 0, &plan), BD_ERR_USAGE);
        assert_int_equal(plan.n, 0);
        bd_repair_plan_free(&plan);
        bd_repair_script_close(s);
        /* Writes take objects: a number is no address. */
        assert_bd_error(
            plan_of(NEEDS "function plan() cas(0xffffffff80001000, 'max', 1, 2) end\n", &plan),
            BD_ERR_USAGE);
        bd_repair_plan_free(&plan);
}

static void test_options(void **state)
{
        (void)state;
        struct bd_repair_plan plan;
        assert_bd_ok(plan_of(NEEDS "function plan()\n"
                                   "  assert(options.raw == true and options.force == false)\n"
                                   "  note('a', 1, 'b')\n"
                                   "end\n",
                             &plan));
        assert_string_equal(plan.notes, "a 1 b\n");
        bd_repair_plan_free(&plan);
}

static void test_budgets(void **state)
{
        (void)state;
        struct bd_repair_plan plan;
        struct bd_repair_options small = {
            .raw = 1, .max_instructions = 100000, .max_memory = 1u << 20};
        struct bd_repair_script *s;
        assert_bd_ok(load(NEEDS "function plan() while true do end end\n", &small, &s));
        bd_repair_plan_init(&plan);
        assert_bd_error(bd_repair_script_plan(s, NULL, 0, &plan), BD_ERR_RANGE);
        bd_repair_script_close(s);
        assert_bd_ok(load(NEEDS "function plan() local t = {}\n"
                                "  while true do t[#t + 1] = string.rep('x', 4096) end end\n",
                          &small, &s));
        assert_bd_error(bd_repair_script_plan(s, NULL, 0, &plan), BD_ERR_RANGE);
        bd_repair_script_close(s);
        bd_repair_plan_free(&plan);
}

/* A global scalar is an object too: read whole with kernel.value(), and
 * changed with the empty path. */
static void test_whole_object(void **state)
{
        (void)state;
        struct bd_repair_plan plan;
        assert_bd_ok(plan_of(NEEDS "function plan()\n"
                                   "  local max = kernel.object('int', 0xffffffff80001000)\n"
                                   "  assert(kernel.value(max) == 100)\n"
                                   "  cas(max, '', 100, 40, 'lower it')\n"
                                   "end\n",
                             &plan));
        assert_int_equal(plan.n, 1);
        assert_int_equal(plan.steps[0].size, 4);
        assert_int_equal(plan.steps[0].read, 100);
        assert_true(plan.steps[0].vaddr == K(COUNTERS));
        assert_non_null(strstr(plan.steps[0].path, "int"));
        bd_repair_plan_free(&plan);
}

/* A plan's reads come from one moment: a page read once is not read again
 * until the memo stops; a read across pages goes to memory. */
static void test_memo(void **state)
{
        (void)state;
        uint64_t v;
        bd_kernel_memo_start(&k);
        assert_bd_ok(bd_kernel_read_u64(&k, K(COUNTERS), &v));
        assert_int_equal(v, 100 | 7ull << 32);
        put32(COUNTERS, 55);
        put32(0x1ffc, 1);
        put32(0x2000, 2);
        assert_bd_ok(bd_kernel_read_u64(&k, K(COUNTERS), &v));
        assert_int_equal(v, 100 | 7ull << 32);
        assert_bd_ok(bd_kernel_read_u64(&k, K(0x1ffc), &v));
        assert_int_equal(v, 1 | 2ull << 32);
        bd_kernel_memo_stop(&k);
        assert_bd_ok(bd_kernel_read_u64(&k, K(COUNTERS), &v));
        assert_int_equal(v, 55 | 7ull << 32);
        put32(COUNTERS, 100);
        put32(0x1ffc, 0);
        put32(0x2000, 0);
}

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

/* use(NAME): lib/NAME.lua beside the script, run once; nothing else. */
static void test_use(void **state)
{
        (void)state;
        char dir[] = "/tmp/bdrepair.XXXXXX", path[128];
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/lib", dir);
        assert_int_equal(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/lib/one.lua", dir);
        write_file(path, "runs = (runs or 0) + 1\nreturn { answer = 42 }\n");
        snprintf(path, sizeof(path), "%s/lib/bin.lua", dir);
        write_file(path, "\x1bLua\x54\x00");
        snprintf(path, sizeof(path), "%s/fix.lua", dir);
        struct bd_repair_script *s;
        assert_bd_ok(bd_repair_script_load(&prog, path,
                                           NEEDS "local a, b = use('one'), use('one')\n"
                                                 "assert(a.answer == 42 and a == b and runs == 1)\n"
                                                 "function plan() end\n",
                                           &raw, &s));
        bd_repair_script_close(s);
        static const char *const bad[] = {"use('../one')", "use('one.lua')", "use('/etc/passwd')",
                                          "use('')",       "use('missing')", "use('bin')"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char text[256];
                snprintf(text, sizeof(text), NEEDS "%s\nfunction plan() end\n", bad[i]);
                struct bd_error *err = bd_repair_script_load(&prog, path, text, &raw, &s);
                if (!err)
                        fail_msg("'%s' loaded", bad[i]);
                bd_error_destroy(err);
        }
        char cmd[160];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

/* Every script in repair/ parses, finds its libraries, and declares what it
 * needs (which the synthetic kernel lacks: that is where loading stops). */
static void test_shipped_scripts(void **state)
{
        (void)state;
        static const char *const names[] = {"kill",   "rtspin", "unlock", "forkbomb",
                                            "memhog", "pids",   "files"};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                char path[64];
                snprintf(path, sizeof(path), "repair/%s.lua", names[i]);
                struct bd_repair_script *s = NULL;
                struct bd_error *err = bd_repair_script_load(&prog, path, NULL, &raw, &s);
                if (!err || err->code != BD_ERR_NOT_FOUND || !strstr(err->message, "needs"))
                        fail_msg("%s: %s", path, err ? err->message : "loaded");
                bd_error_destroy(err);
        }
}

static void test_verify(void **state)
{
        (void)state;
        struct bd_repair_script *s;
        assert_bd_ok(load(NEEDS "function plan() end\n"
                                "function verify(args)\n"
                                "  local c = kernel.object('counters', 0xffffffff80001000)\n"
                                "  if c.max == 100 then return 'pending', 'waits' end\n"
                                "  return c.max == 42, 'max is ' .. c.max\n"
                                "end\n",
                          &raw, &s));
        enum bd_verdict v;
        char why[64];
        assert_bd_ok(bd_repair_script_verify(s, NULL, 0, &v, why, sizeof(why)));
        assert_int_equal(v, BD_VERDICT_PENDING);
        assert_string_equal(why, "waits");
        put32(COUNTERS, 41);
        assert_bd_ok(bd_repair_script_verify(s, NULL, 0, &v, why, sizeof(why)));
        assert_int_equal(v, BD_VERDICT_NOT_YET);
        assert_string_equal(why, "max is 41");
        put32(COUNTERS, 100);
        bd_repair_script_close(s);
}

static void test_saved_plan(void **state)
{
        (void)state;
        struct bd_repair_plan plan, back;
        assert_bd_ok(plan_kill(TASK, &plan));
        snprintf(plan.script, sizeof(plan.script), "kill.lua");
        snprintf(plan.build_id, sizeof(plan.build_id), "%s", prog.build_id);
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        bd_repair_plan_write_json(f, &plan, 0);
        fclose(f);
        assert_bd_ok(bd_repair_plan_parse(text, len, &back));
        assert_int_equal(back.n, plan.n);
        for (size_t i = 0; i < plan.n; i++) {
                assert_int_equal(back.steps[i].kind, plan.steps[i].kind);
                assert_true(back.steps[i].vaddr == plan.steps[i].vaddr);
                assert_true(back.steps[i].paddr == plan.steps[i].paddr);
                assert_true(back.steps[i].expect == plan.steps[i].expect);
                assert_true(back.steps[i].value == plan.steps[i].value);
                assert_string_equal(back.steps[i].path, plan.steps[i].path);
        }
        assert_string_equal(back.notes, plan.notes);
        assert_string_equal(back.build_id, "0123abcd");
        bd_repair_plan_free(&back);
        /* Hostile variants are refused whole. */
        static const char *const edits[][2] = {
            {"\"size\":4", "\"size\":3"},
            {"\"kind\":\"set_bit\"", "\"kind\":\"poke\""},
            {"\"value\":\"0x8\"", "\"value\":\"0x40\""},
            {"\"steps\":[", "\"steps\":7,\"x\":["},
        };
        for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
                char *copy = malloc(len + 32);
                char *at = strstr(text, edits[i][0]);
                assert_non_null(at);
                size_t pre = (size_t)(at - text);
                memcpy(copy, text, pre);
                strcpy(copy + pre, edits[i][1]);
                strcat(copy, at + strlen(edits[i][0]));
                assert_bd_error(bd_repair_plan_parse(copy, strlen(copy), &back), BD_ERR_PROTOCOL);
                free(copy);
        }
        assert_bd_error(bd_repair_plan_parse(text, len - 2, &back), BD_ERR_PROTOCOL);
        free(text);
        bd_repair_plan_free(&plan);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_plan_changes_nothing),
            cmocka_unit_test(test_apply_keeps_neighbours),
            cmocka_unit_test(test_field_changed_before_apply),
            cmocka_unit_test(test_plan_refuses_wrong_expectation),
            cmocka_unit_test(test_kill_steps),
            cmocka_unit_test(test_waves),
            cmocka_unit_test(test_kill_reused_task),
            cmocka_unit_test(test_kill_refusals),
            cmocka_unit_test(test_needs),
            cmocka_unit_test(test_sandbox),
            cmocka_unit_test(test_raw_addresses_need_raw),
            cmocka_unit_test(test_options),
            cmocka_unit_test(test_budgets),
            cmocka_unit_test(test_kill_when_full),
            cmocka_unit_test(test_whole_object),
            cmocka_unit_test(test_memo),
            cmocka_unit_test(test_use),
            cmocka_unit_test(test_shipped_scripts),
            cmocka_unit_test(test_verify),
            cmocka_unit_test(test_saved_plan),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
