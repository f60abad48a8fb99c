/* What resurrect does for a process that uses libbdagent
 * (host-agent/bdagent.h, common/agent_beacon.h): the images bring it back
 * at its last commit point, not in the middle of a request.
 *
 * - The beacon's memfd goes into criu's memfd images (memfd.img,
 *   pagemap-shmem-ID.img and pages-2.img), its contents as read, with
 *   `resurrected` counted up and `rolled_back` set: the images say the
 *   process was resurrected, the dead host's memory is never written.
 * - When threads were inside a request at the death, each region's live
 *   bytes are replaced, in the process's pages, by its committed slot
 *   (whole by the protocol: the slot `committed` names was finished before
 *   it was named), and the library's signal is queued to each of those
 *   threads: its handler takes the thread back to its recovery point
 *   (bd_request_begin), and the library runs the application's
 *   bd_on_resurrect() procedure once.
 * - A thread the beacon lists inside a request that the process no longer
 *   has is taken out of the count, or no commit would ever happen again.
 *
 * Only the library's own memfd is written this way: its one mapping, from
 * offset 0, every page touched by the library (a page not in the page
 * tables reads as zeros here, where a page cache could still hold it).
 * Refused, naming it: a region to roll back in shared memory (the images
 * carry only private pages), a committed slot being written (a generation
 * odd: the library never names such a slot; a hostile or corrupt beacon). */
#ifndef BD_AGENT_IMAGE_H
#define BD_AGENT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "../views/agent.h"
#include "../views/threads.h"
#include "../views/user_mem.h"
#include "../views/vmas.h"
#include "criu_image.h"

/* What the images of a resurrected libbdagent process show. */
struct bd_agent_resurrection {
        int present; /* the process maps a beacon */
        char name[BD_AGENT_NAME_MAX];
        uint64_t commits;    /* the commit the regions hold */
        size_t rolled_back;  /* requests in flight, rolled back */
        size_t regions;      /* regions put back to their commit */
        uint64_t bytes;      /* of those regions */
        size_t threads_gone; /* inside a request, but no longer in the process */
};

struct bd_agent_image {
        struct bd_agent_resurrection st;
        uint64_t file;       /* the memfd's struct file */
        uint64_t start, len; /* its mapping */
        uint8_t *contents;   /* the memfd as the images hold it */
        struct {
                uint64_t live, len;
                uint8_t *bytes; /* the committed slot */
        } region[BD_AGENT_MAX_REGIONS];
        size_t nregions;
        int32_t tid[BD_AGENT_MAX_THREADS]; /* to be sent the library's signal */
        size_t ntids;
        int signal;
};

/* pid's beacon, if among its mappings vs (out->st.present 0 when not):
 * the memfd's contents read once through pages (whose tables cover vs)
 * and checked (bd_agent_check), and, when threads were inside a request,
 * the committed slots. */
struct bd_error *bd_agent_image_plan(int32_t pid, const struct bd_vmas *vs,
                                     const struct bd_threads *ts, struct bd_user_pages *pages,
                                     struct bd_agent_image *out);

/* Whether [va, va + len) holds bytes of a region being rolled back. */
int bd_agent_image_overlaps(const struct bd_agent_image *ai, uint64_t va, uint64_t len);

/* The committed bytes of the rolled-back regions over buf, which holds
 * [va, va + len) of the process as read. */
void bd_agent_image_patch(const struct bd_agent_image *ai, uint64_t va, uint8_t *buf, uint64_t len);

/* Whether thread tid is to be sent the library's signal. */
int bd_agent_image_signals(const struct bd_agent_image *ai, int32_t tid);

/* memfd.img, pagemap-shmem-SHMID.img and pages-PAGES_ID.img: the memfd
 * named as the library named it, owned by uid:gid. */
struct bd_error *bd_agent_image_write(struct bd_criu_dir *dir, const struct bd_agent_image *ai,
                                      uint32_t shmid, uint32_t pages_id, uint32_t uid,
                                      uint32_t gid);

void bd_agent_image_free(struct bd_agent_image *ai);

#endif
