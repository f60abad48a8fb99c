/* Starting an operator's command: see spawn.h. */
#include "spawn.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* environ with env[0..n) set, built before the child exists: the watch
 * starts hooks from its targets' threads, and a child of a threaded
 * process may not allocate (another thread may have held the heap's lock
 * when it was forked). The strings are environ's and env's own. */
static char **environment(const struct bd_env *env, size_t n, char ***owned)
{
        size_t have = 0;
        while (environ[have])
                have++;
        char **out = calloc(have + n + 1, sizeof(*out));
        *owned = calloc(n + 1, sizeof(**owned));
        if (!out || !*owned) {
                free(out);
                free(*owned);
                return NULL;
        }
        size_t k = 0;
        for (size_t i = 0; i < have; i++) {
                int replaced = 0;
                for (size_t j = 0; j < n && !replaced; j++) {
                        size_t len = strlen(env[j].name);
                        replaced = !strncmp(environ[i], env[j].name, len) && environ[i][len] == '=';
                }
                if (!replaced)
                        out[k++] = environ[i];
        }
        for (size_t j = 0; j < n; j++) {
                char *s;
                if (asprintf(&s, "%s=%s", env[j].name, env[j].value) < 0) {
                        for (size_t i = 0; i < j; i++)
                                free((*owned)[i]);
                        free(*owned);
                        free(out);
                        return NULL;
                }
                out[k++] = (*owned)[j] = s;
        }
        return out;
}

struct bd_error *bd_spawn_shell(const char *cmd, const struct bd_env *env, size_t n, int out_to_err,
                                pid_t *pid)
{
        fflush(NULL);
        char **owned;
        char **envp = environment(env, n, &owned);
        if (!envp)
                return &bd_error_nomem;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        if (out_to_err)
                posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
        char *argv[] = {"sh", "-c", (char *)cmd, NULL};
        int e = posix_spawn(pid, "/bin/sh", &fa, NULL, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        for (size_t j = 0; j < n; j++)
                free(owned[j]);
        free(owned);
        free(envp);
        if (e)
                return bd_error_new(BD_ERR_INTERNAL, "cannot start /bin/sh: %s", strerror(e));
        return NULL;
}
