/* Fuzz target for formats/jsonr.h: walks every token (strict and JSONR_OPT_TRAILING), decodes every
 * string (length within jsonr_unescape_max, equal under jsonr_str_eq) and number; on a valid
 * document re-writes it through formats/jsonw and checks the result reads back to the same bytes,
 * that jsonr_skip spans exactly the document and fails the same way on invalid ones, and that
 * jsonr_find_path reaches the first occurrence of the paths of up to 8 scalars; flattens it like
 * `| json`; and parses the input as a Loki json path. */
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/error.h"
#include "formats/jsonr.h"
#include "formats/jsonw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PATHS_MAX 8
#define SEGS_MAX  24
#define KEYS_MAX  256

struct seg {
    bool is_index;
    int64_t index;
    size_t key_off, key_len; /* decoded key in keys */
};

struct walk {
    struct seg stack[JSONR_DEPTH_MAX + 1];
    int64_t next_index[JSONR_DEPTH_MAX + 1]; /* next element index of an open array, -1: object */
    uint32_t depth;
    struct buf keys;
    /* recorded scalar paths */
    struct seg paths[PATHS_MAX][SEGS_MAX];
    size_t path_len[PATHS_MAX], value_off[PATHS_MAX];
    int value_tok[PATHS_MAX];
    size_t n_paths;
    size_t tokens;
    /* keys per object, to know whether a path may resolve to an earlier duplicate */
    struct {
        size_t obj, off, len;
    } key_list[KEYS_MAX];
    size_t n_keys, n_objs, obj_id[JSONR_DEPTH_MAX + 1];
    bool many_keys;
};

static struct buf scratch, out1, out2, name_s, value_s;
static struct walk W, again;

static void check_string(const struct jsonr *r)
{
    struct str s = jsonr_text(r);
    unsigned f = jsonr_flags(r);
    buf_reset(&scratch);
    ASSERT(jsonr_unescape_buf(s, &scratch) == 0);
    ASSERT(scratch.len <= jsonr_unescape_max(s, f));
    if (!(f & (JSONR_STR_ESCAPED | JSONR_STR_BADUTF8)))
        ASSERT(scratch.len == s.len && (s.len == 0 || memcmp(scratch.data, s.ptr, s.len) == 0));
    ASSERT(jsonr_str_eq(s, f, (struct str){(const char *)scratch.data, scratch.len}));
    char small[8];
    size_t len;
    int rc = jsonr_unescape(s, small, sizeof small, &len);
    ASSERT(rc == 0 || rc == ERR_FULL);
    ASSERT(rc != 0 || (len == scratch.len && (len == 0 || memcmp(small, scratch.data, len) == 0)));
}

static void check_number(const struct jsonr *r)
{
    struct str s = jsonr_text(r);
    int64_t i;
    double d;
    int rc = jsonr_int64(s, &i);
    if (jsonr_flags(r) & (JSONR_NUM_FRAC | JSONR_NUM_EXP))
        ASSERT(rc == ERR_INVALID);
    else
        ASSERT(rc == 0 || rc == ERR_RANGE);
    rc = jsonr_double(s, &d);
    ASSERT(rc == 0 || rc == ERR_RANGE);
}

/* Keeps the path of the current value; records it for scalars. */
static void note_value(struct walk *w, const struct jsonr *r, int t)
{
    if (w->depth > 0 && w->next_index[w->depth] >= 0) { /* array element */
        w->stack[w->depth] = (struct seg){true, w->next_index[w->depth]++, 0, 0};
    }
    bool scalar = t >= JSONR_STRING;
    if (scalar && w->n_paths < PATHS_MAX && w->depth <= SEGS_MAX) {
        size_t k = w->n_paths++;
        for (uint32_t d = 1; d <= w->depth; d++)
            w->paths[k][d - 1] = w->stack[d];
        w->path_len[k] = w->depth;
        const char *v = jsonr_text(r).ptr;
        w->value_off[k] = (size_t)((const uint8_t *)v - r->begin) - (t == JSONR_STRING);
        w->value_tok[k] = t;
    }
    if (t == JSONR_OBJ_BEGIN || t == JSONR_ARR_BEGIN) {
        w->depth++;
        w->obj_id[w->depth] = w->n_objs++;
        w->next_index[w->depth] = t == JSONR_ARR_BEGIN ? 0 : -1;
    }
}

