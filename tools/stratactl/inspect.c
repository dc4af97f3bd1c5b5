/* stratactl inspect: the subcommand's driver (options, scan, analysis or per-series samples,
 * output, exit status). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/log.h"
#include "tools/stratactl/inspect.h"
#include "tools/stratactl/tmpdir.h"

static int run(struct ctl_report *r, const struct ctl_inspect_opts *o)
{
    const char *parent = o->tmp_dir ? o->tmp_dir : getenv("TMPDIR");
    if (!parent || !*parent)
        parent = "/tmp";
    const char *tmp = ctl_tmpdir_create(parent);
    if (!tmp) {
        fprintf(stderr, "stratactl inspect: cannot create a scratch directory in %s: %s\n", parent,
                strerror(errno));
        return -errno;
    }
    int rc = ctl_scan(r, o->shard, tmp);
    if (rc == ERR_NOT_FOUND) {
        if (o->shard >= 0)
            fprintf(stderr, "stratactl inspect: %s: no shard-%03d directory\n", o->data_dir,
                    o->shard);
        else
            fprintf(stderr, "stratactl inspect: %s: no such data directory\n", o->data_dir);
        return rc;
    }
    if (rc == 0 && o->series_samples) {
        rc = ctl_series_samples(r, o->json, stdout);
    } else if (rc == 0) {
        if (o->top > 0)
            rc = ctl_analyze(r);
        struct buf out = BUF_INIT;
        if (rc == 0)
            rc = o->json ? ctl_report_json(r, o->top, &out) : ctl_report_text(r, o->top, &out);
        if (rc == 0 && fwrite(out.data, 1, out.len, stdout) != out.len)
            rc = -EPIPE;
        buf_deinit(&out);
    }
    if (rc && rc != -EPIPE)
        fprintf(stderr, "stratactl inspect: %s: %s\n", o->data_dir, err_str(rc));
    return rc;
}

int ctl_inspect_main(int argc, char **argv)
{
    struct ctl_inspect_opts o;
    char err[256];
    int prc = ctl_inspect_opts_parse(&o, argc, argv, stdout, err, sizeof err);
    if (prc == 1)
        return CTL_EXIT_OK;
    if (prc) {
        fprintf(stderr, "stratactl inspect: %s\n(see stratactl inspect --help)\n", err);
        return CTL_EXIT_USAGE;
    }
    log_level_set(o.verbose ? LOG_INFO : LOG_ERROR);
    struct ctl_report r;
    ctl_report_init(&r, o.data_dir);
    r.warn.echo = stderr;
    int rc = run(&r, &o);
    ctl_report_deinit(&r);
    ctl_tmpdir_remove();
    if (fflush(stdout) != 0 && rc == 0)
        rc = -EPIPE; /* nothing to say: the reader is gone or the disk is full */
    return rc ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}
