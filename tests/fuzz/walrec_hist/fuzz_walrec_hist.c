/* Fuzz target for the WAL HISTOGRAMS and EXEMPLARS payload codecs (formats/walrec.h,
 * docs/formats/wal.md). The first input byte picks the codec (even: HISTOGRAMS, odd: EXEMPLARS),
 * the rest is the payload. Decoding stops with 0, ERR_CORRUPT or ERR_LIMIT, never crashes; every
 * item decoded is re-encoded and must decode to the same item (histograms bit for bit). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "formats/walrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

static void hists(const uint8_t *p, size_t n)
{
    struct walrec_hists_iter it, it2;
    walrec_hists_iter_init(&it, p, n);
    struct buf b;
    buf_init(&b);
    while (walrec_hists_iter_next(&it)) {
        const struct walrec_hist *x = walrec_hists_iter_at(&it);
        CHECK(histchunk_hist_check(x->h, x->is_float, NULL) == 0);
        buf_reset(&b);
        CHECK(walrec_hists_encode(&b, x, 1) == 0);
        walrec_hists_iter_init(&it2, b.data, b.len);
        CHECK(walrec_hists_iter_next(&it2));
        const struct walrec_hist *y = walrec_hists_iter_at(&it2);
        CHECK(y->id == x->id && y->ts_ms == x->ts_ms && y->is_float == x->is_float);
        CHECK(histchunk_hist_eq(x->h, y->h));
        CHECK(!walrec_hists_iter_next(&it2) && walrec_hists_iter_err(&it2) == 0);
        walrec_hists_iter_deinit(&it2);
    }
    int err = walrec_hists_iter_err(&it);
    CHECK(err == 0 || err == ERR_CORRUPT || err == ERR_NOMEM);
    walrec_hists_iter_deinit(&it);
    buf_deinit(&b);
}

static void exemplars(const uint8_t *p, size_t n)
{
    enum { CAP = 64 };
    static struct label lb[CAP];
    static struct walrec_exemplar items[4096];
    static struct label all[4096 * 4];
    size_t k = 0, nl = 0;
    struct walrec_exemplars_iter it;
    walrec_exemplars_iter_init(&it, p, n, lb, CAP);
    while (walrec_exemplars_iter_next(&it)) {
        const struct walrec_exemplar *x = walrec_exemplars_iter_at(&it);
        if (k == 4096 || nl + x->n_labels > sizeof all / sizeof *all)
            return;
        memcpy(all + nl, x->labels, x->n_labels * sizeof *all);
        items[k] = *x;
        items[k++].labels = all + nl;
        nl += x->n_labels;
    }
    int err = walrec_exemplars_iter_err(&it);
    CHECK(err == 0 || err == ERR_CORRUPT || err == ERR_LIMIT);
    struct buf b;
    buf_init(&b);
    CHECK(walrec_exemplars_encode(&b, items, k) == 0);
    walrec_exemplars_iter_init(&it, b.data, b.len, lb, CAP);
    for (size_t i = 0; i < k; i++) {
        CHECK(walrec_exemplars_iter_next(&it));
        const struct walrec_exemplar *y = walrec_exemplars_iter_at(&it);
        CHECK(y->id == items[i].id && y->ts_ms == items[i].ts_ms &&
              y->value_bits == items[i].value_bits && y->n_labels == items[i].n_labels);
        for (size_t j = 0; j < y->n_labels; j++)
            CHECK(str_eq(y->labels[j].name, items[i].labels[j].name) &&
                  str_eq(y->labels[j].value, items[i].labels[j].value));
    }
    CHECK(!walrec_exemplars_iter_next(&it) && walrec_exemplars_iter_err(&it) == 0);
    buf_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        exemplars(data + 1, size - 1);
    else
        hists(data + 1, size - 1);
    return 0;
}
