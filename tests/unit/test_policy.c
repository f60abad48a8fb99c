/* Repair policies (bdmon watch --repair): the parser and its refusals, with
 * the line they name; variable expansion; the rate limit and the first
 * match; the run loop bdmon repair and watch share (plan, apply, verify,
 * "again"); and a watcher starting, stepping and recording a repair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/btf.h>

#include "../../common/audit.h"
#include "../../monitor/repair/policy.h"
#include "../../monitor/repair/run.h"
#include "../../monitor/watch/event.h"
#include "../../monitor/watch/incident.h"
#include "../../monitor/watch/watch.h"
#include "helpers.h"

#define SEC 1000000000ull

static struct bd_policy_state states[BD_WATCH_POLICY_STATES];

static struct bd_error *parse(const char *text, struct bd_policy *p)
{
        return bd_policy_parse(text, strlen(text), states, BD_WATCH_POLICY_STATES, p);
}

static void test_states(void **state)
{
        (void)state;
        /* The names are classify's own, and only states with a kernel to
         * read are offered. */
        for (size_t i = 0; i < BD_WATCH_POLICY_STATES; i++) {
                int found = 0;
                for (int s = BD_STATE_UNKNOWN; s <= BD_STATE_NIC_UNREACHABLE; s++)
                        found |= !strcmp(states[i].name, bd_state_name((enum bd_state)s));
                assert_true(found);
                assert_string_not_equal(states[i].name, "rebooted");
                assert_string_not_equal(states[i].name, "nic-unreachable");
                assert_string_not_equal(states[i].name, "healthy");
        }
}

static void test_good_file(void **state)
{
        (void)state;
        static const char text[] =
            "# fork bombs first\n"
            "\n"
            "exhausted:threads  forkbomb restore=${baseline.max_threads} mode=apply every=120\r\n"
            "   exhausted:pids\tpids.lua   # a word starting with '#' ends the line\n"
            "soft-lockup /opt/r/rtspin.lua ${pid} cpu=${cpu} force every=5 mode=plan\n"
            "exhausted kill.lua ${pid_last}";
        struct bd_policy p;
        assert_bd_ok(parse(text, &p));
        assert_int_equal(p.n, 4);
        const struct bd_policy_rule *r = &p.rules[0];
        assert_int_equal(r->line, 3);
        assert_string_equal(r->state, "exhausted");
        assert_string_equal(r->subject, "threads");
        assert_string_equal(r->script, "forkbomb");
        assert_int_equal(r->nargs, 1);
        assert_string_equal(r->args[0], "restore=${baseline.max_threads}");
        assert_true(r->apply);
        assert_false(r->force);
        assert_int_equal(r->every_s, 120);
        r = &p.rules[1];
        assert_int_equal(r->line, 4);
        assert_string_equal(r->subject, "pids");
        assert_string_equal(r->script, "pids.lua");
        assert_int_equal(r->nargs, 0);
        assert_false(r->apply);
        assert_int_equal(r->every_s, BD_POLICY_EVERY_S);
        r = &p.rules[2];
        assert_string_equal(r->state, "soft-lockup");
        assert_string_equal(r->subject, "");
        assert_int_equal(r->nargs, 2);
        assert_string_equal(r->args[1], "cpu=${cpu}");
        assert_true(r->force);
        assert_false(r->apply);
        assert_int_equal(r->every_s, 5);
        assert_int_equal(p.rules[3].line, 6);
        bd_policy_free(&p);
        assert_null(p.rules);
}