static int walk(const uint8_t *data, size_t size, unsigned opts, struct walk *w)
{
    struct jsonr r;
    jsonr_init(&r, data, size, opts);
    int t;
    while ((t = jsonr_next(&r)) > 0) {
        if (!w)
            continue;
        w->tokens++;
        switch (t) {
        case JSONR_KEY: {
            check_string(&r);
            size_t off = w->keys.len;
            ASSERT(buf_append(&w->keys, scratch.data, scratch.len) == 0);
            w->stack[w->depth] = (struct seg){false, 0, off, scratch.len};
            if (w->n_keys < KEYS_MAX)
                w->key_list[w->n_keys++] =
                    (typeof(w->key_list[0])){w->obj_id[w->depth], off, scratch.len};
            else
                w->many_keys = true;
            break;
        }
        case JSONR_OBJ_END:
        case JSONR_ARR_END: w->depth--; break;
        case JSONR_STRING: check_string(&r); /* fallthrough */
        default:
            if (t == JSONR_NUMBER)
                check_number(&r);
            note_value(w, &r, t);
        }
        ASSERT(w->depth == jsonr_depth(&r));
    }
    if (t < 0) {
        ASSERT(t == ERR_CORRUPT || t == ERR_TRUNCATED || t == ERR_LIMIT);
        ASSERT(jsonr_err_offset(&r) <= size);
        char msg[128];
        ASSERT(jsonr_err_msg(&r, msg, sizeof msg)[0] != 0);
        ASSERT(jsonr_next(&r) == t);
    }
    return t < 0 ? t : (int)jsonr_offset(&r);
}

static int rewrite(const uint8_t *in, size_t n, struct buf *out)
{
    struct jsonr r;
    struct jsonw w;
    jsonr_init(&r, in, n, 0);
    jsonw_init(&w, out);
    int t, depth = 0;
    while ((t = jsonr_next(&r)) > 0) {
        struct str s = jsonr_text(&r);
        if ((t == JSONR_OBJ_BEGIN || t == JSONR_ARR_BEGIN) && depth + 2 > JSONW_DEPTH_MAX)
            return -1; /* deeper than the writer allows */
        if (t == JSONR_KEY || t == JSONR_STRING) {
            buf_reset(&scratch);
            ASSERT(jsonr_unescape_buf(s, &scratch) == 0);
        }
        switch (t) {
        case JSONR_OBJ_BEGIN: jsonw_obj_begin(&w), depth++; break;
        case JSONR_OBJ_END: jsonw_obj_end(&w), depth--; break;
        case JSONR_ARR_BEGIN: jsonw_arr_begin(&w), depth++; break;
        case JSONR_ARR_END: jsonw_arr_end(&w), depth--; break;
        case JSONR_KEY: jsonw_key(&w, (const char *)scratch.data, scratch.len); break;
        case JSONR_STRING: jsonw_str(&w, (const char *)scratch.data, scratch.len); break;
        default: jsonw_raw(&w, s.ptr, s.len);
        }
    }
    ASSERT(t == JSONR_END);
    return jsonw_finish(&w);
}

static bool has_duplicate_keys(const struct walk *w)
{
    if (w->many_keys)
        return true;
    for (size_t i = 0; i < w->n_keys; i++)
        for (size_t j = i + 1; j < w->n_keys; j++)
            if (w->key_list[i].obj == w->key_list[j].obj &&
                w->key_list[i].len == w->key_list[j].len &&
                (w->key_list[i].len == 0 ||
                 memcmp(w->keys.data + w->key_list[i].off, w->keys.data + w->key_list[j].off,
                        w->key_list[i].len) == 0))
                return true;
    return false;
}

