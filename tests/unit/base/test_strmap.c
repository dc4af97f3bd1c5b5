/* strmap: put/get/replace/remove, growth, and a randomized comparison against a brute-force table
 * that exercises backward-shift deletion across wrapped probe runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "base/strmap.h"
#include "tests/unit/prop.h"

static void test_basic(void **state)
{
    struct strmap m;
    strmap_init(&m);
    assert_null(strmap_get(&m, STR_LIT("a")));
    assert_null(strmap_remove(&m, STR_LIT("a")));
    int one = 1, two = 2, three = 3;
    assert_int_equal(strmap_put(&m, STR_LIT("a"), &one), 0);
    assert_int_equal(strmap_put(&m, STR_LIT(""), &two), 0);
    assert_ptr_equal(strmap_get(&m, STR_LIT("a")), &one);
    assert_ptr_equal(strmap_get(&m, STR_LIT("")), &two);
    assert_int_equal(strmap_put(&m, STR_LIT("a"), &three), 0);
    assert_ptr_equal(strmap_get(&m, STR_LIT("a")), &three);
    assert_int_equal(strmap_len(&m), 2);
    assert_ptr_equal(strmap_remove(&m, STR_LIT("a")), &three);
    assert_null(strmap_get(&m, STR_LIT("a")));
    assert_int_equal(strmap_len(&m), 1);
    strmap_deinit(&m);
}

#define KEYS 3000

static void test_random_against_table(void **state)
{
    struct prop p = prop_begin("strmap_random");
    static char names[KEYS][16];
    static int present[KEYS];
    for (int i = 0; i < KEYS; i++) {
        snprintf(names[i], sizeof names[i], "k%d", i);
        present[i] = 0;
    }
    struct strmap m;
    strmap_init(&m);
    size_t live = 0;
    for (int step = 0; step < 60000; step++) {
        int k = (int)(prop_next(&p) % KEYS);
        struct str key = str_from_cstr(names[k]);
        if (prop_next(&p) % 3) {
            assert_int_equal(strmap_put(&m, key, names[k]), 0);
            live += !present[k];
            present[k] = 1;
        } else {
            void *v = strmap_remove(&m, key);
            prop_check(&p, (v != NULL) == (present[k] != 0));
            live -= present[k];
            present[k] = 0;
        }
        prop_check(&p, strmap_len(&m) == live);
    }
    for (int i = 0; i < KEYS; i++)
        prop_check(&p, (strmap_get(&m, str_from_cstr(names[i])) != NULL) == (present[i] != 0));
    size_t pos = 0, seen = 0;
    const struct strmap_slot *s;
    while (strmap_next(&m, &pos, &s))
        seen++;
    assert_int_equal(seen, live);
    strmap_deinit(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_random_against_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
