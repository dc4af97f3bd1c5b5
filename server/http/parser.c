/* Incremental HTTP/1.x request parser: head terminator search that resumes at any split point, a
 * one-pass head parser (request line, header fields, framing headers), and a byte-level chunked
 * decoder that compacts the body in place. See parser.h for the model. */
#include "server/http/parser.h"

#include <string.h>

enum {
    PS_HEAD = 0,
    PS_BODY_CL,
    PS_CHUNK_SIZE,
    PS_CHUNK_EXT,
    PS_CHUNK_SIZE_LF,
    PS_CHUNK_DATA,
    PS_CHUNK_DATA_CR,
    PS_CHUNK_DATA_LF,
    PS_TRAILER,
    PS_TRAILER_LINE,
    PS_END_LF,
    PS_DONE,
    PS_ERROR,
};

#define CHUNK_LINE_MAX   4096 /* chunk-size line incl. extensions */
#define CHUNK_DIGITS_MAX 15   /* 2^60: far above any body limit, never overflows */

/* RFC 9110 tchar. */
static const uint8_t tchar_tab[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static inline bool is_tchar(uint8_t c)
{
    return tchar_tab[c] != 0;
}

/* field-value bytes: HTAB, SP, VCHAR, obs-text. */
static inline bool is_value_char(uint8_t c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static inline int hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static inline uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c | 0x20) : c;
}

bool http_str_ieq(struct str s, const char *lc)
{
    size_t n = strlen(lc);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((uint8_t)s.ptr[i]) != (uint8_t)lc[i])
            return false;
    return true;
}

struct str http_request_header(const struct http_request *req, const uint8_t *base,
                               const char *name)
{
    for (uint32_t i = 0; i < req->nheaders; i++)
        if (http_str_ieq(http_span_str(base, req->headers[i].name), name))
            return http_span_str(base, req->headers[i].value);
    return (struct str){NULL, 0};
}

const char *http_method_name(unsigned method)
{
    switch (method) {
    case HTTP_GET: return "GET";
    case HTTP_HEAD: return "HEAD";
    case HTTP_POST: return "POST";
    case HTTP_PUT: return "PUT";
    case HTTP_DELETE: return "DELETE";
    case HTTP_OPTIONS: return "OPTIONS";
    case HTTP_PATCH: return "PATCH";
    default: return "OTHER";
    }
}

void http_parser_init(struct http_parser *p, const struct http_limits *lim)
{
    memset(p, 0, sizeof *p);
    p->lim = *lim;
    if (p->lim.headers_max == 0 || p->lim.headers_max > HTTP_HEADERS_CAP)
        p->lim.headers_max = HTTP_HEADERS_CAP;
}

void http_parser_reset(struct http_parser *p)
{
    struct http_limits lim = p->lim;
    http_parser_init(p, &lim);
}

static enum http_parse_result fail(struct http_parser *p, int status, const char *reason)
{
    p->state = PS_ERROR;
    p->status = status;
    p->reason = reason;
    return HTTP_PARSE_ERROR;
}

/* ---- request line and header fields -------------------------------------------------------- */

struct cursor {
    const uint8_t *b;
    uint32_t pos; /* start of the current line */
    uint32_t end; /* end of the head */
};

/* Next line [start, content_end) without its CRLF/LF; returns false at the end of the head. */
static bool next_line(struct cursor *c, uint32_t *start, uint32_t *content_end)
{
    if (c->pos >= c->end)
        return false;
    const uint8_t *nl = memchr(c->b + c->pos, '\n', c->end - c->pos);
    uint32_t le = nl ? (uint32_t)(nl - c->b) : c->end;
    *start = c->pos;
    *content_end = (le > c->pos && c->b[le - 1] == '\r') ? le - 1 : le;
    c->pos = le + 1;
    return true;
}

static unsigned method_from(const uint8_t *m, uint32_t n)
{
    static const struct {
        const char *name;
        unsigned bit;
    } tab[] = {{"GET", HTTP_GET},    {"HEAD", HTTP_HEAD},     {"POST", HTTP_POST},
               {"PUT", HTTP_PUT},    {"DELETE", HTTP_DELETE}, {"OPTIONS", HTTP_OPTIONS},
               {"PATCH", HTTP_PATCH}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strlen(tab[i].name) == n && memcmp(tab[i].name, m, n) == 0)
            return tab[i].bit;
    return HTTP_METHOD_OTHER;
}

