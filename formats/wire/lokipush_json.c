/* Loki push JSON: decode a body with formats/jsonr into the protobuf-shaped lokipush_request
 * (streams, entries, structured metadata built in the decoder's arena, lines borrowed from the
 * body when they need no decoding), validate like the protobuf path; and the matching encoder. */
#include "formats/wire/lokipush_json.h"

#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "formats/jsonr.h"
#include "formats/jsonw.h"

#define NS_PER_S    1000000000LL
#define TS_TEXT_MAX 64 /* decoded timestamp strings longer than this are invalid anyway */

struct jdec {
    struct wire_decoder *d;
    struct jsonr r;
    struct buf tmp;           /* selector text being formatted */
    size_t i_stream;          /* for error messages */
    struct label *raw_labels; /* the current stream's "stream" object, as given */
    size_t n_raw_labels, cap_raw_labels;
};

/* ---- memory ---- */

static void *jalloc(struct jdec *j, size_t n)
{
    struct wire_decoder *d = j->d;
    if (n > d->mem_bytes_max - d->mem_bytes_used) {
        d->mem_exceeded = true;
        return NULL;
    }
    void *p = arena_alloc(&d->arena, n ? n : 1);
    if (p)
        d->mem_bytes_used += n;
    return p;
}

static int oom(struct jdec *j)
{
    if (j->d->mem_exceeded)
        return wire_fail(j->d, ERR_LIMIT, "JSON push body needs more than %zu bytes of memory",
                         j->d->mem_bytes_max);
    return wire_fail(j->d, ERR_NOMEM, "out of memory");
}

/* Makes room for one more element in an arena array of `elem`-byte items. */
static int grow(struct jdec *j, void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? 2 * *cap : 8;
    void *p = ncap <= SIZE_MAX / elem ? jalloc(j, ncap * elem) : NULL;
    if (!p)
        return oom(j);
    if (n)
        memcpy(p, *arr, n * elem);
    *arr = p;
    *cap = ncap;
    return 0;
}

/* ---- errors ---- */

/* A reader error (malformed JSON) as ERR_CORRUPT with Go's wording and the offset. */
static int syntax(struct jdec *j, int t)
{
    if (t >= 0)
        return 0;
    char why[96];
    jsonr_err_msg(&j->r, why, sizeof why);
    return wire_fail(j->d, ERR_CORRUPT, "invalid JSON push body at offset %zu: %s",
                     jsonr_err_offset(&j->r), why);
}

/* Names the current stream: its index, and its labels when already read. */
static const char *stream_name(struct jdec *j, char *dst, size_t cap)
{
    int n = snprintf(dst, cap, "stream %zu", j->i_stream);
    if (j->n_raw_labels && n > 0 && (size_t)n + 9 < cap) {
        dst[n] = ' ';
        wire_fmt_labels(dst + n + 1, cap - (size_t)n - 1, j->raw_labels,
                        j->n_raw_labels < 16 ? j->n_raw_labels : 16);
    }
    return dst;
}

static int invalid(struct jdec *j, const char *what)
{
    char name[200];
    return wire_fail(j->d, ERR_INVALID, "%s: %s", stream_name(j, name, sizeof name), what);
}

static int entry_invalid(struct jdec *j, size_t e, const char *what)
{
    char name[200];
    return wire_fail(j->d, ERR_INVALID, "%s: entry %zu: %s", stream_name(j, name, sizeof name), e,
                     what);
}

/* ---- values ---- */

/* The decoded form of the current string token: borrowed, or decoded into the arena. */
static int take_string(struct jdec *j, struct str *out)
{
    struct str raw = jsonr_text(&j->r);
    unsigned flags = jsonr_flags(&j->r);
    if (!(flags & (JSONR_STR_ESCAPED | JSONR_STR_BADUTF8))) {
        *out = raw;
        return 0;
    }
    size_t cap = jsonr_unescape_max(raw, flags), len;
    char *p = jalloc(j, cap);
    if (!p)
        return oom(j);
    if (jsonr_unescape(raw, p, cap, &len))
        return wire_fail(j->d, ERR_CORRUPT, "bad string escape"); /* not reached: reader checked */
    *out = (struct str){p, len};
    return 0;
}

