/* stratactl: the strata command-line tool (docs/stratactl.md). Subcommands are listed in one
 * table; each has its own main returning the exit status (0 ok, 1 error, 2 usage). */
#include <stdio.h>
#include <string.h>

#include "server/buildinfo.h"
#include "tools/stratactl/inspect.h"

struct ctl_cmd {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
};

static const struct ctl_cmd cmds[] = {
    {"inspect", ctl_inspect_main,
     "report blocks, head, WAL and cardinality of a data directory (read-only)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: stratactl [--help] [--version] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(out, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(out, "\n'stratactl COMMAND --help' describes a command.\n"
                 "exit status: 0 ok, 1 error, 2 usage\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    const char *c = argv[1];
    if (strcmp(c, "-h") == 0 || strcmp(c, "--help") == 0 || strcmp(c, "help") == 0) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    if (strcmp(c, "--version") == 0) {
        printf("stratactl %s (revision %s)\n", buildinfo_get()->version, buildinfo_get()->revision);
        return CTL_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(c, cmds[i].name) == 0)
            return cmds[i].main(argc - 1, argv + 1);
    fprintf(stderr, "stratactl: unknown command '%s'\n", c);
    usage(stderr);
    return CTL_EXIT_USAGE;
}
