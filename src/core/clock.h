/* Time helpers: a monotonic clock for durations and the wall clock for log stamps. */
#ifndef SG_CORE_CLOCK_H
#define SG_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Microseconds on the monotonic clock (for durations only). */
uint64_t sg_clock_us(void);
/* Writes the current UTC time as "2026-11-26T10:00:00.123Z" into `out` (>= 25 bytes). */
void sg_clock_iso8601(char *out, size_t n);
/* Seconds since the Unix epoch. */
int64_t sg_clock_unix(void);

#endif
