/*
 * guestd — the Backdoors lab's exec agent.
 *
 *   guestd serve PORT
 *       In a lab VM: serve run requests arriving on one virtio-serial port
 *       (/dev/virtio-ports/bdlab.execN).  One process per port; bdlab gives
 *       every VM several ports so that several commands can run at once.
 *
 *   guestd call [--timeout S] [--connect-timeout S] [--grace S] [--ping]
 *               [--sent-stamp FILE] [--write FILE] SOCKET [SOCKET...] -- CMD...
 *       On the lab host: take the first free SOCKET (a QEMU chardev unix
 *       socket; "free" = flock on SOCKET.lock), run CMD through /bin/sh -c in
 *       the VM, copy its stdout/stderr to ours, exit with its exit status.
 *       Exit 124: the command timed out.  Exit 125: the agent could not be
 *       reached, or the connection was lost (e.g. the VM died).
 *       --timeout S (default 120, 0 = none) is enforced in the guest, which
 *       kills the command's process group; the client gives up on its own
 *       S + grace (default 10) seconds after sending, for a VM that died.
 *       --connect-timeout (default 10) bounds waiting for a free port and
 *       the agent's answer.  --ping only does the handshake and prints the
 *       guest's hostname.  --sent-stamp writes the wall-clock time at which
 *       the request was handed to QEMU (for fault-injection timing).
 *       --write FILE: instead of running CMD, the agent itself appends its
 *       words and a newline to FILE, as "echo CMD >> FILE" would without
 *       the shell: a fault injected through /proc starts within a write of
 *       the stamp, not after a fork and an exec (~10 ms under TCG).
 *
 * Why not ssh/telnet: the lab has no host networking by design, and an
 * agent on virtio-serial keeps working even when the guest's network stack
 * is what is being broken.
 *
 * Wire format (both directions, little-endian), one frame:
 *
 *   off 0  4 bytes  magic "BDLX"
 *   off 4  1 byte   type (enum ftype)
 *   off 5  3 bytes  zero
 *   off 8  u32      session: random nonce chosen by the host client
 *   off 12 u32      payload length, at most MAX_PAYLOAD
 *   off 16          payload
 *
 *   host -> guest  HELLO (empty)            start of a session
 *   guest -> host  READY (guest hostname)   session accepted
 *   host -> guest  REQ   (u32 timeout_s, command bytes; 0 = no timeout)
 *               or WRITE (u32 path length, path bytes, data bytes)
 *   guest -> host  OUT / ERR (raw bytes)    any number, interleaved
 *   guest -> host  EXIT  (u32 code, u32 reason)
 *
 * Why a handshake with a nonce: a virtio-serial port is a byte pipe that
 * outlives host connections.  When a host client goes away mid-command,
 * bytes it sent may still be unread in the guest, and bytes the guest wrote
 * may still sit in QEMU's queues and reach the *next* client.  So the client
 * skips everything until READY carrying its own nonce (after that point the
 * guest writes only this session's frames, in order), and the guest skips
 * everything until a HELLO pattern.  Neither side trusts framing across a
 * reconnect.
 *
 * Virtio-serial facts this relies on (drivers/char/virtio_console.c):
 *  - guest poll() reports POLLHUP while no host client is connected (and
 *    POLLIN too, with read() returning 0), so POLLHUP cannot be waited on;
 *  - guest write() blocks while no host client is connected;
 *  - with O_ASYNC the guest gets SIGIO when a host client connects.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { HDR_LEN = 16, MAX_PAYLOAD = 65536, MAX_HOSTNAME = 256 };
enum ftype { F_HELLO = 1, F_READY, F_REQ, F_OUT, F_ERR, F_EXIT, F_WRITE };
enum reason { R_EXITED = 0, R_SIGNALED, R_TIMEOUT, R_SPAWN };
enum { EXIT_TIMEOUT = 124, EXIT_LAB = 125 };

static const uint8_t MAGIC[4] = {'B', 'D', 'L', 'X'};

/* ---------------------------------------------------------------- helpers */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void hdr_fill(uint8_t *h, int type, uint32_t session, uint32_t len)
{
	memcpy(h, MAGIC, 4);
	h[4] = (uint8_t)type;
	h[5] = h[6] = h[7] = 0;
	put32(h + 8, session);
	put32(h + 12, len);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* poll() timeout until deadline (-1 = none), clamped to int. */
static int ms_left(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t d = deadline - now_ms();
	if (d < 0)
		return 0;
	return d > INT_MAX ? INT_MAX : (int)d;
}

/* Blocking write of everything to a regular blocking fd (host stdout...). */
static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Input buffer: room for one maximal frame plus a header of look-ahead. */
struct rbuf {
	uint8_t d[2 * HDR_LEN + MAX_PAYLOAD];
	size_t len;
};

static void rbuf_drop(struct rbuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->d, b->d + n, b->len - n);
	b->len -= n;
}

