#include "script.h"

#include <inttypes.h>
#include <stdarg.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cache/cache.h"
#include "../kernel/btf.h"
#include "../views/object.h"
#include "../views/symbols.h"
#include "../views/tasks.h"

/* include/linux/sched.h, include/linux/sched/signal.h and
 * arch/x86/include/asm/thread_info.h: #defines, so not in BTF. */
#define PF_KTHREAD        0x00200000u
#define SIGNAL_UNKILLABLE 0x00000040u
#define SIGKILL           9
#define TIF_SIGPENDING    2
#define OBJECT_META       "bd.object"
#define TASKS_META        "bd.tasks"
#define LABEL_MAX         96
#define HOOK_EVERY        1000
#define MAX_NEEDS         256

struct bd_repair_script {
        lua_State *L;
        struct bd_program *prog;
        struct btf *btf;
        struct bd_repair_options opt;
        size_t mem_used;
        uint64_t instructions; /* used by the current run */
        int over_budget;
        struct bd_repair_plan *plan; /* during plan() only */
        enum bd_err failed;          /* the code of a kernel error raised into Lua */
        char dir[256];               /* the script's folder: use() looks in its lib/ */
};

struct lobj {
        struct bd_object o;
        char label[LABEL_MAX];
};

static struct bd_repair_script *self(lua_State *L)
{
        return *(struct bd_repair_script **)lua_getextraspace(L);
}

/* The memory cap: Lua raises a memory error when an allocation is refused. */
static void *alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
        struct bd_repair_script *s = ud;
        size_t old = ptr ? osize : 0;
        if (!nsize) {
                free(ptr);
                s->mem_used -= old;
                return NULL;
        }
        if (nsize > old && nsize - old > s->opt.max_memory - s->mem_used)
                return NULL;
        void *p = realloc(ptr, nsize);
        if (p)
                s->mem_used = s->mem_used - old + nsize;
        return p;
}

/* luaL_error with printf's formats (Lua's own take no %u, %lld or %x). */
static int lfail(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int lfail(lua_State *L, const char *fmt, ...)
{
        char msg[600];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return luaL_error(L, "%s", msg);
}

static void budget_hook(lua_State *L, lua_Debug *ar)
{
        (void)ar;
        struct bd_repair_script *s = self(L);
        s->instructions += HOOK_EVERY;
        if (s->instructions > s->opt.max_instructions) {
                s->over_budget = 1;
                lfail(L, "instruction budget of %" PRIu64 " spent", s->opt.max_instructions);
        }
}

/* A kernel error into Lua: its text becomes the Lua error, its code is kept
 * for the exit status. Never returns. */
static int fail_with(lua_State *L, struct bd_error *err, const char *what)
{
        char msg[600];
        snprintf(msg, sizeof(msg), "%s: %s", what, err->message);
        struct bd_repair_script *s = self(L);
        if (!s->failed)
                s->failed = err->code;
        bd_error_destroy(err);
        return luaL_error(L, "%s", msg);
}

static void push_object(lua_State *L, const struct bd_object *o, const char *label)
{
        struct lobj *lo = lua_newuserdatauv(L, sizeof(*lo), 0);
        lo->o = *o;
        snprintf(lo->label, sizeof(lo->label), "%s", label);
        luaL_setmetatable(L, OBJECT_META);
}

static struct lobj *check_object(lua_State *L, int arg)
{
        return luaL_checkudata(L, arg, OBJECT_META);
}

/* What a member turns into in Lua. */
static int push_member(lua_State *L, const struct bd_object *o, const char *label)
{
        struct bd_repair_script *s = self(L);
        uint32_t id = o->type_id;
        const struct btf_type *t = bd_btf_strip(s->btf, &id);
        if (!t)
                return lfail(L, "%s: a type BTF does not describe", label);
        if (o->bit_size || btf_is_int(t) || btf_is_enum(t) || btf_is_enum64(t)) {
                uint64_t v;
                struct bd_error *err = bd_object_value(s->prog, o, &v, NULL);
                if (err)
                        return fail_with(L, err, label);
                lua_pushinteger(L, (lua_Integer)v);
                return 1;
        }
        if (btf_is_ptr(t)) {
                uint64_t v;
                struct bd_error *err = bd_kernel_read_u64(s->prog->k, o->addr, &v);
                if (err)
                        return fail_with(L, err, label);
                if (!v)
                        lua_pushnil(L);
                else
                        push_object(L, o, label);
                return 1;
        }
        if (btf_is_array(t)) {
                uint32_t elem = btf_array(t)->type;
                const struct btf_type *e = bd_btf_strip(s->btf, &elem);
                if (e && btf_is_int(e) && e->size == 1 && btf_array(t)->nelems <= 4096) {
                        char buf[4096];
                        size_t n = btf_array(t)->nelems;
                        struct bd_error *err = bd_kernel_read(s->prog->k, o->addr, buf, n);
                        if (err)
                                return fail_with(L, err, label);
                        lua_pushlstring(L, buf, strnlen(buf, n));
                        return 1;
                }
        }
        push_object(L, o, label);
        return 1;
}

static int object_index(lua_State *L)
{
        struct lobj *lo = check_object(L, 1);
        char step[80], label[LABEL_MAX + 80];
        if (lua_type(L, 2) == LUA_TNUMBER) {
                lua_Integer i = luaL_checkinteger(L, 2);
                if (i < 0)
                        return lfail(L, "%s[%lld]: a negative index", lo->label, (long long)i);
                snprintf(step, sizeof(step), "[%lld]", (long long)i);
        } else {
                const char *key = luaL_checkstring(L, 2);
                if (strlen(key) > 64 || strpbrk(key, ".[]"))
                        return lfail(L, "%s: '%s' is not a member name", lo->label, key);
                snprintf(step, sizeof(step), ".%s", key);
        }
        struct bd_object out;
        struct bd_error *err = bd_object_path(self(L)->prog, &lo->o, step, &out);
        snprintf(label, sizeof(label), "%s%s", lo->label, step);
        if (err)
                return fail_with(L, err, lo->label);
        return push_member(L, &out, label);
}

static int object_tostring(lua_State *L)
{
        struct lobj *lo = check_object(L, 1);
        char addr[24];
        snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)lo->o.addr);
        lua_pushfstring(L, "%s@%s", lo->label, addr);
        return 1;
}

