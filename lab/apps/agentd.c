/* agentd: a lab service that keeps its state with libbdagent, for the
 * tests of bdmon agent: a counter and a table, changed by a request every
 * few milliseconds, with a checksum the service writes into its state so
 * that a copy read from outside can be checked.
 *
 *   agentd [-n NAME] [-i MS]     NAME: the beacon's (default agentd)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../host-agent/bdagent.h"

struct state {
        uint64_t counter;
        uint64_t table[64];
        uint64_t sum; /* of counter and table: whole when it adds up */
};
static struct state st;

int main(int argc, char **argv)
{
        const char *name = "agentd";
        long ms = 5;
        int c;
        while ((c = getopt(argc, argv, "n:i:")) != -1) {
                if (c == 'n')
                        name = optarg;
                else if (c == 'i')
                        ms = atol(optarg);
                else {
                        fprintf(stderr, "usage: agentd [-n NAME] [-i MS]\n");
                        return 2;
                }
        }
        int rc = bd_agent_init(name);
        if (!rc)
                rc = bd_region(&st, sizeof(st), "state");
        if (rc) {
                fprintf(stderr, "agentd: libbdagent: %s\n", strerror(-rc));
                return 1;
        }
        struct timespec pause = {ms / 1000, (ms % 1000) * 1000000};
        for (;;) {
                bd_request_begin();
                st.counter++;
                st.table[st.counter % 64] += st.counter;
                st.sum += st.counter + st.counter;
                bd_request_end();
                nanosleep(&pause, NULL);
        }
}