/* Each refusal: its code, and a message naming its line and saying what. */
static void test_errors(void **state)
{
        (void)state;
        static const struct {
                const char *text;
                const char *says;
        } bad[] = {
            {"bogus kill.lua", "line 1: 'bogus' is no state a repair can run in (panicked, oops"},
            {"# ok\nrebooted kill.lua", "line 2: 'rebooted' is no state"},
            {"healthy kill.lua", "'healthy' is no state"},
            {"soft-lockup:bash kill.lua", "'soft-lockup' events name no subject"},
            {"exhausted:disk kill.lua", "'exhausted' has no subject 'disk' (memory, threads, pids, "
                                        "files)"},
            {"exhausted", "a rule needs a script"},
            {"exhausted:threads # no script", "a rule needs a script"},
            {"hung-task unlock", "unlock is never run from a policy"},
            {"hung-task unlock.lua", "unlock is never run"},
            {"hung-task /usr/share/backdoors/repair/unlock.lua", "unlock is never run"},
            {"hung-task kill.lua every=10 ${pid}", "'${pid}' after the options"},
            {"hung-task kill.lua mode=apply mode=plan", "'mode=plan': each option at most once"},
            {"hung-task kill.lua force force", "each option at most once"},
            {"hung-task kill.lua mode=write", "mode is plan or apply, not 'write'"},
            {"hung-task kill.lua every=0", "every= takes seconds, 1 to 604800, not '0'"},
            {"hung-task kill.lua every=604801", "not '604801'"},
            {"hung-task kill.lua every=99999999999999999999999", "every= takes seconds"},
            {"hung-task kill.lua every=1m", "not '1m'"},
            {"hung-task kill.lua every=", "not ''"},
            {"hung-task kill.lua every=-5", "not '-5'"},
            {"hung-task kill.lua ${comm}", "unknown variable ${comm} (known: pid, cpu, pid_last, "
                                           "baseline.max_threads"},
            {"hung-task kill.lua ${pid", "'${pid': a '$' opens a ${NAME}"},
            {"hung-task kill.lua $pid", "a '$' opens"},
            {"hung-task kill.lua ${}", "unknown variable ${}"},
            {"exhausted kill.lua ${pid}", "${pid} is never known for 'exhausted' events"},
            {"hung-task kill.lua ${cpu}", "${cpu} is never known for 'hung-task'"},
            {"hung-task kill.lua caf\xc3\xa9", "byte 0xc3 at column 23: a rule is printable ASCII"},
            {"hung-task kill.lua \x1b[2J", "byte 0x1b at column 20"},
            {"hung-task\vkill.lua", "byte 0x0b"},
            {"hung-task kill.lua\nhung-task rtspin", "line 2: never runs: line 1 takes every "
                                                     "hung-task event first"},
            {"exhausted:files files\nexhausted:files kill", "line 2: never runs: line 1 takes "
                                                            "every exhausted:files event"},
            {"exhausted kill\nexhausted:files files", "line 2: never runs: line 1 takes every "
                                                      "exhausted:files"},
            {"", "no rules"},
            {"# only comments\n\n   \n", "no rules"},
            {"hung-task kill 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", "more than 16 arguments"},
            {"hung-task kill 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 force every=1 mode=plan x",
             "more than 21 words"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct bd_policy p;
                struct bd_error *err = parse(bad[i].text, &p);
                assert_non_null(err);
                if (!strstr(err->message, bad[i].says))
                        print_error("%s\n  says: %s\n  want: %s\n", bad[i].text, err->message,
                                    bad[i].says);
                assert_non_null(strstr(err->message, bad[i].says));
                assert_int_equal(err->code, BD_ERR_USAGE);
                assert_null(p.rules);
                bd_error_destroy(err);
        }
}

/* Bounds a hostile file hits: a NUL byte, a line, an argument, a script
 * name, the rule count and the file's size. */
static void test_bounds(void **state)
{
        (void)state;
        struct bd_policy p;
        static const char nul[] = "hung-task kill\0 x";
        struct bd_error *err =
            bd_policy_parse(nul, sizeof(nul) - 1, states, BD_WATCH_POLICY_STATES, &p);
        assert_non_null(strstr(err->message, "line 1: byte 0x00 at column 15"));
        bd_error_destroy(err);

        char *text = malloc(BD_POLICY_FILE_MAX + 2);
        assert_non_null(text);
        memset(text, 'x', BD_POLICY_LINE_MAX + 1);
        memcpy(text, "hung-task kill ", 15);
        text[BD_POLICY_LINE_MAX + 1] = '\0';
        err = parse(text, &p);
        assert_non_null(strstr(err->message, "line 1: longer than 1024 bytes"));
        bd_error_destroy(err);
        text[BD_POLICY_LINE_MAX] = '\0'; /* exactly the limit: one long argument */
        err = parse(text, &p);
        assert_non_null(strstr(err->message, "longer than 127 bytes"));
        bd_error_destroy(err);
        memset(text + 10, 'y', 256);
        text[10 + 256] = '\0';
        err = parse(text, &p);
        assert_non_null(strstr(err->message, "script name longer than 255 bytes"));
        bd_error_destroy(err);
        text[10 + 255] = '\0';
        assert_bd_ok(parse(text, &p));
        bd_policy_free(&p);

        memset(text, '#', BD_POLICY_FILE_MAX + 1);
        err = bd_policy_parse(text, BD_POLICY_FILE_MAX + 1, states, BD_WATCH_POLICY_STATES, &p);
        assert_bd_error(err, BD_ERR_RANGE);
        free(text);
}

static void test_too_many_rules(void **state)
{
        (void)state;
        /* Watch's states allow 10 rules that can all run: the cap is met
         * with a vocabulary of 65 states. */
        static char names[BD_POLICY_MAX_RULES + 1][8];
        struct bd_policy_state many[BD_POLICY_MAX_RULES + 1];
        char text[(BD_POLICY_MAX_RULES + 1) * 16];
        size_t at = 0;
        for (int i = 0; i <= BD_POLICY_MAX_RULES; i++) {
                snprintf(names[i], sizeof(names[i]), "s%d", i);
                many[i] = (struct bd_policy_state){names[i], NULL, 0};
                at += (size_t)sprintf(text + at, "s%d k\n", i);
        }
        struct bd_policy p;
        struct bd_error *err =
            bd_policy_parse(text, strlen(text), many, BD_POLICY_MAX_RULES + 1, &p);
        assert_non_null(strstr(err->message, "line 65: more than 64 rules"));
        bd_error_destroy(err);
        text[strstr(text, "s64 k\n") - text] = '\0';
        assert_bd_ok(bd_policy_parse(text, strlen(text), many, BD_POLICY_MAX_RULES + 1, &p));
        assert_int_equal(p.n, BD_POLICY_MAX_RULES);
        bd_policy_free(&p);
}

static void test_refuses(void **state)
{
        (void)state;
        assert_true(bd_policy_refuses("unlock"));
        assert_true(bd_policy_refuses("unlock.lua"));
        assert_true(bd_policy_refuses("/a/b/unlock.lua"));
        assert_true(bd_policy_refuses("./unlock"));
        assert_false(bd_policy_refuses("unlocker.lua"));
        assert_false(bd_policy_refuses("kill.lua"));
        assert_false(bd_policy_refuses("/unlock/kill.lua"));
}

static void test_expand(void **state)
{
        (void)state;
        struct bd_policy p;
        assert_bd_ok(parse("soft-lockup s ${pid} cpu=${cpu},${cpu} ${pid_last}x literal\n"
                           "exhausted s2 ${baseline.max_threads} ${baseline.pid_max}:"
                           "${baseline.max_files}\n",
                           &p));
        struct bd_policy_vars v = {.value = {[BD_POLICY_PID] = 4242,
                                             [BD_POLICY_CPU] = 3,
                                             [BD_POLICY_PID_LAST] = -1,
                                             [BD_POLICY_BASE_MAX_THREADS] = 3600,
                                             [BD_POLICY_BASE_PID_MAX] = 32768,
                                             [BD_POLICY_BASE_MAX_FILES] = INT64_MAX},
                                   .known = (1u << BD_POLICY_VARS) - 1};
        char out[BD_REPAIR_MAX_ARGS][BD_POLICY_ARG];
        assert_bd_ok(bd_policy_expand(&p.rules[0], &v, out));
        assert_string_equal(out[0], "4242");
        assert_string_equal(out[1], "cpu=3,3");
        assert_string_equal(out[2], "-1x");
        assert_string_equal(out[3], "literal");
        assert_bd_ok(bd_policy_expand(&p.rules[1], &v, out));
        assert_string_equal(out[0], "3600");
        assert_string_equal(out[1], "32768:9223372036854775807");
        /* A number watch does not know stops the rule. */
        v.known &= ~BD_POLICY_VAR(BD_POLICY_CPU);
        struct bd_error *err = bd_policy_expand(&p.rules[0], &v, out);
        assert_non_null(strstr(err->message, "line 1: ${cpu} is not known"));
        assert_bd_error(err, BD_ERR_NOT_FOUND);
        bd_policy_free(&p);

        /* Variables may grow an argument past its room: 110 bytes
         * written, 200 expanded. */
        char text[300];
        strcpy(text, "exhausted s ");
        for (int i = 0; i < 10; i++)
                strcat(text, "${pid_last}");
        assert_bd_ok(parse(text, &p));
        v.value[BD_POLICY_PID_LAST] = INT64_MIN;
        err = bd_policy_expand(&p.rules[0], &v, out);
        assert_non_null(strstr(err->message, "longer than 127 bytes once expanded"));
        assert_bd_error(err, BD_ERR_RANGE);
        bd_policy_free(&p);

        /* A rule made by hand, not parsed, is still refused, not read past. */
        struct bd_policy_rule hand = {.line = 9, .nargs = 1};
        strcpy(hand.args[0], "a$");
        assert_bd_error(bd_policy_expand(&hand, &v, out), BD_ERR_USAGE);
        strcpy(hand.args[0], "${nope}");
        assert_bd_error(bd_policy_expand(&hand, &v, out), BD_ERR_USAGE);
}

static void test_match_and_rate(void **state)
{
        (void)state;
        struct bd_policy p;
        assert_bd_ok(parse("exhausted:threads a every=10\n"
                           "exhausted b\n"
                           "hung-task c\n",
                           &p));
        assert_ptr_equal(bd_policy_match(&p, "exhausted", "threads"), &p.rules[0]);
        assert_ptr_equal(bd_policy_match(&p, "exhausted", "files"), &p.rules[1]);
        assert_ptr_equal(bd_policy_match(&p, "exhausted", NULL), &p.rules[1]);
        assert_ptr_equal(bd_policy_match(&p, "hung-task", "bash"), &p.rules[2]);
        assert_null(bd_policy_match(&p, "soft-lockup", ""));
        const struct bd_policy_rule *r = &p.rules[0];
        assert_true(bd_policy_allows(r, 0, 5 * SEC));
        assert_false(bd_policy_allows(r, 5 * SEC, 5 * SEC));
        assert_false(bd_policy_allows(r, 5 * SEC, 15 * SEC - 1));
        assert_true(bd_policy_allows(r, 5 * SEC, 15 * SEC));
        /* Time going backwards is no licence. */
        assert_false(bd_policy_allows(r, 5 * SEC, 4 * SEC));
        bd_policy_free(&p);
}

/* The run loop, over a program with an empty BTF: the scripts below read
 * no memory and plan no steps, so what is tested is the loop itself. */
static struct bd_program *program(void)
{
        struct bd_program *prog = calloc(1, sizeof(*prog));
        assert_non_null(prog);
        prog->btf = btf__new_empty();
        snprintf(prog->build_id, sizeof(prog->build_id), "0123abcd");
        return prog;
}

/* Counts plans; verify answers verdicts[n] for its n-th call (the last
 * one from then on). */
#define LOOP_SCRIPT(verdicts)                                                                      \
        "needs = {}\n"                                                                             \
        "plans, verifies = 0, 0\n"                                                                 \
        "local v = {" verdicts "}\n"                                                               \
        "function plan(args) plans = plans + 1\n"                                                  \
        "  if args[1] == 'fail' and plans > 1 then error('gone') end\n"                            \
        "  note('plan ' .. plans) end\n"                                                           \
        "function verify() verifies = verifies + 1\n"                                              \
        "  return v[math.min(verifies, #v)], 'call ' .. verifies end\n"

/* Step r to its end without sleeping; how many steps it took. */
static unsigned run_all(struct bd_repair_run *r)
{
        unsigned steps = 0;
        uint64_t now = 1;
        while (!bd_repair_run_step(r, now)) {
                steps++;
                if (r->due_ns > now)
                        now = r->due_ns;
        }
        return steps;
}

static void run_script(struct bd_program *prog, const char *text, int apply, char *arg,
                       struct bd_repair_run *r, struct bd_repair_script **s)
{
        struct bd_repair_options o = {0};
        assert_bd_ok(bd_repair_script_load(prog, "loop.lua", text, &o, s));
        char *const args[] = {arg};
        bd_repair_run_start(r, *s, prog, "host2", "loop.lua", args, arg ? 1 : 0, apply, NULL);
        run_all(r);
}

static void test_run(void **state)
{
        (void)state;
        struct bd_program *prog = program();
        struct bd_repair_run r;
        struct bd_repair_script *s;

        /* A plan only: one plan, nothing applied, nothing verified. */
        run_script(prog, LOOP_SCRIPT("true"), 0, NULL, &r, &s);
        assert_null(r.err);
        assert_int_equal(r.rounds, 0);
        assert_string_equal(r.plan.notes, "plan 1\n");
        assert_string_equal(r.plan.target, "host2");
        assert_string_equal(r.plan.verdict, "");
        bd_repair_run_free(&r);
        bd_repair_script_close(s);

        /* "again" plans the next phase at once: no verify is repeated. */
        run_script(prog, LOOP_SCRIPT("'again', 'again', true"), 1, NULL, &r, &s);
        assert_null(r.err);
        assert_int_equal(r.rounds, 3);
        assert_int_equal(r.verdict, BD_VERDICT_DONE);
        assert_string_equal(r.plan.notes, "plan 3\n");
        assert_string_equal(r.plan.verdict, "done");
        assert_string_equal(r.plan.verdict_why, "call 3");
        bd_repair_run_free(&r);
        bd_repair_script_close(s);

        /* A phase that never ends stops at the rounds' cap. */
        run_script(prog, LOOP_SCRIPT("'again'"), 1, NULL, &r, &s);
        assert_int_equal(r.rounds, BD_RUN_ROUNDS);
        assert_int_equal(r.verdict, BD_VERDICT_AGAIN);
        assert_string_equal(r.plan.verdict, "again");
        bd_repair_run_free(&r);
        bd_repair_script_close(s);

        /* An effect never seen: verified BD_RUN_VERIFY_TRIES times a
         * round, BD_RUN_TRIES rounds, as bdmon repair always did. */
        run_script(prog, LOOP_SCRIPT("false"), 1, NULL, &r, &s);
        assert_int_equal(r.rounds, BD_RUN_TRIES);
        assert_int_equal(r.verdict, BD_VERDICT_NOT_YET);
        assert_string_equal(r.plan.verdict_why, "call 60");
        bd_repair_run_free(&r);
        bd_repair_script_close(s);

        /* Each phase has its own tries: again, then never seen. */
        run_script(prog, LOOP_SCRIPT("'again', false"), 1, NULL, &r, &s);
        assert_int_equal(r.rounds, 1 + BD_RUN_TRIES);
        assert_int_equal(r.verdict, BD_VERDICT_NOT_YET);
        bd_repair_run_free(&r);
        bd_repair_script_close(s);

        /* Pending ends the run; a plan made again that fails keeps the
         * plan last applied. */
        run_script(prog, LOOP_SCRIPT("'pending'"), 1, NULL, &r, &s);
        assert_int_equal(r.rounds, 1);
        assert_int_equal(r.verdict, BD_VERDICT_PENDING);
        bd_repair_run_free(&r);
        bd_repair_script_close(s);
        run_script(prog, LOOP_SCRIPT("'again'"), 1, "fail", &r, &s);
        assert_int_equal(r.rounds, 1);
        assert_non_null(r.err);
        assert_non_null(strstr(r.err->message, "gone"));
        assert_string_equal(r.plan.notes, "plan 1\n");
        assert_string_equal(r.plan.verdict, "again");
        bd_repair_run_free(&r);
        bd_repair_script_close(s);

        /* A saved plan is applied once, whatever verify says. */
        struct bd_repair_options o = {0};
        assert_bd_ok(bd_repair_script_load(prog, "loop.lua", LOOP_SCRIPT("'again'"), &o, &s));
        struct bd_repair_plan saved;
        bd_repair_plan_start(&saved, "loop.lua", "host2", prog->build_id, NULL, 0);
        bd_repair_plan_note(&saved, "reviewed");
        bd_repair_run_start(&r, s, prog, "host2", "loop.lua", NULL, 0, 1, &saved);
        assert_null(saved.steps);
        assert_int_equal(saved.n, 0);
        run_all(&r);
        assert_int_equal(r.rounds, 1);
        assert_int_equal(r.verdict, BD_VERDICT_AGAIN);
        assert_string_equal(r.plan.notes, "reviewed\n");
        bd_repair_run_free(&r);
        bd_repair_script_close(s);

        /* A verify that fails ends the run with its error. */
        assert_bd_ok(bd_repair_script_load(
            prog, "loop.lua",
            "needs = {}\nfunction plan() end\nfunction verify() error('no') end\n", &o, &s));
        bd_repair_run_start(&r, s, prog, "host2", "loop.lua", NULL, 0, 1, NULL);
        run_all(&r);
        assert_int_equal(r.rounds, 1);
        assert_non_null(r.err);
        bd_repair_run_free(&r);
        bd_repair_script_close(s);
        bd_program_close(prog);
}

/* The pauses between verifies belong to the caller: a step never sleeps. */
static void test_run_does_not_wait(void **state)
{
        (void)state;
        struct bd_program *prog = program();
        struct bd_repair_run r;
        struct bd_repair_script *s;
        struct bd_repair_options o = {0};
        assert_bd_ok(bd_repair_script_load(prog, "loop.lua", LOOP_SCRIPT("false, true"), &o, &s));
        bd_repair_run_start(&r, s, prog, "host2", "loop.lua", NULL, 0, 1, NULL);
        uint64_t now = 1000;
        assert_int_equal(bd_repair_run_step(&r, now), 0); /* plan */
        assert_int_equal(bd_repair_run_step(&r, now), 0); /* apply */
        /* The first look waits a pause: the victims act meanwhile. */
        assert_true(r.due_ns == now + BD_RUN_VERIFY_PAUSE_MS * 1000000ull);
        assert_int_equal(bd_repair_run_step(&r, now), 0); /* not due: nothing */
        now = r.due_ns;
        assert_int_equal(bd_repair_run_step(&r, now), 0); /* verify: not yet */
        assert_true(r.due_ns == now + BD_RUN_VERIFY_PAUSE_MS * 1000000ull);
        assert_int_equal(bd_repair_run_step(&r, r.due_ns - 1), 0); /* not due: nothing */
        assert_int_equal(bd_repair_run_step(&r, r.due_ns), 1);
        assert_int_equal(r.verdict, BD_VERDICT_DONE);
        assert_int_equal(bd_repair_run_step(&r, r.due_ns), 1);
        bd_repair_run_free(&r);
        bd_repair_script_close(s);
        bd_program_close(prog);
}

static char tmpdir[64];

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
}

