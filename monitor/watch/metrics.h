/* bdmon watch's Prometheus endpoint: GET /metrics on a TCP listener, in
 * the text exposition format, served by the watch's main thread from the
 * summaries the targets' threads publish: a scrape, however slow its
 * client, never holds up a probe. */
#ifndef BD_METRICS_H
#define BD_METRICS_H

#include <stddef.h>
#include <stdio.h>

#include "../../common/error.h"
#include "watch.h"

/* Listen on HOST:PORT (IPv4 dotted quad or "localhost"; port 0 picks
 * one); *fd is non-blocking. *port receives the bound port. */
struct bd_error *bd_metrics_listen(const char *hostport, int *fd, int *port);
/* Answer every scrape waiting on fd. */
void bd_metrics_serve(int fd, const struct bd_watcher_summary *w, size_t n);
/* The exposition text itself. */
void bd_metrics_write(FILE *f, const struct bd_watcher_summary *w, size_t n);

#endif
