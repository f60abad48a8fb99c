/* Starting an operator's command: see spawn.h. */
#include "spawn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct bd_error *bd_spawn_shell(const char *cmd, const struct bd_env *env, size_t n, int out_to_err,
                                pid_t *pid)
{
        fflush(NULL);
        pid_t child = fork();
        if (child == 0) {
                for (size_t i = 0; i < n; i++)
                        setenv(env[i].name, env[i].value, 1);
                if (out_to_err)
                        dup2(STDERR_FILENO, STDOUT_FILENO);
                execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
                _exit(127);
        }
        if (child < 0)
                return bd_error_new(BD_ERR_INTERNAL, "fork: %s", strerror(errno));
        *pid = child;
        return NULL;
}
