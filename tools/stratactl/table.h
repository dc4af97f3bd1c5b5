/* stratactl: aligned text tables (a header line, then rows; columns separated by two spaces,
 * each left- or right-aligned, no trailing blanks). Cells are copied. Errors: ERR_NOMEM. */
#ifndef STRATA_TOOLS_STRATACTL_TABLE_H
#define STRATA_TOOLS_STRATACTL_TABLE_H

#include <stddef.h>

#include "base/buf.h"

#define CTL_TABLE_COLS_MAX 16

struct ctl_table {
    size_t ncol;
    const char *hdr[CTL_TABLE_COLS_MAX]; /* borrowed */
    const char *right;                   /* per column 'r' (right-aligned) or 'l'; NULL: all left */
    char **cells;                        /* n * ncol, owned */
    size_t n, cap;
};

void ctl_table_init(struct ctl_table *t, size_t ncol, const char *const *header, const char *right);
void ctl_table_deinit(struct ctl_table *t);
/* Appends a row of ncol cells (NULL cells print empty). */
int ctl_table_row(struct ctl_table *t, const char *const *cells);
/* Appends the table to b, each line prefixed by indent. */
int ctl_table_print(const struct ctl_table *t, const char *indent, struct buf *b);

#endif
