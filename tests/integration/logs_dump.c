/* Test tool: dumps every log entry that a STOPPED strata's data directory holds, by opening each
 * shard's log store exactly as the server does (blocks, WAL replay) and selecting every stream
 * (`__tenant__=~".+"`) oldest first. The Loki push integration tests compare this with what clients
 * were told was stored.
 *
 * usage: logs_dump DATA_DIR
 * Output, one JSON object per line:
 *   {"shard":0,"labels":{"__tenant__":"anonymous","job":"a"},"ts":"1700000000000000000",
 *    "line":"...","md":{"trace_id":"abc"}}
 * (md in the stored order; strings JSON-escaped, bytes >= 0x80 passed through), then
 * {"entries":N,"streams":M} last. Opening replays the WAL and starts a new segment, like a server
 * start (so the data directory changes; run it only on a directory no strata is using). Exit
 * status 0, or 1 on errors. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "engine/io/loop.h"
#include "engine/logs/logstore.h"

static void put_json_str(struct str s)
{
    putchar('"');
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void put_labels(const struct label *ls, size_t n)
{
    putchar('{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            putchar(',');
        put_json_str(ls[i].name);
        putchar(':');
        put_json_str(ls[i].value);
    }
    putchar('}');
}

static int dump_shard(const char *dir, uint32_t shard, uint64_t *entries, uint64_t *streams)
{
    struct loop loop;
    int rc = loop_init(&loop, NULL);
    if (rc)
        return rc;
    struct logstore *ls;
    if ((rc = logstore_open(dir, NULL, &loop, &ls))) {
        loop_deinit(&loop);
        return rc == -ENOENT ? 0 : rc;
    }
    struct matcher m;
    char err[128];
    rc = matcher_init(&m, MATCHER_RE, STR_LIT("__tenant__"), STR_LIT(".+"), err, sizeof err);
    struct logstore_iter *it = NULL;
    if (!rc)
        rc = logstore_select(ls, &m, 1, INT64_MIN, INT64_MAX, LOGSTORE_FORWARD, NULL, &it);
    uint32_t max_stream = 0;
    bool any = false;
    while (!rc && (rc = logstore_iter_next(it)) == 1) {
        const struct logstore_entry *e = logstore_iter_at(it);
        printf("{\"shard\":%u,\"labels\":", shard);
        put_labels(e->labels, e->n_labels);
        printf(",\"ts\":\"%" PRId64 "\",\"line\":", e->ts_ns);
        put_json_str(e->line);
        printf(",\"md\":");
        put_labels(e->md, e->n_md);
        printf("}\n");
        (*entries)++;
        if (!any || e->stream + 1 > max_stream)
            max_stream = e->stream + 1;
        any = true;
        rc = 0;
    }
    *streams += max_stream;
    if (it)
        logstore_iter_close(it);
    matcher_deinit(&m);
    logstore_close(ls);
    loop_deinit(&loop);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: logs_dump DATA_DIR\n");
        return 2;
    }
    log_level_set(LOG_WARN);
    uint64_t entries = 0, streams = 0;
    for (uint32_t shard = 0; shard < 256; shard++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/shard-%03u", argv[1], shard);
        DIR *d = opendir(dir);
        if (!d)
            break;
        closedir(d);
        snprintf(dir, sizeof dir, "%s/shard-%03u/logs", argv[1], shard);
        int rc = dump_shard(dir, shard, &entries, &streams);
        if (rc < 0) {
            fprintf(stderr, "logs_dump: %s: %s\n", dir, err_str(rc));
            return 1;
        }
    }
    printf("{\"entries\":%" PRIu64 ",\"streams\":%" PRIu64 "}\n", entries, streams);
    return 0;
}
