/* Starting an operator's command (--on-alarm, resurrect --to): through
 * /bin/sh -c, with the variables that describe the occasion set in its
 * environment only, not in bdmon's. */
#ifndef BD_SPAWN_H
#define BD_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

struct bd_env {
        const char *name, *value;
};

/* Start cmd with env[0..n) set; with out_to_err its standard output goes
 * to our standard error. *pid receives the child, whom the caller waits
 * for. Pending stdio output is flushed first, so that the child inherits
 * none of it. */
struct bd_error *bd_spawn_shell(const char *cmd, const struct bd_env *env, size_t n, int out_to_err,
                                pid_t *pid);

#endif
