/* Test tool: dumps every series and sample that a STOPPED strata's data directory holds, by opening
 * each shard's TSDB exactly as the server does (blocks, head chunk files, WAL replay) and reading
 * it through the querier. The integration tests compare this with what clients were told was
 * written. It is not a production path: strata has no query API yet.
 *
 * usage: tsdb_dump DATA_DIR [MINT_MS MAXT_MS]
 * Output, one JSON object per line:
 *   {"shard":0,"labels":{"__name__":"up",...},"t":[ms,...],"v":["7ff0000000000002",...]}
 * values as the float64's exact bits in hex; then {"series":N,"samples":M} last.
 * Opening replays the WAL and starts a new segment, like a server start (so the data directory
 * changes; run it only on a directory no strata is using). Exit status 0, or 1 on errors. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "engine/io/loop.h"
#include "engine/tsdb/querier.h"
#include "engine/tsdb/tsdb.h"

static void put_json_str(struct str s)
{
    putchar('"');
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static int dump_series(uint32_t shard, const struct chunk_series *cs, int64_t mint, int64_t maxt,
                       uint64_t *samples)
{
    printf("{\"shard\":%u,\"labels\":{", shard);
    for (size_t i = 0; i < cs->n_labels; i++) {
        if (i)
            putchar(',');
        put_json_str(cs->labels[i].name);
        putchar(':');
        put_json_str(cs->labels[i].value);
    }
    struct querier_sample_iter it;
    querier_sample_iter_init(&it, cs);
    struct buf vs = BUF_INIT;
    printf("},\"t\":[");
    int rc, n = 0;
    while ((rc = querier_sample_iter_next(&it)) == 1) {
        int64_t t;
        uint64_t v;
        querier_sample_iter_at(&it, &t, &v);
        if (t < mint || t > maxt)
            continue;
        printf("%s%" PRId64, n ? "," : "", t);
        buf_printf(&vs, "%s\"%016" PRIx64 "\"", n ? "," : "", v);
        n++;
    }
    querier_sample_iter_deinit(&it);
    printf("],\"v\":[%.*s]}\n", (int)vs.len, (const char *)vs.data);
    buf_deinit(&vs);
    *samples += (uint64_t)n;
    return rc;
}

static int dump_shard(const char *dir, uint32_t shard, int64_t mint, int64_t maxt, uint64_t *series,
                      uint64_t *samples)
{
    struct loop loop;
    int rc = loop_init(&loop, NULL);
    if (rc)
        return rc;
    struct tsdb *t;
    if ((rc = tsdb_open(dir, NULL, &loop, &t))) {
        loop_deinit(&loop);
        return rc;
    }
    struct matcher m;
    char err[128];
    rc = matcher_init(&m, MATCHER_RE, STR_LIT("__name__"), STR_LIT(".+"), err, sizeof err);
    struct chunk_series_set *set = NULL;
    if (!rc)
        rc = querier_select(t, &m, 1, mint, maxt, NULL, &set);
    while (!rc && (rc = chunk_series_set_next(set)) == 1) {
        rc = dump_series(shard, chunk_series_set_at(set), mint, maxt, samples);
        (*series)++;
    }
    chunk_series_set_close(set);
    matcher_deinit(&m);
    tsdb_close(t);
    loop_deinit(&loop);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 4) {
        fprintf(stderr, "usage: tsdb_dump DATA_DIR [MINT_MS MAXT_MS]\n");
        return 2;
    }
    int64_t mint = argc == 4 ? strtoll(argv[2], NULL, 10) : INT64_MIN;
    int64_t maxt = argc == 4 ? strtoll(argv[3], NULL, 10) : INT64_MAX;
    log_level_set(LOG_WARN);
    uint64_t series = 0, samples = 0;
    for (uint32_t shard = 0; shard < 256; shard++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/shard-%03u", argv[1], shard);
        DIR *d = opendir(dir);
        if (!d)
            break;
        closedir(d);
        int rc = dump_shard(dir, shard, mint, maxt, &series, &samples);
        if (rc < 0) {
            fprintf(stderr, "tsdb_dump: %s: %s\n", dir, err_str(rc));
            return 1;
        }
    }
    printf("{\"series\":%" PRIu64 ",\"samples\":%" PRIu64 "}\n", series, samples);
    return 0;
}
