/* rogue_write: can a keyed peer write a Backdoors NIC's windows one-sided?
 *
 *   rogue_write [-t MS] -k KEYFILE [rdma:]HOST[:PORT] [WINDOW]
 *
 * Authenticates to bdnicd as bdmon does, lists its windows, and for WINDOW
 * (default: every direct one) posts an 8-byte RDMA WRITE with the window's
 * own rkey, bypassing bdmon: at its last 8 bytes and just past its end.
 * Mediated windows get no rkey, so they are listed and not tried. Each write
 * carries the bytes a one-sided READ just found there, if any, so a NIC that
 * takes it changes nothing (but for a race). Exit 0: every write refused by
 * the responder; 1: one completed; 2: usage or connection errors, or a key
 * that does not even read inside (then a refusal proves nothing). */
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/auth.h"
#include "../../common/rdma_conn.h"
#include "../../monitor/source/target.h"

enum verdict { REFUSED = 0, WRITTEN = 1, UNDECIDED = 2 };

/* Written where nothing could be read first: findable if it ever lands. */
#define MARKER 0x2145554752444221ull /* "!BDRGUE!" */

/* An authenticated connection of our own: bdmon's source posts only the
 * work requests it plans. Every attempt takes a fresh one, because bdnicd
 * registers direct windows per connection (the rkey is good on that QP
 * only) and a refused one-sided operation leaves the QP in the error
 * state. */
struct session {
        struct rdma_event_channel *ch;
        struct bd_conn c;
        uint64_t *word; /* what one-sided READs land in and WRITEs send */
        struct ibv_mr *word_mr;
        struct bd_welcome welcome;
};

static const char *status_name(enum ibv_wc_status st)
{
#define NAME(s) [IBV_WC_##s] = "IBV_WC_" #s
        static const char *const names[] = {
            NAME(SUCCESS),           NAME(LOC_LEN_ERR),
            NAME(LOC_QP_OP_ERR),     NAME(LOC_EEC_OP_ERR),
            NAME(LOC_PROT_ERR),      NAME(WR_FLUSH_ERR),
            NAME(MW_BIND_ERR),       NAME(BAD_RESP_ERR),
            NAME(LOC_ACCESS_ERR),    NAME(REM_INV_REQ_ERR),
            NAME(REM_ACCESS_ERR),    NAME(REM_OP_ERR),
            NAME(RETRY_EXC_ERR),     NAME(RNR_RETRY_EXC_ERR),
            NAME(LOC_RDD_VIOL_ERR),  NAME(REM_INV_RD_REQ_ERR),
            NAME(REM_ABORT_ERR),     NAME(INV_EECN_ERR),
            NAME(INV_EEC_STATE_ERR), NAME(FATAL_ERR),
            NAME(RESP_TIMEOUT_ERR),  NAME(GENERAL_ERR),
        };
#undef NAME
        if ((unsigned)st < sizeof(names) / sizeof(names[0]) && names[st])
                return names[st];
        return ibv_wc_status_str(st);
}

/* The responder said no (a NAK), as opposed to the path failing on the way
 * (retries exhausted, work flushed, a local error): only then was the
 * operation seen and not done. */
static int responder_refused(enum ibv_wc_status st)
{
        return st == IBV_WC_REM_ACCESS_ERR || st == IBV_WC_REM_INV_REQ_ERR ||
               st == IBV_WC_REM_OP_ERR;
}

static struct bd_error *cm_expect(struct session *s, int want, int timeout_ms, const char *what)
{
        int ev = bd_cm_wait(s->ch, timeout_ms, NULL, NULL);
        if (ev == want)
                return NULL;
        return bd_error_new(BD_ERR_UNREACHABLE, "%s: %s", what,
                            ev < 0 ? "no answer in time" : rdma_event_str(ev));
}

/* The next message from the NIC; it points into its receive slot, which
 * is not posted again (a session reads two messages). */
