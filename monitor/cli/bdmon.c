/* bdmon: the Backdoors monitor command line. Options and dispatch only; each
 * command is a cmd_*.c of its own. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/audit.h"
#include "../repair/plan.h"
#include "../watch/incident.h"
#include "../watch/shard.h"
#include "cli.h"

static const char usage[] =
    "Usage: bdmon [OPTIONS] COMMAND [TARGET] [ARGS]\n"
    "\n"
    "Reads (and, when allowed, repairs) a target machine's physical memory through\n"
    "its Backdoors NIC over RDMA, or from a local RAM file or vmcore, without the\n"
    "target's CPUs and without trusting its OS. Every kernel view works on a live\n"
    "kernel and on a dead one.\n"
    "\n"
    "Kernel views:\n"
    "  info TARGET               the target's kernel (VMCOREINFO: release, build id,\n"
    "                            KASLR offset, paging) and machine (uptime, CPUs,\n"
    "                            memory, load average, boot id, taint).\n"
    "  ps TARGET                 processes: pid, ppid, state, cpu, scheduling policy\n"
    "                            and priority, RSS, time since the task last ran,\n"
    "                            command. -T: every thread. Read from the pid\n"
    "                            namespace's IDR a tree level at a time.\n"
    "  dmesg TARGET              the kernel log, read from the printk ring buffer\n"
    "                            (Linux 5.10+; needs no BTF): \"[seconds] text\" per\n"
    "                            line; -f follows it. --json: seq, ts_nsec, caller,\n"
    "                            text per record.\n"
    "  sym TARGET NAME|ADDR      kallsyms, decoded from memory: NAME's address and\n"
    "                            type, or the symbol and offset ADDR (0x...) is in.\n"
    "                            NAME may be a loaded module's (MODULE:NAME when\n"
    "                            several define it), read from its symbol table.\n"
    "  type TARGET STRUCT[.M..]  a structure's layout from the kernel's own BTF,\n"
    "                            pahole-like; STRUCT.MEMBER gives one member.\n"
    "  print TARGET EXPR         a kernel variable, typed by BTF: SYMBOL[.MEMBER...]\n"
    "                            (pointers are followed; [N] indexes arrays), or\n"
    "                            0xADDR[.MEMBER...] with --type. Per-CPU variables\n"
    "                            print every CPU's copy (--cpu N: one).\n"
    "  maps TARGET PID           a process's memory map, from its VMA maple tree.\n"
    "  files TARGET PID          a process's open files, as ls -l /proc/PID/fd and\n"
    "                            /proc/PID/fdinfo show them: fd, mode, position,\n"
    "                            inode, kind, O_* flags and the path, across mounts\n"
    "                            (pipe:[N], socket:[N], anon_inode:[eventpoll]...).\n"
    "  agent TARGET PID          what PID's libbdagent beacon says (host-agent/\n"
    "                            bdagent.h): its regions of application state, the\n"
    "                            two copies of each and which one holds the last\n"
    "                            commit, the commits so far, the requests in flight\n"
    "                            and the threads inside one. Every field is checked\n"
    "                            (addresses against PID's mappings) first; exit 9\n"
    "                            when PID uses no libbdagent, 8 for a malformed one.\n"
    "  checkpoint TARGET PID --store DIR [--every PERIOD]\n"
    "                            remote micro-checkpoints of PID's libbdagent state:\n"
    "                            every --interval (default 50 ms) one whole copy of\n"
    "                            the slot its last commit wrote, read over the\n"
    "                            fabric (the slot's generation, its regions, the\n"
    "                            generation again and the pages translated again,\n"
    "                            each step waited for: a copy the process rewrote or\n"
    "                            moved meanwhile is read again, at most 4 times an\n"
    "                            interval, else the interval is missed and counted).\n"
    "                            A copy holding a commit not stored yet becomes a\n"
    "                            version in DIR: 4-KiB chunks named by hash, each\n"
    "                            stored once, so a version costs the disk only what\n"
    "                            changed. The oldest versions go to keep --keep N\n"
    "                            (default 1000) in --store-size (default 1G); their\n"
    "                            chunks are unlinked a few per interval. Runs until\n"
    "                            --duration S, SIGINT or SIGTERM, then prints what\n"
    "                            it did; exit 9 when not one version was stored.\n"
    "                            Regions too large for one read (about 1.8 KiB in\n"
    "                            all, slots twice) are read in several round trips:\n"
    "                            a process committing faster than that rewrites the\n"
    "                            slot under the read. With --pin (and --write) the\n"
    "                            monitor pins the slot it reads (two audited\n"
    "                            compare-and-swaps a copy) and the library skips\n"
    "                            the commits that would write it, for 1 s at most.\n"
    "  checkpoints DIR [VERSION] the versions a checkpoint store keeps; with VERSION\n"
    "                            (a number, or newest) that one, every chunk read\n"
    "                            back and checked against its hash, and with -o OUT\n"
    "                            its regions written as OUT/NAME. With --to COMMAND\n"
    "                            (and VERSION), a fresh instance of the service\n"
    "                            from it, when the host that ran it is gone: the\n"
    "                            regions are written (to -o OUT, default\n"
    "                            DIR/restore-VERSION), then COMMAND runs as\n"
    "                            resurrect runs it, the directory as its last\n"
    "                            argument; it starts the service on the standby\n"
    "                            with BDAGENT_RESTORE set to that directory, where\n"
    "                            libbdagent loads each region as it is registered\n"
    "                            (exit 13 when COMMAND fails).\n"
    "  net TARGET                TCP and UDP sockets of every network namespace, as\n"
    "                            ss -tuanp: state, queues, addresses, namespace and\n"
    "                            owners (pid, fd), listeners included; --json adds\n"
    "                            TCP sequence numbers and inodes. Read from the\n"
    "                            kernel's socket hash tables; --tcp or --udp: one.\n"
    "  layouts check TARGET      which fields Backdoors reads (layouts/manifest.def)\n"
    "                            the target's BTF lacks; exit 9 if any.\n"
    "  layouts export TARGET     write the target's layout (offsets of every\n"
    "                            manifest entry) to a file keyed by release and\n"
    "                            build id, to serve kernels without BTF.\n"
    "\n"
    "Failure detection:\n"
    "  watch TARGET...           probe each target every 10 ms (--interval) in one\n"
    "                            batch of reads, and print a line whenever its state\n"
    "                            changes: healthy, panicked, oops, hard-lockup,\n"
    "                            soft-lockup, frozen, hung-task, exhausted (threads,\n"
    "                            pids, files, memory), rebooted, nic-unreachable,\n"
    "                            suspicious (the kernel's own two copies of\n"
    "                            VMCOREINFO disagree), unknown. Each line names the\n"
    "                            evidence. On a failure it saves the event, the\n"
    "                            kernel log and the panic or oops report in an\n"
    "                            incident directory, and runs --on-alarm. On a\n"
    "                            terminal: a live view instead.\n"
    "                            With --repair POLICY it also runs the repair\n"
    "                            script a rule names for the new state (below).\n"
    "                            Each target has a thread of its own: one whose\n"
    "                            NIC is gone or whose kernel is being looked for\n"
    "                            delays no other.\n"
    "\n"
    "Memory and configuration:\n"
    "  dump TARGET -o FILE       the target's memory as an ELF vmcore laid out as\n"
    "                            the kernel's kdump lays out /proc/vmcore: an\n"
    "                            NT_PRSTATUS note per cpu (its current task's pid;\n"
    "                            after a panic, registers: the panicking cpu's at\n"
    "                            panic()'s last call, the others' where the stop\n"
    "                            IPI found them), VMCOREINFO, the kernel image at its\n"
    "                            virtual address, the RAM at its direct-map\n"
    "                            address. Debian's drgn and crash open it as they\n"
    "                            open a kdump (drgn -c FILE -s VMLINUX, crash\n"
    "                            VMLINUX FILE); bdmon -s file:FILE reads it when\n"
    "                            unfiltered. --format kdump: makedumpfile's\n"
    "                            compressed format (zlib or zstd per page, see\n"
    "                            --compress). -d LEVEL\n"
    "                            leaves pages out, as makedumpfile's: 1 zero\n"
    "                            pages, 2 page cache, 4 page cache with private\n"
    "                            data, 8 user memory, 16 free pages (sum them; 31\n"
    "                            is kdump's usual level), decided from each page's\n"
    "                            struct page, and by the NIC for zero pages, so\n"
    "                            that what is left out never crosses the fabric.\n"
    "                            Zero pages read as zeros: the kdump format points\n"
    "                            them all at one block (crash opens no dump that\n"
    "                            lacks them), ELF leaves them to p_memsz. The file\n"
    "                            is written as FILE.part and renamed whole; a dump\n"
    "                            that stopped (NIC lost) keeps FILE.part, and the\n"
    "                            same command with --resume goes on from where it\n"
    "                            stopped, never reading a page twice.\n"
    "  core TARGET PID -o FILE   PID's process as an ELF core file that gdb opens\n"
    "                            (gdb PROGRAM FILE), live or after the target died:\n"
    "                            every thread's registers as its last kernel entry\n"
    "                            saved them, its FPU state (NT_FPREGSET and\n"
    "                            NT_X86_XSTATE), auxv, mapped files, and the memory\n"
    "                            the kernel's own core dump would hold (written-to\n"
    "                            and anonymous mappings, ELF headers, the vDSO).\n"
    "                            Written under FILE.tmp.PID, mode 0600, then renamed.\n"
    "                            A thread that was on a CPU is named on stderr: its\n"
    "                            registers may be stale. Swapped-out pages read as 0.\n"
    "  resurrect TARGET PID --images DIR [--to COMMAND [--to-images DIR]]\n"
    "                            PID's process as a CRIU image directory for\n"
    "                            criu restore, in the installed criu's formats, read\n"
    "                            from a live, frozen or dead kernel. DIR must not\n"
    "                            exist; it appears whole or not at all. Threads in a\n"
    "                            system call are left as criu's dump leaves them:\n"
    "                            blocking reads, accept and futex waits rewound to\n"
    "                            run again, other waits returning -EINTR (listed).\n"
    "                            Written: registers, FPU state, memory, signal\n"
    "                            mask, actions and pending signals, credentials,\n"
    "                            limits, the time namespace, regular files,\n"
    "                            directories, /dev/null and its kin, listening and\n"
    "                            established TCP sockets (with their queues), epoll\n"
    "                            fds. Refuses, naming the cause, a thread that was\n"
    "                            on a CPU (--force takes the risk), 32-bit processes,\n"
    "                            swapped-out pages, seccomp filters, POSIX and\n"
    "                            interval timers, SIGKILL pending, mappings being\n"
    "                            changed (mmap_lock held for writing), a TCP\n"
    "                            connection whose socket lock was held, other fds.\n"
    "                            A process using libbdagent comes back at its last\n"
    "                            commit: its regions' committed copies, and each\n"
    "                            thread that was inside a request sent back to its\n"
    "                            bd_request_begin() (the library's signal queued).\n"
    "                            With --to, then runs COMMAND (through /bin/sh, the\n"
    "                            images' directory appended as its last argument,\n"
    "                            BDMON_IMAGES and BDMON_PID set, its output on\n"
    "                            stderr) and waits for it: the standby's restore,\n"
    "                            e.g. 'ssh root@standby bd-standby-restore'; not\n"
    "                            while the target's kernel still runs (its jiffies\n"
    "                            moved during the read: the process would run\n"
    "                            twice): exit 6, the images kept.\n"
    "  read TARGET ADDR LEN      LEN bytes at physical ADDR (--kernel: kernel\n"
    "                            virtual; --pid PID: PID's user virtual); hexdump,\n"
    "                            or the bytes themselves with --raw.\n"
    "  windows TARGET            the memory windows the source exports.\n"
    "  cas TARGET ADDR OLD NEW   8-byte compare-and-swap at physical ADDR: writes NEW\n"
    "                            only if ADDR holds OLD. Needs --write; audited.\n"
    "\n"
    "Repair:\n"
    "  repair TARGET SCRIPT [ARG...]\n"
    "                            run a Lua repair script (repair/*.lua) against the\n"
    "                            target's kernel and print its plan: every guard\n"
    "                            (what must not change) and update (a CAS against\n"
    "                            the value read), with addresses and values. Nothing\n"
    "                            is written unless --apply (with --write) is given;\n"
    "                            then each update is made after its guards are read\n"
    "                            again, and the script checks the effect happened.\n"
    "  targets                   the targets named in the config file.\n"
    "\n"
    "Repair policy (watch --repair POLICY): a rule per line, '#' comments:\n"
    "  STATE[:SUBJECT] SCRIPT [ARG...] [mode=plan|apply] [every=SECONDS] [force]\n"
    "  STATE is one of panicked, oops, hard-lockup, soft-lockup, frozen, hung-task,\n"
    "  exhausted; SUBJECT only for exhausted: memory, threads, pids or files. The\n"
    "  first rule matching an alarm decides. SCRIPT is found as for repair; unlock\n"
    "  is refused. In an ARG, ${pid} and ${cpu} are the event's task and cpu,\n"
    "  ${pid_last} the last pid allocated, ${baseline.max_threads},\n"
    "  ${baseline.pid_max} and ${baseline.max_files} the limits of the first\n"
    "  healthy sample since boot: numbers only, no text read from the target.\n"
    "  mode=plan (the default) only plans; mode=apply, with --write, applies,\n"
    "  verifies and plans again as repair --apply does (without --write it plans).\n"
    "  every= is the least time between two runs of a rule on one target (default\n"
    "  60 s); while the alarm holds, the rule runs again each every= seconds,\n"
    "  whatever its last run said. force: as repair --force. Options come last\n"
    "  (an ARG cannot be spelled as one). A repair runs a step at a time between\n"
    "  probes, one at a time per target; it prints \"TIME TARGET repair SCRIPT\n"
    "  ARGS [(attempt N)]: VERDICT: WHY\" (planned, done, pending, not-yet, again\n"
    "  or error), saves INCIDENT/repair.json (repair-N.json for attempt N: the\n"
    "  rule, the verdict, the plan) and is audited.\n"
    "  Example:\n"
    "    exhausted:threads  forkbomb restore=${baseline.max_threads} mode=apply\n"
    "    soft-lockup        rtspin ${pid} mode=apply every=30\n"
    "\n"
    "TARGET is a name from the config file, or a source spelled out:\n"
    "  file:PATH                 a RAM file or ELF vmcore on this machine\n"
    "  rdma:HOST[:PORT]          a Backdoors NIC (port 7471 by default; needs --key)\n"
    "Numbers may be decimal or 0x-prefixed hex; LEN also takes K, M, G suffixes.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   target config (default $BDMON_CONFIG or\n"
    "                      /etc/backdoors/targets). Lines: NAME HOST[:PORT] key=FILE\n"
    "                      or NAME file:PATH.\n"
    "  -s, --source SPEC   use SPEC as the target (then TARGET is omitted).\n"
    "  -k, --key FILE      key for rdma: sources given on the command line.\n"
    "  -j, --json          machine-readable output (one JSON document, or one\n"
    "                      object per line for dmesg).\n"
    "  -T, --threads       ps: every thread, not only processes.\n"
    "      --tcp, --udp    net: only TCP sockets, or only UDP ones.\n"
    "  -f, --follow        dmesg: keep printing new records until interrupted.\n"
    "      --interval MS   dmesg -f: poll period (default 500); watch: probe\n"
    "                      period (default 10); checkpoint: copy period\n"
    "                      (default 50). MS may end in ms or s (50ms, 1s).\n"
    "      --every PERIOD  the same as --interval.\n"
    "      --restore VERSION\n"
    "                      checkpoint --store DIR --restore VERSION [--to CMD]:\n"
    "                      checkpoints DIR VERSION, with no TARGET or PID (the\n"
    "                      host that ran the service may be gone).\n"
    "      --on-alarm CMD  watch: run CMD (sh -c) on every failure, with\n"
    "                      BDMON_TARGET, BDMON_STATE, BDMON_PREVIOUS, BDMON_CPU,\n"
    "                      BDMON_PID, BDMON_EVIDENCE, BDMON_INCIDENT and\n"
    "                      BDMON_EVENT (the JSON line) in its environment.\n"
    "      --resurrect PID watch, one TARGET: when its kernel panics, write PID's\n"
    "                      process as resurrect does into --images DIR at once,\n"
    "                      through the watch's open connection and kernel (no\n"
    "                      command to start, no kernel to find: about a second\n"
    "                      sooner), the target's probes paused meanwhile; then\n"
    "                      --to COMMAND, as resurrect runs it. Once per watch;\n"
    "                      a line \"TIME TARGET resurrect PID: ...\" says how it\n"
    "                      went (--json: a \"resurrect\" object, resurrect's).\n"
    "      --incidents DIR watch: where incidents go (default $BDMON_INCIDENTS,\n"
    "                      else the cache directory's incidents/).\n"
    "      --no-capture    watch: keep no incidents.\n"
    "      --incident-rate N\n"
    "                      watch: at most N incidents a minute per target (default\n"
    "                      10, at most 1000); the next ones are not saved, with a\n"
    "                      line saying why.\n"
    "      --incident-quota SIZE\n"
    "                      watch: the most the incident directory may hold (K, M,\n"
    "                      G suffixes; default 1G). An incident that would pass\n"
    "                      it is not saved, with a line saying why: the incidents\n"
    "                      there are never removed, so the first evidence stays.\n"
    "      --metrics H:P   watch: serve Prometheus metrics on H:P (per-target\n"
    "                      state, probes, probe round-trip histogram; how far\n"
    "                      behind schedule probes start, all targets).\n"
    "      --shard I/N     watch: this monitor is shard I (1..N) of N; it watches\n"
    "                      its share of the TARGETs given, or of every target in\n"
    "                      the config file when none is. Rendezvous hashing of\n"
    "                      the names: every monitor decides alone and they agree;\n"
    "                      a change of N moves about 1/N of the targets.\n"
    "      --replicas R    watch --shard: R monitors watch each target (default\n"
    "                      1), so that one monitor down blinds none; alert on\n"
    "                      max by (target) across them (contrib/prometheus).\n"
    "      --record FILE   watch: append every probe's readings to FILE, a line\n"
    "                      each (for replaying into the classifier).\n"
    "      --duration S    watch, checkpoint: stop after S seconds (default:\n"
    "                      until SIGINT or SIGTERM). watch: SIGHUP opens --record\n"
    "                      and --audit again by name (after logrotate has renamed\n"
    "                      them).\n"
    "      --hung-ms MS    watch: a task in D this long without a switch is hung\n"
    "                      (default 1000; the kernel's own detector waits 120 s).\n"
    "      --repair POLICY watch: run the repairs POLICY calls for (see above); with\n"
    "                      --write, mode=apply rules write. Off by default.\n"
    "      --type STRUCT   print: the type of an address or untyped symbol.\n"
    "      --cpu N         print: only CPU N's copy of a per-CPU variable.\n"
    "      --kernel        read: ADDR is a kernel virtual address.\n"
    "      --pid PID       read: ADDR is a user virtual address of PID.\n"
    "      --raw           read: write the bytes to standard output; repair: the\n"
    "                      script may make objects from raw addresses.\n"
    "      --apply         repair: make the plan's writes (needs --write).\n"
    "      --plan FILE     repair: save the plan to FILE (JSON), or with --apply\n"
    "                      apply the plan saved in FILE instead of a new one.\n"
    "      --force         repair: take a risk memory cannot rule out (unlock:\n"
    "                      a lock's owner is not recorded, so a leak is not\n"
    "                      proven); resurrect, watch --resurrect: take threads\n"
    "                      that were on a CPU.\n"
    "      --format F      dump: elf (default) or kdump.\n"
    "  -d, --dump-level N  dump: the pages to leave out (0-31, bits as above).\n"
    "      --resume        dump: continue FILE.part where an earlier run stopped.\n"
    "      --compress C    dump --format kdump: zlib (default, as makedumpfile -c)\n"
    "                      or zstd (as -z: on the lab's monitor it costs no\n"
    "                      more time than no compression, zlib 40 % more;\n"
    "                      crash, drgn and libkdumpfile on Debian 12 read it).\n"
    "      --store DIR     checkpoint: the store's directory (made if missing; one\n"
    "                      writer at a time).\n"
    "      --keep N        checkpoint: versions kept at most (default 1000).\n"
    "      --pin           checkpoint: pin the slot a read of large regions takes\n"
    "                      (needs --write and a NIC that allows writes).\n"
    "      --store-size SIZE\n"
    "                      checkpoint: bytes the kept versions may hold (K, M, G\n"
    "                      suffixes; default 1G); the newest is kept whatever its\n"
    "                      size.\n"
    "      --images DIR    resurrect, watch --resurrect: the image directory to\n"
    "                      create.\n"
    "      --to COMMAND    resurrect, watch --resurrect, checkpoints: the standby's\n"
    "                      restore command, run once the images (or regions) are\n"
    "                      whole (exit 13 when it fails).\n"
    "      --to-images DIR resurrect, checkpoints --to: the directory as the standby\n"
    "                      sees it (shared storage mounted elsewhere); default:\n"
    "                      DIR made absolute.\n"
    "  -o, --output FILE   dump: the vmcore; core: the core file; layouts export:\n"
    "                      the layout file; checkpoints: the directory for a\n"
    "                      version's regions\n"
    "                      ('-': standard output).\n"
    "      --layout FILE   take structure offsets from a stored layout file, not\n"
    "                      the kernel's BTF.\n"
    "      --max-read SIZE the most a view reads and holds for what the target's\n"
    "                      own numbers ask (K, M, G suffixes; at least 64K): of a\n"
    "                      larger printk ring, dmesg reads only the newest SIZE's\n"
    "                      worth and says so (default 16M); ps, maps, net and\n"
    "                      files refuse more tasks, VMAs, sockets or open files\n"
    "                      than fit (default 128M, 64M, 128M and 128M).\n"
    "                      watch applies it to an incident's log, its hung-task\n"
    "                      scan and its repairs' ps.\n"
    "      --no-cache      neither use nor fill the per-build cache of symbols\n"
    "                      and BTF ($BDMON_CACHE, else ~/.cache/backdoors).\n"
    "      --rescan        ignore the remembered VMCOREINFO location and scan.\n"
    "                      Every copy found is held against the kernel it\n"
    "                      describes (its init_uts_ns names the release, its\n"
    "                      vmlinux_build_id is the BUILD-ID) and, when scanned,\n"
    "                      must run (its jiffies move within 5 s): forged copies\n"
    "                      and the images of kernels a reboot replaced are passed\n"
    "                      over; a dead kernel is used only when no running one\n"
    "                      is found. A remembered location is checked the same\n"
    "                      way but, except for watch, not for running.\n"
    "  -w, --write         allow this monitor to write (cas, repair --apply, watch\n"
    "                      --repair). Off by default.\n"
    "      --audit FILE    monitor-side audit log for writes (default\n"
    "                      $BDMON_AUDIT or standard error).\n"
    "  -t, --timeout MS    connect and operation timeout (default 5000).\n"
    "      --sleep-poll    sleep on completions instead of spinning (the default\n"
    "                      of watch: a probe is one short batch, and a spinning\n"
    "                      monitor starves soft-RoCE of the CPU it runs on).\n"
    "      --busy-poll     spin on completions (the default of other commands).\n"
    "      --rc-only       small reads of a mediated window over the reliable (RC)\n"
    "                      queue pair too. By default they go, sealed, over an\n"
    "                      unreliable one (UC) when the NIC has one: two packets\n"
    "                      a read instead of four, and one the fabric loses is\n"
    "                      asked again over RC.\n"
    "  -q, --quiet         no progress or notes on standard error.\n"
    "  -h, --help          this text.\n"
    "      --version       the version.\n"
    "\n"
    "Exit status:\n"
    "  0 success            1 internal error       2 usage\n"
    "  3 unknown target, bad config, key or layout file\n"
    "  4 NIC unreachable or not running            5 authentication refused\n"
    "  6 address outside every window, a walk past its bound, or a view past\n"
    "    its --max-read budget\n"
    "  7 write refused (read-only NIC or monitor)\n"
    "  8 protocol error, or kernel memory that does not check out (a cycle, a\n"
    "    wild pointer)\n"
    "  9 not found: no kernel in memory, no such symbol, struct, member or pid,\n"
    "    or (layouts check) fields the target lacks\n"
    "  10 I/O failure mid-way\n"
    "  11 compare-and-swap found another value\n"
    "  12 out of memory    13 resurrect --to: the standby's restore failed\n";

static const struct cli_command commands[] = {
    {"info", 0, 0, cmd_info},
    {"ps", 0, 0, cmd_ps},
    {"dmesg", 0, 0, cmd_dmesg},
    {"sym", 1, 0, cmd_sym},
    {"type", 1, 0, cmd_type},
    {"print", 1, 0, cmd_print},
    {"maps", 1, 0, cmd_maps},
    {"agent", 1, 0, cmd_agent},
    {"checkpoint", 1, 0, cmd_checkpoint},
    {"checkpoints", -1, 2, cmd_checkpoints},
    {"files", 1, 0, cmd_files},
    {"net", 0, 0, cmd_net},
    {"layouts check", 0, 0, cmd_layouts_check},
    {"layouts export", 0, 0, cmd_layouts_export},
    {"dump", 0, 0, cmd_dump},
    {"core", 1, 0, cmd_core},
    {"resurrect", 1, 0, cmd_resurrect},
    {"read", 2, 0, cmd_read},
    {"windows", 0, 0, cmd_windows},
    {"cas", 3, 0, cmd_cas},
    {"repair", 1, BD_REPAIR_MAX_ARGS, cmd_repair},
    {"targets", -1, 0, cmd_targets},
    {"watch", -2, 0, NULL},
};

static int parse_long(const char *s, long max, long *out)
{
        uint64_t v;
        if (cli_parse_number(s, &v, 0) || v > (uint64_t)max)
                return -1;
        *out = (long)v;
        return 0;
}

_Static_assert(BD_SHARD_MAX == 4096, "--replicas' message says 4096");

int main(int argc, char **argv)
{
        struct cli cli = {
            .config = getenv("BDMON_CONFIG") ? getenv("BDMON_CONFIG") : BD_DEFAULT_CONFIG,
            .audit = getenv("BDMON_AUDIT"),
            .open = {.timeout_ms = 5000, .busy_poll = 1},
            .pid = -1,
            .resurrect = -1,
            .cpu = -1,
            .interval_ms = 500,
            .incident_rate = BD_INCIDENT_PER_MINUTE,
            .incident_quota = BD_INCIDENT_QUOTA,
        };
        enum {
                OPT_RAW = 256,
                OPT_AUDIT,
                OPT_RESCAN,
                OPT_SLEEP,
                OPT_INTERVAL,
                OPT_TYPE,
                OPT_CPU,
                OPT_KERNEL,
                OPT_PID,
                OPT_LAYOUT,
                OPT_NO_CACHE,
                OPT_ON_ALARM,
                OPT_INCIDENTS,
                OPT_NO_CAPTURE,
                OPT_METRICS,
                OPT_DURATION,
                OPT_HUNG_MS,
                OPT_BUSY,
                OPT_RC_ONLY,
                OPT_RECORD,
                OPT_APPLY,
                OPT_PLAN,
                OPT_FORCE,
                OPT_REPAIR,
                OPT_MAX_READ,
                OPT_INCIDENT_RATE,
                OPT_INCIDENT_QUOTA,
                OPT_TCP,
                OPT_UDP,
                OPT_IMAGES,
                OPT_TO,
                OPT_TO_IMAGES,
                OPT_RESURRECT,
                OPT_FORMAT,
                OPT_RESUME,
                OPT_COMPRESS,
                OPT_SHARD,
                OPT_REPLICAS,
                OPT_VERSION,
                OPT_STORE,
                OPT_KEEP,
                OPT_STORE_SIZE,
                OPT_PIN,
                OPT_RESTORE,
        };
        static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},
            {"source", required_argument, NULL, 's'},
            {"key", required_argument, NULL, 'k'},
            {"json", no_argument, NULL, 'j'},
            {"threads", no_argument, NULL, 'T'},
            {"follow", no_argument, NULL, 'f'},
            {"interval", required_argument, NULL, OPT_INTERVAL},
            {"every", required_argument, NULL, OPT_INTERVAL},
            {"restore", required_argument, NULL, OPT_RESTORE},
            {"type", required_argument, NULL, OPT_TYPE},
            {"cpu", required_argument, NULL, OPT_CPU},
            {"kernel", no_argument, NULL, OPT_KERNEL},
            {"pid", required_argument, NULL, OPT_PID},
            {"raw", no_argument, NULL, OPT_RAW},
            {"output", required_argument, NULL, 'o'},
            {"layout", required_argument, NULL, OPT_LAYOUT},
            {"no-cache", no_argument, NULL, OPT_NO_CACHE},
            {"on-alarm", required_argument, NULL, OPT_ON_ALARM},
            {"incidents", required_argument, NULL, OPT_INCIDENTS},
            {"no-capture", no_argument, NULL, OPT_NO_CAPTURE},
            {"metrics", required_argument, NULL, OPT_METRICS},
            {"shard", required_argument, NULL, OPT_SHARD},
            {"replicas", required_argument, NULL, OPT_REPLICAS},
            {"duration", required_argument, NULL, OPT_DURATION},
            {"hung-ms", required_argument, NULL, OPT_HUNG_MS},
            {"write", no_argument, NULL, 'w'},
            {"audit", required_argument, NULL, OPT_AUDIT},
            {"timeout", required_argument, NULL, 't'},
            {"rescan", no_argument, NULL, OPT_RESCAN},
            {"sleep-poll", no_argument, NULL, OPT_SLEEP},
            {"busy-poll", no_argument, NULL, OPT_BUSY},
            {"rc-only", no_argument, NULL, OPT_RC_ONLY},
            {"record", required_argument, NULL, OPT_RECORD},
            {"apply", no_argument, NULL, OPT_APPLY},
            {"plan", required_argument, NULL, OPT_PLAN},
            {"force", no_argument, NULL, OPT_FORCE},
            {"repair", required_argument, NULL, OPT_REPAIR},
            {"max-read", required_argument, NULL, OPT_MAX_READ},
            {"incident-rate", required_argument, NULL, OPT_INCIDENT_RATE},
            {"incident-quota", required_argument, NULL, OPT_INCIDENT_QUOTA},
            {"tcp", no_argument, NULL, OPT_TCP},
            {"udp", no_argument, NULL, OPT_UDP},
            {"images", required_argument, NULL, OPT_IMAGES},
            {"to", required_argument, NULL, OPT_TO},
            {"to-images", required_argument, NULL, OPT_TO_IMAGES},
            {"resurrect", required_argument, NULL, OPT_RESURRECT},
            {"format", required_argument, NULL, OPT_FORMAT},
            {"dump-level", required_argument, NULL, 'd'},
            {"resume", no_argument, NULL, OPT_RESUME},
            {"compress", required_argument, NULL, OPT_COMPRESS},
            {"store", required_argument, NULL, OPT_STORE},
            {"keep", required_argument, NULL, OPT_KEEP},
            {"store-size", required_argument, NULL, OPT_STORE_SIZE},
            {"pin", no_argument, NULL, OPT_PIN},
            {"quiet", no_argument, NULL, 'q'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, OPT_VERSION},
            {0},
        };
        int c, poll_set = 0, incident_set = 0;
        uint64_t num;
        while ((c = getopt_long(argc, argv, "c:s:k:jTfo:wt:qhd:", opts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        cli.config = optarg;
                        break;
                case 's':
                        cli.source = optarg;
                        break;
                case 'k':
                        cli.key = optarg;
                        break;
                case 'j':
                        cli.json = 1;
                        break;
                case 'T':
                        cli.threads = 1;
                        break;
                case 'f':
                        cli.follow = 1;
                        break;
                case OPT_INTERVAL:
                        if (cli_parse_ms(optarg, &num) || !num || num > 3600000)
                                return cli_usage_error("bad interval '%s' (milliseconds, or "
                                                       "50ms, 1s)",
                                                       optarg);
                        cli.interval_ms = num;
                        cli.interval_set = 1;
                        break;
                case OPT_RECORD:
                        cli.record = optarg;
                        break;
                case OPT_ON_ALARM:
                        cli.on_alarm = optarg;
                        break;
                case OPT_INCIDENTS:
                        cli.incidents = optarg;
                        break;
                case OPT_NO_CAPTURE:
                        cli.no_capture = 1;
                        break;
                case OPT_METRICS:
                        cli.metrics = optarg;
                        break;
                case OPT_SHARD:
                        cli.shard = optarg;
                        break;
                case OPT_REPLICAS:
                        if (cli_parse_number(optarg, &num, 0) || !num || num > BD_SHARD_MAX)
                                return cli_usage_error("bad --replicas '%s' (1 to 4096)", optarg);
                        cli.replicas = (unsigned)num;
                        break;
                case OPT_DURATION:
                        if (cli_parse_number(optarg, &num, 0) || !num || num > 100000000)
                                return cli_usage_error("bad duration '%s' (seconds)", optarg);
                        cli.duration_ms = num * 1000;
                        break;
                case OPT_HUNG_MS:
                        if (cli_parse_number(optarg, &num, 0) || !num || num > 86400000)
                                return cli_usage_error("bad --hung-ms '%s'", optarg);
                        cli.hung_ms = num;
                        break;
                case OPT_TYPE:
                        cli.type = optarg;
                        break;
                case OPT_CPU:
                        if (parse_long(optarg, BD_PROGRAM_MAX_CPUS - 1, &cli.cpu))
                                return cli_usage_error("bad cpu '%s'", optarg);
                        break;
                case OPT_KERNEL:
                        cli.kernel_addr = 1;
                        break;
                case OPT_PID:
                        if (parse_long(optarg, 0x3fffffff, &cli.pid))
                                return cli_usage_error("bad pid '%s'", optarg);
                        break;
                case OPT_RAW:
                        cli.raw = 1;
                        break;
                case 'o':
                        cli.output = optarg;
                        break;
                case OPT_FORMAT:
                        if (strcmp(optarg, "elf") && strcmp(optarg, "kdump"))
                                return cli_usage_error("bad format '%s' (elf or kdump)", optarg);
                        cli.format = optarg;
                        break;
                case OPT_RESUME:
                        cli.resume = 1;
                        break;
                case OPT_COMPRESS:
                        if (strcmp(optarg, "zlib") && strcmp(optarg, "zstd"))
                                return cli_usage_error("bad compression '%s' (zlib or zstd)",
                                                       optarg);
                        cli.compress = optarg;
                        break;
                case 'd':
                        if (parse_long(optarg, 31, &cli.dump_level))
                                return cli_usage_error("bad dump level '%s' (0 to 31)", optarg);
                        break;
                case OPT_LAYOUT:
                        cli.layout = optarg;
                        break;
                case OPT_NO_CACHE:
                        cli.no_cache = 1;
                        break;
                case 'w':
                        cli.write = 1;
                        break;
                case OPT_AUDIT:
                        cli.audit = optarg;
                        break;
                case OPT_APPLY:
                        cli.apply = 1;
                        break;
                case OPT_PLAN:
                        cli.plan = optarg;
                        break;
                case OPT_FORCE:
                        cli.force = 1;
                        break;
                case OPT_REPAIR:
                        cli.repair = optarg;
                        break;
                case OPT_MAX_READ:
                        if (cli_parse_number(optarg, &num, 1) || num < (64u << 10))
                                return cli_usage_error("bad --max-read '%s' (bytes, at least 64K)",
                                                       optarg);
                        cli.max_read = num;
                        break;
                case OPT_INCIDENT_RATE:
                        if (cli_parse_number(optarg, &num, 0) || !num ||
                            num > BD_INCIDENT_PER_MINUTE_MAX)
                                return cli_usage_error("bad --incident-rate '%s' (1 to 1000 a "
                                                       "minute)",
                                                       optarg);
                        cli.incident_rate = (unsigned)num;
                        incident_set = 1;
                        break;
                case OPT_INCIDENT_QUOTA:
                        if (cli_parse_number(optarg, &num, 1) || !num)
                                return cli_usage_error("bad --incident-quota '%s' (bytes)", optarg);
                        cli.incident_quota = num;
                        incident_set = 1;
                        break;
                case 't':
                        if (cli_parse_number(optarg, &num, 0) || !num || num > 600000)
                                return cli_usage_error("bad timeout '%s' (milliseconds)", optarg);
                        cli.open.timeout_ms = (int)num;
                        break;
                case OPT_RESCAN:
                        cli.rescan = 1;
                        break;
                case OPT_TCP:
                        cli.tcp = 1;
                        break;
                case OPT_UDP:
                        cli.udp = 1;
                        break;
                case OPT_IMAGES:
                        cli.images = optarg;
                        break;
                case OPT_TO:
                        cli.to = optarg;
                        break;
                case OPT_TO_IMAGES:
                        cli.to_images = optarg;
                        break;
                case OPT_RESURRECT:
                        if (parse_long(optarg, 0x3fffffff, &cli.resurrect))
                                return cli_usage_error("bad pid '%s'", optarg);
                        break;
                case OPT_STORE:
                        cli.store = optarg;
                        break;
                case OPT_KEEP:
                        if (cli_parse_number(optarg, &num, 0) || !num || num > 1000000)
                                return cli_usage_error("bad --keep '%s' (1 to 1000000 versions)",
                                                       optarg);
                        cli.keep = (unsigned)num;
                        break;
                case OPT_RESTORE:
                        cli.restore = optarg;
                        break;
                case OPT_PIN:
                        cli.pin = 1;
                        break;
                case OPT_STORE_SIZE:
                        if (cli_parse_number(optarg, &num, 1) || num < (1u << 20))
                                return cli_usage_error("bad --store-size '%s' (bytes, at least 1M)",
                                                       optarg);
                        cli.store_size = num;
                        break;
                case OPT_SLEEP:
                        cli.open.busy_poll = 0;
                        poll_set = 1;
                        break;
                case OPT_BUSY:
                        cli.open.busy_poll = 1;
                        poll_set = 1;
                        break;
                case OPT_RC_ONLY:
                        cli.open.rc_only = 1;
                        break;
                case 'q':
                        cli.quiet = 1;
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                case OPT_VERSION:
                        puts("bdmon " BD_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'bdmon --help'.\n");
                        return BD_ERR_USAGE;
                }
        }
        if (optind >= argc)
                return cli_usage_error("%s", "no command given");
        char name[64];
        snprintf(name, sizeof(name), "%s", argv[optind++]);
        if (!strcmp(name, "layouts")) {
                if (optind >= argc ||
                    (strcmp(argv[optind], "check") && strcmp(argv[optind], "export")))
                        return cli_usage_error("%s", "'layouts' needs 'check' or 'export'");
                snprintf(name, sizeof(name), "layouts %s", argv[optind++]);
        }
        if (cli.to_images && !cli.to)
                return cli_usage_error("%s", "--to-images needs --to");
        if (cli.resurrect >= 0 && strcmp(name, "watch"))
                return cli_usage_error("--resurrect is for watch, not '%s'", name);
        const struct cli_command *cmd = NULL;
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (!strcmp(name, commands[i].name))
                        cmd = &commands[i];
        if (!cmd)
                return cli_usage_error("unknown command '%s'", name);
        cli.open.write_enabled = cli.write;
        if (!strcmp(name, "watch")) {
                bd_incident_set_limits(&(struct bd_incident_limits){.per_minute = cli.incident_rate,
                                                                    .quota = cli.incident_quota});
                if (cli.write && !cli.repair)
                        return cli_usage_error("%s", "watch writes only to repair: --write needs "
                                                     "--repair POLICY");
                if (cli.resurrect < 0 && (cli.images || cli.to))
                        return cli_usage_error("%s", "watch: --images and --to go with --resurrect "
                                                     "PID");
                if (cli.resurrect >= 0 && !cli.images)
                        return cli_usage_error("%s", "watch --resurrect needs --images DIR");
                if (cli.resurrect >= 0 && (cli.shard || argc - optind != !cli.source))
                        return cli_usage_error("%s", "watch --resurrect PID watches one TARGET, "
                                                     "the one PID runs on");
                struct bd_error *err = cli.repair ? bd_audit_open(cli.audit) : NULL;
                if (err)
                        return cli_report(err);
                if (!poll_set)
                        cli.open.busy_poll = 0;
                if (cli.source && cli.shard)
                        return cli_usage_error("%s", "watch: --shard splits the config's targets, "
                                                     "not --source");
                if (cli.source)
                        return optind == argc ? cmd_watch(&cli, (char **)&cli.source, 1)
                                              : cli_usage_error("%s", "watch: --source or "
                                                                      "TARGETs, not both");
                if (optind == argc && !cli.shard)
                        return cli_usage_error("%s", "watch needs at least one TARGET (or --shard "
                                                     "I/N: its share of the config's)");
                signal(SIGPIPE, SIG_IGN);
                if (!poll_set)
                        cli.open.busy_poll = 0;
                return cmd_watch(&cli, argv + optind, argc - optind);
        }
        if (cli.repair)
                return cli_usage_error("--repair is for watch, not '%s'", name);
        if (cli.shard || cli.replicas)
                return cli_usage_error("--shard and --replicas are for watch, not '%s'", name);
        if (incident_set)
                return cli_usage_error("--incident-rate and --incident-quota are for watch, not "
                                       "'%s'",
                                       name);
        if ((cli.store || cli.keep || cli.store_size || cli.pin) && strcmp(name, "checkpoint"))
                return cli_usage_error("--store, --keep, --store-size and --pin are for "
                                       "checkpoint, not '%s'",
                                       name);
        if (cli.pin && !cli.write)
                return cli_usage_error("%s", "checkpoint --pin writes the process's memory: it "
                                             "needs --write");
        if (cli.restore && strcmp(name, "checkpoint"))
                return cli_usage_error("--restore is for checkpoint, not '%s'", name);
        if (cli.restore) {
                /* The host that ran the service may be gone: no TARGET,
                 * no PID, the store's version as checkpoints takes it. */
                if (argc > optind)
                        return cli_usage_error("checkpoint --restore takes no TARGET or PID, "
                                               "not '%s'",
                                               argv[optind]);
                if (!cli.store || cli.images || cli.pin)
                        return cli_usage_error("%s", "checkpoint --restore VERSION needs --store "
                                                     "DIR (and takes -o, --to, --to-images)");
                char *a[2] = {(char *)cli.store, (char *)cli.restore};
                return cmd_checkpoints(&cli, NULL, a, 2);
        }
        if (!strcmp(name, "checkpoint")) {
                if (!cli.interval_set)
                        cli.interval_ms = 50;
                if (!cli.keep)
                        cli.keep = 1000;
                if (!cli.store_size)
                        cli.store_size = 1ull << 30;
        }
        if (cmd->nargs == -1) {
                if (cli.images || (cli.to && strcmp(name, "checkpoints")))
                        return cli_usage_error("--images and --to are not for '%s'", name);
                if (argc - optind > cmd->more_args)
                        return cli_usage_error("too many arguments, from '%s'",
                                               argv[optind + cmd->more_args]);
                return cmd->run(&cli, NULL, argv + optind, argc - optind);
        }
        int want = cmd->nargs + (cli.source ? 0 : 1);
        if (argc - optind < want || argc - optind > want + cmd->more_args) {
                fprintf(stderr,
                        "bdmon: '%s' takes %s%d%s argument%s, not %d\nTry 'bdmon --help'.\n", name,
                        cli.source ? "(with --source) " : "", want,
                        cmd->more_args ? " or more" : "", want == 1 ? "" : "s", argc - optind);
                return BD_ERR_USAGE;
        }
        if (cli.follow && strcmp(name, "dmesg"))
                return cli_usage_error("--follow is for dmesg, not '%s'", name);
        if ((cli.tcp || cli.udp) && strcmp(name, "net"))
                return cli_usage_error("--tcp and --udp are for net, not '%s'", name);
        const char *target = cli.source ? cli.source : argv[optind++];
        char **args = argv + optind;
        cli.open.write_enabled = cli.write;
        if ((cli.apply || cli.plan) && strcmp(name, "repair"))
                return cli_usage_error("--apply and --plan are for repair, not '%s'", name);
        if (cli.force && strcmp(name, "repair") && strcmp(name, "resurrect"))
                return cli_usage_error("--force is for repair and resurrect, not '%s'", name);
        if ((cli.images || cli.to) && strcmp(name, "resurrect"))
                return cli_usage_error("--images and --to are for resurrect, not '%s'", name);
        if (!strcmp(name, "repair") && cli.apply && !cli.write)
                return cli_report(bd_error_new(BD_ERR_READONLY,
                                               "the monitor is read-only; 'repair --apply' "
                                               "needs --write"));
        if (!strcmp(name, "cas") || (!strcmp(name, "repair") && cli.apply) || cli.pin) {
                if (!cli.write)
                        return cli_report(bd_error_new(BD_ERR_READONLY,
                                                       "the monitor is read-only; 'cas' needs "
                                                       "--write"));
                struct bd_error *err = bd_audit_open(cli.audit);
                if (err)
                        return cli_report(err);
        }
        signal(SIGPIPE, SIG_IGN);

        struct bd_target t;
        struct bd_phys *p;
        struct bd_error *err = bd_target_resolve(cli.config, target, cli.key, &t);
        if (!err) {
                cli_set_target(t.name);
                err = bd_target_open(&t, &cli.open, &p);
        }
        if (err)
                return cli_report(err);
        int rc = cmd->run(&cli, p, args, argc - optind);
        bd_phys_close(p);
        bd_audit_close();
        return rc;
}