/* Go strconv.ParseInt(s, 10, 64). */
static int parse_ts(struct jdec *j, size_t e, struct str s, int64_t *ns)
{
    char text[96], msg[200];
    const char *p = s.ptr, *end = s.ptr + s.len;
    bool neg = p < end && *p == '-';
    p += p < end && (*p == '-' || *p == '+');
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    const char *why = p == end ? "invalid syntax" : NULL;
    for (; p < end && !why; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (d > 9)
            why = "invalid syntax";
        else if (v > (limit - d) / 10)
            v = limit + 1; /* keep scanning: a later bad byte is "invalid syntax" */
        else
            v = v * 10 + d;
    }
    if (!why && v > limit)
        why = "value out of range";
    if (why) {
        wire_fmt_quoted(text, sizeof text, s);
        snprintf(msg, sizeof msg, "error reading entry timestamp: strconv.ParseInt: parsing %s: %s",
                 text, why);
        return entry_invalid(j, e, msg);
    }
    *ns = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int read_ts(struct jdec *j, size_t e, int t, int64_t *ns)
{
    if (t == JSONR_NUMBER)
        return entry_invalid(j, e,
                             "timestamp must be a JSON string of integer nanoseconds, "
                             "not a number");
    if (t == JSONR_ARR_END)
        return entry_invalid(j, e, "array must have at least 2 and up to 3 values");
    if (t != JSONR_STRING)
        return entry_invalid(j, e, "timestamp must be a JSON string of integer nanoseconds");
    struct str raw = jsonr_text(&j->r);
    if (!(jsonr_flags(&j->r) & (JSONR_STR_ESCAPED | JSONR_STR_BADUTF8)))
        return parse_ts(j, e, raw, ns);
    char buf[TS_TEXT_MAX];
    size_t len;
    if (jsonr_unescape(raw, buf, sizeof buf, &len)) /* too long to be an int64 worth reading */
        return entry_invalid(j, e,
                             "error reading entry timestamp: strconv.ParseInt: "
                             "invalid syntax");
    return parse_ts(j, e, (struct str){buf, len}, ns);
}

/* ---- structured metadata ---- */

/* The object whose '{' was just read: string values only. */
static int read_metadata(struct jdec *j, size_t e, Logproto__EntryAdapter *en)
{
    struct label *kv = NULL;
    size_t n = 0, cap = 0;
    int t, rc;
    while ((t = jsonr_next(&j->r)) == JSONR_KEY) {
        if ((rc = grow(j, (void **)&kv, &cap, n, sizeof *kv)) || (rc = take_string(j, &kv[n].name)))
            return rc;
        if ((t = jsonr_next(&j->r)) != JSONR_STRING)
            return t < 0 ? syntax(j, t)
                         : entry_invalid(j, e, "structured metadata values must be strings");
        if ((rc = take_string(j, &kv[n].value)))
            return rc;
        n++;
    }
    if (t < 0)
        return syntax(j, t);
    Logproto__LabelPairAdapter *pairs = jalloc(j, n * sizeof *pairs);
    Logproto__LabelPairAdapter **pp = jalloc(j, n * sizeof *pp);
    if (!pairs || !pp)
        return oom(j);
    for (size_t i = 0; i < n; i++) {
        pairs[i] = (Logproto__LabelPairAdapter)LOGPROTO__LABEL_PAIR_ADAPTER__INIT;
        pairs[i].name = wire_bytes(kv[i].name);
        pairs[i].value = wire_bytes(kv[i].value);
        pp[i] = &pairs[i];
    }
    en->n_structured_metadata = n;
    en->structured_metadata = pp;
    return 0;
}

/* ---- entries ---- */

static Logproto__EntryAdapter *new_entry(struct jdec *j, int64_t ns)
{
    Logproto__EntryAdapter *en = jalloc(j, sizeof *en);
    Logproto__Timestamp *ts = jalloc(j, sizeof *ts);
    if (!en || !ts)
        return NULL;
    *en = (Logproto__EntryAdapter)LOGPROTO__ENTRY_ADAPTER__INIT;
    *ts = (Logproto__Timestamp)LOGPROTO__TIMESTAMP__INIT;
    int64_t sec = ns / NS_PER_S, nanos = ns % NS_PER_S;
    if (nanos < 0) {
        nanos += NS_PER_S;
        sec--;
    }
    ts->seconds = sec;
    ts->nanos = (int32_t)nanos;
    en->timestamp = ts;
    return en;
}

/* The entry array whose '[' was just read. */
static int read_entry(struct jdec *j, size_t e, Logproto__EntryAdapter **out)
{
    static const char *const arity = "array must have at least 2 and up to 3 values";
    int64_t ns = 0;
    int t = jsonr_next(&j->r), rc;
    if (t < 0 || (rc = read_ts(j, e, t, &ns)))
        return t < 0 ? syntax(j, t) : rc;
    t = jsonr_next(&j->r);
    if (t != JSONR_STRING)
        return t < 0 ? syntax(j, t)
                     : entry_invalid(j, e, t == JSONR_ARR_END ? arity : "line must be a string");
    Logproto__EntryAdapter *en = new_entry(j, ns);
    struct str line;
    if (!en)
        return oom(j);
    if ((rc = take_string(j, &line)))
        return rc;
    en->line = wire_bytes(line);
    t = jsonr_next(&j->r);
    if (t == JSONR_OBJ_BEGIN) {
        if ((rc = read_metadata(j, e, en)))
            return rc;
        t = jsonr_next(&j->r);
    } else if (t != JSONR_ARR_END && t >= 0) {
        return entry_invalid(j, e, "structured metadata must be a JSON object");
    }
    if (t != JSONR_ARR_END)
        return t < 0 ? syntax(j, t) : entry_invalid(j, e, arity);
    *out = en;
    return 0;
}

/* "values": null or an array of entries (null entries skipped). */
static int read_values(struct jdec *j, Logproto__StreamAdapter *st)
{
    size_t cap = 0, e = 0;
    st->n_entries = 0;
    st->entries = NULL;
    int t = jsonr_next(&j->r), rc;
    if (t == JSONR_NULL)
        return 0;
    if (t != JSONR_ARR_BEGIN)
        return t < 0 ? syntax(j, t) : invalid(j, "values must be an array");
    for (;; e++) {
        t = jsonr_next(&j->r);
        if (t == JSONR_ARR_END)
            return 0;
        if (t == JSONR_NULL)
            continue;
        if (t != JSONR_ARR_BEGIN)
            return t < 0 ? syntax(j, t) : entry_invalid(j, e, "entry must be an array");
        if ((rc = grow(j, (void **)&st->entries, &cap, st->n_entries, sizeof *st->entries)) ||
            (rc = read_entry(j, e, &st->entries[st->n_entries])))
            return rc;
        st->n_entries++;
    }
}

/* ---- streams ---- */

/* "stream": an object of label name -> string (or number). */
static int read_labels(struct jdec *j)
{
    j->n_raw_labels = 0;
    int t = jsonr_next(&j->r), rc;
    if (t == JSONR_NULL)
        return 0;
    if (t != JSONR_OBJ_BEGIN)
        return t < 0 ? syntax(j, t) : invalid(j, "stream must be an object of labels");
    while ((t = jsonr_next(&j->r)) == JSONR_KEY) {
        struct label l;
        if ((rc = take_string(j, &l.name)))
            return rc;
        t = jsonr_next(&j->r);
        if (t == JSONR_STRING) {
            if ((rc = take_string(j, &l.value)))
                return rc;
        } else if (t == JSONR_NUMBER) {
            l.value = jsonr_text(&j->r);
        } else {
            char q[96], msg[160];
            snprintf(msg, sizeof msg, "label %s: value must be a string",
                     wire_fmt_quoted(q, sizeof q, l.name));
            return t < 0 ? syntax(j, t) : invalid(j, msg);
        }
        if ((rc = grow(j, (void **)&j->raw_labels, &j->cap_raw_labels, j->n_raw_labels,
                       sizeof *j->raw_labels)))
            return rc;
        j->raw_labels[j->n_raw_labels++] = l;
    }
    return t < 0 ? syntax(j, t) : 0;
}

/* Formats the stream's labels as a selector and parses it like the protobuf path does. */
static int finish_labels(struct jdec *j, Logproto__StreamAdapter *st, struct lokipush_stream *out)
{
    buf_reset(&j->tmp);
    if (lokipush_format_labels(j->raw_labels, j->n_raw_labels, &j->tmp))
        return wire_fail(j->d, ERR_NOMEM, "out of memory");
    char *text = jalloc(j, j->tmp.len);
    if (!text)
        return oom(j);
    memcpy(text, j->tmp.data, j->tmp.len);
    st->labels = wire_bytes((struct str){text, j->tmp.len});
    char err[WIRE_ERR_MAX];
    int rc = lokipush_parse_labels(text, j->tmp.len, &j->d->arena, &out->labels, &out->n_labels,
                                   err, sizeof err);
    if (rc == ERR_NOMEM)
        return wire_fail(j->d, rc, "out of memory parsing stream labels");
    if (rc)
        return wire_fail(j->d, rc, "stream %zu: %s", j->i_stream, err);
    return 0;
}

/* The stream object whose '{' was just read. */
static int read_stream(struct jdec *j, struct lokipush_stream *out)
{
    Logproto__StreamAdapter *st = jalloc(j, sizeof *st);
    if (!st)
        return oom(j);
    *st = (Logproto__StreamAdapter)LOGPROTO__STREAM_ADAPTER__INIT;
    j->n_raw_labels = 0;
    int t, rc;
    while ((t = jsonr_next(&j->r)) == JSONR_KEY) {
        struct str k = jsonr_text(&j->r);
        unsigned f = jsonr_flags(&j->r);
        if (jsonr_str_eq(k, f, STR_LIT("stream")))
            rc = read_labels(j);
        else if (jsonr_str_eq(k, f, STR_LIT("values")))
            rc = read_values(j, st);
        else
            rc = syntax(j, jsonr_skip(&j->r, NULL));
        if (rc)
            return rc;
    }
    if (t < 0)
        return syntax(j, t);
    out->pb = st;
    return finish_labels(j, st, out);
}

/* "streams": null or an array of stream objects. */
static int read_streams(struct jdec *j, Logproto__PushRequest *req, struct lokipush_stream **out)
{
    size_t cap = 0, cap_pb = 0;
    req->n_streams = 0;
    int t = jsonr_next(&j->r), rc;
    if (t == JSONR_NULL)
        return 0;
    if (t != JSONR_ARR_BEGIN)
        return t < 0 ? syntax(j, t) : wire_fail(j->d, ERR_INVALID, "streams must be an array");
    while ((t = jsonr_next(&j->r)) != JSONR_ARR_END) {
        j->i_stream = req->n_streams;
        j->n_raw_labels = 0;
        if (t != JSONR_OBJ_BEGIN)
            return t < 0 ? syntax(j, t) : invalid(j, "stream must be a JSON object");
        size_t n = req->n_streams;
        if ((rc = grow(j, (void **)out, &cap, n, sizeof **out)) ||
            (rc = grow(j, (void **)&req->streams, &cap_pb, n, sizeof *req->streams)) ||
            (rc = read_stream(j, &(*out)[n])))
            return rc;
        req->streams[n] = (Logproto__StreamAdapter *)(*out)[n].pb;
        req->n_streams++;
    }
    return 0;
}

static int decode_body(struct jdec *j, Logproto__PushRequest *req, struct lokipush_stream **out)
{
    int t = jsonr_next(&j->r), rc;
    if (t == JSONR_NULL)
        return syntax(j, jsonr_next(&j->r));
    if (t != JSONR_OBJ_BEGIN)
        return t < 0 ? syntax(j, t)
                     : wire_fail(j->d, ERR_INVALID, "push body must be a JSON object");
    while ((t = jsonr_next(&j->r)) == JSONR_KEY) {
        if (jsonr_str_eq(jsonr_text(&j->r), jsonr_flags(&j->r), STR_LIT("streams")))
            rc = read_streams(j, req, out);
        else
            rc = syntax(j, jsonr_skip(&j->r, NULL));
        if (rc)
            return rc;
    }
    if (t < 0)
        return syntax(j, t);
    return syntax(j, jsonr_next(&j->r)); /* only whitespace may follow */
}

int lokipush_json_decode(struct wire_decoder *d, const uint8_t *body, size_t n,
                         struct lokipush_request *out)
{
    memset(out, 0, sizeof *out);
    wire_decoder_reset(d);
    if (n > d->body_bytes_max)
        return wire_fail(d, ERR_LIMIT, "JSON push body of %zu bytes exceeds the limit of %zu bytes",
                         n, d->body_bytes_max);
    struct jdec j = {.d = d, .tmp = BUF_INIT};
    jsonr_init(&j.r, body, n, 0);
    Logproto__PushRequest *req = jalloc(&j, sizeof *req);
    if (!req)
        return oom(&j);
    *req = (Logproto__PushRequest)LOGPROTO__PUSH_REQUEST__INIT;
    struct lokipush_stream *streams = NULL;
    int rc = decode_body(&j, req, &streams);
    buf_deinit(&j.tmp);
    if (rc)
        return rc;
    size_t entries = 0;
    for (size_t i = 0; i < req->n_streams; i++)
        entries += req->streams[i]->n_entries;
    out->pb = req;
    out->streams = streams;
    out->n_streams = req->n_streams;
    out->n_entries = entries;
    return 0;
}

/* ---- encode ---- */

static void encode_entry(struct jsonw *w, const struct lokipush_entry *e)
{
    char ts[24];
    int n = snprintf(ts, sizeof ts, "%lld", (long long)e->ts_ns);
    jsonw_arr_begin(w);
    jsonw_str(w, ts, (size_t)n);
    jsonw_str(w, e->line.ptr, e->line.len);
    if (e->n_metadata) {
        jsonw_obj_begin(w);
        for (size_t i = 0; i < e->n_metadata; i++) {
            jsonw_key(w, e->metadata[i].name.ptr, e->metadata[i].name.len);
            jsonw_str(w, e->metadata[i].value.ptr, e->metadata[i].value.len);
        }
        jsonw_obj_end(w);
    }
    jsonw_arr_end(w);
}

int lokipush_json_encode(const struct lokipush_stream_in *streams, size_t n, struct buf *out)
{
    struct jsonw w;
    jsonw_init(&w, out);
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "streams");
    jsonw_arr_begin(&w);
    for (size_t s = 0; s < n; s++) {
        const struct lokipush_stream_in *in = &streams[s];
        jsonw_obj_begin(&w);
        jsonw_key_cstr(&w, "stream");
        jsonw_obj_begin(&w);
        for (size_t i = 0; i < in->n_labels; i++) {
            jsonw_key(&w, in->labels[i].name.ptr, in->labels[i].name.len);
            jsonw_str(&w, in->labels[i].value.ptr, in->labels[i].value.len);
        }
        jsonw_obj_end(&w);
        jsonw_key_cstr(&w, "values");
        jsonw_arr_begin(&w);
        for (size_t e = 0; e < in->n_entries; e++)
            encode_entry(&w, &in->entries[e]);
        jsonw_arr_end(&w);
        jsonw_obj_end(&w);
    }
    jsonw_arr_end(&w);
    jsonw_obj_end(&w);
    return jsonw_finish(&w);
}