static char *read_all(const char *path)
{
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        static char buf[8192];
        buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
        fclose(f);
        return buf;
}

static struct bd_event event(enum bd_state st, int cpu, int32_t pid, const char *what)
{
        struct bd_event ev = {.state = st, .previous = BD_STATE_HEALTHY, .cpu = cpu, .pid = pid};
        snprintf(ev.what, sizeof(ev.what), "%s", what);
        snprintf(ev.evidence, sizeof(ev.evidence), "evidence");
        return ev;
}

static char *repair_text(const struct bd_watcher *w, const char *record,
                         const struct bd_wallclock *clk, int json)
{
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);
        assert_non_null(f);
        if (json)
                bd_event_write_repair_json(f, w, 0, record, clk);
        else
                bd_event_write_repair_text(f, w, record, clk);
        fclose(f);
        return s;
}

/* A watcher of host2 under policy p, with --write, its kernel open. */
static void watcher_for(struct bd_watcher *w, const struct bd_policy *p)
{
        struct bd_watch_options opt = {
            .interval_ns = 10000000, .cls = bd_classify_config_default(), .policy = p};
        opt.open.write_enabled = 1;
        struct bd_target t = {.name = "host2"};
        bd_watcher_init(w, &t, &opt);
        w->prog = program();
        w->probes = 1;
}