static void check_paths(const uint8_t *data, size_t size, struct walk *w)
{
    bool dups = has_duplicate_keys(w);
    for (size_t k = 0; k < w->n_paths; k++) {
        struct jsonr_path_seg segs[SEGS_MAX];
        for (size_t i = 0; i < w->path_len[k]; i++) {
            struct seg s = w->paths[k][i];
            segs[i] = (struct jsonr_path_seg){
                s.is_index, s.index, {(const char *)w->keys.data + s.key_off, s.key_len}};
        }
        struct jsonr r;
        jsonr_init(&r, data, size, 0);
        int t = jsonr_find_path(&r, segs, w->path_len[k]);
        if (dups && t == ERR_NOT_FOUND)
            continue;  /* an earlier duplicate key matched and the rest of the path did not */
        ASSERT(t > 0); /* the first occurrence: this value or one before it */
        struct str raw;
        ASSERT(jsonr_skip(&r, &raw) == 0);
        size_t off = (size_t)((const uint8_t *)raw.ptr - data);
        ASSERT(off <= w->value_off[k]);
        ASSERT(off < w->value_off[k] || t == w->value_tok[k]);
    }
}

static void check_flat(const uint8_t *data, size_t size, bool valid)
{
    struct jsonr_flat f;
    jsonr_flat_init(&f, data, size, 0, &name_s, &value_s);
    struct str name, value;
    int t;
    while ((t = jsonr_flat_next(&f, &name, &value)) > 0) {
        ASSERT(t == JSONR_STRING || t == JSONR_NUMBER || t == JSONR_TRUE || t == JSONR_FALSE);
        ASSERT(name.len > 0);
        for (size_t i = 0; i < name.len; i++) {
            char c = name.ptr[i];
            ASSERT((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_');
        }
        ASSERT(name.ptr[0] < '0' || name.ptr[0] > '9');
        ASSERT(value.len == 0 || value.ptr != NULL);
    }
    bool is_obj = false;
    for (size_t i = 0; i < size && !is_obj; i++)
        if (data[i] != ' ' && data[i] != '\t' && data[i] != '\n' && data[i] != '\r') {
            is_obj = data[i] == '{';
            break;
        }
    if (valid)
        ASSERT(is_obj ? t == JSONR_END : t == ERR_CORRUPT);
    else
        ASSERT(t < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the input as a Loki json path */
    struct jsonr_path_seg segs[SEGS_MAX];
    size_t n_segs;
    if (jsonr_path_parse((struct str){(const char *)data, size}, segs, SEGS_MAX, &n_segs) == 0)
        ASSERT(n_segs > 0);

    if (!W.keys.data) /* keep data non-NULL: key slices point into it even when empty */
        ASSERT(buf_reserve(&W.keys, 256) == 0 && buf_reserve(&again.keys, 256) == 0);
    W.n_paths = 0;
    W.n_keys = 0;
    W.many_keys = false;
    W.n_objs = 0;
    W.depth = 0;
    W.tokens = 0;
    buf_reset(&W.keys);
    int end = walk(data, size, 0, &W);
    int trailing = walk(data, size, JSONR_OPT_TRAILING, NULL);
    if (end >= 0)
        ASSERT(trailing >= 0 && trailing <= end);

    struct jsonr r;
    struct str raw;
    jsonr_init(&r, data, size, 0);
    int rc = jsonr_skip(&r, &raw);
    if (rc == 0)
        rc = jsonr_next(&r) == JSONR_END ? 0 : jsonr_err(&r);
    if (end < 0) {
        ASSERT(rc == end);
    } else {
        ASSERT(rc == 0 && raw.ptr >= (const char *)data && raw.len <= size);
    }
    check_flat(data, size, end >= 0);
    if (end < 0)
        return 0;
    check_paths(data, size, &W);

    buf_reset(&out1);
    buf_reset(&out2);
    if (rewrite(data, size, &out1) != 0)
        return 0;
    ASSERT(rewrite(out1.data, out1.len, &out2) == 0);
    ASSERT(out1.len == out2.len && memcmp(out1.data, out2.data, out1.len) == 0);
    again.depth = 0;
    again.tokens = 0;
    again.n_paths = again.n_keys = again.n_objs = 0;
    buf_reset(&again.keys);
    ASSERT(walk(out1.data, out1.len, 0, &again) == (int)out1.len && again.tokens == W.tokens);
    return 0;
}
