/* evil_peer: peers that try to hold or stall a Backdoors NIC.
 *
 *   evil_peer [-n N] [-s SECONDS] [-b SOURCE] [--silent] [rdma:]HOST[:PORT]
 *   evil_peer -k KEYFILE [-s SECONDS] [rdma:]HOST[:PORT]
 *
 * Without a key: keeps N connections open for SECONDS (default 50 for
 * 20 s), opening each one again at once when the NIC ends it. Once
 * established, a connection sends an AUTH whose MAC is wrong (or, --silent,
 * nothing) and never posts a receive buffer: the NIC's HELLO and REFUSED
 * can never be delivered (the responder answers each with
 * receiver-not-ready, for ever). -b connects from SOURCE, one of this
 * machine's addresses. Prints one line of counts: attempts, established,
 * ended (by the NIC, after being established), rejected (not established:
 * refused, the NIC's rejects among them, or timed out).
 *
 * With a key: authenticates, then sends more requests than it has receive
 * buffers for the answers, and takes no more: the NIC's answers wait for
 * ever. Again and again for SECONDS; prints sessions and how many the NIC
 * ended. Exit 0 when it ran, 2 on usage errors or no RDMA. */
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/clock.h"
#include "lab_peer.h"

struct peer {
        struct rdma_cm_id *id;
        int established;
};

struct flood {
        struct rdma_event_channel *ch;
        struct addrinfo *ai, *src;
        int silent;
        unsigned long attempts, established, ended, rejected, refused;
};

static int start(struct flood *f, struct peer *p)
{
        *p = (struct peer){0};
        if (rdma_create_id(f->ch, &p->id, p, RDMA_PS_TCP))
                return -1;
        f->attempts++;
        if (rdma_resolve_addr(p->id, f->src ? f->src->ai_addr : NULL, f->ai->ai_addr, 2000)) {
                rdma_destroy_id(p->id);
                p->id = NULL;
                return -1;
        }
        return 0;
}

static void stop(struct peer *p)
{
        if (!p->id)
                return;
        rdma_disconnect(p->id);
        if (p->id->qp)
                rdma_destroy_qp(p->id);
        rdma_destroy_id(p->id);
        p->id = NULL;
}

/* An AUTH of the right shape whose MAC no key made. */
static void send_junk_auth(struct peer *p)
{
        struct bd_msg msg = {.type = BD_MSG_AUTH};
        memset(msg.u.auth.nonce, 0x5a, BD_NONCE_LEN);
        memset(msg.u.auth.mac, 0xa5, BD_MAC_LEN);
        uint8_t buf[BD_HDR_LEN + BD_NONCE_LEN + BD_MAC_LEN];
        size_t n = bd_wire_encode(&msg, buf, sizeof(buf));
        struct ibv_sge sge = {(uintptr_t)buf, (uint32_t)n, 0};
        struct ibv_send_wr wr = {.sg_list = &sge,
                                 .num_sge = 1,
                                 .opcode = IBV_WR_SEND,
                                 .send_flags = IBV_SEND_INLINE},
                           *bad;
        (void)ibv_post_send(p->id->qp, &wr, &bad);
}

static void on_event(struct flood *f, struct rdma_cm_event *ev)
{
        struct peer *p = ev->id->context;
        enum rdma_cm_event_type type = ev->event;
        struct rdma_cm_id *id = ev->id;
        rdma_ack_cm_event(ev);
        struct rdma_conn_param param = {.retry_count = 7, .rnr_retry_count = 7};
        struct ibv_qp_init_attr qa = {
            .cap = {.max_send_wr = 4,
                    .max_recv_wr = 4,
                    .max_send_sge = 1,
                    .max_recv_sge = 1,
                    .max_inline_data = 128},
            .qp_type = IBV_QPT_RC,
        };
        switch (type) {
        case RDMA_CM_EVENT_ADDR_RESOLVED:
                if (!rdma_resolve_route(id, 2000))
                        return;
                break;
        case RDMA_CM_EVENT_ROUTE_RESOLVED:
                /* librdmacm makes the PD and CQs; no receive is ever posted. */
                if (!rdma_create_qp(id, NULL, &qa) && !rdma_connect(id, &param))
                        return;
                break;
        case RDMA_CM_EVENT_ESTABLISHED:
                p->established = 1;
                f->established++;
                if (!f->silent)
                        send_junk_auth(p);
                return;
        case RDMA_CM_EVENT_DISCONNECTED:
                f->ended++;
                break;
        case RDMA_CM_EVENT_REJECTED:
                f->refused++;
                f->rejected++;
                break;
        default:
                if (p->established)
                        f->ended++;
                else
                        f->rejected++;
                break;
        }
        stop(p);
        start(f, p);
}

/* Requests sent in a stalling session: more than the receive slots it
 * posts for the answers (BD_QUEUE_DEPTH, two of them taken by the
 * handshake), and more than the NIC's send slots. */
#define STALL_REQUESTS (2 * BD_QUEUE_DEPTH)

/* Returns 1 when the NIC ended the session, 0 when it stayed up for
 * hold_ms, -1 when it could not be opened. */
