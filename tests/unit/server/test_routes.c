/* Route matching: literal and parameter segments, percent-decoded parameters, 404 vs 405 with the
 * Allow set, HEAD via GET, bad escapes, error style by path, and the real table's contract points
 * (/api/v1/status/flags absent, ops endpoints present). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "server/http/parser.h"
#include "server/routes.h"

static void h_a(struct http_exchange *x)
{
    (void)x;
}
static void h_b(struct http_exchange *x)
{
    (void)x;
}

static const struct route T[] = {
    {HTTP_GET | HTTP_POST, "/api/v1/labels", h_a, ROUTE_STYLE_PROM, 0, 0, 0},
    {HTTP_GET, "/api/v1/label/<name>/values", h_b, ROUTE_STYLE_PROM, 0, 0, 0},
    {HTTP_GET | HTTP_POST, "/loki/api/v1/detected_field/<name>/values", h_b, ROUTE_STYLE_TEXT, 0, 0,
     0},
    {HTTP_POST, "/loki/api/v1/push", h_a, ROUTE_STYLE_TEXT, 0, 0, 0},
    {HTTP_DELETE, "/x/<a>/<b>", h_a, ROUTE_STYLE_TEXT, 0, 0, 0},
};
#define TN (sizeof T / sizeof T[0])

static enum route_result m(unsigned method, const char *path, const struct route **rt,
                           struct route_params *ps, unsigned *allow)
{
    return route_match(T, TN, method, str_from_cstr(path), rt, ps, allow);
}

static void test_literal_and_params(void **state)
{
    (void)state;
    const struct route *rt = NULL;
    static struct route_params ps;
    unsigned allow;
    assert_int_equal(m(HTTP_GET, "/api/v1/labels", &rt, &ps, &allow), ROUTE_FOUND);
    assert_ptr_equal(rt, &T[0]);
    assert_int_equal(ps.n, 0);
    assert_int_equal(m(HTTP_POST, "/api/v1/labels", &rt, &ps, &allow), ROUTE_FOUND);
    assert_int_equal(m(HTTP_GET, "/api/v1/label/job/values", &rt, &ps, &allow), ROUTE_FOUND);
    assert_ptr_equal(rt, &T[1]);
    struct str v;
    assert_true(route_param(&ps, "name", &v));
    assert_int_equal(v.len, 3);
    assert_memory_equal(v.ptr, "job", 3);
    assert_false(route_param(&ps, "other", &v));
    /* percent-decoded; '+' stays a plus in paths */
    assert_int_equal(m(HTTP_GET, "/api/v1/label/http%2Estatus+x/values", &rt, &ps, &allow),
                     ROUTE_FOUND);
    assert_true(route_param(&ps, "name", &v));
    assert_int_equal(v.len, 13);
    assert_memory_equal(v.ptr, "http.status+x", 13);
    /* U__ escaping is the handler's business: the raw name is passed through */
    assert_int_equal(m(HTTP_GET, "/api/v1/label/U__http_2e_status/values", &rt, &ps, &allow),
                     ROUTE_FOUND);
    assert_true(route_param(&ps, "name", &v));
    assert_int_equal(v.len, 17);
    /* two parameters */
    assert_int_equal(m(HTTP_DELETE, "/x/one/two", &rt, &ps, &allow), ROUTE_FOUND);
    assert_int_equal(ps.n, 2);
    assert_true(route_param(&ps, "b", &v));
    assert_memory_equal(v.ptr, "two", 3);
}

static void test_not_found(void **state)
{
    (void)state;
    const struct route *rt = NULL;
    static struct route_params ps;
    unsigned allow;
    const char *miss[] = {"/",
                          "/api/v1/labels/",
                          "/api/v1/label",
                          "/api/v1/label//values",
                          "/api/v1/label/a/b/values",
                          "/api/v1/label/a/values/",
                          "/api/v1/labelsx",
                          "/API/v1/labels",
                          "/x/one",
                          ""};
    for (size_t i = 0; i < sizeof miss / sizeof miss[0]; i++)
        assert_int_equal(m(HTTP_GET, miss[i], &rt, &ps, &allow), ROUTE_NOT_FOUND);
}

