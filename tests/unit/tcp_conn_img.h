/* A synthetic tcp_sock, sk_buff, skb_shared_info and bio_vec layout
 * (offsets of this test's own choosing, sizes as Linux 6.1 has them), for
 * the unit test of tcp_conn.c and the fuzz target's memory. Header only:
 * each test is built from one source file. */
#ifndef BD_TEST_TCP_CONN_IMG_H
#define BD_TEST_TCP_CONN_IMG_H

#include <stdint.h>

#include "layout_img.h"

enum {
        SND_UNA = 0,
        SND_NXT = 4,
        WRITE_SEQ = 8,
        RCV_NXT = 12,
        COPIED_SEQ = 16,
        OPTS = 48, /* the bitfields' byte */
        SLOCK = 56,
        LOCK_OWNED = 60,
        RX_QUEUE = 64,
        TX_QUEUE = 88,
        RTX_QUEUE = 112,
        TCP_SIZE = 128,
        SKB_CB = 40,
        SKB_LEN = 88,
        SKB_DATA_LEN = 92,
        SKB_END = 96,
        SKB_HEAD = 104,
        SKB_DATA = 112,
        SKB_SIZE = 128,
        SH_NR_FRAGS = 2,
        SH_FRAG_LIST = 8,
        SH_FRAGS = 48,
        SH_SIZE = 48 + 17 * 16,
};

static const struct layout_row tc_layout_table[] = {
    {BDL_TCP_SND_UNA, SND_UNA, 4},
    {BDL_TCP_SND_NXT, SND_NXT, 4},
    {BDL_TCP_WRITE_SEQ, WRITE_SEQ, 4},
    {BDL_TCP_RCV_NXT, RCV_NXT, 4},
    {BDL_TCP_COPIED_SEQ, COPIED_SEQ, 4},
    {BDL_TCP_SND_WL1, 20, 4},
    {BDL_TCP_SND_WND, 24, 4},
    {BDL_TCP_MAX_WINDOW, 28, 4},
    {BDL_TCP_RCV_WND, 32, 4},
    {BDL_TCP_RCV_WUP, 36, 4},
    {BDL_TCP_TSOFFSET, 40, 4},
    {BDL_TCP_MSS_CLAMP, 44, 2},
    {BDL_TCP_ECN_FLAGS, 46, 1},
    {BDL_TCP_TSTAMP_OK, OPTS * 8, 1},
    {BDL_TCP_SACK_OK, OPTS * 8 + 1, 3},
    {BDL_TCP_WSCALE_OK, OPTS * 8 + 4, 1},
    {BDL_TCP_SND_WSCALE, OPTS * 8 + 8, 4},
    {BDL_TCP_RCV_WSCALE, OPTS * 8 + 12, 4},
    {BDL_TCP_NONAGLE, OPTS * 8 + 16, 4},
    {BDL_TCP_SYN_DATA_ACKED, OPTS * 8 + 20, 1},
    {BDL_SK_RECEIVE_QUEUE, RX_QUEUE, 24},
    {BDL_SK_WRITE_QUEUE, TX_QUEUE, 24},
    {BDL_SK_RTX_QUEUE, RTX_QUEUE, 8},
    {BDL_SK_LOCK_SLOCK, SLOCK, 4},
    {BDL_SK_LOCK_OWNED, LOCK_OWNED, 4},
    {BDL_SKB_CB, SKB_CB, 48},
    {BDL_SKB_LEN, SKB_LEN, 4},
    {BDL_SKB_DATA_LEN, SKB_DATA_LEN, 4},
    {BDL_SKB_END, SKB_END, 4},
    {BDL_SKB_HEAD, SKB_HEAD, 8},
    {BDL_SKB_DATA, SKB_DATA, 8},
    {BDL_SKB_RBNODE, 0, 24},
    {BDL_SHINFO_NR_FRAGS, SH_NR_FRAGS, 1},
    {BDL_SHINFO_FRAG_LIST, SH_FRAG_LIST, 8},
    {BDL_SHINFO_FRAGS, SH_FRAGS, 17 * 16},
    {BDL_SKB_FRAG, 16, 16},
    {BDL_FRAG_PAGE, 0, 8},
    {BDL_FRAG_LEN, 8, 4},
    {BDL_FRAG_OFFSET, 12, 4},
    {BDL_STRUCT_PAGE, 64, 64},
};

static inline void tc_layout(struct bd_layout *l)
{
        layout_rows(l, tc_layout_table, sizeof(tc_layout_table) / sizeof(tc_layout_table[0]));
}

#endif
