/* A repair policy: which repair script `bdmon watch --repair POLICY` runs
 * when a target enters a state. Parsing and the decisions made from a
 * parsed policy (which rule, whether its rate limit allows it now, its
 * arguments) are pure; only bd_policy_read() touches a file.
 *
 * The file is a rule per line; blank lines and lines whose first word
 * starts with '#' are comments, and so is a word starting with '#' and
 * the rest of its line:
 *
 *   STATE[:SUBJECT]  SCRIPT [ARG...]  [mode=plan|apply] [every=SECONDS] [force]
 *
 *   STATE    a watch state, as classify.h names it (soft-lockup, hung-task,
 *            exhausted, ...): the caller says which may be named, and which
 *            SUBJECTs each takes (exhausted: memory, threads, pids, files).
 *            A rule without SUBJECT takes every event of its state.
 *   SCRIPT   a repair script, named as for `bdmon repair`. Never unlock
 *            (unlock.lua): a leaked lock is not proven from memory, and
 *            only an operator may take that risk, by hand.
 *   ARG      words handed to the script. ${NAME} in one is replaced, when
 *            the rule runs, by a number watch knows (never by text read
 *            from the target): ${pid} the event's task, ${cpu} its cpu,
 *            ${pid_last} the last pid allocated at the alarm's sample,
 *            ${baseline.max_threads}, ${baseline.pid_max},
 *            ${baseline.max_files} the limits of the first healthy sample
 *            of this boot. A '$' must open one of these.
 *   mode=    plan (the default: the plan is made and recorded, nothing is
 *            written) or apply (written as `bdmon repair --apply` would,
 *            when watch runs with --write; a plan otherwise).
 *   every=   the rule runs at most once per SECONDS per target (default
 *            60, at most 604800), and again each SECONDS while the alarm
 *            it answers holds, whatever the last run said.
 *   force    the script may take a risk memory cannot rule out (options.force).
 * Options follow the arguments, each at most once (an argument cannot be
 * spelled as one: mode=..., every=..., force). The first rule that
 * matches an event decides (a rule an earlier one always wins over is
 * refused); when its rate limit forbids it, nothing runs.
 *
 * Words are printable ASCII separated by blanks; a line is at most
 * BD_POLICY_LINE_MAX bytes, a file BD_POLICY_FILE_MAX and
 * BD_POLICY_MAX_RULES rules. Errors say the line. */
#ifndef BD_REPAIR_POLICY_H
#define BD_REPAIR_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/error.h"
#include "plan.h"

#define BD_POLICY_LINE_MAX  1024
#define BD_POLICY_FILE_MAX  (64u << 10)
#define BD_POLICY_MAX_RULES 64
#define BD_POLICY_NAME      24 /* a state or subject, NUL included */
#define BD_POLICY_ARG       sizeof(((struct bd_repair_plan *)0)->args[0])
#define BD_POLICY_EVERY_S   60u
#define BD_POLICY_EVERY_MAX 604800u

/* The numbers an argument may name. */
enum bd_policy_var {
        BD_POLICY_PID,
        BD_POLICY_CPU,
        BD_POLICY_PID_LAST,
        BD_POLICY_BASE_MAX_THREADS,
        BD_POLICY_BASE_PID_MAX,
        BD_POLICY_BASE_MAX_FILES,
        BD_POLICY_VARS
};
#define BD_POLICY_VAR(v) (1u << (v))

/* What watch knows when a rule runs: value[v] counts when known has
 * BD_POLICY_VAR(v). */
struct bd_policy_vars {
        int64_t value[BD_POLICY_VARS];
        unsigned known;
};

/* A state a rule may name, given by the caller (the repair layer knows no
 * watch): its name, the subjects its events carry (NULL-terminated; NULL:
 * none a rule may match) and the variables they can ever know. */
struct bd_policy_state {
        const char *name;
        const char *const *subjects;
        unsigned vars;
};

struct bd_policy_rule {
        unsigned line;
        char state[BD_POLICY_NAME];
        char subject[BD_POLICY_NAME]; /* "": any */
        char script[256];
        char args[BD_REPAIR_MAX_ARGS][BD_POLICY_ARG]; /* as written */
        unsigned nargs;
        int apply, force;
        unsigned every_s;
};

struct bd_policy {
        struct bd_policy_rule *rules;
        size_t n;
};

/* len bytes of policy text, checked against the nstates states a rule may
 * name. BD_ERR_USAGE ("line N: ...") for a bad rule, BD_ERR_RANGE for a
 * file too large; *out is empty on error. */
struct bd_error *bd_policy_parse(const char *text, size_t len, const struct bd_policy_state *states,
                                 size_t nstates, struct bd_policy *out);
/* The same from a file; errors name it. */
struct bd_error *bd_policy_read(const char *path, const struct bd_policy_state *states,
                                size_t nstates, struct bd_policy *out);
void bd_policy_free(struct bd_policy *p);

/* Whether script (a name or a path) is one a policy may never run. */
int bd_policy_refuses(const char *script);

/* The rule that decides an event of state with subject ("" or NULL:
 * none), or NULL. */
const struct bd_policy_rule *bd_policy_match(const struct bd_policy *p, const char *state,
                                             const char *subject);
/* Whether r may run at monitor time now when it last ran at last_ns (0:
 * never; monitor time is never 0). */
int bd_policy_allows(const struct bd_policy_rule *r, uint64_t last_ns, uint64_t now_ns);
/* r's arguments with their variables replaced from v, into out. An
 * unknown value or an argument that no longer fits is BD_ERR_NOT_FOUND or
 * BD_ERR_RANGE, naming the rule's line. */
struct bd_error *bd_policy_expand(const struct bd_policy_rule *r, const struct bd_policy_vars *v,
                                  char out[][BD_POLICY_ARG]);

#endif