/* read() what is available into b; returns bytes read, 0 on EOF, -1 error
 * (EAGAIN included).  Caller guarantees there is room. */
static ssize_t rbuf_fill(struct rbuf *b, int fd)
{
	ssize_t n;
	do
		n = read(fd, b->d + b->len, sizeof(b->d) - b->len);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		b->len += (size_t)n;
	return n;
}

/*
 * Search b for a header starting with pat[0..patlen).  Drops everything
 * before a match and returns 1; on no match keeps only the last patlen-1
 * bytes (a match may straddle two reads) and returns 0.
 */
static int rbuf_sync(struct rbuf *b, const uint8_t *pat, size_t patlen)
{
	uint8_t *m = memmem(b->d, b->len, pat, patlen);
	if (m) {
		rbuf_drop(b, (size_t)(m - b->d));
		return 1;
	}
	if (b->len >= patlen)
		rbuf_drop(b, b->len - (patlen - 1));
	return 0;
}

/* ------------------------------------------------------------ guest: serve */

/*
 * The 8-byte prefix of every HELLO header (magic, type, zero pad).  The guest
 * looks for it to find the start of a session in a stream that may hold
 * leftovers of an earlier one.
 */
static const uint8_t HELLO_PAT[8] = {'B', 'D', 'L', 'X', F_HELLO, 0, 0, 0};

struct serve {
	const char *path;
	int fd;     /* the port, O_NONBLOCK | O_ASYNC */
	int sigfd;  /* signalfd: SIGCHLD, SIGIO */
	struct rbuf in;
	uint32_t session; /* 0: none accepted */
	/* while a command runs */
	pid_t child;      /* also its process group id */
	int64_t deadline; /* -1: none */
	int timed_out;
};

enum { SEND_OK = 0, SEND_GONE = -1 };

static void kill_child(struct serve *s)
{
	if (s->child > 0) {
		kill(-s->child, SIGKILL);
		kill(s->child, SIGKILL); /* in case it has not run setsid() yet */
	}
}

/* Read and discard pending signalfd entries; returns 1 if SIGCHLD seen. */
static int drain_sigfd(int sigfd)
{
	struct signalfd_siginfo si;
	int chld = 0;
	while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si)
		if (si.ssi_signo == SIGCHLD)
			chld = 1;
	return chld;
}

/*
 * Send one frame to the host.  Writes to a port block (EAGAIN here) while
 * QEMU has no room or no host client is connected; we wait for POLLOUT but
 * give up as soon as the host client is gone (POLLHUP), or -- while a
 * command runs -- when the host starts talking (a new client: our client
 * never sends anything after REQ).  The command's timeout is enforced here
 * too, because a host that stops reading must not stall the kill.
 */
static int port_send(struct serve *s, int type, const void *data, size_t len)
{
	uint8_t frame[HDR_LEN + MAX_PAYLOAD];
	size_t off = 0, total = HDR_LEN + len;

	hdr_fill(frame, type, s->session, (uint32_t)len);
	if (len)
		memcpy(frame + HDR_LEN, data, len);
	while (off < total) {
		ssize_t n = write(s->fd, frame + off, total - off);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return SEND_GONE;
		struct pollfd p = {.fd = s->fd, .events = POLLOUT | POLLIN};
		int t = s->child > 0 && !s->timed_out ? ms_left(s->deadline) : -1;
		int r = poll(&p, 1, t);
		if (r == 0 && s->child > 0 && !s->timed_out) {
			s->timed_out = 1;
			kill_child(s);
			continue;
		}
		if (r < 0)
			continue;
		if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
			return SEND_GONE;
		if ((p.revents & POLLIN) && s->child > 0)
			return SEND_GONE;
		if ((p.revents & POLLIN) && s->in.len < sizeof(s->in.d))
			rbuf_fill(&s->in, s->fd);
	}
	return SEND_OK;
}

