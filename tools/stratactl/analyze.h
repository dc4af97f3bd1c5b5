/* stratactl inspect: the cardinality analysis of a set of distinct series (what `promtool tsdb
 * analyze` reports, over every block and the head): per label name the number of distinct values,
 * the series carrying it and the bytes of its distinct values; per label pair (name, value) and
 * per metric name (the value of __name__) the series carrying it; and how often each value length
 * occurs among the distinct pairs. Top-K lists are sorted by count, descending, ties by key
 * ascending (byte order), so the output is deterministic.
 *
 * The caller feeds each DISTINCT label set once (ctl_analysis_add); strings are copied into the
 * analysis's arena. Errors: ERR_NOMEM. Single-threaded. */
#ifndef STRATA_TOOLS_STRATACTL_ANALYZE_H
#define STRATA_TOOLS_STRATACTL_ANALYZE_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/str.h"
#include "base/strmap.h"

enum ctl_top_kind {
    CTL_TOP_LABEL_VALUES = 0,  /* label names by distinct values ("highest cardinality labels") */
    CTL_TOP_LABEL_SERIES = 1,  /* label names by series carrying them */
    CTL_TOP_METRIC_SERIES = 2, /* metric names (__name__ values) by series */
    CTL_TOP_PAIR_SERIES = 3,   /* label pairs by series */
    CTL_TOP_VALUE_LENGTHS = 4, /* value lengths (bytes) by distinct pairs having that length */
    CTL_TOP_LABEL_VALUE_BYTES = 5, /* label names by the summed length of their distinct values */
    CTL_TOP_KINDS_,
};

/* One line of a top list. name/value borrow from the analysis (value is empty unless the kind
 * is CTL_TOP_PAIR_SERIES); for CTL_TOP_VALUE_LENGTHS, `length` is the key and name is empty. */
struct ctl_top_entry {
    struct str name;
    struct str value;
    uint64_t length;
    uint64_t count;
};

struct ctl_analysis {
    struct arena arena;
    struct strmap names;  /* name -> struct ctl_name_stat */
    struct strmap pairs;  /* name 0xff value -> uint64_t series */
    uint64_t *len_counts; /* index: value length; distinct pairs with that length */
    size_t n_len_counts;
    uint64_t series;
    uint64_t label_refs; /* labels summed over all series */
};

void ctl_analysis_init(struct ctl_analysis *a);
void ctl_analysis_deinit(struct ctl_analysis *a);
/* Adds one distinct series (labels sorted by name, unique names). Returns 0 or ERR_NOMEM. */
int ctl_analysis_add(struct ctl_analysis *a, const struct label *labels, size_t n);

/* Distinct label names and distinct (name, value) pairs seen so far. */
size_t ctl_analysis_names(const struct ctl_analysis *a);
size_t ctl_analysis_pairs(const struct ctl_analysis *a);

/* The top `k` entries of a kind into *out (malloc'ed, freed by the caller; NULL when none) and
 * their number into *n. Returns 0 or ERR_NOMEM. */
int ctl_analysis_top(const struct ctl_analysis *a, enum ctl_top_kind kind, size_t k,
                     struct ctl_top_entry **out, size_t *n);

/* The JSON key and the text heading of a kind. */
const char *ctl_top_key(enum ctl_top_kind kind);
const char *ctl_top_title(enum ctl_top_kind kind);

#endif
