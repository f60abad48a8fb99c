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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab_peer.h"

enum verdict { REFUSED = 0, WRITTEN = 1, UNDECIDED = 2 };

/* Written where nothing could be read first: findable if it ever lands. */
#define MARKER 0x2145554752444221ull /* "!BDRGUE!" */

/* An authenticated connection of our own: bdmon's source posts only the
 * work requests it plans. Every attempt takes a fresh one, because bdnicd
 * registers direct windows per connection (the rkey is good on that QP
 * only) and a refused one-sided operation leaves the QP in the error
 * state. */
struct session {
        struct lab_session lab;
        uint64_t *word; /* what one-sided READs land in and WRITEs send */
        struct ibv_mr *word_mr;
};

/* The responder said no (a NAK), as opposed to the path failing on the way
 * (retries exhausted, work flushed, a local error): only then was the
 * operation seen and not done. */
static int responder_refused(enum ibv_wc_status st)
{
        return st == IBV_WC_REM_ACCESS_ERR || st == IBV_WC_REM_INV_REQ_ERR ||
               st == IBV_WC_REM_OP_ERR;
}

static void session_close(struct session *s)
{
        if (s->word_mr)
                ibv_dereg_mr(s->word_mr);
        free(s->word);
        s->word = NULL;
        s->word_mr = NULL;
        lab_session_close(&s->lab);
}

/* One READ in flight, and a word to read into and write from. */
static struct bd_error *session_open(struct session *s, const struct bd_target *t,
                                     const struct bd_key *key, int timeout_ms)
{
        memset(s, 0, sizeof(*s));
        struct bd_error *err = lab_session_open(&s->lab, t, key, timeout_ms, 1, 1);
        if (err)
                return err;
        if (!(s->word = malloc(sizeof(*s->word))) ||
            !(s->word_mr =
                  ibv_reg_mr(s->lab.c.pd, s->word, sizeof(*s->word), IBV_ACCESS_LOCAL_WRITE))) {
                session_close(s);
                return bd_error_new(BD_ERR_INTERNAL, "cannot register 8 bytes");
        }
        return NULL;
}

/* Open a session and find window in its welcome: where its last 8 bytes
 * (outside: the 8 bytes after it) are, and the key this session got. */
static struct bd_error *open_at(struct session *s, const struct bd_target *t,
                                const struct bd_key *key, int timeout_ms, const char *window,
                                int outside, uint64_t *offset, uint64_t *addr, uint32_t *rkey)
{
        struct bd_error *err = session_open(s, t, key, timeout_ms);
        for (unsigned i = 0; !err && i < s->lab.welcome.nwindows; i++) {
                const struct bd_window_desc *w = &s->lab.welcome.windows[i];
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
        int rc = ibv_post_send(s->lab.c.id->qp, &wr, &bad);
        if (rc)
                return bd_error_new(BD_ERR_IO, "ibv_post_send: %s", strerror(rc));
        for (;;) {
                struct ibv_wc wc;
                if (bd_conn_wait(&s->lab.c, &wc, 1, timeout_ms, 0) <= 0)
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
                       (unsigned long long)offset, lab_wc_status_name(read_st));
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
               lab_wc_status_name(write_st));
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
        for (unsigned i = 0; i < s.lab.welcome.nwindows; i++) {
                const struct bd_window_desc *w = &s.lab.welcome.windows[i];
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