static void test_method_not_allowed(void **state)
{
    (void)state;
    const struct route *rt = NULL;
    static struct route_params ps;
    unsigned allow;
    assert_int_equal(m(HTTP_PUT, "/api/v1/labels", &rt, &ps, &allow), ROUTE_NOT_ALLOWED);
    assert_int_equal(allow, HTTP_GET | HTTP_POST);
    char hdr[64];
    route_allow_header(allow, hdr, sizeof hdr);
    assert_string_equal(hdr, "GET, HEAD, POST");
    assert_int_equal(m(HTTP_GET, "/loki/api/v1/push", &rt, &ps, &allow), ROUTE_NOT_ALLOWED);
    route_allow_header(allow, hdr, sizeof hdr);
    assert_string_equal(hdr, "POST");
    assert_int_equal(m(HTTP_METHOD_OTHER, "/api/v1/label/a/values", &rt, &ps, &allow),
                     ROUTE_NOT_ALLOWED);
    /* HEAD is served by GET routes */
    assert_int_equal(m(HTTP_HEAD, "/api/v1/label/a/values", &rt, &ps, &allow), ROUTE_FOUND);
    assert_int_equal(m(HTTP_HEAD, "/loki/api/v1/push", &rt, &ps, &allow), ROUTE_NOT_ALLOWED);
    /* truncated Allow output stays a valid string */
    char tiny[6];
    route_allow_header(HTTP_GET | HTTP_POST, tiny, sizeof tiny);
    assert_true(strlen(tiny) < sizeof tiny);
}

static void test_bad_param(void **state)
{
    (void)state;
    const struct route *rt = NULL;
    static struct route_params ps;
    unsigned allow;
    assert_int_equal(m(HTTP_GET, "/api/v1/label/%zz/values", &rt, &ps, &allow), ROUTE_BAD_PARAM);
    assert_int_equal(m(HTTP_GET, "/api/v1/label/a%2/values", &rt, &ps, &allow), ROUTE_BAD_PARAM);
    static char longp[ROUTE_PARAM_BYTES + 64];
    strcpy(longp, "/api/v1/label/");
    memset(longp + strlen(longp), 'a', ROUTE_PARAM_BYTES + 1);
    strcat(longp, "/values");
    assert_int_equal(m(HTTP_GET, longp, &rt, &ps, &allow), ROUTE_BAD_PARAM);
}

static void test_style(void **state)
{
    (void)state;
    assert_int_equal(route_style_for_path(STR_LIT("/api/v1/status/flags")), ROUTE_STYLE_PROM);
    assert_int_equal(route_style_for_path(STR_LIT("/api/v1/")), ROUTE_STYLE_PROM);
    assert_int_equal(route_style_for_path(STR_LIT("/api/v1")), ROUTE_STYLE_TEXT);
    assert_int_equal(route_style_for_path(STR_LIT("/loki/api/v1/query")), ROUTE_STYLE_TEXT);
    assert_int_equal(route_style_for_path(STR_LIT("/metrics")), ROUTE_STYLE_TEXT);
}

static void test_server_table(void **state)
{
    (void)state;
    const struct route *rt = NULL;
    static struct route_params ps;
    unsigned allow;
    const char *present[] = {"/ready",
                             "/-/ready",
                             "/-/healthy",
                             "/metrics",
                             "/api/v1/status/buildinfo",
                             "/loki/api/v1/status/buildinfo"};
    for (size_t i = 0; i < sizeof present / sizeof present[0]; i++) {
        assert_int_equal(route_match(server_routes, server_routes_n, HTTP_GET,
                                     str_from_cstr(present[i]), &rt, &ps, &allow),
                         ROUTE_FOUND);
        assert_string_equal(rt->pattern, present[i]);
    }
    assert_int_equal(route_match(server_routes, server_routes_n, HTTP_GET,
                                 STR_LIT("/api/v1/status/flags"), &rt, &ps, &allow),
                     ROUTE_NOT_FOUND);
    assert_int_equal(route_match(server_routes, server_routes_n, HTTP_GET,
                                 STR_LIT("/api/v1/status/buildinfo"), &rt, &ps, &allow),
                     ROUTE_FOUND);
    assert_int_equal(rt->style, ROUTE_STYLE_PROM);
    assert_int_equal(route_match(server_routes, server_routes_n, HTTP_GET,
                                 STR_LIT("/loki/api/v1/status/buildinfo"), &rt, &ps, &allow),
                     ROUTE_FOUND);
    assert_int_equal(rt->style, ROUTE_STYLE_TEXT);
    /* every pattern starts with '/', and has balanced parameters */
    for (size_t i = 0; i < server_routes_n; i++) {
        assert_int_equal(server_routes[i].pattern[0], '/');
        assert_non_null(server_routes[i].fn);
        assert_true(server_routes[i].methods != 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_and_params),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_bad_param),
        cmocka_unit_test(test_style),
        cmocka_unit_test(test_server_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