static int stall_once(const struct bd_target *t, const struct bd_key *key, int hold_ms)
{
        struct lab_session s;
        struct bd_error *err = lab_session_open(&s, t, key, 5000, BD_QUEUE_DEPTH, 1);
        if (err) {
                fprintf(stderr, "evil_peer: %s\n", err->message);
                bd_error_destroy(err);
                return -1;
        }
        for (uint32_t i = 0; i < STALL_REQUESTS; i++) {
                struct bd_msg msg = {.type = BD_MSG_REQUEST, .id = i};
                msg.u.request = (struct bd_request){.op = BD_OP_READ, .length = 64};
                /* A send slot frees when the NIC takes the request; the
                 * answers that land meanwhile are dropped, their slots
                 * never posted again. */
                struct ibv_wc wc;
                while (bd_conn_next_send_slot(&s.c) == BD_QUEUE_DEPTH &&
                       bd_conn_wait(&s.c, &wc, 1, 1000, 0) == 1)
                        if (bd_wr_kind_of(wc.wr_id) == BD_WR_SEND)
                                bd_conn_send_done(&s.c, bd_wr_slot_of(wc.wr_id));
                struct bd_error *e = bd_conn_send(&s.c, &msg, NULL);
                if (e) {
                        bd_error_destroy(e);
                        break;
                }
        }
        int ended = 0;
        uint64_t end = bd_now_ns() + (uint64_t)hold_ms * 1000000u;
        while (!ended && bd_now_ns() < end) {
                struct rdma_cm_event *ev;
                struct pollfd pfd = {.fd = s.ch->fd, .events = POLLIN};
                if (poll(&pfd, 1, 100) == 1 && !rdma_get_cm_event(s.ch, &ev)) {
                        ended = ev->event == RDMA_CM_EVENT_DISCONNECTED;
                        rdma_ack_cm_event(ev);
                }
        }
        lab_session_close(&s);
        return ended;
}

static int stall(const char *spec, const char *key_path, unsigned seconds)
{
        struct bd_target t;
        struct bd_key key;
        struct bd_error *err = bd_target_parse_spec(spec, key_path, &t);
        if (!err)
                err = bd_key_load(key_path, &key);
        if (err) {
                fprintf(stderr, "evil_peer: %s\n", err->message);
                bd_error_destroy(err);
                return 2;
        }
        unsigned long sessions = 0, ended = 0;
        uint64_t end = bd_now_ns() + (uint64_t)seconds * 1000000000u;
        while (bd_now_ns() < end) {
                int r = stall_once(&t, &key, 5000);
                sessions += r >= 0;
                ended += r == 1;
        }
        printf("sessions=%lu ended=%lu\n", sessions, ended);
        return 0;
}

static int usage(void)
{
        fprintf(stderr, "usage: evil_peer [-n N] [-s SECONDS] [-b SOURCE] [--silent] "
                        "[rdma:]HOST[:PORT]\n"
                        "       evil_peer -k KEYFILE [-s SECONDS] [rdma:]HOST[:PORT]\n");
        return 2;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {{"silent", no_argument, NULL, 'q'}, {0}};
        struct flood f = {0};
        unsigned n = 50, seconds = 20;
        const char *source = NULL, *key_path = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "n:s:b:k:", opts, NULL)) != -1) {
                if (c == 'b')
                        source = optarg;
                else if (c == 'k')
                        key_path = optarg;
                else if (c == 'n')
                        n = (unsigned)atoi(optarg);
                else if (c == 's')
                        seconds = (unsigned)atoi(optarg);
                else if (c == 'q')
                        f.silent = 1;
                else
                        return usage();
        }
        if (optind != argc - 1 || n < 1 || n > 1000 || seconds < 1)
                return usage();
        if (key_path)
                return stall(argv[optind], key_path, seconds);
        char host[256], port[16] = "7471";
        const char *arg = argv[optind];
        if (!strncmp(arg, "rdma:", 5))
                arg += 5;
        snprintf(host, sizeof(host), "%s", arg);
        char *colon = strrchr(host, ':');
        if (colon) {
                snprintf(port, sizeof(port), "%s", colon + 1);
                *colon = '\0';
        }
        struct addrinfo hints = {.ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
        if (getaddrinfo(host, port, &hints, &f.ai) ||
            (source && getaddrinfo(source, NULL, &hints, &f.src))) {
                fprintf(stderr, "evil_peer: cannot resolve %s\n", source ? source : host);
                return 2;
        }
        f.ch = rdma_create_event_channel();
        struct peer *peers = calloc(n, sizeof(*peers));
        if (!f.ch || !peers) {
                fprintf(stderr, "evil_peer: no RDMA here (rdma_ucm loaded?)\n");
                return 2;
        }
        for (unsigned i = 0; i < n; i++)
                start(&f, &peers[i]);
        uint64_t end = bd_now_ns() + (uint64_t)seconds * 1000000000u;
        while (bd_now_ns() < end) {
                struct pollfd pfd = {.fd = f.ch->fd, .events = POLLIN};
                struct rdma_cm_event *ev;
                if (poll(&pfd, 1, 200) == 1 && !rdma_get_cm_event(f.ch, &ev))
                        on_event(&f, ev);
        }
        for (unsigned i = 0; i < n; i++)
                stop(&peers[i]);
        printf("attempts=%lu established=%lu ended=%lu rejected=%lu refused=%lu\n", f.attempts,
               f.established, f.ended, f.rejected, f.refused);
        rdma_destroy_event_channel(f.ch);
        freeaddrinfo(f.ai);
        if (f.src)
                freeaddrinfo(f.src);
        free(peers);
        return 0;
}