/* Splits the request-target into path and query. Returns 0 or an HTTP status. */
static int parse_target(const uint8_t *b, struct http_request *req)
{
    uint32_t off = req->target.off, end = off + req->target.len;
    if (b[off] == '*')
        return (req->target.len == 1 && req->method == HTTP_OPTIONS) ? 0 : 400;
    if (b[off] != '/') {
        /* absolute-form: scheme "://" authority path */
        uint32_t i = off;
        while (i < end && b[i] != ':')
            i++;
        if (i + 3 > end || b[i + 1] != '/' || b[i + 2] != '/')
            return 400;
        struct str scheme = {(const char *)b + off, i - off};
        if (!http_str_ieq(scheme, "http") && !http_str_ieq(scheme, "https"))
            return 400;
        i += 3;
        while (i < end && b[i] != '/')
            i++;
        if (i >= end)
            return 400;
        off = i;
    }
    uint32_t q = off;
    while (q < end && b[q] != '?' && b[q] != '#')
        q++;
    req->path = (struct http_span){off, q - off};
    if (q < end && b[q] == '?') {
        uint32_t qs = q + 1, qe = qs;
        while (qe < end && b[qe] != '#')
            qe++;
        req->query = (struct http_span){qs, qe - qs};
    }
    return 0;
}

static int parse_request_line(const uint8_t *b, uint32_t s, uint32_t e, struct http_request *req)
{
    uint32_t i = s;
    while (i < e && is_tchar(b[i]))
        i++;
    if (i == s || i >= e || b[i] != ' ')
        return 400;
    req->method_name = (struct http_span){s, i - s};
    req->method = method_from(b + s, i - s);
    uint32_t t = ++i;
    while (i < e && b[i] > 0x20 && b[i] < 0x7f)
        i++;
    if (i == t || i >= e || b[i] != ' ')
        return 400;
    req->target = (struct http_span){t, i - t};
    i++;
    if (e - i != 8 || memcmp(b + i, "HTTP/", 5) != 0 || b[i + 6] != '.')
        return 400;
    uint8_t maj = b[i + 5], min = b[i + 7];
    if (maj < '0' || maj > '9' || min < '0' || min > '9')
        return 400;
    if (maj != '1')
        return 505;
    req->version_minor = min == '0' ? 0 : 1;
    return parse_target(b, req);
}

/* One "name: value" line. Returns 0 or an HTTP status. */
static int parse_field(const uint8_t *b, uint32_t s, uint32_t e, struct http_header *h)
{
    if (b[s] == ' ' || b[s] == '\t')
        return 400; /* obsolete line folding */
    uint32_t i = s;
    while (i < e && is_tchar(b[i]))
        i++;
    if (i == s || i >= e || b[i] != ':')
        return 400; /* also rejects whitespace between name and colon */
    h->name = (struct http_span){s, i - s};
    i++;
    while (i < e && (b[i] == ' ' || b[i] == '\t'))
        i++;
    uint32_t vs = i;
    for (; i < e; i++)
        if (!is_value_char(b[i]))
            return 400;
    while (e > vs && (b[e - 1] == ' ' || b[e - 1] == '\t'))
        e--;
    h->value = (struct http_span){vs, e - vs};
    return 0;
}

/* Iterates the comma-separated elements of a header value, trimmed; empty elements are skipped. */
static bool next_token(struct str *list, struct str *tok)
{
    while (list->len > 0) {
        const char *comma = memchr(list->ptr, ',', list->len);
        size_t n = comma ? (size_t)(comma - list->ptr) : list->len;
        struct str t = {list->ptr, n};
        list->ptr += comma ? n + 1 : n;
        list->len -= comma ? n + 1 : n;
        while (t.len && (t.ptr[0] == ' ' || t.ptr[0] == '\t')) {
            t.ptr++;
            t.len--;
        }
        while (t.len && (t.ptr[t.len - 1] == ' ' || t.ptr[t.len - 1] == '\t'))
            t.len--;
        if (t.len) {
            *tok = t;
            return true;
        }
    }
    return false;
}