/*
 * Wait until the port has data from a connected host.  While no host is
 * connected the port polls as POLLHUP|POLLIN forever, so we sleep on SIGIO
 * (sent by the driver when a host connects) with a 1 s fallback in case the
 * edge was missed.  Data buffered from a vanished client is discarded: it
 * cannot belong to a live session.
 */
static void wait_host_data(struct serve *s)
{
	for (;;) {
		struct pollfd p = {.fd = s->fd, .events = POLLIN};
		if (poll(&p, 1, -1) < 0)
			continue;
		if (p.revents & POLLHUP) {
			s->in.len = 0;
			s->session = 0;
			struct pollfd q = {.fd = s->sigfd, .events = POLLIN};
			poll(&q, 1, 1000);
			drain_sigfd(s->sigfd);
			continue;
		}
		if (p.revents & POLLIN)
			return;
	}
}

/* Hand pipe read ends still held by background processes to a grandchild
 * that reads and discards, so a daemon the command left behind neither
 * blocks on a full pipe nor dies of SIGPIPE.  Double fork: init reaps it. */
static void hand_off_pipes(struct serve *s, int *fds, int nfds)
{
	int open_fds = 0;
	for (int i = 0; i < nfds; i++)
		open_fds += fds[i] >= 0;
	if (!open_fds)
		return;
	pid_t mid = fork();
	if (mid == 0) {
		if (fork() != 0)
			_exit(0);
		/* The port must not stay open in here: a virtio port can be
		 * opened only once, and a restarted guestd needs it. */
		close(s->fd);
		close(s->sigfd);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		struct pollfd p[2];
		uint8_t junk[4096];
		for (;;) {
			int n = 0;
			for (int i = 0; i < nfds; i++) {
				if (fds[i] < 0)
					continue;
				fcntl(fds[i], F_SETFL, 0);
				p[n].fd = fds[i];
				p[n].events = POLLIN;
				n++;
			}
			if (n == 0)
				_exit(0);
			if (poll(p, (nfds_t)n, -1) < 0)
				continue;
			for (int j = 0; j < n; j++)
				if (p[j].revents && read(p[j].fd, junk, sizeof junk) <= 0)
					for (int i = 0; i < nfds; i++)
						if (fds[i] == p[j].fd) {
							close(fds[i]);
							fds[i] = -1;
						}
		}
	}
	if (mid > 0)
		waitpid(mid, NULL, 0);
}

/* Append data to path, answered as a command would be: an ERR line and
 * exit status 1 when it cannot. */
static void write_file(struct serve *s, const char *path, const uint8_t *data, size_t len)
{
	/* Never blocks the agent: a FIFO nobody reads is refused (ENXIO). */
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
		      0644);
	ssize_t n = fd < 0 ? -1 : write(fd, data, len);
	int e = errno;
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)len) {
		char msg[PATH_MAX + 64];
		int m = snprintf(msg, sizeof msg, "guestd: %s: %s\n", path,
				 n < 0 ? strerror(e) : "short write");
		port_send(s, F_ERR, msg, m < (int)sizeof msg ? (size_t)m : sizeof msg - 1);
	}
	uint8_t ex[8];
	put32(ex, n == (ssize_t)len ? 0 : 1);
	put32(ex + 4, R_EXITED);
	port_send(s, F_EXIT, ex, sizeof ex);
}

/*
 * Run one command and stream its output.  Returns when the EXIT frame is
 * sent or the host client is gone (then the command's process group is
 * killed: nobody is left to read its output, and a stale command must not
 * run on into the next session).
 */
