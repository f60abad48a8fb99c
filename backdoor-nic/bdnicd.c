/* bdnicd: the Backdoors NIC daemon. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/audit.h"
#include "../common/logfiles.h"
#include "serve.h"

static const char usage[] =
    "Usage: bdnicd --key FILE --window NAME=SOURCE [--window ...] [OPTIONS]\n"
    "\n"
    "The Backdoors NIC: exports windows of a target machine's physical memory over\n"
    "RDMA (rdma_cm + verbs) to authenticated monitors, and keeps serving when the\n"
    "target's OS is dead, because it runs outside it.\n"
    "\n"
    "Window sources (SOURCE):\n"
    "  file:PATH[@BASE]           a file: a VM's RAM file, a snapshot. Registered with\n"
    "                             the RNIC for remote read only and read one-sided\n"
    "                             (direct, no NIC CPU).\n"
    "  pci:VENDOR:DEVICE[/BAR][@BASE]\n"
    "  pci:[DOMAIN:]BUS:DEV.FN[/BAR][@BASE]\n"
    "                             a PCI BAR found with libpci (an NTB window; in the\n"
    "                             lab QEMU's ivshmem, 1af4:1110, BAR 2, the default).\n"
    "                             BAR mappings cannot be registered, so the NIC copies\n"
    "                             on request (mediated).\n"
    "  BASE is the target-physical address of the window's first byte (default 0).\n"
    "\n"
    "Options:\n"
    "  -k, --key FILE         pre-shared key: 64 hex digits, in a file no one but\n"
    "                         its owner may read (mode 0600). Required.\n"
    "  -w, --window NAME=SRC  export a window (up to 16).\n"
    "  -l, --listen ADDR[:PORT]  address to listen on (default 0.0.0.0:7471).\n"
    "      --allow-write      allow writes and compare-and-swap (default: refused,\n"
    "                         and audited). A write, to any window, goes through\n"
    "                         the NIC's CPU: made on its mapping of the target's\n"
    "                         memory (a CAS as a locked instruction) and audited\n"
    "                         before it is made; if the audit line cannot be\n"
    "                         written, the write is refused. Memory keys never\n"
    "                         allow one-sided RDMA writes or atomics.\n"
    "      --write-key FILE   with --allow-write: only peers holding this key (not\n"
    "                         --key's) may write; --key's holders read, and see\n"
    "                         every window read-only. Without it, every peer with\n"
    "                         --key may write.\n"
    "      --mediated         serve every window by copying, even files.\n"
    "  -a, --audit FILE       append audit lines here (default: standard error;\n"
    "                         required with --daemon).\n"
    "      --busy-poll        spin on completions instead of sleeping (lowest\n"
    "                         latency; uses a whole CPU, as NIC firmware would).\n"
    "      --spin-us N|auto   after activity, keep polling N microseconds before\n"
    "                         sleeping (0: sleep at once). auto, the default:\n"
    "                         twice the gap between the last two requests when\n"
    "                         they came within 4 ms of each other (a burst: the\n"
    "                         next is near), at most 4 ms; none after a request\n"
    "                         that came alone. Asleep, only a monitor's message\n"
    "                         wakes it.\n"
    "      --max-connections N  (default 16, at most 64). When every one is taken,\n"
    "                         the oldest that is not serving (authenticating,\n"
    "                         refused, closing) is ended to make room;\n"
    "                         authenticated ones never are.\n"
    "      --max-unauth-per-source N  connections from one address that may be\n"
    "                         authenticating (or refused, or closing) at once\n"
    "                         (default 4); more from it are refused.\n"
    "      --auth-timeout MS  drop peers that do not authenticate in time (5000).\n"
    "  -d, --daemon           detach once listening; with --log and --pidfile.\n"
    "      --log FILE         standard output and error of the daemon.\n"
    "      --pidfile FILE     write the daemon's PID here.\n"
    "  -h, --help             this text.\n"
    "      --version          the version.\n"
    "\n"
    "Signals: SIGTERM or SIGINT stops it; SIGHUP opens --audit and --log again by\n"
    "name (after logrotate has renamed them).\n"
    "\n"
    "Exit status: 0 stopped by SIGTERM/SIGINT; 2 usage; 3 bad key or window source;\n"
    "4 cannot listen (no RDMA device or address); 1 internal error.\n";

static volatile int stop_flag;

static void on_signal(int sig)
{
        (void)sig;
        stop_flag = 1;
}

static int fail(struct bd_error *err)
{
        int code = err->code;
        fprintf(stderr, "bdnicd: %s\n", err->message);
        bd_error_destroy(err);
        return code;
}

static struct bd_error *parse_listen(const char *arg, char *addr, size_t cap, int *port)
{
        snprintf(addr, cap, "%s", arg);
        char *colon = strrchr(addr, ':');
        /* A bare IPv6 address has colons but no port; require [addr]:port. */
        if (addr[0] == '[') {
                char *close = strchr(addr, ']');
                if (!close)
                        return bd_error_new(BD_ERR_USAGE, "bad listen address '%s'", arg);
                colon = close[1] == ':' ? close + 1 : NULL;
                *close = '\0';
                memmove(addr, addr + 1, strlen(addr));
                if (colon)
                        colon--;
        } else if (colon && strchr(addr, ':') != colon) {
                colon = NULL;
        }
        if (colon) {
                char *end;
                long p = strtol(colon + 1, &end, 10);
                if (*end || p < 1 || p > 65535)
                        return bd_error_new(BD_ERR_USAGE, "bad port in '%s'", arg);
                *port = (int)p;
                *colon = '\0';
        }
        return NULL;
}

