/* A TCP connection as TCP_REPAIR would hand it to a checkpointer, read from
 * the kernel's memory instead: sequence numbers, windows, the options the
 * handshake agreed, and the bytes of both queues. The receive queue's
 * bytes run from copied_seq (what the application has not read) to
 * rcv_nxt; the send queue's from snd_una (sent, not acknowledged: the
 * retransmit queue's tree) to write_seq (the rest not sent yet: the write
 * queue's list). Each skb's bytes are its linear part, then its page
 * fragments (through the direct map), then the skbs of its frag_list.
 * Every list, tree and count is bounded; a queue whose skbs leave a hole
 * in its sequence range is refused. */
#ifndef BD_TCP_CONN_H
#define BD_TCP_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel/program.h"

/* tcp_info's tcpi_options (include/uapi/linux/tcp.h). */
#define BD_TCPI_OPT_TIMESTAMPS 1u
#define BD_TCPI_OPT_SACK       2u
#define BD_TCPI_OPT_WSCALE     4u
#define BD_TCPI_OPT_ECN        8u
#define BD_TCPI_OPT_ECN_SEEN   16u
#define BD_TCPI_OPT_SYN_DATA   32u

/* The most a queue may hold here: tcp_rmem's and tcp_wmem's largest
 * defaults are 6 and 4 MiB; sysctls may raise them, not past this. */
#define BD_TCP_QUEUE_MAX (64u << 20)
/* skbs of a queue (each holds a byte at least). */
#define BD_TCP_SKBS_MAX (1u << 20)

struct bd_tcp_conn {
        uint32_t snd_una, snd_nxt, write_seq, rcv_nxt, copied_seq;
        uint32_t snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup;
        uint32_t mss_clamp, snd_wscale, rcv_wscale;
        uint32_t options;  /* BD_TCPI_OPT_* */
        uint32_t tsoffset; /* TCP_TIMESTAMP is the ms clock plus this */
        int nodelay, cork;
        uint8_t *inq; /* copied_seq .. rcv_nxt */
        uint32_t inq_len;
        uint8_t *outq; /* snd_una .. write_seq */
        uint32_t outq_len;
        uint32_t unsent; /* of outq: write_seq - snd_nxt, at its end */
        size_t skbs;     /* read for both queues */
};

/* The connection of the tcp_sock at sk (an ESTABLISHED socket's). */
struct bd_error *bd_tcp_conn_read(struct bd_program *prog, uint64_t sk, struct bd_tcp_conn *out);
/* The same with the kernel's layout and vmemmap_base given, for memory
 * with no symbols to find them by (fuzzing). */
struct bd_error *bd_tcp_conn_from(struct bd_kernel *k, const struct bd_layout *l, uint64_t vmemmap,
                                  uint64_t sk, struct bd_tcp_conn *out);
void bd_tcp_conn_free(struct bd_tcp_conn *c);

#endif