static struct bd_error *next_msg(struct session *s, int timeout_ms, struct bd_msg *msg)
{
        for (;;) {
                struct ibv_wc wc;
                if (bd_conn_wait(&s->c, &wc, 1, timeout_ms, 0) <= 0)
                        return bd_error_new(BD_ERR_UNREACHABLE, "no message from the NIC in %d ms",
                                            timeout_ms);
                if (wc.status != IBV_WC_SUCCESS)
                        return bd_error_new(BD_ERR_IO, "connection failed: %s",
                                            status_name(wc.status));
                if (bd_wr_kind_of(wc.wr_id) == BD_WR_SEND) {
                        bd_conn_send_done(&s->c, bd_wr_slot_of(wc.wr_id));
                        continue;
                }
                const char *why;
                if (bd_wire_decode(bd_conn_recv_buf(&s->c, bd_wr_slot_of(wc.wr_id)), wc.byte_len,
                                   msg, &why))
                        return bd_error_new(BD_ERR_PROTOCOL, "malformed message: %s", why);
                return NULL;
        }
}

/* HELLO, AUTH, WELCOME; the NIC's proof is checked too, so that what the
 * test concludes is about the real NIC. */
static struct bd_error *authenticate(struct session *s, const struct bd_key *key, int timeout_ms)
{
        struct bd_msg hello, reply, auth = {.type = BD_MSG_AUTH};
        struct bd_error *err = next_msg(s, timeout_ms, &hello);
        if (err)
                return err;
        if (hello.type != BD_MSG_HELLO || hello.u.hello.version != BD_WIRE_VERSION)
                return bd_error_new(BD_ERR_PROTOCOL, "not a Backdoors NIC of protocol version %d",
                                    BD_WIRE_VERSION);
        bd_auth_nonce(auth.u.auth.nonce);
        bd_auth_monitor_mac(key, hello.u.hello.nonce, auth.u.auth.nonce, auth.u.auth.mac);
        if ((err = bd_conn_send(&s->c, &auth, NULL)) || (err = next_msg(s, timeout_ms, &reply)))
                return err;
        if (reply.type != BD_MSG_WELCOME)
                return bd_error_new(BD_ERR_AUTH, "refused by the NIC (message %u): wrong key?",
                                    reply.type);
        uint8_t expect[BD_MAC_LEN];
        bd_auth_nic_mac(key, hello.u.hello.nonce, auth.u.auth.nonce, expect);
        if (!bd_auth_mac_equal(expect, reply.u.welcome.mac))
                return bd_error_new(BD_ERR_AUTH, "the NIC could not prove it holds the key");
        s->welcome = reply.u.welcome;
        return NULL;
}

static void session_close(struct session *s)
{
        if (s->c.id && s->c.id->qp)
                rdma_disconnect(s->c.id);
        if (s->word_mr)
                ibv_dereg_mr(s->word_mr);
        free(s->word);
        struct rdma_cm_id *id = s->c.id;
        bd_conn_destroy(&s->c);
        if (id)
                rdma_destroy_id(id);
        if (s->ch)
                rdma_destroy_event_channel(s->ch);
        memset(s, 0, sizeof(*s));
}