struct framing {
    int hosts;
    int te_codings;
    bool te_seen, te_last_chunked, conn_close, conn_keep_alive;
};

static int parse_content_length(struct str v, struct http_request *req)
{
    if (v.len == 0 || v.len > 19)
        return 400;
    uint64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return 400;
        n = n * 10 + (uint64_t)(v.ptr[i] - '0');
    }
    if (req->has_content_length && req->content_length != n)
        return 400;
    req->has_content_length = true;
    req->content_length = n;
    return 0;
}

static int apply_field(const uint8_t *b, const struct http_header *h, struct http_request *req,
                       struct framing *f)
{
    struct str name = http_span_str(b, h->name), v = http_span_str(b, h->value), tok;
    if (http_str_ieq(name, "content-length"))
        return parse_content_length(v, req);
    if (http_str_ieq(name, "transfer-encoding")) {
        f->te_seen = true;
        while (next_token(&v, &tok)) {
            f->te_codings++;
            f->te_last_chunked = http_str_ieq(tok, "chunked");
        }
    } else if (http_str_ieq(name, "connection")) {
        while (next_token(&v, &tok)) {
            f->conn_close |= http_str_ieq(tok, "close");
            f->conn_keep_alive |= http_str_ieq(tok, "keep-alive");
        }
    } else if (http_str_ieq(name, "host")) {
        f->hosts++;
    } else if (http_str_ieq(name, "expect") && req->version_minor >= 1) {
        if (!http_str_ieq(v, "100-continue"))
            return 417;
        req->expect_continue = true;
    }
    return 0;
}

static int check_framing(struct http_request *req, const struct framing *f)
{
    if (f->hosts > 1 || (req->version_minor >= 1 && f->hosts == 0))
        return 400;
    if (f->te_seen) {
        if (req->version_minor == 0 || req->has_content_length || f->te_codings == 0)
            return 400; /* faulty framing / request smuggling vector */
        if (!f->te_last_chunked)
            return 400;
        if (f->te_codings > 1)
            return 501; /* e.g. "gzip, chunked": transfer codings we do not implement */
        req->chunked = true;
    }
    req->keep_alive =
        req->version_minor >= 1 ? !f->conn_close : (f->conn_keep_alive && !f->conn_close);
    return 0;
}

/* Parses the complete head [p->lead, end). Returns 0 or an HTTP status. */
static int parse_head(struct http_parser *p, const uint8_t *b, uint32_t end,
                      struct http_request *req, const char **reason)
{
    struct cursor c = {b, p->lead, end};
    uint32_t s, e;
    struct framing f = {0};
    req->nheaders = 0;
    next_line(&c, &s, &e);
    int st = parse_request_line(b, s, e, req);
    if (st) {
        *reason = st == 505 ? "unsupported HTTP version" : "malformed request line";
        return st;
    }
    while (next_line(&c, &s, &e) && e > s) {
        if (req->nheaders >= p->lim.headers_max) {
            *reason = "too many header fields";
            return 431;
        }
        struct http_header *h = &req->headers[req->nheaders++];
        if ((st = parse_field(b, s, e, h)) || (st = apply_field(b, h, req, &f))) {
            *reason = st == 417 ? "unsupported expectation" : "malformed header field";
            return st;
        }
    }
    if ((st = check_framing(req, &f)))
        *reason = st == 501 ? "unsupported transfer coding" : "invalid message framing";
    return st;
}

/* Finds the end of the head (offset just past its empty line), or 0 when not yet present. */
static uint64_t find_head_end(struct http_parser *p, const uint8_t *b, size_t len)
{
    while (p->lead < len && (b[p->lead] == '\r' || b[p->lead] == '\n'))
        p->lead++;
    if (p->scan < p->lead)
        p->scan = p->lead;
    while (p->scan < len) {
        const uint8_t *nl = memchr(b + p->scan, '\n', len - p->scan);
        if (!nl) {
            p->scan = len;
            return 0;
        }
        uint64_t j = (uint64_t)(nl - b);
        if (j + 1 >= len || (b[j + 1] == '\r' && j + 2 >= len)) {
            p->scan = j; /* resume here when more bytes arrive */
            return 0;
        }
        if (b[j + 1] == '\n')
            return j + 2;
        if (b[j + 1] == '\r' && b[j + 2] == '\n')
            return j + 3;
        p->scan = j + 1;
    }
    return 0;
}

