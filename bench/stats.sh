# Sourced by the bench scripts that time repeated runs.
#
# stats MS...: "n median p99 min max" of the figures given, with "-" for
# each figure when there are none (p99 is the nearest rank).
stats() {
        printf '%s\n' "$@" | sort -n | awk 'NF { v[++n] = $1 } END {
                if (!n) { print "0 - - - -"; exit }
                p = int(n * 0.99 + 0.999); if (p > n) p = n
                printf "%d %s %s %s %s", n, v[int((n + 1) / 2)], v[p], v[1], v[n] }'
}
# json_num X: X as a JSON number, or null when it is none ("-", empty).
json_num() {
        if [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then echo "$1"; else echo null; fi
}
# stats_json N MEDIAN P99 MIN MAX (a stats line): its fields as JSON
# members, for an object the caller opens and closes.
stats_json() {
        printf '"n":%s,"median_ms":%s,"p99_ms":%s,"min_ms":%s,"max_ms":%s' \
                "$1" "$(json_num "$2")" "$(json_num "$3")" "$(json_num "$4")" "$(json_num "$5")"
}
# ... | median: the median of the numbers on standard input (separated by
# spaces or lines; the lower middle of an even count), "n/a" for none.
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "n/a" }'; }
