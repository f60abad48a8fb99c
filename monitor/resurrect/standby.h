/* Handing the images to a standby: bdmon resurrect --to runs the
 * operator's restore command for the standby (ssh to it, a systemd unit
 * started there, the lab's exec agent) once the images are whole, and
 * waits for it. The command runs through /bin/sh with the images'
 * directory as its last argument, and with BDMON_IMAGES and BDMON_PID in
 * its environment; what it prints goes to bdmon's standard error, so that
 * --json output stays one object. */
#ifndef BD_STANDBY_H
#define BD_STANDBY_H

#include <stdint.h>

#include "../../common/error.h"

struct bd_standby_result {
        int status;          /* the command's exit status; 128 + N for signal N */
        uint64_t elapsed_ns; /* from its start to its end */
};

/* Run command with images (the directory as the standby sees it) for the
 * process pid. BD_ERR_STANDBY when the command fails (out->status says
 * how), BD_ERR_INTERNAL when it cannot be started. */
struct bd_error *bd_standby_restore(const char *command, const char *images, int32_t pid,
                                    struct bd_standby_result *out);

#endif