static void run_command(struct serve *s, const char *cmd, uint32_t timeout_s)
{
	int out[2], err[2];
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		uint8_t ex[8];
		put32(ex, 127);
		put32(ex + 4, R_SPAWN);
		port_send(s, F_EXIT, ex, sizeof ex);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		/* Own process group, so that timeouts and disconnects kill the
		 * whole pipeline including anything it put in the background. */
		setsid();
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		signal(SIGPIPE, SIG_DFL); /* ignored dispositions survive exec */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	int fds[2] = {out[0], err[0]};
	static const int ftype_of[2] = {F_OUT, F_ERR};
	if (pid < 0) {
		close(out[0]);
		close(err[0]);
		uint8_t ex[8];
		put32(ex, 127);
		put32(ex + 4, R_SPAWN);
		port_send(s, F_EXIT, ex, sizeof ex);
		return;
	}
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(err[0], F_SETFL, O_NONBLOCK);
	s->child = pid;
	s->timed_out = 0;
	s->deadline = timeout_s ? now_ms() + (int64_t)timeout_s * 1000 : -1;

	static uint8_t chunk[MAX_PAYLOAD];
	int status = 0, exited = 0, gone = 0;
	while (!gone) {
		if (exited) {
			/* The shell is gone: forward only what is already in the
			 * pipes.  Anything still holding a write end is a
			 * background process that may never close it. */
			for (int i = 0; i < 2 && !gone; i++) {
				while (fds[i] >= 0) {
					ssize_t n = read(fds[i], chunk, sizeof chunk);
					if (n < 0 && errno == EINTR)
						continue;
					if (n == 0) {
						close(fds[i]);
						fds[i] = -1;
					}
					if (n <= 0)
						break;
					if (port_send(s, ftype_of[i], chunk, (size_t)n)) {
						gone = 1;
						break;
					}
				}
			}
			break;
		}
		struct pollfd p[4] = {
			{.fd = s->fd, .events = POLLIN},
			{.fd = s->sigfd, .events = POLLIN},
			{.fd = fds[0], .events = POLLIN},
			{.fd = fds[1], .events = POLLIN},
		};
		int r = poll(p, 4, s->timed_out ? -1 : ms_left(s->deadline));
		if (r < 0)
			continue;
		if (r == 0) {
			s->timed_out = 1;
			kill_child(s);
			continue;
		}
		if (p[0].revents & (POLLHUP | POLLERR)) {
			gone = 1;
			break;
		}
		if (p[0].revents & POLLIN) {
			/* A new client is talking: ours has gone.  Keep its
			 * bytes, they hold the next HELLO. */
			if (s->in.len < sizeof(s->in.d))
				rbuf_fill(&s->in, s->fd);
			gone = 1;
			break;
		}
		if (p[1].revents & POLLIN) {
			drain_sigfd(s->sigfd);
			if (waitpid(pid, &status, WNOHANG) == pid)
				exited = 1;
		}
		for (int i = 0; i < 2; i++) {
			if (fds[i] < 0 || !(p[2 + i].revents & (POLLIN | POLLHUP)))
				continue;
			ssize_t n = read(fds[i], chunk, sizeof chunk);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				close(fds[i]);
				fds[i] = -1;
			} else if (n > 0 &&
				   port_send(s, ftype_of[i], chunk, (size_t)n)) {
				gone = 1;
				break;
			}
		}
	}
	if (gone) {
		kill_child(s);
		if (!exited)
			waitpid(pid, &status, 0);
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		s->child = 0;
		return;
	}
	hand_off_pipes(s, fds, 2);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	s->child = 0;

	uint8_t ex[8];
	uint32_t code, reason;
	if (s->timed_out) {
		code = EXIT_TIMEOUT;
		reason = R_TIMEOUT;
	} else if (WIFSIGNALED(status)) {
		code = 128 + (uint32_t)WTERMSIG(status);
		reason = R_SIGNALED;
	} else {
		code = (uint32_t)WEXITSTATUS(status);
		reason = R_EXITED;
	}
	put32(ex, code);
	put32(ex + 4, reason);
	port_send(s, F_EXIT, ex, sizeof ex);
}

