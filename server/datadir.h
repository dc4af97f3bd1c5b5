/* The data directory: created if missing, and locked with flock(2) on <dir>/LOCK so that a second
 * strata on the same directory refuses to start. The lock lives as long as the returned fd (the
 * kernel drops it when the process exits, even on a crash). LOCK holds the owner's pid for the
 * error message.
 *
 * Errors: -errno (-EWOULDBLOCK when another process holds the lock); err[] explains. */
#ifndef STRATA_SERVER_DATADIR_H
#define STRATA_SERVER_DATADIR_H

#include <stddef.h>

/* Returns the lock fd (keep it open while serving) or a negative error. */
int datadir_open_locked(const char *path, char *err, size_t err_size);

#endif