static int object_eq(lua_State *L)
{
        struct lobj *a = check_object(L, 1), *b = check_object(L, 2);
        lua_pushboolean(L, a->o.addr == b->o.addr && a->o.type_id == b->o.type_id);
        return 1;
}

/* A field an update or guard is about: an integer, enum or pointer that
 * one compare-and-swap of its word can change. */
static void resolve_field(lua_State *L, int arg, const char *path, struct bd_object *out,
                          unsigned *size, char *label, size_t cap)
{
        struct bd_repair_script *s = self(L);
        struct lobj *lo = check_object(L, arg);
        char step[160];
        /* An empty path is the object itself (a global like max_threads). */
        snprintf(step, sizeof(step), "%s%s", path[0] == '[' || !path[0] ? "" : ".", path);
        struct bd_error *err = bd_object_path(s->prog, &lo->o, step, out);
        if (err)
                fail_with(L, err, lo->label);
        snprintf(label, cap, "%s%s", lo->label, step);
        uint32_t id = out->type_id;
        const struct btf_type *t = bd_btf_strip(s->btf, &id);
        if (out->bit_size)
                lfail(L, "%s: a bitfield cannot be written on its own", label);
        if (!t || !(btf_is_int(t) || btf_is_enum(t) || btf_is_enum64(t) || btf_is_ptr(t)))
                lfail(L, "%s: not an integer, enum or pointer", label);
        *size = btf_is_ptr(t) ? 8 : t->size;
}

/* A Lua integer as a field of size bytes: it must fit, signed or not. */
static uint64_t field_value(lua_State *L, int arg, unsigned size, const char *label)
{
        lua_Integer v = luaL_checkinteger(L, arg);
        uint64_t u = (uint64_t)v;
        if (size < 8) {
                uint64_t high = u >> (8 * size);
                uint64_t ones = ~0ull >> (8 * size);
                if (high && !(high == ones && (u >> (8 * size - 1)) & 1))
                        lfail(L, "%s: %lld does not fit %u bytes", label, (long long)v, size);
                u &= (1ull << (8 * size)) - 1;
        }
        return u;
}

static struct bd_repair_plan *planning(lua_State *L, const char *fn)
{
        struct bd_repair_script *s = self(L);
        if (!s->plan)
                lfail(L, "%s() records a step: call it from plan()", fn);
        return s->plan;
}

static void add_step(lua_State *L, enum bd_step_kind kind, const char *label, uint64_t addr,
                     unsigned size, uint64_t expect, uint64_t value, const char *why)
{
        struct bd_repair_script *s = self(L);
        struct bd_error *err =
            bd_repair_plan_add(s->plan, s->prog, kind, label, addr, size, expect, value, why);
        if (err)
                fail_with(L, err, "plan");
}

/* What every step function starts with: the field named by (object, path)
 * at stack index 1 and 2, once plan() is running. */
struct field {
        struct bd_object o;
        unsigned size;
        char label[LABEL_MAX + 160];
};