/* Detach, but let the parent exit only once the child listens (or failed),
 * so "bdnicd -d ... && bdmon ..." never races the bind. */
static int daemonize(const char *log, int *ready_fd)
{
        int pipefd[2];
        if (pipe(pipefd))
                return -1;
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid > 0) {
                close(pipefd[1]);
                char status = 1;
                if (read(pipefd[0], &status, 1) != 1)
                        status = 1;
                _exit(status);
        }
        close(pipefd[0]);
        setsid();
        int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int nul = open("/dev/null", O_RDONLY);
        if (fd < 0 || nul < 0)
                return -1;
        dup2(nul, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
        close(nul);
        if (log) {
                bd_logfile_register(STDOUT_FILENO, log, 0);
                bd_logfile_register(STDERR_FILENO, log, 0);
        }
        *ready_fd = pipefd[1];
        return 0;
}

static void report_ready(int *ready_fd, char status)
{
        if (*ready_fd < 0)
                return;
        ssize_t ignored = write(*ready_fd, &status, 1);
        (void)ignored;
        close(*ready_fd);
        *ready_fd = -1;
}

/* A number of connections, 1 to 64 (the service loop polls at most 64),
 * for option name; -1, having said why, if arg is not one. */
static int connections_arg(const char *name, const char *arg, unsigned *out)
{
        char *end;
        unsigned long v = strtoul(arg, &end, 10);
        if (*end || !isdigit((unsigned char)arg[0]) || v < 1 || v > 64) {
                fprintf(stderr, "bdnicd: --%s takes 1 to 64\n", name);
                return -1;
        }
        *out = (unsigned)v;
        return 0;
}

