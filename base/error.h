/* Error codes. An operating error is a negative int: either -errno (from the OS) or one of ours
 * below, which sit beneath -4096 so they never collide with errno values. 0 is success. */
#ifndef STRATA_BASE_ERROR_H
#define STRATA_BASE_ERROR_H

enum {
    ERR_OK = 0,
    ERR_BASE = -10000,
    ERR_CORRUPT = ERR_BASE - 1,     /* bytes fail a checksum or structural check */
    ERR_TRUNCATED = ERR_BASE - 2,   /* input ends before a complete item */
    ERR_NOMEM = ERR_BASE - 3,       /* allocation failed */
    ERR_INVALID = ERR_BASE - 4,     /* well-formed but semantically invalid input */
    ERR_LIMIT = ERR_BASE - 5,       /* a configured limit was exceeded */
    ERR_NOT_FOUND = ERR_BASE - 6,   /* looked-up item does not exist */
    ERR_FULL = ERR_BASE - 7,        /* bounded container is full (backpressure) */
    ERR_EMPTY = ERR_BASE - 8,       /* nothing to take */
    ERR_UNSUPPORTED = ERR_BASE - 9, /* valid but not supported (version, encoding, type) */
    ERR_RANGE = ERR_BASE - 10,      /* value or time out of the accepted range */
    ERR_ORDER = ERR_BASE - 11,      /* out of order (e.g. appending an older timestamp) */
    ERR_DUPLICATE = ERR_BASE - 12,  /* same key already present with a different value */
    ERR_CLOSED = ERR_BASE - 13,     /* object is closed/sealed */
    ERR_LAST_ = ERR_BASE - 14,
};

/* A static, human-readable string for any code: ours, -errno, or 0. Never NULL. */
const char *err_str(int err);

#endif
