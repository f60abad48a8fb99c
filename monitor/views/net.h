/* The target's TCP and UDP sockets, as ss -tuanp shows them, read from its
 * memory: listeners from tcp_hashinfo's lhash2, established, time-wait and
 * request sockets from its ehash, UDP sockets from udp_table; those of
 * every network namespace (Linux 6.1 shares these tables between them).
 * The bucket arrays are read in one batch, the chains side by side a level
 * per batch, each socket's fields in one more, then its inode and
 * namespace, then the owners: every process's fd table, for the socket
 * files whose socket is a socket's. */
#ifndef BD_NET_H
#define BD_NET_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel/program.h"
#include "budget.h"
#include "tasks.h"

/* Protocols, for bd_net_read's protos and a socket's proto. */
#define BD_NET_TCP 1u
#define BD_NET_UDP 2u

/* Linux's TCP states (include/net/tcp_states.h): the numbers
 * /proc/net/tcp prints, also what a UDP socket's state says. */
enum bd_tcp_state {
        BD_TCP_ESTABLISHED = 1,
        BD_TCP_SYN_SENT,
        BD_TCP_SYN_RECV,
        BD_TCP_FIN_WAIT1,
        BD_TCP_FIN_WAIT2,
        BD_TCP_TIME_WAIT,
        BD_TCP_CLOSE,
        BD_TCP_CLOSE_WAIT,
        BD_TCP_LAST_ACK,
        BD_TCP_LISTEN,
        BD_TCP_CLOSING,
        BD_TCP_NEW_SYN_RECV, /* a request socket: ss says SYN-RECV */
};

/* A process holding a socket open. */
struct bd_net_owner {
        int32_t pid, fd;
        char comm[17];
};

struct bd_net_sock {
        uint64_t addr;   /* the struct sock, inet_timewait_sock or request_sock */
        uint64_t net;    /* its struct net */
        uint64_t socket; /* its struct socket; 0: none (time-wait, request, orphan) */
        uint64_t ino;    /* the socket's inode number; 0: none or unread */
        uint32_t netns;  /* the namespace's inode number (ip netns, /proc/PID/ns/net); 0: unread */
        int init_net;    /* the namespace is init_net */
        unsigned proto;  /* BD_NET_TCP or BD_NET_UDP */
        int family;      /* 4 or 6 */
        uint8_t state;   /* enum bd_tcp_state; a time-wait socket's substate */
        /* As ss computes them: for TCP rcv_nxt - copied_seq (never below 0)
         * and write_seq - snd_una, for a listener its accept queue and
         * backlog; for UDP the receive memory less the forward deficit,
         * and the send memory. */
        uint32_t recv_q, send_q;
        int has_seq; /* a full TCP socket: the sequence numbers below */
        uint32_t snd_una, snd_nxt, write_seq, rcv_nxt, copied_seq;
        uint8_t local[16], peer[16]; /* network order; IPv4 in the first 4 bytes */
        uint16_t local_port, peer_port;
        size_t owner, nowners; /* its owners: bd_net's owners[owner, owner + nowners) */
};

struct bd_net_stats {
        uint64_t buckets;       /* of every table read */
        unsigned levels;        /* batched reads of chains: the longest chain */
        uint64_t broken;        /* chains that ended early (see walk_hash.h) */
        uint64_t unreadable;    /* sockets whose fields did not read or check out */
        uint64_t fd_tables;     /* fd tables read for owners */
        uint64_t fd_unreadable; /* processes whose fd table did not read */
        uint64_t held;          /* bytes of the budget the sockets took */
        struct bd_reads reads;
};

struct bd_net {
        struct bd_net_sock *s; /* TCP then UDP, listeners first, by local port */
        size_t n;
        struct bd_net_owner *owners;
        size_t nowners;
        struct bd_net_stats st;
        struct bd_error *broken_why; /* the first chain that ended early, if any */
        struct bd_error *owners_why; /* why no owners are known, if none are */
};

/* bdmon net's default budget (budget.h): about 800 bytes read and held a
 * socket (6.1's fields of a tcp_sock, the socket kept, the walk's share),
 * some 160,000 sockets, besides the hash tables' buckets (4 MiB for the
 * largest default ehash) and the fd tables read for owners. */
#define BD_NET_BUDGET (128u << 20)

/* The sockets of protos (BD_NET_TCP | BD_NET_UDP) and their owners. Fails
 * with BD_ERR_PROTOCOL when a table's size is none the kernel makes,
 * BD_ERR_RANGE past the budget; owners that cannot be found are no
 * failure (owners_why says why). */
struct bd_error *bd_net_read(struct bd_program *prog, unsigned protos, struct bd_net **out);
void bd_net_free(struct bd_net *n);

/* Find the owners of n's sockets among the processes ts (bd_net_read does,
 * with every process): their fd tables' socket files whose socket is one
 * of n's. */
struct bd_error *bd_net_owners(struct bd_program *prog, struct bd_net *n,
                               const struct bd_tasks *ts);

/* ss's name of a state: "ESTAB", "LISTEN", "UNCONN" (a UDP socket not
 * connected, TCP_CLOSE)... "UNKNOWN" for a number Linux does not use. */
const char *bd_net_state_name(uint8_t state);

#endif