static void step_field(lua_State *L, const char *fn, struct field *f)
{
        planning(L, fn);
        resolve_field(L, 1, luaL_checkstring(L, 2), &f->o, &f->size, f->label, sizeof(f->label));
}

static int l_guard(lua_State *L)
{
        struct field f;
        step_field(L, "guard", &f);
        add_step(L, BD_STEP_GUARD, f.label, f.o.addr, f.size, 0, 0, luaL_optstring(L, 3, ""));
        return 0;
}

static int l_cas(lua_State *L)
{
        struct field f;
        step_field(L, "cas", &f);
        uint64_t old = field_value(L, 3, f.size, f.label);
        uint64_t new = field_value(L, 4, f.size, f.label);
        add_step(L, BD_STEP_CAS, f.label, f.o.addr, f.size, old, new, luaL_optstring(L, 5, ""));
        return 0;
}

static int l_set_bit(lua_State *L)
{
        struct field f;
        step_field(L, "set_bit", &f);
        lua_Integer bit = luaL_checkinteger(L, 3);
        if (bit < 0 || bit >= 8 * (lua_Integer)f.size)
                return lfail(L, "%s: no bit %lld in %u bytes", f.label, (long long)bit, f.size);
        add_step(L, BD_STEP_SET_BIT, f.label, f.o.addr, f.size, 0, (uint64_t)bit,
                 luaL_optstring(L, 4, ""));
        return 0;
}

static int l_note(lua_State *L)
{
        /* The buffer takes stack slots of its own: count the arguments first. */
        int n = lua_gettop(L);
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (int i = 1; i <= n; i++) {
                if (i > 1)
                        luaL_addchar(&b, ' ');
                luaL_tolstring(L, i, NULL);
                luaL_addvalue(&b);
        }
        luaL_pushresult(&b);
        struct bd_repair_script *s = self(L);
        if (s->plan)
                bd_repair_plan_note(s->plan, lua_tostring(L, -1));
        return 0;
}

/* An integer member of a task, by its first name found (kernels rename). */
static lua_Integer task_int(lua_State *L, int arg, const char *a, const char *b)
{
        struct bd_repair_script *s = self(L);
        struct lobj *lo = check_object(L, arg);
        const char *names[] = {a, b};
        for (int i = 0; i < 2 && names[i]; i++) {
                char step[80];
                snprintf(step, sizeof(step), ".%s", names[i]);
                struct bd_object out;
                struct bd_error *err = bd_object_path(s->prog, &lo->o, step, &out);
                if (err && err->code == BD_ERR_NOT_FOUND) {
                        bd_error_destroy(err);
                        continue;
                }
                uint64_t v;
                if (!err)
                        err = bd_object_value(s->prog, &out, &v, NULL);
                if (err)
                        return fail_with(L, err, lo->label);
                return (lua_Integer)v;
        }
        return lfail(L, "%s: a task without %s", lo->label, a);
}

/* SIGKILL into the thread's own pending set (fatal-signal checks and
 * killable waits look there, not at the group's shared set), then
 * TIF_SIGPENDING, in that order: the kernel clears the flag when it finds
 * nothing pending. The thread acts on it at its next return to user mode
 * and takes its group down. Writing wakes nobody: a sleeping thread dies
 * only when something wakes it. */
/* The steps a kill adds: three guards, two updates. */
#define KILL_STEPS 5

