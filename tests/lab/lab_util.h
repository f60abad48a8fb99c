/* What the lab integration tests share: commands on the lab host and in the
 * lab's VMs (through bdlab's exec agent), with their output and status, and
 * the checks every test makes of them. */
#ifndef BD_LAB_UTIL_H
#define BD_LAB_UTIL_H

#include <stddef.h>

/* The checkout's root (BD_ROOT, else "."), set by lab_init(). */
extern char lab_root[1024];

struct result {
        int rc;
        char *out;
        char *err;
};

/* BD_TEST_FILTER=test_forkbomb (a cmocka pattern, * and ?) runs only the
 * tests it matches; call before running a group. */
void lab_filter(void);
void lab_init(void);
/* bdlab down, then up: 0, or -1 having said why the lab cannot run. */
int lab_boot(void);
void result_free(struct result *r);
/* A shell command on the lab host. */
struct result host(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A shell command in lab VM name (the command travels in the environment,
 * so no quoting layer can mangle it). */
struct result vm(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The number a command in VM name prints first (0 if none). */
long vm_number(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void expect_ok(struct result *r, const char *what);
/* expect_ok, then free r: for a command whose output is not read. */
void ok(struct result r, const char *what);
/* A refusal is one clear line on stderr and a distinct exit code. */
void expect_refusal(struct result *r, int code, const char *phrase);
/* The same for any command: exit code, phrase, one line on stderr. */
void expect_exit(struct result *r, int code, const char *phrase);
/* Value of "key":"..." or "key":123 in a one-line JSON object. */
int json_field(const char *json, const char *key, char *buf, size_t cap);
void chomp(char *s);

/* Wait (10 s at most) for a TCP listener on port in VM name. */
void wait_listening(const char *name, int port);

/* host3 restores the process of the image directory images (as host3
 * sees it) with bd-standby-restore, taking host2's address; the client on
 * mon (client_pid, its log /tmp/cc.log) then gets an answer after the gap
 * and ten more on the same connection, every one in step; it is stopped. */
void take_over(const char *images, long client_pid, const char *what);

/* Lines in a file of watch events (JSON lines) on mon. */
int events_now(const char *events);
/* The first event after line `after` of events that holds `text` (a fixed
 * string), waited for at most `seconds`: its line number, its JSON in buf;
 * 0 (having printed the events since) if none came. */
int wait_match(const char *events, int after, const char *text, int seconds, char *buf, size_t cap);

#define BDMON "bdmon -q -c /bd/lab/run/targets"
/* host3 as a standby: criu and nft on its own disk (copies of the staged
 * ones in its RAM, not read through the share at the fault), and criu's
 * probe of the kernel made before the fault (bd-standby-restore --prepare). */
#define STANDBY_TOOLS "--criu /tmp/criu/criu --nft /tmp/nft/nft --ip fullip"
#define STANDBY_PREPARE                                                                            \
        "cp -r /bd/lab/criu /bd/lab/nft /tmp/ && bd-standby-restore --prepare " STANDBY_TOOLS
#define KEY "/bd/lab/run/psk"

#endif
