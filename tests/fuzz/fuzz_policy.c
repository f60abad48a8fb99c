/* libFuzzer target: bd_policy_parse on a policy file (bdmon watch --repair
 * POLICY), then bd_policy_expand on every rule it gives, with every number
 * known (at its widest) and with none.
 *
 * Invariants: a policy that parses has 1..BD_POLICY_MAX_RULES rules, each
 * of a state watch offers and a subject that state names (or none), a
 * script that is not unlock, at most BD_REPAIR_MAX_ARGS arguments, every=
 * within 1..BD_POLICY_EVERY_MAX, and every string NUL-terminated in its
 * array; no rule matches what an earlier one does. Expanded, an argument
 * holds no '$' (nothing but a number replaced a variable) and fits its
 * array; with no number known, exactly the arguments without a variable
 * expand, to themselves. A refusal comes with an error object (freed
 * here), USAGE naming a line, or RANGE for a file too large. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../monitor/repair/policy.h"
#include "../../monitor/watch/watch.h"
#include "fuzz_check.h"

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

static const struct bd_policy_state *state_of(const struct bd_policy_state *states,
                                              const char *name)
{
        for (size_t i = 0; i < BD_WATCH_POLICY_STATES; i++)
                if (!strcmp(states[i].name, name))
                        return &states[i];
        return NULL;
}

static void check_rule(const struct bd_policy_state *states, const struct bd_policy_rule *r)
{
        CHECK(TERMINATED(r->state) && TERMINATED(r->subject) && TERMINATED(r->script));
        const struct bd_policy_state *st = state_of(states, r->state);
        CHECK(st);
        if (r->subject[0]) {
                int known = 0;
                for (size_t i = 0; st->subjects && st->subjects[i]; i++)
                        known |= !strcmp(st->subjects[i], r->subject);
                CHECK(known);
        }
        CHECK(r->script[0] && !bd_policy_refuses(r->script));
        CHECK(r->nargs <= BD_REPAIR_MAX_ARGS);
        CHECK(r->every_s >= 1 && r->every_s <= BD_POLICY_EVERY_MAX);
        CHECK(r->line >= 1);
        for (unsigned i = 0; i < r->nargs; i++)
                CHECK(TERMINATED(r->args[i]) && r->args[i][0]);
}

static void check_expand(const struct bd_policy_rule *r)
{
        static char out[BD_REPAIR_MAX_ARGS][BD_POLICY_ARG];
        struct bd_policy_vars all = {.known = (1u << BD_POLICY_VARS) - 1};
        for (int v = 0; v < BD_POLICY_VARS; v++)
                all.value[v] = v & 1 ? INT64_MIN : INT64_MAX;
        struct bd_error *err = bd_policy_expand(r, &all, out);
        if (err) {
                CHECK(err->code == BD_ERR_RANGE && err->message[0]);
                bd_error_destroy(err);
        } else {
                for (unsigned i = 0; i < r->nargs; i++)
                        CHECK(TERMINATED(out[i]) && !strchr(out[i], '$'));
        }
        struct bd_policy_vars none = {.known = 0};
        int has_var = 0;
        for (unsigned i = 0; i < r->nargs; i++)
                has_var |= strchr(r->args[i], '$') != NULL;
        err = bd_policy_expand(r, &none, out);
        CHECK(!err == !has_var);
        if (err) {
                CHECK(err->code == BD_ERR_NOT_FOUND);
                bd_error_destroy(err);
        } else {
                for (unsigned i = 0; i < r->nargs; i++)
                        CHECK(!strcmp(out[i], r->args[i]));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct bd_policy_state states[BD_WATCH_POLICY_STATES];
        if (!states[0].name)
                bd_watch_policy_states(states);
        struct bd_policy p;
        struct bd_error *err =
            bd_policy_parse((const char *)data, size, states, BD_WATCH_POLICY_STATES, &p);
        if (err) {
                CHECK(err->message[0]);
                CHECK(err->code == BD_ERR_RANGE ||
                      (err->code == BD_ERR_USAGE &&
                       (!strncmp(err->message, "line ", 5) || !strcmp(err->message, "no rules"))));
                CHECK(!p.rules && !p.n);
                bd_error_destroy(err);
                return 0;
        }
        CHECK(p.n >= 1 && p.n <= BD_POLICY_MAX_RULES);
        for (size_t i = 0; i < p.n; i++) {
                const struct bd_policy_rule *r = &p.rules[i];
                check_rule(states, r);
                CHECK(i == 0 || r->line > p.rules[i - 1].line);
                /* The first match is the rule itself: none is shadowed. */
                CHECK(bd_policy_match(&p, r->state, r->subject) == r);
                check_expand(r);
        }
        bd_policy_free(&p);
        return 0;
}
