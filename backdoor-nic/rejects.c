#include "rejects.h"

#include <stdio.h>
#include <string.h>

#include "../common/audit.h"

static void write_held(struct bd_reject_source *s)
{
        if (s->held)
                bd_audit("reject-summary host=%s refused=%lu reason=\"%s\"", s->host, s->held,
                         s->reason);
        s->held = 0;
}

void bd_rejects_note(struct bd_rejects *r, const char *peer, const char *host, const char *reason,
                     uint64_t now_ns)
{
        struct bd_reject_source *s = NULL, *oldest = &r->src[0];
        for (unsigned i = 0; i < BD_REJECTS_SOURCES && !s; i++) {
                struct bd_reject_source *c = &r->src[i];
                if (c->since_ns && c->reason == reason && !strcmp(c->host, host))
                        s = c;
                else if (c->since_ns < oldest->since_ns)
                        oldest = c;
        }
        if (s && now_ns - s->since_ns < BD_REJECTS_EVERY_NS) {
                s->held++;
                return;
        }
        /* The pair's second is over, or a new pair takes the oldest slot:
         * what that slot held is written first. */
        if (!s)
                s = oldest;
        write_held(s);
        snprintf(s->host, sizeof(s->host), "%s", host);
        s->reason = reason;
        s->since_ns = now_ns;
        bd_audit("reject peer=%s reason=\"%s\"", peer, reason);
}

uint64_t bd_rejects_flush(struct bd_rejects *r, uint64_t now_ns, int all)
{
        uint64_t next = UINT64_MAX;
        for (unsigned i = 0; i < BD_REJECTS_SOURCES; i++) {
                struct bd_reject_source *s = &r->src[i];
                if (!s->held)
                        continue;
                uint64_t end = s->since_ns + BD_REJECTS_EVERY_NS;
                if (all || now_ns >= end)
                        write_held(s);
                else if (end - now_ns < next)
                        next = end - now_ns;
        }
        return next;
}
