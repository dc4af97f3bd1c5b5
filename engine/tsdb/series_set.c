/* Label-set ordering shared by every chunk series set. */
#include "engine/tsdb/series_set.h"

int labels_cmp(const struct label *a, size_t na, const struct label *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++) {
        int c = str_cmp(a[i].name, b[i].name);
        if (c)
            return c;
        c = str_cmp(a[i].value, b[i].value);
        if (c)
            return c;
    }
    return (na > nb) - (na < nb);
}
