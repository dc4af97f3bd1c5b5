/* POST /loki/api/v1/push: the Loki push API over HTTP (api-contract §3). The handler picks the body
 * format from Content-Type, undoes the content codings, reads the tenant from X-Scope-OrgID and
 * hands the body to the shard's log ingest pipeline (server/logingest.h), answering when every part
 * is durable.
 *
 * Negotiation (Loki's pkg/loghttp/push parsePushRequestBody):
 *   Content-Type is parsed as a media type (Go mime.ParseMediaType rules: `type[/subtype]` tokens,
 *   case-insensitive, then `; name=value` parameters, which are ignored); an empty or unparsable
 *   value -> 400 with Go's wording ("mime: no media type", ...).
 *   `application/json` -> JSON (formats/wire/lokipush_json.h); any other media type -> protobuf
 *   (formats/wire/lokipush.h), which is ALWAYS snappy block compressed.
 *   Content-Encoding: absent -> the body as sent; `gzip` / `deflate` -> inflated by the connection
 *   layer first (a protobuf body is then still snappy); `snappy` -> for protobuf, the snappy layer
 *   itself (decoded once, by the connection layer); for JSON, snappy-compressed JSON. Anything else
 *   is refused before the handler runs (server/conn.c).
 * Answers are plain text (`text/plain; charset=utf-8`): 204 with an empty body; 400, 413, 422, 429,
 * 500, 503 with a one-line reason (Loki's wording where it has one); 429 and 503 add Retry-After.
 *
 * Threading: runs on the accepting shard (the exchange's). */
#ifndef STRATA_SERVER_API_LOKI_PUSH_H
#define STRATA_SERVER_API_LOKI_PUSH_H

#include <stddef.h>

#include "base/str.h"

struct http_exchange;

void handler_loki_push(struct http_exchange *x);

/* The body format for a Content-Type value: LOGINGEST_JSON or LOGINGEST_PROTO (enum
 * logingest_body), or 0 with the 400 reason in why (NUL-terminated). */
int api_loki_push_body_kind(struct str content_type, char *why, size_t why_size);

#endif
