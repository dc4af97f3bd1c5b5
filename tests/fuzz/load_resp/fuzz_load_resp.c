/* Fuzz target: strata-load's incremental HTTP response parser (tools/strata-load/http.h).
 * The input is a byte stream of responses on one keep-alive connection. It is parsed twice,
 * once fed in the largest pieces the parser accepts and once a byte at a time (the way a slow
 * network delivers it), and both runs must agree on every response (status, body size, Retry-After,
 * samples written, bytes consumed) and on the final error. Bad bytes must give an error, never a
 * crash, a hang or an out-of-bounds read. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "tools/strata-load/http.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RESPONSES 64

struct outcome {
    int n;
    int status[MAX_RESPONSES];
    uint64_t body[MAX_RESPONSES], bytes[MAX_RESPONSES];
    int64_t retry[MAX_RESPONSES], written[MAX_RESPONSES];
    int err; /* the first negative return, or ld_resp_eof's result */
};

/* Feeds data in pieces of at most `step` new bytes (the parser may need more before it
 * consumes anything: the caller keeps unconsumed bytes, as strata-load's client does). */
static void run(const uint8_t *data, size_t size, size_t step, struct outcome *o)
{
    struct ld_resp r;
    ld_resp_init(&r);
    memset(o, 0, sizeof *o);
    size_t pos = 0, avail = 0; /* data[pos, avail) is received and not yet consumed */
    bool closed = false;
    for (;;) {
        if (r.state == LD_RS_DONE) {
            if (o->n < MAX_RESPONSES) {
                o->status[o->n] = r.status;
                o->body[o->n] = r.body_bytes;
                o->bytes[o->n] = r.bytes;
                o->retry[o->n] = r.retry_after_s;
                o->written[o->n] = r.samples_written;
            }
            o->n++;
            ASSERT(r.status >= 100 && r.status <= 999);
            ld_resp_init(&r);
            continue;
        }
        long used = ld_resp_feed(&r, data + pos, avail - pos);
        if (used < 0) {
            o->err = (int)used;
            return;
        }
        ASSERT((size_t)used <= avail - pos);
        pos += (size_t)used;
        if (used > 0 || r.state == LD_RS_DONE)
            continue;
        if (avail == size) { /* the peer closed */
            if (closed)
                return;
            closed = true;
            o->err = ld_resp_eof(&r);
            if (o->err == 0 && r.state == LD_RS_DONE)
                continue;
            return;
        }
        avail = avail + step < size ? avail + step : size;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    static struct outcome whole, bytewise;
    run(data, size, size ? size : 1, &whole);
    run(data, size, 1, &bytewise);
    ASSERT(whole.n == bytewise.n);
    ASSERT((whole.err < 0) == (bytewise.err < 0));
    for (int i = 0; i < whole.n && i < MAX_RESPONSES; i++) {
        ASSERT(whole.status[i] == bytewise.status[i]);
        ASSERT(whole.body[i] == bytewise.body[i]);
        ASSERT(whole.bytes[i] == bytewise.bytes[i]);
        ASSERT(whole.retry[i] == bytewise.retry[i]);
        ASSERT(whole.written[i] == bytewise.written[i]);
    }
    return 0;
}
