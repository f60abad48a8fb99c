/* Running the standby's restore command: see standby.h. */
#include "standby.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/clock.h"
#include "../../common/spawn.h"

struct bd_error *bd_standby_restore(const char *command, const char *images, int32_t pid,
                                    struct bd_standby_result *out)
{
        memset(out, 0, sizeof(*out));
        /* The directory goes in as a variable, so that no quoting of the
         * operator's path can go wrong. */
        size_t len = strlen(command) + sizeof(" \"$BDMON_IMAGES\"");
        char *line = malloc(len);
        if (!line)
                return &bd_error_nomem;
        snprintf(line, len, "%s \"$BDMON_IMAGES\"", command);
        char num[16];
        snprintf(num, sizeof(num), "%d", (int)pid);
        const struct bd_env env[] = {{"BDMON_IMAGES", images}, {"BDMON_PID", num}};
        uint64_t t0 = bd_now_ns();
        pid_t child;
        struct bd_error *err = bd_spawn_shell(line, env, 2, 1, &child);
        free(line);
        if (err)
                return err;
        int st;
        while (waitpid(child, &st, 0) < 0)
                if (errno != EINTR)
                        return bd_error_new(BD_ERR_INTERNAL, "waitpid: %s", strerror(errno));
        out->elapsed_ns = bd_now_ns() - t0;
        out->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (out->status)
                return bd_error_new(BD_ERR_STANDBY,
                                    "the standby's restore failed (exit %d after %.1f s): %s",
                                    out->status, (double)out->elapsed_ns / 1e9, command);
        return NULL;
}
