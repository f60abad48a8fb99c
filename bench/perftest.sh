# Sourced by the bench scripts, which define nic and mon (commands on
# host2-nic and mon).
#
# perftest calibrates the CPU clock by sampling it and gives up ("Can't
# produce a report") when the fit is poor, which TCG's jitter sometimes
# causes: try a few times. Prints the result row, or nothing. FLAGS
# (default -R: connected by rdma_cm) go to both ends; librdmacm has no UC,
# so "-c UC" is connected through perftest's own TCP exchange, on the lab's
# network. A client that hangs (seen with -c RC -e: an event lost under
# emulation) is stopped after PERFTEST_TIMEOUT seconds rather than the
# lab's ten minutes, and tried again like one that gave no report.
perftest() { # perftest TOOL SIZE ITERS [FLAGS]
        local row i flags=${4:--R}
        for i in 1 2 3; do
                nic "$1 $flags -s $2 -n $3 >/tmp/$1.srv 2>&1 &"
                sleep 2
                row=$(mon "timeout ${PERFTEST_TIMEOUT:-120} $1 $flags -s $2 -n $3 10.99.0.3 2>/dev/null" | awk -v s="$2" '$1 == s {print; exit}')
                [ -n "$row" ] && { echo "$row"; return; }
                nic "kill \$(pidof $1) 2>/dev/null; true"
                echo "bench: $1 gave no report (attempt $i), retrying" >&2
        done
}
