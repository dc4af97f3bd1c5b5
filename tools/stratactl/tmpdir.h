/* stratactl: the process's private scratch directory (where inspect rebuilds heads), removed at
 * exit and also when the process is stopped by SIGINT, SIGTERM or SIGHUP (the handler removes it
 * with async-signal-safe calls only, then re-raises the signal). SIGPIPE is ignored so that a
 * closed pipe shows up as a write error (EPIPE) instead of killing the process mid-way.
 * One directory per process; not thread-safe. */
#ifndef STRATA_TOOLS_STRATACTL_TMPDIR_H
#define STRATA_TOOLS_STRATACTL_TMPDIR_H

/* Creates <parent>/stratactl-XXXXXX and installs the handlers. Returns its path (owned by this
 * module) or NULL with errno set. */
const char *ctl_tmpdir_create(const char *parent);
/* Removes the directory and everything under it (no-op when none). */
void ctl_tmpdir_remove(void);

#endif