int main(int argc, char **argv)
{
        static struct bd_nic_config cfg = {
            .listen_addr = "0.0.0.0",
            .port = BD_DEFAULT_PORT,
            .auth_timeout_ms = 5000,
            .max_connections = 16,
            .max_unauth_per_source = 4,
            .spin_us = BD_SPIN_AUTO,
        };
        enum {
                OPT_ALLOW_WRITE = 256,
                OPT_MEDIATED,
                OPT_BUSY,
                OPT_SPIN,
                OPT_MAXCONN,
                OPT_MAXUNAUTH,
                OPT_AUTHTO,
                OPT_LOG,
                OPT_PIDFILE,
                OPT_WRITE_KEY,
                OPT_VERSION
        };
        static const struct option opts[] = {
            {"key", required_argument, NULL, 'k'},
            {"window", required_argument, NULL, 'w'},
            {"listen", required_argument, NULL, 'l'},
            {"allow-write", no_argument, NULL, OPT_ALLOW_WRITE},
            {"write-key", required_argument, NULL, OPT_WRITE_KEY},
            {"mediated", no_argument, NULL, OPT_MEDIATED},
            {"audit", required_argument, NULL, 'a'},
            {"busy-poll", no_argument, NULL, OPT_BUSY},
            {"spin-us", required_argument, NULL, OPT_SPIN},
            {"max-connections", required_argument, NULL, OPT_MAXCONN},
            {"max-unauth-per-source", required_argument, NULL, OPT_MAXUNAUTH},
            {"auth-timeout", required_argument, NULL, OPT_AUTHTO},
            {"daemon", no_argument, NULL, 'd'},
            {"log", required_argument, NULL, OPT_LOG},
            {"pidfile", required_argument, NULL, OPT_PIDFILE},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, OPT_VERSION},
            {0},
        };
        const char *keyfile = NULL, *write_keyfile = NULL, *audit = NULL, *log = NULL,
                   *pidfile = NULL;
        const char *window_specs[BD_MAX_WINDOWS];
        unsigned nspecs = 0;
        int mediated = 0, daemon_mode = 0;
        static char listen_buf[256];
        struct bd_error *err;
        int c;
        while ((c = getopt_long(argc, argv, "k:w:l:a:dh", opts, NULL)) != -1) {
                switch (c) {
                case 'k':
                        keyfile = optarg;
                        break;
                case 'w':
                        if (nspecs == BD_MAX_WINDOWS) {
                                fprintf(stderr, "bdnicd: at most %d windows\n", BD_MAX_WINDOWS);
                                return BD_ERR_USAGE;
                        }
                        window_specs[nspecs++] = optarg;
                        break;
                case 'l':
                        err = parse_listen(optarg, listen_buf, sizeof(listen_buf), &cfg.port);
                        if (err)
                                return fail(err);
                        cfg.listen_addr = listen_buf;
                        break;
                case OPT_ALLOW_WRITE:
                        cfg.allow_write = 1;
                        break;
                case OPT_WRITE_KEY:
                        write_keyfile = optarg;
                        break;
                case OPT_MEDIATED:
                        mediated = 1;
                        break;
                case 'a':
                        audit = optarg;
                        break;
                case OPT_BUSY:
                        cfg.busy_poll = 1;
                        break;
                case OPT_SPIN: {
                        char *end;
                        unsigned long us = strtoul(optarg, &end, 10);
                        if (!strcmp(optarg, "auto"))
                                cfg.spin_us = BD_SPIN_AUTO;
                        else if (*end || !isdigit((unsigned char)optarg[0]) || us > 1000000) {
                                fprintf(stderr, "bdnicd: --spin-us takes auto or 0 to 1000000\n");
                                return BD_ERR_USAGE;
                        } else
                                cfg.spin_us = (int)us;
                        break;
                }
                case OPT_MAXCONN:
                        if (connections_arg("max-connections", optarg, &cfg.max_connections))
                                return BD_ERR_USAGE;
                        break;
                case OPT_MAXUNAUTH:
                        if (connections_arg("max-unauth-per-source", optarg,
                                            &cfg.max_unauth_per_source))
                                return BD_ERR_USAGE;
                        break;
                case OPT_AUTHTO:
                        cfg.auth_timeout_ms = atoi(optarg);
                        if (cfg.auth_timeout_ms < 1) {
                                fprintf(stderr, "bdnicd: --auth-timeout takes milliseconds\n");
                                return BD_ERR_USAGE;
                        }
                        break;
                case 'd':
                        daemon_mode = 1;
                        break;
                case OPT_LOG:
                        log = optarg;
                        break;
                case OPT_PIDFILE:
                        pidfile = optarg;
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                case OPT_VERSION:
                        puts("bdnicd " BD_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'bdnicd --help'.\n");
                        return BD_ERR_USAGE;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "bdnicd: unexpected argument '%s'\nTry 'bdnicd --help'.\n",
                        argv[optind]);
                return BD_ERR_USAGE;
        }
        if (!keyfile || !nspecs) {
                fprintf(stderr, "bdnicd: --key and at least one --window are required\n"
                                "Try 'bdnicd --help'.\n");
                return BD_ERR_USAGE;
        }
        if (daemon_mode && !audit) {
                fprintf(stderr, "bdnicd: --daemon needs --audit FILE: a daemon's audit lines "
                                "must not go to standard error, which it leaves behind\n");
                return BD_ERR_USAGE;
        }
        if (write_keyfile && !cfg.allow_write) {
                fprintf(stderr, "bdnicd: --write-key needs --allow-write\n");
                return BD_ERR_USAGE;
        }
        if ((err = bd_key_load(keyfile, &cfg.key)))
                return fail(err);
        if (write_keyfile && (err = bd_key_load(write_keyfile, &cfg.write_key)))
                return fail(err);
        cfg.has_write_key = write_keyfile != NULL;
        if (cfg.has_write_key && !memcmp(cfg.key.bytes, cfg.write_key.bytes, BD_KEY_LEN)) {
                fprintf(stderr, "bdnicd: --write-key must differ from --key\n");
                return BD_ERR_USAGE;
        }
        for (unsigned i = 0; i < nspecs; i++) {
                if ((err = bd_window_open(window_specs[i], cfg.allow_write, mediated,
                                          &cfg.windows[i])))
                        return fail(err);
                for (unsigned j = 0; j < i; j++)
                        if (!strcmp(cfg.windows[j].desc.name, cfg.windows[i].desc.name))
                                return fail(bd_error_new(BD_ERR_USAGE,
                                                         "window name '%s' used twice",
                                                         cfg.windows[i].desc.name));
                cfg.nwindows++;
        }
        if (audit && (err = bd_audit_open(audit)))
                return fail(err);

        int ready_fd = -1;
        if (daemon_mode && daemonize(log, &ready_fd)) {
                fprintf(stderr, "bdnicd: cannot daemonize: %s\n", strerror(errno));
                return BD_ERR_INTERNAL;
        }
        struct sigaction sa = {.sa_handler = on_signal};
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        bd_logfiles_reopen_on_sighup();

        struct bd_nic *nic;
        if ((err = bd_nic_listen(&cfg, &nic))) {
                report_ready(&ready_fd, (char)err->code);
                return fail(err);
        }
        if (pidfile) {
                FILE *f = fopen(pidfile, "w");
                if (f) {
                        fprintf(f, "%d\n", (int)getpid());
                        fclose(f);
                }
        }
        for (unsigned i = 0; i < cfg.nwindows; i++) {
                const struct bd_window_desc *d = &cfg.windows[i].desc;
                bd_audit("window name=%s source=%s base=0x%llx length=%llu mode=%s access=%s",
                         d->name, cfg.windows[i].source, (unsigned long long)d->base,
                         (unsigned long long)d->length, bd_mode_name(d->mode),
                         bd_access_name(d->access));
        }
        bd_audit("listen addr=%s port=%d writes=%s pid=%d", cfg.listen_addr, cfg.port,
                 cfg.allow_write ? "allowed" : "refused", (int)getpid());
        report_ready(&ready_fd, 0);

        err = bd_nic_run(nic, &stop_flag);
        bd_nic_destroy(nic);
        bd_audit("stop pid=%d", (int)getpid());
        for (unsigned i = 0; i < cfg.nwindows; i++)
                bd_window_close(&cfg.windows[i]);
        if (pidfile)
                unlink(pidfile);
        return err ? fail(err) : 0;
}
