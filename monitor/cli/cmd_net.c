/* bdmon net: the target's TCP and UDP sockets, as ss -tuanp shows them,
 * read from its memory. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../views/net.h"
#include "../views/output.h"
#include "cli.h"

/* An address as ss prints it: "10.0.0.1", "::ffff:10.0.0.1". */
static void addr_text(const struct bd_net_sock *s, const uint8_t *addr, char *buf, size_t cap)
{
        if (!inet_ntop(s->family == 4 ? AF_INET : AF_INET6, addr, buf, (socklen_t)cap))
                snprintf(buf, cap, "?");
}

/* ss's ADDR:PORT: an IPv6 address in brackets, port 0 as '*'. */
static void endpoint_text(const struct bd_net_sock *s, const uint8_t *addr, uint16_t port,
                          char *buf, size_t cap)
{
        char ip[INET6_ADDRSTRLEN], p[8] = "*";
        addr_text(s, addr, ip, sizeof(ip));
        if (port)
                snprintf(p, sizeof(p), "%u", port);
        if (s->family == 6)
                snprintf(buf, cap, "[%s]:%s", ip, p);
        else
                snprintf(buf, cap, "%s:%s", ip, p);
}

static const char *netid(const struct bd_net_sock *s)
{
        return s->proto == BD_NET_TCP ? "tcp" : "udp";
}

static void print_json(const struct bd_net *n, const char *target)
{
        printf("{\"target\":");
        bd_json_string(stdout, target);
        printf(",\"sockets\":[");
        for (size_t i = 0; i < n->n; i++) {
                const struct bd_net_sock *s = &n->s[i];
                char local[INET6_ADDRSTRLEN], peer[INET6_ADDRSTRLEN];
                addr_text(s, s->local, local, sizeof(local));
                addr_text(s, s->peer, peer, sizeof(peer));
                printf(
                    "%s{\"netid\":\"%s\",\"family\":\"ipv%d\",\"state\":\"%s\",\"recv_q\":%" PRIu32
                    ",\"send_q\":%" PRIu32 ",\"local\":\"%s\",\"local_port\":%u,\"peer\":\"%s\","
                    "\"peer_port\":%u,\"inode\":%" PRIu64 ",\"netns\":%" PRIu32
                    ",\"init_net\":%s,\"sock\":\"0x%" PRIx64 "\",\"net\":\"0x%" PRIx64 "\"",
                    i ? "," : "", netid(s), s->family, bd_net_state_name(s->state), s->recv_q,
                    s->send_q, local, s->local_port, peer, s->peer_port, s->ino, s->netns,
                    s->init_net ? "true" : "false", s->addr, s->net);
                if (s->has_seq)
                        printf(",\"snd_una\":%" PRIu32 ",\"snd_nxt\":%" PRIu32
                               ",\"write_seq\":%" PRIu32 ",\"rcv_nxt\":%" PRIu32
                               ",\"copied_seq\":%" PRIu32,
                               s->snd_una, s->snd_nxt, s->write_seq, s->rcv_nxt, s->copied_seq);
                printf(",\"users\":[");
                for (size_t j = 0; j < s->nowners; j++) {
                        const struct bd_net_owner *o = &n->owners[s->owner + j];
                        printf("%s{\"pid\":%d,\"fd\":%d,\"comm\":", j ? "," : "", o->pid, o->fd);
                        bd_json_string(stdout, o->comm);
                        printf("}");
                }
                printf("]}");
        }
        const struct bd_net_stats *st = &n->st;
        printf("],\"buckets\":%" PRIu64 ",\"levels\":%u,\"broken_chains\":%" PRIu64, st->buckets,
               st->levels, st->broken);
        if (n->broken_why) {
                printf(",\"broken\":");
                bd_json_string(stdout, n->broken_why->message);
        }
        printf(",\"unreadable\":%" PRIu64 ",\"fd_tables\":%" PRIu64 ",\"fd_unreadable\":%" PRIu64,
               st->unreadable, st->fd_tables, st->fd_unreadable);
        if (n->owners_why) {
                printf(",\"owners_error\":");
                bd_json_string(stdout, n->owners_why->message);
        }
        printf(",\"batches\":%" PRIu64 ",\"round_trips\":%" PRIu64 ",\"bytes_read\":%" PRIu64
               ",\"elapsed_ms\":%.3f}\n",
               st->reads.batches, st->reads.round_trips, st->reads.bytes_read,
               (double)st->reads.elapsed_ns / 1e6);
}