/* A watcher's repair from alarm to record: rate limited per rule and
 * target, one at a time, numbers only from what watch saw. */
static void test_watcher_repair(void **state)
{
        (void)state;
        char script[128], policy_text[512], incident[128];
        snprintf(script, sizeof(script), "%s/heal.lua", tmpdir);
        write_file(script, LOOP_SCRIPT("'again', true"));
        snprintf(policy_text, sizeof(policy_text),
                 "exhausted:threads %s restore=${baseline.max_threads} last=${pid_last} "
                 "mode=apply every=30\n"
                 "hung-task %s ${pid}\n"
                 "soft-lockup %s ${pid_last}\n",
                 script, script, script);
        struct bd_policy p;
        assert_bd_ok(parse(policy_text, &p));
        struct bd_watcher w;
        watcher_for(&w, &p);
        w.baseline.have = 1;
        w.baseline.max_threads = 3600;
        w.last.pid_last = 777;
        const struct bd_wallclock clk = {.mono_ns = 100 * SEC, .wall_ns = 1700000000123456789ull};

        /* Not an alarm, no rule: nothing. */
        struct bd_event ev = event(BD_STATE_HEALTHY, -1, 0, "");
        assert_int_equal(bd_watcher_repair_start(&w, &ev, NULL, 10 * SEC), 0);
        ev = event(BD_STATE_FROZEN, -1, 0, "");
        assert_int_equal(bd_watcher_repair_start(&w, &ev, NULL, 10 * SEC), 0);

        snprintf(incident, sizeof(incident), "%s/host2-incident", tmpdir);
        assert_int_equal(mkdir(incident, 0755), 0);
        ev = event(BD_STATE_EXHAUSTED, -1, 0, "threads");
        assert_int_equal(bd_watcher_repair_start(&w, &ev, incident, 10 * SEC), 1);
        assert_string_equal(w.repair.args[0], "restore=3600");
        assert_string_equal(w.repair.args[1], "last=777");
        /* One at a time: another alarm meanwhile starts nothing. */
        struct bd_event hung = event(BD_STATE_HUNG_TASK, -1, 4242, "sh");
        assert_int_equal(bd_watcher_repair_start(&w, &hung, NULL, 10 * SEC), 0);
        /* Due at once, and every step is short. */
        assert_true(bd_watcher_due(&w) <= 10 * SEC);
        uint64_t now = 10 * SEC;
        int ended = 0;
        for (int i = 0; i < 20 && !ended; i++) {
                ended = bd_watcher_repair_step(&w, now);
                /* A verify waits a pause after its apply. */
                if (w.repair.run.due_ns > now)
                        now = w.repair.run.due_ns;
        }
        assert_true(ended);
        assert_int_equal(w.repair.state, BD_WATCH_REPAIR_IDLE);
        assert_string_equal(w.repair.verdict, "done");
        assert_int_equal(w.repair.run.rounds, 2);
        assert_null(w.repair.err);
        assert_int_equal(bd_watcher_repair_step(&w, now), 0);

        char record[1400];
        assert_bd_ok(bd_incident_add_repair(incident, &w, &clk, record, sizeof(record)));
        char want[1400];
        snprintf(want, sizeof(want), "%s/repair.json", incident);
        assert_string_equal(record, want);
        const char *json = read_all(record);
        assert_non_null(strstr(json, "\"state\":\"exhausted\",\"rule_line\":1,\"repair\":"));
        assert_non_null(strstr(
            json, "\"args\":[\"restore=3600\",\"last=777\"],\"attempt\":1,\"mode\":\"apply\","
                  "\"verdict\":\"done\",\"why\":\"call 2\",\"rounds\":2"));
        assert_non_null(strstr(json, ",\"plan\":{\"script\":"));
        assert_non_null(strstr(json, "\"verdict\":\"done\",\"verdict_why\":\"call 2\"}"));
        char *line = repair_text(&w, record, &clk, 0);
        snprintf(want, sizeof(want),
                 "22:13:20.123456 host2 repair %s restore=3600 last=777: done: call 2; saved in "
                 "%s\n",
                 script, record);
        assert_string_equal(line, want);
        free(line);

        /* The same rule within its every=30 runs no more on this target. */
        assert_int_equal(bd_watcher_repair_start(&w, &ev, NULL, 39 * SEC), 0);

        /* A plan only; the event's pid is the number handed on. */
        assert_int_equal(bd_watcher_repair_start(&w, &hung, NULL, 40 * SEC), 1);
        assert_string_equal(w.repair.args[0], "4242");
        while (!bd_watcher_repair_step(&w, 40 * SEC))
                ;
        assert_string_equal(w.repair.verdict, "planned");
        line = repair_text(&w, NULL, &clk, 0);
        snprintf(want, sizeof(want),
                 "22:13:20.123456 host2 repair %s 4242: planned: 0 steps, nothing written "
                 "(mode=plan)\n",
                 script);
        assert_string_equal(line, want);
        free(line);
        line = repair_text(&w, NULL, &clk, 1);
        assert_non_null(strstr(line, "\"mode\":\"plan\",\"verdict\":\"planned\""));
        assert_null(strstr(line, "\"plan\":"));
        assert_null(strstr(line, "\"record\":"));
        free(line);

        /* A number watch does not know: the rule ends at once, in error. */
        w.last.pid_last = 0;
        ev = event(BD_STATE_SOFT_LOCKUP, 1, 99, "spin\xff");
        assert_int_equal(bd_watcher_repair_start(&w, &ev, NULL, 50 * SEC), 1);
        assert_true(bd_watcher_due(&w) == 0);
        assert_int_equal(bd_watcher_repair_step(&w, 50 * SEC), 1);
        assert_string_equal(w.repair.verdict, "error");
        line = repair_text(&w, NULL, &clk, 0);
        assert_non_null(strstr(line, "repair "));
        assert_non_null(strstr(line, ": error: line 3: ${pid_last} is not known"));
        free(line);

        /* A repair cut short is told. */
        w.last.pid_last = 5;
        ev = event(BD_STATE_EXHAUSTED, -1, 0, "threads");
        assert_int_equal(bd_watcher_repair_start(&w, &ev, NULL, 200 * SEC), 1);
        assert_int_equal(bd_watcher_repair_step(&w, 200 * SEC), 0);
        assert_int_equal(bd_watcher_repair_stop(&w, "the watch stopped"), 1);
        assert_string_equal(w.repair.verdict, "error");
        assert_string_equal(w.repair.err->message, "the watch stopped mid-repair");
        assert_int_equal(bd_watcher_repair_stop(&w, "again"), 0);

        bd_watcher_close(&w);
        bd_policy_free(&p);
}