static int open_port(struct serve *s)
{
	int fd = open(s->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* SIGIO on host connect (see wait_host_data). */
	if (fcntl(fd, F_SETOWN, getpid()) < 0 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK | O_ASYNC) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int serve_main(const char *path)
{
	static struct serve s;
	s.path = path;
	s.fd = -1;

	signal(SIGPIPE, SIG_IGN);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGIO);
	sigprocmask(SIG_BLOCK, &set, NULL);
	s.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s.sigfd < 0) {
		perror("guestd: signalfd");
		return 1;
	}
	/* The port appears when virtio_console binds; be patient rather than
	 * let init respawn us in a tight loop. */
	for (int tries = 0; (s.fd = open_port(&s)) < 0; tries++) {
		if (tries == 0)
			fprintf(stderr, "guestd: waiting for %s: %s\n", path,
				strerror(errno));
		sleep(1);
	}

	char host[MAX_HOSTNAME] = "?";
	for (;;) {
		/* Look for a HELLO, then act on the frame that follows it. */
		if (!rbuf_sync(&s.in, HELLO_PAT, sizeof HELLO_PAT) ||
		    s.in.len < HDR_LEN) {
			wait_host_data(&s);
			if (s.in.len == sizeof(s.in.d))
				rbuf_drop(&s.in, 1);
			if (rbuf_fill(&s.in, s.fd) == 0)
				s.in.len = 0;
			continue;
		}
		if (get32(s.in.d + 12) != 0) { /* not a real HELLO */
			rbuf_drop(&s.in, 1);
			continue;
		}
		s.session = get32(s.in.d + 8);
		rbuf_drop(&s.in, HDR_LEN);
		gethostname(host, sizeof host - 1);
		if (port_send(&s, F_READY, host, strlen(host))) {
			s.in.len = 0;
			continue;
		}
		/* Expect this session's REQ right behind the HELLO. */
		for (;;) {
			if (s.in.len >= HDR_LEN) {
				const uint8_t *h = s.in.d;
				uint32_t len = get32(h + 12);
				if (memcmp(h, MAGIC, 4) || (h[4] != F_REQ && h[4] != F_WRITE) || h[5] ||
				    h[6] || h[7] || get32(h + 8) != s.session ||
				    len < 5 || len > MAX_PAYLOAD)
					break; /* resync on the next HELLO */
				if (s.in.len >= HDR_LEN + len) {
					static char cmd[MAX_PAYLOAD];
					int type = h[4];
					/* REQ: the timeout; WRITE: the path's length. */
					uint32_t word = get32(h + HDR_LEN);
					memcpy(cmd, h + HDR_LEN + 4, len - 4);
					cmd[len - 4] = '\0';
					rbuf_drop(&s.in, HDR_LEN + len);
					if (type == F_REQ) {
						run_command(&s, cmd, word);
					} else if (word == 0 || word > len - 4 || word >= PATH_MAX ||
						   memchr(cmd, '\0', word)) {
						static const uint8_t bad[8] = {2};
						port_send(&s, F_EXIT, bad, sizeof bad);
					} else {
						char path[PATH_MAX];
						memcpy(path, cmd, word);
						path[word] = '\0';
						write_file(&s, path, (uint8_t *)cmd + word, len - 4 - word);
					}
					break;
				}
				/* A HELLO inside a payload still being waited
				 * for: that REQ was cut short, a new client
				 * took over. */
				if (memmem(s.in.d + 1, s.in.len - 1, HELLO_PAT,
					   sizeof HELLO_PAT))
					break;
			}
			wait_host_data(&s);
			if (s.session == 0) /* host went away meanwhile */
				break;
			if (rbuf_fill(&s.in, s.fd) == 0) {
				s.in.len = 0;
				break;
			}
		}
		s.session = 0;
	}
}

/* ------------------------------------------------------------- host: call */

static void usage(FILE *f)
{
	fputs("usage: guestd serve PORT\n"
	      "       guestd call [--timeout S] [--connect-timeout S] [--grace S] [--ping]\n"
	      "                   [--sent-stamp FILE] [--write FILE] SOCKET [SOCKET...] -- CMD...\n",
	      f);
}

