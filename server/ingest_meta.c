/* Remote-write metadata kept per shard in memory: metric family -> type, help, unit (newest wins),
 * bounded by ingest_config.metadata_max (see ingest.h). */
#include <stdlib.h>
#include <string.h>

#include "server/ingest_internal.h"

#define META_TEXT_MAX 4096 /* longer help or unit texts are not kept */

struct ingest_meta_entry {
    uint8_t type;
    uint32_t family_len, help_len, unit_len;
    char data[]; /* family, help, unit */
};

void ingest_meta_init(struct ingest_shard *s)
{
    strmap_init(&s->metadata);
}

void ingest_meta_deinit(struct ingest_shard *s)
{
    const struct strmap_slot *slot;
    for (size_t i = 0; strmap_next(&s->metadata, &i, &slot);)
        free(slot->value);
    strmap_deinit(&s->metadata);
}

/* memcmp/memcpy that accept NULL with length 0 (empty protobuf strings have no bytes). */
static bool eq(const char *a, struct str b)
{
    return b.len == 0 || memcmp(a, b.ptr, b.len) == 0;
}

static void put(char *dst, struct str src)
{
    if (src.len)
        memcpy(dst, src.ptr, src.len);
}

static bool same(const struct ingest_meta_entry *e, uint8_t type, struct str help, struct str unit)
{
    return e->type == type && e->help_len == help.len && e->unit_len == unit.len &&
           eq(e->data + e->family_len, help) && eq(e->data + e->family_len + help.len, unit);
}

void ingest_meta_put(struct ingest_shard *s, struct str family, uint8_t type, struct str help,
                     struct str unit)
{
    metric_add(&s->stats.metadata_received, 1);
    struct ingest_meta_entry *old = strmap_get(&s->metadata, family);
    if (old && same(old, type, help, unit))
        return;
    if (family.len == 0 || family.len > META_TEXT_MAX || help.len > META_TEXT_MAX ||
        unit.len > META_TEXT_MAX || (!old && strmap_len(&s->metadata) >= s->cfg.metadata_max)) {
        metric_add(&s->stats.metadata_dropped, 1);
        return;
    }
    struct ingest_meta_entry *e = malloc(sizeof *e + family.len + help.len + unit.len);
    if (!e) {
        metric_add(&s->stats.metadata_dropped, 1);
        return;
    }
    e->type = type;
    e->family_len = (uint32_t)family.len;
    e->help_len = (uint32_t)help.len;
    e->unit_len = (uint32_t)unit.len;
    put(e->data, family);
    put(e->data + family.len, help);
    put(e->data + family.len + help.len, unit);
    if (old)
        strmap_remove(&s->metadata, family); /* the map borrows the old entry's key bytes */
    if (strmap_put(&s->metadata, (struct str){e->data, family.len}, e)) {
        free(e);
        metric_add(&s->stats.metadata_dropped, 1);
    }
    free(old);
}

bool ingest_metadata_get(const struct ingest_shard *s, struct str family,
                         struct ingest_metadata *out)
{
    const struct ingest_meta_entry *e = strmap_get(&s->metadata, family);
    if (!e)
        return false;
    out->type = e->type;
    out->help = (struct str){e->data + e->family_len, e->help_len};
    out->unit = (struct str){e->data + e->family_len + e->help_len, e->unit_len};
    return true;
}

size_t ingest_metadata_count(const struct ingest_shard *s)
{
    return strmap_len(&s->metadata);
}