static int l_kill(lua_State *L)
{
        struct bd_repair_plan *plan = planning(L, "kill");
        struct lobj *lo = check_object(L, 1);
        /* A bomb of more threads than one plan holds is killed over
         * several rounds: the caller stops here, and plans again. */
        if (plan->n + KILL_STEPS > BD_REPAIR_MAX_STEPS) {
                lua_pushboolean(L, 0);
                return 1;
        }
        const char *why = luaL_optstring(L, 2, "");
        lua_Integer pid = task_int(L, 1, "pid", NULL), tgid = task_int(L, 1, "tgid", NULL);
        lua_Integer flags = task_int(L, 1, "flags", NULL);
        if (pid <= 1 || tgid <= 1)
                return lfail(L,
                             "%s: pid %lld is init or the idle task: killing it panics "
                             "the kernel",
                             lo->label, (long long)pid);
        if ((uint64_t)flags & PF_KTHREAD)
                return lfail(L, "%s: a kernel thread (PF_KTHREAD) does not take signals",
                             lo->label);
        lua_getfield(L, 1, "signal");
        if (lua_isnil(L, -1))
                return lfail(L, "%s: no signal_struct (exiting?)", lo->label);
        lua_getfield(L, -1, "flags");
        if ((uint64_t)luaL_checkinteger(L, -1) & SIGNAL_UNKILLABLE)
                return lfail(L, "%s: SIGNAL_UNKILLABLE (a namespace's init)", lo->label);
        lua_pop(L, 2);
        static const char *const ids[] = {"pid", "tgid", "start_time"};
        for (unsigned i = 0; i < 3; i++) {
                lua_pushcfunction(L, l_guard);
                lua_pushvalue(L, 1);
                lua_pushstring(L, ids[i]);
                lua_pushstring(L, "the victim, not a reused task_struct");
                lua_call(L, 3, 0);
        }
        char reason[200];
        snprintf(reason, sizeof(reason), "SIGKILL into the thread's own pending set%s%s",
                 why[0] ? ": " : "", why);
        lua_pushcfunction(L, l_set_bit);
        lua_pushvalue(L, 1);
        lua_pushstring(L, "pending.signal.sig[0]");
        lua_pushinteger(L, SIGKILL - 1);
        lua_pushstring(L, reason);
        lua_call(L, 4, 0);
        lua_pushcfunction(L, l_set_bit);
        lua_pushvalue(L, 1);
        lua_pushstring(L, "thread_info.flags");
        lua_pushinteger(L, TIF_SIGPENDING);
        lua_pushstring(L, "TIF_SIGPENDING: acted on at its next return to user mode");
        lua_call(L, 4, 0);
        lua_Integer state = task_int(L, 1, "__state", "state");
        if (state) {
                char n[200];
                snprintf(n, sizeof(n), "%s is asleep (state 0x%llx): pending until woken",
                         lo->label, (unsigned long long)state);
                bd_repair_plan_note(self(L)->plan, n);
        }
        lua_pushboolean(L, 1);
        return 1;
}

/* task_struct's BTF id, looked up once per call that makes task objects. */
static uint32_t task_type(lua_State *L)
{
        uint32_t id;
        struct bd_error *err = bd_object_find_type(self(L)->btf, "task_struct", &id);
        if (err)
                fail_with(L, err, "task_struct");
        return id;
}

static void push_task(lua_State *L, uint32_t type_id, uint64_t addr, int32_t pid, const char *comm)
{
        struct bd_object o = {.addr = addr, .type_id = type_id};
        char label[LABEL_MAX];
        snprintf(label, sizeof(label), "task %d (%.16s)", pid, comm);
        push_object(L, &o, label);
}

static int l_task(lua_State *L)
{
        struct bd_repair_script *s = self(L);
        lua_Integer pid = luaL_checkinteger(L, 1);
        if (pid < 0 || pid > INT32_MAX)
                return lfail(L, "pid %lld: not a pid", (long long)pid);
        uint64_t addr;
        struct bd_error *err = bd_task_by_pid(s->prog, (int32_t)pid, &addr);
        if (err && err->code == BD_ERR_NOT_FOUND) {
                bd_error_destroy(err);
                lua_pushnil(L);
                return 1;
        }
        if (err)
                return fail_with(L, err, "kernel.task");
        /* Named by its comm, read through the object itself. */
        push_task(L, task_type(L), addr, (int32_t)pid, "?");
        lua_getfield(L, -1, "comm");
        struct lobj *lo = check_object(L, -2);
        snprintf(lo->label, sizeof(lo->label), "task %lld (%.16s)", (long long)pid,
                 lua_tostring(L, -1));
        lua_pop(L, 1);
        return 1;
}

static int tasks_gc(lua_State *L)
{
        struct bd_tasks **box = luaL_checkudata(L, 1, TASKS_META);
        bd_tasks_free(*box);
        *box = NULL;
        return 0;
}

/* Every thread, in a box on the stack that frees them when collected: the
 * tables made from them may raise a memory error half-way. */
static struct bd_tasks *read_tasks(lua_State *L, const char *what)
{
        struct bd_tasks **box = lua_newuserdatauv(L, sizeof(*box), 0);
        *box = NULL;
        luaL_setmetatable(L, TASKS_META);
        struct bd_error *err = bd_tasks_read(self(L)->prog, 1, box);
        if (err)
                fail_with(L, err, what);
        return *box;
}