static void step_to_end(struct bd_watcher *w, uint64_t now)
{
        int ended = 0;
        for (int i = 0; i < 50 && !ended; i++) {
                ended = bd_watcher_repair_step(w, now);
                if (w->repair.run.due_ns > now)
                        now = w->repair.run.due_ns;
        }
        assert_true(ended);
}

/* A repair the fault outran runs again while its alarm holds, each every=
 * seconds, its records beside the first; an alarm that ended, or a new
 * one, starts the count again. */
static void test_watcher_repair_again(void **state)
{
        (void)state;
        char script[128], text[300], incident[128], file[200];
        snprintf(script, sizeof(script), "%s/outrun.lua", tmpdir);
        write_file(script, LOOP_SCRIPT("'again'")); /* outrun at every round */
        snprintf(text, sizeof(text), "exhausted:threads %s mode=apply every=5\n", script);
        struct bd_policy p;
        assert_bd_ok(parse(text, &p));
        struct bd_watcher w;
        watcher_for(&w, &p);
        snprintf(incident, sizeof(incident), "%s/again-incident", tmpdir);
        assert_int_equal(mkdir(incident, 0755), 0);
        const struct bd_wallclock clk = {.mono_ns = 100 * SEC, .wall_ns = 1700000000123456789ull};

        w.event = event(BD_STATE_EXHAUSTED, -1, 0, "threads");
        w.event.since_ns = 9 * SEC;
        assert_int_equal(bd_watcher_repair_start(&w, &w.event, incident, 10 * SEC), 1);
        assert_int_equal(bd_watcher_repair_again(&w, 10 * SEC), 0); /* one at a time */
        step_to_end(&w, 10 * SEC);
        assert_string_equal(w.repair.verdict, "again");
        assert_int_equal(w.repair.attempt, 1);
        /* Not before every= has passed since the last start. */
        assert_int_equal(bd_watcher_repair_again(&w, 14 * SEC), 0);
        assert_int_equal(bd_watcher_repair_again(&w, 15 * SEC), 1);
        assert_int_equal(w.repair.attempt, 2);
        assert_string_equal(w.repair.incident, incident);
        step_to_end(&w, 15 * SEC);
        char record[1400];
        assert_bd_ok(bd_incident_add_repair(incident, &w, &clk, record, sizeof(record)));
        snprintf(file, sizeof(file), "%s/repair-2.json", incident);
        assert_string_equal(record, file);
        assert_non_null(strstr(read_all(record), "\"attempt\":2,\"mode\":\"apply\""));
        char *line = repair_text(&w, NULL, &clk, 0);
        assert_non_null(strstr(line, script));
        assert_non_null(strstr(line, " (attempt 2): again: call 6"));
        free(line);
        assert_int_equal(bd_watcher_repair_again(&w, 20 * SEC), 1);
        assert_int_equal(w.repair.attempt, 3);
        step_to_end(&w, 20 * SEC);

        /* Healthy: nothing more. */
        struct bd_event healthy = event(BD_STATE_HEALTHY, -1, 0, "");
        w.event = healthy;
        assert_int_equal(bd_watcher_repair_start(&w, &w.event, NULL, 21 * SEC), 0);
        assert_int_equal(bd_watcher_repair_again(&w, 60 * SEC), 0);
        /* A new alarm within every= of the last run: refused then, run
         * once the limit allows, as its own first attempt. */
        w.event = event(BD_STATE_EXHAUSTED, -1, 0, "threads");
        w.event.since_ns = 22 * SEC;
        assert_int_equal(bd_watcher_repair_start(&w, &w.event, NULL, 22 * SEC), 0);
        assert_int_equal(bd_watcher_repair_again(&w, 24 * SEC), 0);
        assert_int_equal(bd_watcher_repair_again(&w, 25 * SEC), 1);
        assert_int_equal(w.repair.attempt, 1);
        assert_string_equal(w.repair.incident, "");
        step_to_end(&w, 25 * SEC);
        bd_watcher_close(&w);
        bd_policy_free(&p);
}

