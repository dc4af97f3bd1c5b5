/* Test tool for stratactl_test.py: builds a strata data directory through the engine (see
 * stratactl_fixture.h) and writes what it holds, one series per line, to EXPECT_FILE.
 *
 * usage: stratactl_fixture DATA_DIR EXPECT_FILE [SHARDS SERIES HOURS STEP_MS]
 * Exit status: 0 ok, 1 error, 2 usage, 77 io_uring unavailable (skip). */
#include "tests/integration/stratactl_fixture.h"

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 7) {
        fprintf(stderr, "usage: stratactl_fixture DATA_DIR EXPECT_FILE [SHARDS SERIES HOURS "
                        "STEP_MS]\n");
        return 2;
    }
    struct fx_opts o = {.shards = 2, .series = 20, .step_ms = 60000, .hours = 7};
    if (argc == 7) {
        o.shards = (uint32_t)strtoul(argv[3], NULL, 10);
        o.series = (uint32_t)strtoul(argv[4], NULL, 10);
        o.hours = (uint32_t)strtoul(argv[5], NULL, 10);
        o.step_ms = strtoll(argv[6], NULL, 10);
        if (o.shards < 1 || o.series < 2 || o.hours < 1 || o.step_ms < 1000) {
            fprintf(stderr, "stratactl_fixture: need SHARDS >= 1, SERIES >= 2, HOURS >= 1, "
                            "STEP_MS >= 1000\n");
            return 2;
        }
    }
    FILE *f = fopen(argv[2], "w");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    int rc = fx_build(argv[1], &o, f);
    if (fclose(f) != 0 && rc == 0)
        rc = 1;
    return rc;
}
