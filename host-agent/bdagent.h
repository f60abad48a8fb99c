/* libbdagent: an application's consistent state, for a monitor that reads
 * it from outside (Backdoors' bdmon), even after the application's kernel
 * died.
 *
 * The application registers the state that matters (bd_region) and marks
 * its requests (bd_request_begin / bd_request_end). Between requests the
 * library commits: it copies every region into the one of its two slots
 * that does not hold the last commit, then names that slot committed
 * (common/agent_beacon.h). Whatever instruction the process stops at, one
 * slot holds a whole commit, so a process read out of a dead kernel can be
 * brought back with the state of its last finished request instead of a
 * half-applied one. The library starts no thread and makes no system call
 * on the request path (a thread's first request registers it, once).
 *
 * A commit happens when the last thread in a request ends it: with several
 * threads it is the state at a moment no request was in flight, so that no
 * half-applied request is committed. A service that is never idle commits
 * rarely; its regions should then be per thread.
 *
 * After a resurrection that rolled requests back, each thread that was in
 * one returns from its bd_request_begin() again (bd_request_rolled_back()
 * says so), with its regions as the last commit left them; the procedure
 * given to bd_on_resurrect() runs once, before the first request after the
 * resurrection.
 *
 * Regions must hold no pointers (or only offsets within themselves): a
 * checkpoint may be loaded into a fresh instance of the program. */
#ifndef BD_AGENT_H
#define BD_AGENT_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

/* The environment variable naming a checkpoint's directory to load. */
#define BD_AGENT_RESTORE_ENV "BDAGENT_RESTORE"

/* What a resurrection did, for the recovery procedure. */
struct bd_resurrection {
        uint64_t rolled_back; /* requests in flight at the death, rolled back */
        uint64_t commits;     /* the commit the regions hold */
};

/* Publish the beacon for this process under name (1-31 characters of
 * [A-Za-z0-9._-]); once per process. 0, or -errno: EINVAL for a bad name,
 * EALREADY when called twice, or what memfd_create, mmap or sigaction
 * said. Installs a handler for the library's signal (SIGRTMAX - 2), which
 * the application must leave alone. */
int bd_agent_init(const char *name);

/* Register len bytes at ptr (1 to 16 MiB, at most 16 regions, name as for
 * bd_agent_init) as state to commit; its contents now are its first
 * committed state. Not while a request is in flight (-EBUSY). 0, or
 * -errno: EINVAL, ENOSPC (16 already), ENOMEM, ENOENT (no bd_agent_init).
 *
 * A fresh instance started from a checkpoint (bdmon checkpoints DIR
 * VERSION --to COMMAND, the host that ran the old one gone): with
 * BD_AGENT_RESTORE_ENV naming a directory, the file there named as the
 * region is loaded into ptr first, and is its first committed state
 * instead; -EMSGSIZE when that file is not len bytes, -errno when it
 * cannot be read (ptr untouched then). A region the directory has no file
 * for keeps its contents. */
int bd_region(void *ptr, size_t len, const char *name);

/* Begin a request in this thread: records the thread's recovery point.
 * A statement, not an expression (the point is the caller's own frame). */
#define bd_request_begin()                                                                         \
        do {                                                                                       \
                if (sigsetjmp(*bd_agent_point_(), 0))                                              \
                        bd_agent_recovered_();                                                     \
                bd_agent_begin_();                                                                 \
        } while (0)

/* End this thread's request; the last one out commits. */
void bd_request_end(void);

/* 1 when this thread's request is being run again after a resurrection
 * rolled it back, else 0. */
int bd_request_rolled_back(void);

/* The application's recovery procedure, run once after a resurrection. */
void bd_on_resurrect(void (*fn)(const struct bd_resurrection *what));

/* Commits so far; for tests and statistics. */
uint64_t bd_agent_commits(void);

/* For the macro above only. */
sigjmp_buf *bd_agent_point_(void);
void bd_agent_begin_(void);
void bd_agent_recovered_(void);

#endif