static int l_tasks(lua_State *L)
{
        uint32_t type_id = task_type(L);
        struct bd_tasks *t = read_tasks(L, "kernel.tasks");
        lua_createtable(L, t->n > INT32_MAX ? 0 : (int)t->n, 0);
        for (size_t i = 0; i < t->n; i++) {
                push_task(L, type_id, t->t[i].addr, t->t[i].pid, t->t[i].comm);
                lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return 1;
}

static void row_int(lua_State *L, const char *key, lua_Integer v)
{
        lua_pushinteger(L, v);
        lua_setfield(L, -2, key);
}

/* Every thread as a plain row read in a few pipelined batches (the way ps
 * reads them), for choosing victims fast; row.task is the object to act on. */
static int l_ps(lua_State *L)
{
        uint32_t type_id = task_type(L);
        struct bd_tasks *t = read_tasks(L, "kernel.ps");
        lua_createtable(L, t->n > INT32_MAX ? 0 : (int)t->n, 0);
        for (size_t i = 0; i < t->n; i++) {
                const struct bd_task *k = &t->t[i];
                lua_createtable(L, 0, 16);
                row_int(L, "pid", k->pid);
                row_int(L, "tgid", k->tgid);
                row_int(L, "ppid", k->ppid);
                row_int(L, "state", k->state);
                row_int(L, "exit_state", k->exit_state);
                row_int(L, "flags", k->flags);
                row_int(L, "policy", k->policy);
                row_int(L, "on_cpu", k->on_cpu);
                row_int(L, "cpu", k->cpu);
                row_int(L, "start_time", (lua_Integer)k->start_time);
                if (k->rss_pages >= 0)
                        row_int(L, "rss", k->rss_pages);
                /* Kill's own reads are then kept by the memo, and a verify
                 * sees SIGKILL pending without a read per task. */
                if (k->signal_flags >= 0) {
                        row_int(L, "sigpending", (lua_Integer)k->sigpending);
                        row_int(L, "ti_flags", (lua_Integer)k->ti_flags);
                        row_int(L, "signal_flags", k->signal_flags);
                }
                lua_pushstring(L, k->comm);
                lua_setfield(L, -2, "comm");
                push_task(L, type_id, k->addr, k->pid, k->comm);
                lua_setfield(L, -2, "task");
                lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return 1;
}

/* kernel.sym(NAME[, TYPE]): a vmlinux variable, else a loaded module's
 * (NAME or MODULE:NAME). vmlinux's BTF describes no module variable, so a
 * module symbol needs TYPE. */
static int l_sym(lua_State *L)
{
        struct bd_repair_script *s = self(L);
        const char *name = luaL_checkstring(L, 1), *type = luaL_optstring(L, 2, NULL);
        struct bd_symbol sym;
        struct bd_error *err = bd_symbols_find(s->prog, name, &sym);
        if (err)
                return fail_with(L, err, name);
        struct bd_object o = {.addr = sym.addr};
        int percpu = 0;
        char label[LABEL_MAX];
        snprintf(label, sizeof(label), "%s", name);
        if (!sym.module) {
                err = bd_object_variable(s->prog, name, type, &o, &percpu);
        } else if (!type) {
                return lfail(L,
                             "%s is module %s's: the kernel's BTF has no type for it, "
                             "kernel.sym(\"%s\", TYPE) needs one",
                             name, sym.module, name);
        } else {
                err = bd_object_find_type(s->btf, type, &o.type_id);
                snprintf(label, sizeof(label), "%s:%s", sym.module, sym.name);
        }
        if (err)
                return fail_with(L, err, name);
        if (percpu)
                return lfail(L, "%s is per-CPU: kernel.percpu(\"%s\", cpu)", name, name);
        push_object(L, &o, label);
        return 1;
}

static int l_percpu(lua_State *L)
{
        struct bd_repair_script *s = self(L);
        const char *name = luaL_checkstring(L, 1);
        lua_Integer cpu = luaL_checkinteger(L, 2);
        struct bd_object o;
        int percpu = 0;
        struct bd_error *err = bd_object_variable(s->prog, name, NULL, &o, &percpu);
        if (err)
                return fail_with(L, err, name);
        if (!percpu)
                return lfail(L, "%s is not per-CPU: kernel.sym(\"%s\")", name, name);
        if (cpu < 0 || cpu >= BD_PROGRAM_MAX_CPUS)
                return lfail(L, "%s: no cpu %lld", name, (long long)cpu);
        if ((err = bd_program_percpu(s->prog, o.addr, (unsigned)cpu, &o.addr)))
                return fail_with(L, err, name);
        char label[LABEL_MAX];
        snprintf(label, sizeof(label), "%s@cpu%lld", name, (long long)cpu);
        push_object(L, &o, label);
        return 1;
}

static int l_cpus(lua_State *L)
{
        unsigned n;
        struct bd_error *err = bd_program_cpus(self(L)->prog, &n);
        if (err)
                return fail_with(L, err, "kernel.cpus");
        lua_pushinteger(L, n);
        return 1;
}

static int l_enum(lua_State *L)
{
        const char *name = luaL_checkstring(L, 1);
        int64_t v;
        struct bd_error *err = bd_btf_enum_value(self(L)->btf, name, &v);
        if (err)
                return fail_with(L, err, name);
        lua_pushinteger(L, v);
        return 1;
}

static int l_addr(lua_State *L)
{
        lua_pushinteger(L, (lua_Integer)check_object(L, 1)->o.addr);
        return 1;
}

static int l_value(lua_State *L)
{
        struct lobj *lo = check_object(L, 1);
        struct bd_object o = lo->o;
        return push_member(L, &o, lo->label);
}

static int l_object(lua_State *L)
{
        struct bd_repair_script *s = self(L);
        if (!s->opt.raw)
                return lfail(L, "kernel.object() makes an object from a raw address: "
                                "only with --raw");
        const char *type = luaL_checkstring(L, 1);
        struct bd_object o = {.addr = (uint64_t)luaL_checkinteger(L, 2)};
        struct bd_error *err = bd_object_find_type(s->btf, type, &o.type_id);
        if (err)
                return fail_with(L, err, type);
        char label[LABEL_MAX];
        snprintf(label, sizeof(label), "(%s *)0x%llx", type, (unsigned long long)o.addr);
        push_object(L, &o, label);
        return 1;
}

/* use(NAME): a library of Lua text from lib/NAME.lua beside the script,
 * run once and its value kept. Only a plain name, only text, under the same
 * budgets: the one way a script reaches another file. */
static int l_use(lua_State *L)
{
        struct bd_repair_script *s = self(L);
        const char *name = luaL_checkstring(L, 1);
        size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_");
        if (!n || n > 32 || name[n])
                return lfail(L, "use(\"%.40s\"): a library is named by [a-z0-9_], at most 32",
                             name);
        lua_getfield(L, LUA_REGISTRYINDEX, "bd.used");
        if (lua_getfield(L, -1, name) != LUA_TNIL)
                return 1;
        lua_pop(L, 1);
        char path[320];
        snprintf(path, sizeof(path), "%s/lib/%s.lua", s->dir, name);
        void *text;
        size_t len;
        struct bd_error *err = bd_cache_read(path, BD_REPAIR_SCRIPT_MAX, &text, &len);
        if (err)
                return fail_with(L, err, "use");
        char chunk[340];
        snprintf(chunk, sizeof(chunk), "=%s", path);
        int rc = luaL_loadbufferx(L, text, len, chunk, "t");
        free(text);
        if (rc != LUA_OK)
                return lua_error(L);
        lua_call(L, 0, 1);
        if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                lua_pushboolean(L, 1);
        }
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, name);
        return 1;
}