/* ss's process column: users:(("comm",pid=N,fd=N),...). */
static void print_users(const struct bd_net *n, const struct bd_net_sock *s)
{
        printf("users:(");
        for (size_t j = 0; j < s->nowners; j++) {
                const struct bd_net_owner *o = &n->owners[s->owner + j];
                printf("%s(\"", j ? "," : "");
                bd_put_text(stdout, o->comm, strnlen(o->comm, sizeof(o->comm)));
                printf("\",pid=%d,fd=%d)", o->pid, o->fd);
        }
        printf(")");
}

static void print_text(const struct bd_net *n)
{
        enum { EP = INET6_ADDRSTRLEN + 16 };
        int lw = (int)strlen("Local Address:Port"), pw = (int)strlen("Peer Address:Port");
        char local[EP], peer[EP];
        for (size_t i = 0; i < n->n; i++) {
                const struct bd_net_sock *s = &n->s[i];
                endpoint_text(s, s->local, s->local_port, local, sizeof(local));
                endpoint_text(s, s->peer, s->peer_port, peer, sizeof(peer));
                lw = (int)strlen(local) > lw ? (int)strlen(local) : lw;
                pw = (int)strlen(peer) > pw ? (int)strlen(peer) : pw;
        }
        printf("%-5s %-10s %6s %6s %-*s %-*s %-10s %s\n", "Netid", "State", "Recv-Q", "Send-Q", lw,
               "Local Address:Port", pw, "Peer Address:Port", "Netns", "Process");
        for (size_t i = 0; i < n->n; i++) {
                const struct bd_net_sock *s = &n->s[i];
                char ns[16] = "init";
                endpoint_text(s, s->local, s->local_port, local, sizeof(local));
                endpoint_text(s, s->peer, s->peer_port, peer, sizeof(peer));
                if (!s->init_net && s->netns)
                        snprintf(ns, sizeof(ns), "%" PRIu32, s->netns);
                else if (!s->init_net)
                        snprintf(ns, sizeof(ns), "?");
                printf("%-5s %-10s %6" PRIu32 " %6" PRIu32 " %-*s %-*s ", netid(s),
                       bd_net_state_name(s->state), s->recv_q, s->send_q, lw, local, pw, peer);
                /* The last column unpadded: no spaces end a line. */
                if (s->nowners) {
                        printf("%-10s ", ns);
                        print_users(n, s);
                } else {
                        fputs(ns, stdout);
                }
                putchar('\n');
        }
}

/* What the text leaves out, on standard error. */
static void print_notes(const struct bd_net *n)
{
        const struct bd_net_stats *st = &n->st;
        fprintf(stderr,
                "bdmon: %zu sockets in %.1f ms: %" PRIu64 " buckets, %u chain levels, %" PRIu64
                " dependent batches, %" PRIu64 " reads, %" PRIu64 " KiB\n",
                n->n, (double)st->reads.elapsed_ns / 1e6, st->buckets, st->levels,
                st->reads.batches, st->reads.round_trips, st->reads.bytes_read >> 10);
        if (n->broken_why)
                fprintf(stderr,
                        "bdmon: %" PRIu64 " hash chains ended early (sockets moving as they are "
                        "read, or corrupt memory); the first: %s\n",
                        st->broken, n->broken_why->message);
        if (st->unreadable)
                fprintf(stderr, "bdmon: %" PRIu64 " sockets did not read (freed or corrupt)\n",
                        st->unreadable);
        if (n->owners_why)
                fprintf(stderr, "bdmon: no owners: %s\n", n->owners_why->message);
        if (st->fd_unreadable)
                fprintf(stderr,
                        "bdmon: %" PRIu64 " processes' fd tables did not read: their sockets "
                        "show no owner\n",
                        st->fd_unreadable);
}

int cmd_net(struct cli *cli, struct bd_phys *p, char **args, int nargs)
{
        (void)args, (void)nargs;
        unsigned protos = (cli->tcp ? BD_NET_TCP : 0) | (cli->udp ? BD_NET_UDP : 0);
        struct bd_program *prog;
        struct bd_net *n = NULL;
        struct bd_error *err = cli_open_program(cli, p, &prog);
        if (err)
                return cli_report(bd_error_wrap(err, "net"));
        if ((err = bd_net_read(prog, protos ? protos : BD_NET_TCP | BD_NET_UDP, &n))) {
                bd_program_close(prog);
                return cli_report(err);
        }
        if (cli->json)
                print_json(n, p->name);
        else
                print_text(n);
        if (!cli->json && !cli->quiet)
                print_notes(n);
        bd_net_free(n);
        bd_program_close(prog);
        return cli_flush();
}