static struct bd_error *session_open(struct session *s, const struct bd_target *t,
                                     const struct bd_key *key, int timeout_ms)
{
        memset(s, 0, sizeof(*s));
        char port[16];
        snprintf(port, sizeof(port), "%d", t->port);
        struct addrinfo hints = {.ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *ai;
        int gai = getaddrinfo(t->host, port, &hints, &ai);
        if (gai)
                return bd_error_new(BD_ERR_UNREACHABLE, "%s: %s", t->host, gai_strerror(gai));
        struct bd_error *err = NULL;
        if (!(s->ch = rdma_create_event_channel()) ||
            rdma_create_id(s->ch, &s->c.id, NULL, RDMA_PS_TCP))
                err = bd_error_new(BD_ERR_UNREACHABLE, "no RDMA on this machine");
        else if (rdma_resolve_addr(s->c.id, NULL, ai->ai_addr, timeout_ms))
                err = bd_error_new(BD_ERR_UNREACHABLE, "no RDMA device reaches %s", t->host);
        else
                err = cm_expect(s, RDMA_CM_EVENT_ADDR_RESOLVED, timeout_ms, "address");
        freeaddrinfo(ai);
        if (!err && rdma_resolve_route(s->c.id, timeout_ms))
                err = bd_error_new(BD_ERR_UNREACHABLE, "no route to %s", t->host);
        if (!err)
                err = cm_expect(s, RDMA_CM_EVENT_ROUTE_RESOLVED, timeout_ms, "route");
        if (!err)
                err = bd_conn_create(&s->c, s->c.id, 1);
        if (!err && (!(s->word = malloc(sizeof(*s->word))) ||
                     !(s->word_mr =
                           ibv_reg_mr(s->c.pd, s->word, sizeof(*s->word), IBV_ACCESS_LOCAL_WRITE))))
                err = bd_error_new(BD_ERR_INTERNAL, "cannot register 8 bytes");
        /* One READ in flight: the NIC grants as many as we ask. */
        struct rdma_conn_param param = {
            .initiator_depth = 1, .retry_count = 7, .rnr_retry_count = 7};
        if (!err && rdma_connect(s->c.id, &param))
                err = bd_error_new(BD_ERR_UNREACHABLE, "rdma_connect to %s failed", t->host);
        if (!err)
                err = cm_expect(s, RDMA_CM_EVENT_ESTABLISHED, timeout_ms, "connection");
        if (!err)
                err = authenticate(s, key, timeout_ms);
        if (err)
                session_close(s);
        return err;
}

/* Open a session and find window in its welcome: where its last 8 bytes
 * (outside: the 8 bytes after it) are, and the key this session got. */
static struct bd_error *open_at(struct session *s, const struct bd_target *t,
                                const struct bd_key *key, int timeout_ms, const char *window,
                                int outside, uint64_t *offset, uint64_t *addr, uint32_t *rkey)
{
        struct bd_error *err = session_open(s, t, key, timeout_ms);
        for (unsigned i = 0; !err && i < s->welcome.nwindows; i++) {
                const struct bd_window_desc *w = &s->welcome.windows[i];
                if (strcmp(w->name, window))
                        continue;
                if (w->mode != BD_MODE_DIRECT || !w->rkey) {
                        session_close(s);
                        return bd_error_new(BD_ERR_NOT_FOUND, "window %s is no longer direct",
                                            window);
                }
                *offset = outside ? w->length : w->length - 8;
                *addr = w->remote_addr + *offset;
                *rkey = w->rkey;
                return NULL;
        }
        if (!err) {
                session_close(s);
                err = bd_error_new(BD_ERR_NOT_FOUND, "window %s is gone", window);
        }
        return err;
}

/* Post one signaled operation on the session's word and wait for it. */
static struct bd_error *one_sided(struct session *s, enum ibv_wr_opcode op, uint64_t addr,
                                  uint32_t rkey, int timeout_ms, enum ibv_wc_status *status)
{
        struct ibv_sge sge = {(uintptr_t)s->word, sizeof(*s->word), s->word_mr->lkey};
        struct ibv_send_wr wr =
                               {
                                   .wr_id = bd_wr_id(BD_WR_RDMA, 0),
                                   .sg_list = &sge,
                                   .num_sge = 1,
                                   .opcode = op,
                                   .send_flags = IBV_SEND_SIGNALED,
                                   .wr.rdma = {addr, rkey},
                               },
                           *bad;
        int rc = ibv_post_send(s->c.id->qp, &wr, &bad);
        if (rc)
                return bd_error_new(BD_ERR_IO, "ibv_post_send: %s", strerror(rc));
        for (;;) {
                struct ibv_wc wc;
                if (bd_conn_wait(&s->c, &wc, 1, timeout_ms, 0) <= 0)
                        return bd_error_new(BD_ERR_IO, "no completion in %d ms", timeout_ms);
                /* Sends and flushed receives are not the answer. */
                if (bd_wr_kind_of(wc.wr_id) == BD_WR_RDMA) {
                        *status = wc.status;
                        return NULL;
                }
        }
}

/* Read first: inside, a key that does not even read proves nothing by
 * refusing a write; and what was read is what the write sends back. */
static enum verdict attempt(const struct bd_target *t, const struct bd_key *key, int timeout_ms,
                            const char *window, int outside)
{
        const char *where = outside ? "outside" : "inside";
        struct session s;
        uint64_t offset, addr, value = MARKER;
        uint32_t rkey;
        enum ibv_wc_status read_st = IBV_WC_GENERAL_ERR, write_st = IBV_WC_GENERAL_ERR;
        struct bd_error *err =
            open_at(&s, t, key, timeout_ms, window, outside, &offset, &addr, &rkey);
        if (!err)
                err = one_sided(&s, IBV_WR_RDMA_READ, addr, rkey, timeout_ms, &read_st);
        if (!err) {
                printf("%s: read %s (offset %#llx): %s\n", window, where,
                       (unsigned long long)offset, status_name(read_st));
                if (read_st == IBV_WC_SUCCESS) {
                        value = *s.word;
                } else {
                        session_close(&s);
                        err =
                            open_at(&s, t, key, timeout_ms, window, outside, &offset, &addr, &rkey);
                }
        }
        if (!err) {
                *s.word = value;
                err = one_sided(&s, IBV_WR_RDMA_WRITE, addr, rkey, timeout_ms, &write_st);
        }
        session_close(&s);
        if (err) {
                printf("%s: %s: %s\n", window, where, err->message);
                bd_error_destroy(err);
                return UNDECIDED;
        }
        printf("%s: write %s (offset %#llx): %s\n", window, where, (unsigned long long)offset,
               status_name(write_st));
        if (write_st == IBV_WC_SUCCESS)
                return WRITTEN;
        if (!responder_refused(write_st))
                return UNDECIDED;
        if (!outside && read_st != IBV_WC_SUCCESS) {
                printf("%s: the key did not read inside either: the refusal proves nothing\n",
                       window);
                return UNDECIDED;
        }
        return REFUSED;
}

static int usage(void)
{
        fprintf(stderr, "usage: rogue_write [-t MS] -k KEYFILE [rdma:]HOST[:PORT] [WINDOW]\n");
        return UNDECIDED;
}

int main(int argc, char **argv)
{
        const char *key_path = NULL;
        int timeout_ms = 5000, opt;
        while ((opt = getopt(argc, argv, "k:t:")) != -1) {
                if (opt == 'k')
                        key_path = optarg;
                else if (opt == 't' && atoi(optarg) > 0)
                        timeout_ms = atoi(optarg);
                else
                        return usage();
        }
        if (!key_path || argc - optind < 1 || argc - optind > 2)
                return usage();
        const char *only = argc - optind == 2 ? argv[optind + 1] : NULL;
        struct bd_target t;
        struct bd_key key;
        struct session s;
        struct bd_error *err = bd_target_parse_spec(argv[optind], key_path, &t);
        if (!err && t.kind != BD_TARGET_NIC)
                err = bd_error_new(BD_ERR_USAGE, "%s is not a NIC", argv[optind]);
        if (!err)
                err = bd_key_load(key_path, &key);
        if (!err)
                err = session_open(&s, &t, &key, timeout_ms);
        if (err) {
                fprintf(stderr, "rogue_write: %s\n", err->message);
                bd_error_destroy(err);
                return UNDECIDED;
        }
        char names[BD_MAX_WINDOWS][BD_WINDOW_NAME_MAX];
        unsigned n = 0, found = 0;
        for (unsigned i = 0; i < s.welcome.nwindows; i++) {
                const struct bd_window_desc *w = &s.welcome.windows[i];
                const char *skip = w->mode != BD_MODE_DIRECT || !w->rkey
                                       ? ": no rkey, the NIC's CPU makes every access; not tried"
                                   : w->length < 8 ? ": shorter than a write; not tried"
                                                   : "";
                printf("window %s: %s, %s, base %#llx, length %llu%s\n", w->name,
                       bd_mode_name(w->mode), bd_access_name(w->access),
                       (unsigned long long)w->base, (unsigned long long)w->length, skip);
                if (only && strcmp(only, w->name))
                        continue;
                found = 1;
                if (!skip[0])
                        memcpy(names[n++], w->name, BD_WINDOW_NAME_MAX);
        }
        session_close(&s);
        if (only && !found) {
                fprintf(stderr, "rogue_write: the NIC has no window %s\n", only);
                return UNDECIDED;
        }
        if (!n) {
                fprintf(stderr, "rogue_write: no direct window to try a one-sided write on\n");
                return UNDECIDED;
        }
        enum verdict worst = REFUSED;
        for (unsigned i = 0; i < n; i++)
                for (int outside = 0; outside < 2; outside++) {
                        enum verdict v = attempt(&t, &key, timeout_ms, names[i], outside);
                        if (v == WRITTEN || (v == UNDECIDED && worst == REFUSED))
                                worst = v;
                }
        printf("%s\n", worst == REFUSED   ? "every one-sided write was refused"
                       : worst == WRITTEN ? "a one-sided write went through"
                                          : "undecided");
        return worst;
}