/* Only what a repair needs: no files, processes, debug hooks or loaders. */
static void open_sandbox(lua_State *L)
{
        static const struct {
                const char *name;
                lua_CFunction open;
        } libs[] = {{LUA_GNAME, luaopen_base},
                    {LUA_STRLIBNAME, luaopen_string},
                    {LUA_TABLIBNAME, luaopen_table},
                    {LUA_MATHLIBNAME, luaopen_math},
                    {LUA_UTF8LIBNAME, luaopen_utf8}};
        for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
                luaL_requiref(L, libs[i].name, libs[i].open, 1);
                lua_pop(L, 1);
        }
        static const char *const removed[] = {"dofile", "loadfile", "load", "require",
                                              "collectgarbage"};
        for (size_t i = 0; i < sizeof(removed) / sizeof(removed[0]); i++) {
                lua_pushnil(L);
                lua_setglobal(L, removed[i]);
        }
        lua_getglobal(L, LUA_STRLIBNAME);
        lua_pushnil(L);
        lua_setfield(L, -2, "dump");
        lua_pop(L, 1);

        static const luaL_Reg object_meta[] = {
            {"__index", object_index}, {"__tostring", object_tostring}, {"__eq", object_eq}, {0}};
        luaL_newmetatable(L, OBJECT_META);
        luaL_setfuncs(L, object_meta, 0);
        lua_pushstring(L, "kernel object");
        lua_setfield(L, -2, "__metatable"); /* no getmetatable games */
        lua_pop(L, 1);
        luaL_newmetatable(L, TASKS_META);
        lua_pushcfunction(L, tasks_gc);
        lua_setfield(L, -2, "__gc");
        lua_pop(L, 1);

        static const luaL_Reg kernel[] = {{"sym", l_sym},
                                          {"percpu", l_percpu},
                                          {"cpus", l_cpus},
                                          {"task", l_task},
                                          {"tasks", l_tasks},
                                          {"enum", l_enum},
                                          {"addr", l_addr},
                                          {"object", l_object},
                                          {"value", l_value},
                                          {"ps", l_ps},
                                          {0}};
        luaL_newlib(L, kernel);
        lua_setglobal(L, "kernel");
        static const luaL_Reg globals[] = {
            {"guard", l_guard}, {"cas", l_cas},    {"set_bit", l_set_bit}, {"kill", l_kill},
            {"note", l_note},   {"print", l_note}, {"use", l_use},         {0}};
        lua_pushglobaltable(L);
        luaL_setfuncs(L, globals, 0);
        lua_pop(L, 1);
        struct bd_repair_script *s = self(L);
        lua_createtable(L, 0, 2);
        lua_pushboolean(L, s->opt.raw);
        lua_setfield(L, -2, "raw");
        lua_pushboolean(L, s->opt.force);
        lua_setfield(L, -2, "force");
        lua_setglobal(L, "options");
        lua_newtable(L);
        lua_setfield(L, LUA_REGISTRYINDEX, "bd.used");
}