static void die_lab(const char *msg, const char *arg)
{
	fprintf(stderr, "bdlab: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	exit(EXIT_LAB);
}

/* Take the first SOCKET whose lock is free and connect to it.  Busy
 * ports are retried until the deadline: a port is one session at a time,
 * and a second QEMU client would just queue invisibly behind the first. */
static int take_port(char **socks, int nsocks, int64_t deadline)
{
	for (;;) {
		for (int i = 0; i < nsocks; i++) {
			char lock[PATH_MAX];
			snprintf(lock, sizeof lock, "%s.lock", socks[i]);
			int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
			if (lfd < 0)
				die_lab("cannot open lock", lock);
			if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
				close(lfd);
				continue;
			}
			/* lfd stays open (and locked) until we exit. */
			struct sockaddr_un sa = {.sun_family = AF_UNIX};
			size_t plen = strlen(socks[i]);
			if (plen >= sizeof sa.sun_path)
				die_lab("socket path too long", socks[i]);
			memcpy(sa.sun_path, socks[i], plen + 1);
			int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
				die_lab("VM not running (cannot connect)", socks[i]);
			return fd;
		}
		if (ms_left(deadline) == 0)
			die_lab("all exec ports busy", socks[0]);
		usleep(50 * 1000);
	}
}

/* Read more from the socket into b before the deadline; -1 on timeout,
 * 0 on EOF. */
static ssize_t sock_fill(struct rbuf *b, int fd, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, ms_left(deadline));
		if (r == 0)
			return -1;
		if (r < 0)
			continue;
		ssize_t n = rbuf_fill(b, fd);
		if (n >= 0)
			return n;
		if (errno != EINTR && errno != EAGAIN)
			return 0;
	}
}

