/* Monotonic nanoseconds, for deadlines and measurements; wall-clock
 * nanoseconds since the epoch, for what people and files read. */
#ifndef BD_CLOCK_H
#define BD_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t bd_now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t bd_wall_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