/* Call the function on the stack with nargs arguments under a fresh budget;
 * a Lua error becomes an error object. */
static struct bd_error *run(struct bd_repair_script *s, int nargs, int nresults, const char *what)
{
        s->instructions = 0;
        s->over_budget = 0;
        s->failed = BD_OK;
        lua_sethook(s->L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
        int rc = lua_pcall(s->L, nargs, nresults, 0);
        lua_sethook(s->L, NULL, 0, 0);
        if (rc == LUA_OK)
                return NULL;
        const char *msg = lua_tostring(s->L, -1);
        enum bd_err code = s->failed          ? s->failed
                           : s->over_budget   ? BD_ERR_RANGE
                           : rc == LUA_ERRMEM ? BD_ERR_RANGE
                                              : BD_ERR_USAGE;
        struct bd_error *err =
            bd_error_new(code, "%s: %s%s", what, msg ? msg : "error",
                         rc == LUA_ERRMEM ? " (the script's memory cap was reached)" : "");
        lua_pop(s->L, 1);
        return err;
}

static struct bd_error *check_needs(struct bd_repair_script *s, const char *path)
{
        lua_State *L = s->L;
        lua_pushglobaltable(L);
        lua_pushstring(L, "needs");
        int t = lua_rawget(L, -2);
        lua_remove(L, -2);
        if (t != LUA_TTABLE) {
                lua_pop(L, 1);
                return bd_error_new(BD_ERR_USAGE,
                                    "%s declares no needs = { \"struct.member\", ... }", path);
        }
        char missing[512] = "";
        size_t used = 0;
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        if (n > MAX_NEEDS) {
                lua_pop(L, 1);
                return bd_error_new(BD_ERR_USAGE, "%s: more than %d needs", path, MAX_NEEDS);
        }
        for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, i);
                const char *need = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
                struct bd_btf_member m;
                struct bd_error *err =
                    need ? bd_btf_member(s->btf, need, &m) : bd_error_new(BD_ERR_USAGE, "?");
                if (err) {
                        used += (size_t)snprintf(
                            missing + used, used < sizeof(missing) ? sizeof(missing) - used : 0,
                            "%s%s", used ? ", " : "", need ? need : "(not a string)");
                        if (used >= sizeof(missing))
                                used = sizeof(missing) - 1;
                        bd_error_destroy(err);
                }
                lua_pop(L, 1);
        }
        lua_pop(L, 1);
        if (used)
                return bd_error_new(BD_ERR_NOT_FOUND, "%s needs what the target's BTF lacks: %s",
                                    path, missing);
        return NULL;
}

struct bd_error *bd_repair_script_load(struct bd_program *prog, const char *path, const char *text,
                                       const struct bd_repair_options *o,
                                       struct bd_repair_script **out)
{
        *out = NULL;
        struct bd_repair_script *s = calloc(1, sizeof(*s));
        if (!s)
                return &bd_error_nomem;
        s->prog = prog;
        if (o)
                s->opt = *o;
        if (!s->opt.max_instructions)
                s->opt.max_instructions = BD_REPAIR_DEFAULT_INSTRUCTIONS;
        if (!s->opt.max_memory)
                s->opt.max_memory = BD_REPAIR_DEFAULT_MEMORY;
        /* The sandbox itself must fit: setting it up is not protected. */
        if (s->opt.max_memory < BD_REPAIR_MIN_MEMORY)
                s->opt.max_memory = BD_REPAIR_MIN_MEMORY;
        struct bd_error *err = bd_program_btf(prog, &s->btf);
        if (err) {
                free(s);
                return bd_error_wrap(err, "repairs need the kernel's BTF");
        }
        void *owned = NULL;
        size_t len = text ? strlen(text) : 0;
        if (!text && (err = bd_cache_read(path, BD_REPAIR_SCRIPT_MAX, &owned, &len))) {
                free(s);
                return err;
        }
        s->L = lua_newstate(alloc, s);
        if (!s->L) {
                free(owned);
                free(s);
                return &bd_error_nomem;
        }
        *(struct bd_repair_script **)lua_getextraspace(s->L) = s;
        const char *slash = strrchr(path, '/');
        snprintf(s->dir, sizeof(s->dir), "%.*s", slash ? (int)(slash - path) : 1,
                 slash ? path : ".");
        open_sandbox(s->L);
        char name[300];
        snprintf(name, sizeof(name), "=%s", path);
        /* "t": text only, so no hand-made bytecode reaches the VM. */
        int rc = luaL_loadbufferx(s->L, text ? text : owned, len, name, "t");
        free(owned);
        if (rc != LUA_OK) {
                err = bd_error_new(rc == LUA_ERRMEM ? BD_ERR_RANGE : BD_ERR_USAGE, "%s",
                                   lua_tostring(s->L, -1));
        } else if (!(err = run(s, 0, 0, path))) {
                err = check_needs(s, path);
        }
        if (err) {
                bd_repair_script_close(s);
                return err;
        }
        *out = s;
        return NULL;
}

