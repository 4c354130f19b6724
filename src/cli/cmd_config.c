/* `sovgate check-config`: load and validate a configuration without starting anything,
 * including what a start would do beyond parsing (TLS files, the keys database). */
#include "cli/cli.h"
#include "config/config.h"
#include "gateway/snapshot.h"

#include <stdio.h>
#include <string.h>

int sg_cmd_check_config(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else
            return sg_cli_usage_error("check-config takes one configuration file");
    }
    if (!path)
        return sg_cli_usage_error("check-config needs a configuration file");
    struct sg_config *cfg = NULL;
    struct sg_config_diags d = {0};
    int rc = sg_config_load_file(path, &cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.v[i].msg);
    sg_config_diags_free(&d);
    if (rc)
        return 1;
    /* What the daemon would build at start (TLS context, key table, detectors, backend
     * addresses). The build stops at the first problem (and frees the config): then the
     * file is loaded again and every problem is listed, each at its key's position. */
    struct sg_snapshot *s = NULL;
    struct sg_error err = {0};
    if (sg_snapshot_build(cfg, 1, &s, &err) != 0) {
        cfg = NULL;
        size_t n = sg_config_load_file(path, &cfg, &d) == 0 ? sg_snapshot_check(cfg, &d) : 0;
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "%s\n", d.v[i].msg);
        if (!n)
            fprintf(stderr, "%s: %s\n", path, err.msg);
        sg_config_diags_free(&d);
        sg_config_free(cfg);
        return 1;
    }
    printf("%s: OK (%zu backends, %zu routes, %zu clients, %d workers)\n", path, s->cfg->nbackends,
           s->cfg->nroutes, sg_keytab_count(s->keys), s->cfg->workers);
    sg_snapshot_unref(s);
    return 0;
}
