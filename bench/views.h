/* The kernel-view part of bdbench. */
#ifndef BD_BENCH_VIEWS_H
#define BD_BENCH_VIEWS_H

#include "../monitor/source/phys.h"

/* Prints one JSON object; returns an exit code. */
int bench_views(struct bd_phys *p);

#endif