/* unlock under another name is still refused when the rule runs. */
static void test_watcher_refuses_unlock_link(void **state)
{
        (void)state;
        char real[128], link[128], text[300];
        snprintf(real, sizeof(real), "%s/unlock.lua", tmpdir);
        snprintf(link, sizeof(link), "%s/heal2.lua", tmpdir);
        write_file(real, LOOP_SCRIPT("true"));
        assert_int_equal(symlink(real, link), 0);
        snprintf(text, sizeof(text), "hung-task %s mode=apply force\n", link);
        struct bd_policy p;
        assert_bd_ok(parse(text, &p));
        struct bd_watcher w;
        watcher_for(&w, &p);
        struct bd_event ev = event(BD_STATE_HUNG_TASK, -1, 7, "d");
        assert_int_equal(bd_watcher_repair_start(&w, &ev, NULL, SEC), 1);
        assert_int_equal(bd_watcher_repair_step(&w, SEC), 1);
        assert_string_equal(w.repair.verdict, "error");
        assert_non_null(strstr(w.repair.err->message, "never run from a policy"));
        assert_int_equal(w.repair.run.rounds, 0);
        bd_watcher_close(&w);
        bd_policy_free(&p);
}

/* The file form names the file. */
static void test_read(void **state)
{
        (void)state;
        char path[128];
        snprintf(path, sizeof(path), "%s/policy", tmpdir);
        write_file(path, "hung-task kill ${pid}\nbad\n");
        struct bd_policy p;
        struct bd_error *err = bd_policy_read(path, states, BD_WATCH_POLICY_STATES, &p);
        char want[200];
        snprintf(want, sizeof(want), "%s: line 2: 'bad' is no state", path);
        assert_non_null(strstr(err->message, want));
        bd_error_destroy(err);
        write_file(path, "hung-task kill ${pid}\n");
        assert_bd_ok(bd_policy_read(path, states, BD_WATCH_POLICY_STATES, &p));
        assert_int_equal(p.n, 1);
        bd_policy_free(&p);
        snprintf(path, sizeof(path), "%s/none", tmpdir);
        assert_bd_error(bd_policy_read(path, states, BD_WATCH_POLICY_STATES, &p), BD_ERR_NOT_FOUND);
}

static int setup(void **state)
{
        (void)state;
        bd_watch_policy_states(states);
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/bdpolicy.XXXXXX");
        if (!mkdtemp(tmpdir))
                return -1;
        /* The runs' audit lines are not this test's output. */
        return bd_audit_open("/dev/null") ? -1 : 0;
}

static int teardown(void **state)
{
        (void)state;
        bd_audit_close();
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        return system(cmd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_states),
            cmocka_unit_test(test_good_file),
            cmocka_unit_test(test_errors),
            cmocka_unit_test(test_bounds),
            cmocka_unit_test(test_too_many_rules),
            cmocka_unit_test(test_refuses),
            cmocka_unit_test(test_expand),
            cmocka_unit_test(test_match_and_rate),
            cmocka_unit_test(test_run),
            cmocka_unit_test(test_run_does_not_wait),
            cmocka_unit_test(test_watcher_repair),
            cmocka_unit_test(test_watcher_repair_again),
            cmocka_unit_test(test_watcher_refuses_unlock_link),
            cmocka_unit_test(test_read),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
