/* The Prometheus API response envelope (api_prom.h): success with warnings/infos, the error body,
 * and the mapping from error codes to Prometheus error types and HTTP statuses (web/api/v1
 * respond, respondError, returnAPIError, getDefaultErrorCode). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "formats/jsonw.h"
#include "server/api_prom.h"

const char *prom_error_type_str(enum prom_error_type t)
{
    switch (t) {
    case PROM_ERR_BAD_DATA: return "bad_data";
    case PROM_ERR_EXECUTION: return "execution";
    case PROM_ERR_CANCELED: return "canceled";
    case PROM_ERR_TIMEOUT: return "timeout";
    case PROM_ERR_UNAVAILABLE: return "unavailable";
    case PROM_ERR_NOT_FOUND: return "not_found";
    default: return "internal";
    }
}

int prom_error_status(enum prom_error_type t)
{
    switch (t) {
    case PROM_ERR_BAD_DATA: return 400;
    case PROM_ERR_EXECUTION: return 422;
    case PROM_ERR_CANCELED: return 499;
    case PROM_ERR_TIMEOUT: return 503;
    case PROM_ERR_UNAVAILABLE: return 503;
    case PROM_ERR_NOT_FOUND: return 404;
    default: return 500;
    }
}

enum prom_error_type prom_error_type_of(int rc)
{
    switch (rc) {
    case -ETIMEDOUT: return PROM_ERR_TIMEOUT;
    case -ECANCELED:
    case ERR_CLOSED: return PROM_ERR_CANCELED;
    case ERR_INVALID:
    case ERR_LIMIT:
    case ERR_RANGE: return PROM_ERR_EXECUTION;
    default: return PROM_ERR_INTERNAL; /* storage errors (ERR_CORRUPT, -errno), ERR_NOMEM */
    }
}

int prom_error_body(struct buf *b, enum prom_error_type t, const char *msg)
{
    struct jsonw w;
    buf_reset(b);
    jsonw_init(&w, b);
    jsonw_obj_begin(&w);
    jsonw_key_cstr(&w, "status");
    jsonw_cstr(&w, "error");
    jsonw_key_cstr(&w, "errorType");
    jsonw_cstr(&w, prom_error_type_str(t));
    jsonw_key_cstr(&w, "error");
    jsonw_str_html(&w, msg, strlen(msg));
    jsonw_obj_end(&w);
    return jsonw_finish(&w);
}

void prom_annos_add(struct prom_annos *a, bool warning, const char *text)
{
    if (warning) {
        if (a->nwarn < PROM_ANNOS_MAX)
            a->warn[a->nwarn++] = text;
        else
            a->warn_more++;
    } else {
        if (a->ninfo < PROM_ANNOS_MAX)
            a->info[a->ninfo++] = text;
        else
            a->info_more++;
    }
}

void prom_envelope_begin(struct jsonw *w)
{
    jsonw_obj_begin(w);
    jsonw_key_cstr(w, "status");
    jsonw_cstr(w, "success");
    jsonw_key_cstr(w, "data");
}

static void annos_array(struct jsonw *w, const char *key, const char *const *v, uint32_t n,
                        uint32_t more, const char *kind)
{
    if (n == 0 && more == 0)
        return;
    jsonw_key_cstr(w, key);
    jsonw_arr_begin(w);
    for (uint32_t i = 0; i < n; i++)
        jsonw_str_html(w, v[i], strlen(v[i]));
    if (more) {
        char t[96];
        snprintf(t, sizeof t, "%u more %s annotations omitted", more, kind);
        jsonw_str_html(w, t, strlen(t));
    }
    jsonw_arr_end(w);
}

void prom_envelope_end(struct jsonw *w, const struct prom_annos *a)
{
    if (a) {
        annos_array(w, "warnings", a->warn, a->nwarn, a->warn_more, "warning");
        annos_array(w, "infos", a->info, a->ninfo, a->info_more, "info");
    }
    jsonw_obj_end(w);
}