static enum http_parse_result head_phase(struct http_parser *p, uint8_t *b, size_t len,
                                         struct http_request *req)
{
    uint64_t end = find_head_end(p, b, len);
    if (p->lead > p->lim.head_bytes_max)
        return fail(p, 400, "too many empty lines before the request");
    if (end == 0)
        return (len - p->lead > p->lim.head_bytes_max)
                   ? fail(p, 431, "request header fields too large")
                   : HTTP_PARSE_MORE;
    if (end - p->lead > p->lim.head_bytes_max)
        return fail(p, 431, "request header fields too large");
    memset(req, 0, offsetof(struct http_request, headers));
    const char *reason = NULL;
    int st = parse_head(p, b, (uint32_t)end, req, &reason);
    if (st)
        return fail(p, st, reason);
    req->head_len = req->body_off = (uint32_t)end;
    p->rd = p->wr = end;
    if (req->chunked) {
        p->state = PS_CHUNK_SIZE;
    } else if (req->content_length > 0) {
        if (req->content_length > p->lim.body_bytes_max)
            return fail(p, 413, "request body too large");
        p->remaining = req->content_length;
        p->state = PS_BODY_CL;
    } else {
        p->state = PS_DONE;
    }
    return HTTP_PARSE_MORE;
}

/* ---- bodies ----------------------------------------------------------------------------- */

static enum http_parse_result chunk_size_done(struct http_parser *p, struct http_request *req)
{
    p->line_len = 0;
    if (p->chunk_size == 0) {
        p->state = PS_TRAILER;
        return HTTP_PARSE_MORE;
    }
    if (p->wr - req->body_off + p->chunk_size > p->lim.body_bytes_max)
        return fail(p, 413, "request body too large");
    p->remaining = p->chunk_size;
    p->state = PS_CHUNK_DATA;
    return HTTP_PARSE_MORE;
}

static enum http_parse_result chunk_size_byte(struct http_parser *p, struct http_request *req,
                                              uint8_t c)
{
    int h = hex_val(c);
    if (p->state == PS_CHUNK_SIZE && h >= 0) {
        if (++p->chunk_digits > CHUNK_DIGITS_MAX)
            return fail(p, 400, "chunk size too large");
        p->chunk_size = p->chunk_size * 16 + (uint64_t)h;
        return HTTP_PARSE_MORE;
    }
    if (p->state == PS_CHUNK_SIZE && p->chunk_digits == 0)
        return fail(p, 400, "malformed chunk size");
    if (p->state == PS_CHUNK_SIZE_LF)
        return c == '\n' ? chunk_size_done(p, req) : fail(p, 400, "malformed chunk size line");
    if (c == '\n')
        return chunk_size_done(p, req);
    if (c == '\r') {
        p->state = PS_CHUNK_SIZE_LF;
        return HTTP_PARSE_MORE;
    }
    if (p->state == PS_CHUNK_SIZE && c != ';' && c != ' ' && c != '\t')
        return fail(p, 400, "malformed chunk size");
    if (c != '\t' && (c < 0x20 || c == 0x7f))
        return fail(p, 400, "malformed chunk extension");
    p->state = PS_CHUNK_EXT; /* extensions are accepted and ignored */
    return HTTP_PARSE_MORE;
}

static enum http_parse_result trailer_byte(struct http_parser *p, uint8_t c)
{
    if (++p->trailer_bytes > p->lim.head_bytes_max)
        return fail(p, 431, "trailer fields too large");
    switch (p->state) {
    case PS_TRAILER:
        if (c == '\n')
            p->state = PS_DONE;
        else if (c == '\r')
            p->state = PS_END_LF;
        else if (!is_tchar(c))
            return fail(p, 400, "malformed trailer field");
        else
            p->state = PS_TRAILER_LINE; /* trailer fields are accepted and ignored */
        return HTTP_PARSE_MORE;
    case PS_TRAILER_LINE:
        if (c == '\n')
            p->state = PS_TRAILER;
        else if (c != '\r' && !is_value_char(c))
            return fail(p, 400, "malformed trailer field");
        return HTTP_PARSE_MORE;
    default: /* PS_END_LF */
        if (c != '\n')
            return fail(p, 400, "malformed end of chunked body");
        p->state = PS_DONE;
        return HTTP_PARSE_MORE;
    }
}

