#include "checkpoint.h"

#include <string.h>

#include "../../common/clock.h"

/* Chunks of dropped versions unlinked per interval: a 16-MiB region's worth
 * of churn is gone within a few seconds, and no interval waits long. */
#define RECLAIM_PER_STEP 256

struct bd_error *bd_checkpoint_step(struct bd_agent_copier *c, struct bd_ckpt_store *s,
                                    struct bd_program *prog, struct bd_checkpoint_stats *st,
                                    struct bd_ckpt_put *put)
{
        memset(put, 0, sizeof(*put));
        st->intervals++;
        uint64_t bytes = prog->phys->bytes_read, trips = prog->phys->round_trips;
        uint64_t when = bd_wall_ns();
        struct bd_agent_copy copy;
        struct bd_error *err = bd_agent_copier_read(c, BD_CHECKPOINT_TRIES, &copy);
        st->bytes_read += prog->phys->bytes_read - bytes;
        st->round_trips += prog->phys->round_trips - trips;
        st->tries += copy.tries;
        st->pin_busy += copy.pin_busy;
        st->pinned += copy.whole && copy.pinned;
        if (err)
                return err;
        if (!copy.whole) {
                st->missed++;
                return NULL;
        }
        uint64_t now = bd_now_ns();
        if (st->whole_ns) {
                uint64_t gap = now - st->whole_ns;
                st->gaps++;
                st->gaps_over_2 += gap > 2 * st->interval_ns;
                if (gap > st->gap_max_ns)
                        st->gap_max_ns = gap;
        }
        st->whole_ns = now;
        if (st->versions && copy.slot == st->slot && copy.generation == st->generation) {
                st->unchanged++;
        } else {
                const struct bd_agent_view *v = bd_agent_copier_view(c);
                struct bd_ckpt_meta meta = {
                    .unix_ns = when,
                    .pid = v->b.pid,
                    .generation = copy.generation,
                    .commits = copy.commits,
                };
                memcpy(meta.agent, v->b.name, sizeof(meta.agent));
                struct bd_ckpt_region r[BD_AGENT_MAX_REGIONS];
                for (uint32_t i = 0; i < v->b.nregions; i++) {
                        memcpy(r[i].name, v->b.region[i].name, sizeof(r[i].name));
                        r[i].data = copy.data[i];
                        r[i].len = v->b.region[i].len;
                }
                if ((err = bd_ckpt_store_put(s, &meta, r, v->b.nregions, put)))
                        return err;
                st->versions++;
                st->slot = copy.slot;
                st->generation = copy.generation;
                st->bytes_stored += put->new_bytes;
                st->dropped += put->dropped;
        }
        bd_ckpt_store_reclaim(s, RECLAIM_PER_STEP);
        return NULL;
}
