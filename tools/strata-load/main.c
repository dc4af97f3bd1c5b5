/* strata-load: load generator for strata and compatible Prometheus / Loki endpoints (see
 * docs/strata-load.md). */
#include <stdio.h>

#include "tools/strata-load/opts.h"
#include "tools/strata-load/run.h"

int main(int argc, char **argv)
{
    static struct ld_opts o;
    char err[256];
    int rc = ld_opts_parse(&o, argc, argv, stdout, err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc) {
        fprintf(stderr, "strata-load: %s\n", err);
        return 2;
    }
    return ld_main(&o);
}