/* What a protected call of plan() or verify() needs: everything that can
 * raise a Lua error (a missing function, an allocation past the cap) runs
 * inside lua_pcall, never in an unprotected state that would abort. */
struct entry {
        const char *fn;
        char *const *args;
        unsigned nargs;
};

static int call_entry(lua_State *L)
{
        const struct entry *e = lua_touserdata(L, 1);
        lua_settop(L, 0);
        lua_pushglobaltable(L);
        lua_pushstring(L, e->fn);
        if (lua_rawget(L, 1) != LUA_TFUNCTION)
                return lfail(L, "the script defines no %s(args)", e->fn);
        lua_createtable(L, (int)e->nargs, 0);
        for (unsigned i = 0; i < e->nargs; i++) {
                lua_pushstring(L, e->args[i]);
                lua_rawseti(L, -2, i + 1);
        }
        lua_call(L, 1, 2);
        return 2;
}

/* plan() and verify() each read one moment's memory: a field read twice
 * (a task's pid by kill() and by its guard) costs one round trip, and a
 * task_struct a few. */
static struct bd_error *call(struct bd_repair_script *s, const char *fn, char *const *args,
                             unsigned nargs)
{
        struct entry e = {fn, args, nargs};
        lua_settop(s->L, 0);
        lua_pushcfunction(s->L, call_entry);
        lua_pushlightuserdata(s->L, &e);
        bd_kernel_memo_start(s->prog->k);
        struct bd_error *err = run(s, 1, 2, fn);
        bd_kernel_memo_stop(s->prog->k);
        return err;
}

/* Whether the script defines fn, read without metamethods. */
static int defines(struct bd_repair_script *s, const char *fn)
{
        lua_pushglobaltable(s->L);
        lua_pushstring(s->L, fn);
        int t = lua_rawget(s->L, -2);
        lua_pop(s->L, 2);
        return t == LUA_TFUNCTION;
}

struct bd_error *bd_repair_script_plan(struct bd_repair_script *s, char *const *args,
                                       unsigned nargs, struct bd_repair_plan *plan)
{
        s->plan = plan;
        struct bd_error *err = call(s, "plan", args, nargs);
        s->plan = NULL;
        lua_settop(s->L, 0);
        return err;
}

struct bd_error *bd_repair_script_verify(struct bd_repair_script *s, char *const *args,
                                         unsigned nargs, enum bd_verdict *v, char *why, size_t cap)
{
        *v = BD_VERDICT_DONE;
        if (cap)
                why[0] = '\0';
        if (!defines(s, "verify"))
                return NULL;
        struct bd_error *err = call(s, "verify", args, nargs);
        if (err)
                return err;
        const char *word = lua_type(s->L, -2) == LUA_TSTRING ? lua_tostring(s->L, -2) : "";
        if (!strcmp(word, "pending"))
                *v = BD_VERDICT_PENDING;
        else if (!strcmp(word, "again"))
                *v = BD_VERDICT_AGAIN;
        else
                *v = lua_toboolean(s->L, -2) ? BD_VERDICT_DONE : BD_VERDICT_NOT_YET;
        if (cap && lua_type(s->L, -1) == LUA_TSTRING)
                snprintf(why, cap, "%s", lua_tostring(s->L, -1));
        lua_settop(s->L, 0);
        return NULL;
}

void bd_repair_script_close(struct bd_repair_script *s)
{
        if (!s)
                return;
        if (s->L)
                lua_close(s->L);
        free(s);
}

const char *bd_verdict_name(enum bd_verdict v)
{
        static const char *const names[] = {
            [BD_VERDICT_DONE] = "done",
            [BD_VERDICT_PENDING] = "pending",
            [BD_VERDICT_NOT_YET] = "not-yet",
            [BD_VERDICT_AGAIN] = "again",
        };
        return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "unknown";
}