static int call_main(int argc, char **argv)
{
	long timeout_s = 120, connect_s = 10, grace_s = 10;
	int ping = 0;
	const char *stamp = NULL, *write_to = NULL;
	char *socks[64];
	int nsocks = 0, i;

	for (i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			timeout_s = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--connect-timeout") && i + 1 < argc)
			connect_s = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--grace") && i + 1 < argc)
			grace_s = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--sent-stamp") && i + 1 < argc)
			stamp = argv[++i];
		else if (!strcmp(argv[i], "--write") && i + 1 < argc)
			write_to = argv[++i];
		else if (!strcmp(argv[i], "--ping"))
			ping = 1;
		else if (argv[i][0] == '-' || nsocks == 64) {
			usage(stderr);
			return 2;
		} else
			socks[nsocks++] = argv[i];
	}
	if (nsocks == 0 || timeout_s < 0 || timeout_s > 86400 * 365 ||
	    connect_s <= 0 || grace_s < 0 || grace_s > 86400 || (!ping && i + 1 >= argc)) {
		usage(stderr);
		return 2;
	}

	/* The command: words after "--" joined by spaces, as ssh does; a
	 * WRITE's path goes first, its words end with a newline. */
	static uint8_t req[HDR_LEN + MAX_PAYLOAD];
	size_t clen = 0, plen = write_to ? strlen(write_to) : 0;
	if (write_to) {
		if (!plen || plen >= PATH_MAX)
			die_lab("bad --write path", write_to);
		memcpy(req + HDR_LEN + 4, write_to, plen);
		clen = plen;
	}
	for (int j = i + 1; j < argc; j++) {
		size_t w = strlen(argv[j]);
		if (clen + w + 1 > MAX_PAYLOAD - 4)
			die_lab("command too long", NULL);
		if (clen > plen)
			req[HDR_LEN + 4 + clen++] = ' ';
		memcpy(req + HDR_LEN + 4 + clen, argv[j], w);
		clen += w;
	}

	signal(SIGPIPE, SIG_IGN);
	int64_t cdeadline = now_ms() + connect_s * 1000;
	int fd = take_port(socks, nsocks, cdeadline);

	uint32_t nonce = 0;
	while (nonce == 0)
		if (getrandom(&nonce, sizeof nonce, 0) != sizeof nonce)
			nonce = (uint32_t)getpid() ^ (uint32_t)now_ms();
	uint8_t hello[HDR_LEN];
	hdr_fill(hello, F_HELLO, nonce, 0);
	if (write_all(fd, hello, sizeof hello))
		die_lab("lost connection to the exec agent", socks[0]);

	/* Skip leftovers of earlier sessions up to our READY. */
	static struct rbuf in;
	uint8_t pat[HDR_LEN];
	hdr_fill(pat, F_READY, nonce, 0); /* match magic, type, pad, nonce */
	for (;;) {
		if (rbuf_sync(&in, pat, 12) && in.len >= HDR_LEN) {
			uint32_t len = get32(in.d + 12);
			if (len > MAX_HOSTNAME) {
				rbuf_drop(&in, 1);
				continue;
			}
			if (in.len >= HDR_LEN + len) {
				if (ping)
					printf("%.*s\n", (int)len, in.d + HDR_LEN);
				rbuf_drop(&in, HDR_LEN + len);
				break;
			}
		}
		ssize_t n = sock_fill(&in, fd, cdeadline);
		if (n < 0)
			die_lab("exec agent not answering", socks[0]);
		if (n == 0)
			die_lab("exec agent closed the connection", socks[0]);
	}
	if (ping)
		return 0;

	if (write_to) {
		if (clen + 1 > MAX_PAYLOAD - 4)
			die_lab("command too long", NULL);
		req[HDR_LEN + 4 + clen++] = '\n';
	}
	hdr_fill(req, write_to ? F_WRITE : F_REQ, nonce, (uint32_t)(4 + clen));
	put32(req + HDR_LEN, write_to ? (uint32_t)plen : (uint32_t)timeout_s);
	if (write_all(fd, req, HDR_LEN + 4 + clen))
		die_lab("lost connection to the exec agent", socks[0]);
	if (stamp) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		FILE *f = fopen(stamp, "w");
		if (f) {
			fprintf(f, "%lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
			fclose(f);
		}
	}

	/* The guest enforces the timeout; ours is a backstop for a dead VM. */
	int64_t deadline = timeout_s ? now_ms() + (timeout_s + grace_s) * 1000 : -1;
	for (;;) {
		while (in.len >= HDR_LEN) {
			const uint8_t *h = in.d;
			uint32_t len = get32(h + 12);
			if (memcmp(h, MAGIC, 4) || h[5] || h[6] || h[7] ||
			    get32(h + 8) != nonce || len > MAX_PAYLOAD)
				die_lab("protocol error from exec agent", socks[0]);
			if (in.len < HDR_LEN + len)
				break;
			const uint8_t *pl = h + HDR_LEN;
			if (h[4] == F_OUT || h[4] == F_ERR) {
				if (write_all(h[4] == F_OUT ? 1 : 2, pl, len))
					return 128 + SIGPIPE; /* like a shell */
			} else if (h[4] == F_EXIT && len == 8) {
				uint32_t code = get32(pl), reason = get32(pl + 4);
				if (reason == R_TIMEOUT)
					fprintf(stderr,
						"bdlab: command timed out after %ld s "
						"(killed)\n",
						timeout_s);
				else if (reason == R_SPAWN)
					fprintf(stderr,
						"bdlab: exec agent could not start "
						"/bin/sh\n");
				return code > 255 ? 255 : (int)code;
			} else {
				die_lab("protocol error from exec agent", socks[0]);
			}
			rbuf_drop(&in, HDR_LEN + len);
		}
		ssize_t n = sock_fill(&in, fd, deadline);
		if (n < 0) {
			fprintf(stderr,
				"bdlab: command timed out after %ld s "
				"(VM not responding)\n",
				timeout_s);
			return EXIT_TIMEOUT;
		}
		if (n == 0)
			die_lab("connection to the VM lost before the command "
				"finished",
				NULL);
	}
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "serve"))
		return serve_main(argv[2]);
	if (argc >= 2 && !strcmp(argv[1], "call"))
		return call_main(argc - 2, argv + 2);
	usage(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
	return 2;
}
