/* err_str: names for our codes, strerror for -errno. */
#include "base/error.h"

#include <string.h>

const char *err_str(int err)
{
    switch (err) {
    case ERR_OK: return "ok";
    case ERR_CORRUPT: return "corrupt data";
    case ERR_TRUNCATED: return "truncated data";
    case ERR_NOMEM: return "out of memory";
    case ERR_INVALID: return "invalid input";
    case ERR_LIMIT: return "limit exceeded";
    case ERR_NOT_FOUND: return "not found";
    case ERR_FULL: return "full";
    case ERR_EMPTY: return "empty";
    case ERR_UNSUPPORTED: return "unsupported";
    case ERR_RANGE: return "out of range";
    case ERR_ORDER: return "out of order";
    case ERR_DUPLICATE: return "duplicate with different value";
    case ERR_CLOSED: return "closed";
    default: break;
    }
    if (err < 0 && err > -4096)
        return strerrordesc_np(-err) ? strerrordesc_np(-err) : "unknown errno";
    return "unknown error";
}