static enum http_parse_result chunk_framing_byte(struct http_parser *p, struct http_request *req,
                                                 uint8_t c)
{
    switch (p->state) {
    case PS_CHUNK_SIZE:
    case PS_CHUNK_EXT:
    case PS_CHUNK_SIZE_LF:
        if (++p->line_len > CHUNK_LINE_MAX)
            return fail(p, 400, "chunk size line too long");
        return chunk_size_byte(p, req, c);
    case PS_CHUNK_DATA_CR:
        if (c == '\r') {
            p->state = PS_CHUNK_DATA_LF;
            return HTTP_PARSE_MORE;
        }
        __attribute__((fallthrough)); /* a bare LF also ends the chunk */
    case PS_CHUNK_DATA_LF:
        if (c != '\n')
            return fail(p, 400, "chunk data not followed by CRLF");
        p->state = PS_CHUNK_SIZE;
        p->chunk_size = 0;
        p->chunk_digits = 0;
        return HTTP_PARSE_MORE;
    default: return trailer_byte(p, c);
    }
}

static enum http_parse_result chunked_phase(struct http_parser *p, uint8_t *b, size_t len,
                                            struct http_request *req)
{
    while (p->rd < len && p->state != PS_DONE) {
        if (p->state == PS_CHUNK_DATA) {
            uint64_t n = len - p->rd < p->remaining ? len - p->rd : p->remaining;
            if (p->wr != p->rd)
                memmove(b + p->wr, b + p->rd, n);
            p->wr += n;
            p->rd += n;
            p->remaining -= n;
            if (p->remaining == 0)
                p->state = PS_CHUNK_DATA_CR;
            continue;
        }
        if (chunk_framing_byte(p, req, b[p->rd++]) == HTTP_PARSE_ERROR)
            return HTTP_PARSE_ERROR;
    }
    return HTTP_PARSE_MORE;
}

static void content_length_phase(struct http_parser *p, size_t len)
{
    uint64_t n = len - p->rd < p->remaining ? len - p->rd : p->remaining;
    p->rd += n;
    p->wr = p->rd;
    p->remaining -= n;
    if (p->remaining == 0)
        p->state = PS_DONE;
}

enum http_parse_result http_parse(struct http_parser *p, uint8_t *buf, size_t len,
                                  struct http_request *req)
{
    if (p->state == PS_ERROR)
        return HTTP_PARSE_ERROR;
    if (p->state == PS_HEAD) {
        if (head_phase(p, buf, len, req) == HTTP_PARSE_ERROR)
            return HTTP_PARSE_ERROR;
        if (p->state == PS_HEAD)
            return HTTP_PARSE_MORE;
    }
    if (p->state == PS_BODY_CL)
        content_length_phase(p, len);
    else if (p->state != PS_DONE && chunked_phase(p, buf, len, req) == HTTP_PARSE_ERROR)
        return HTTP_PARSE_ERROR;
    if (p->state == PS_DONE) {
        req->body_len = p->wr - req->body_off;
        return HTTP_PARSE_DONE;
    }
    if (!p->head_reported) {
        p->head_reported = true;
        return HTTP_PARSE_HEAD;
    }
    return HTTP_PARSE_MORE;
}

size_t http_parser_compact(struct http_parser *p, uint8_t *buf, size_t len)
{
    if (p->state < PS_CHUNK_SIZE || p->state > PS_END_LF || p->rd == p->wr)
        return len;
    memmove(buf + p->wr, buf + p->rd, len - p->rd);
    len -= p->rd - p->wr;
    p->rd = p->wr;
    return len;
}

bool http_parser_in_head(const struct http_parser *p)
{
    return p->state == PS_HEAD;
}
