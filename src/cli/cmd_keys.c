/* `sovgate keys`: create, list and revoke client keys in the keys database, and compute
 * the key_hash of a key for writing it into the configuration by hand. */
#include "auth/keys.h"
#include "cli/cli.h"
#include "config/config.h"
#include "core/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct keys_args {
    const char *name, *models, *config, *db, *hash;
};

/* Resolves the keys database from --db or the config's keys_db. */
static int keys_db_path(const struct keys_args *a, char *out, size_t cap,
                        struct sg_config **cfg_out)
{
    *cfg_out = NULL;
    if (a->db) {
        snprintf(out, cap, "%s", a->db);
        return 0;
    }
    if (!a->config) {
        fprintf(stderr, "sovgate keys: give --config FILE or --db FILE\n");
        return 2;
    }
    struct sg_config_diags d = {0};
    int rc = sg_config_load_file(a->config, cfg_out, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.v[i].msg);
    sg_config_diags_free(&d);
    if (rc)
        return 1;
    if (!(*cfg_out)->keys_db) {
        fprintf(stderr, "sovgate keys: %s has no keys_db\n", a->config);
        sg_config_free(*cfg_out);
        *cfg_out = NULL;
        return 1;
    }
    snprintf(out, cap, "%s", (*cfg_out)->keys_db);
    return 0;
}

static void print_key(void *arg, const char *name, const char *hash, const char *models,
                      int64_t created, int64_t revoked)
{
    (void)arg;
    char c[32] = "-", r[32] = "active";
    time_t t = (time_t)created;
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(c, sizeof(c), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (revoked) {
        t = (time_t)revoked;
        if (gmtime_r(&t, &tm))
            strftime(r, sizeof(r), "revoked %Y-%m-%d", &tm);
    }
    /* Only a prefix of the hash: enough to revoke one key, useless to anyone else. */
    printf("%-24s %.23s  %-24s %-20s %s\n", name ? name : "", hash ? hash : "",
           models ? models : "*", c, r);
}

static int split_models(char *csv, const char **out, size_t cap, size_t *n)
{
    *n = 0;
    for (char *p = csv; p && *p;) {
        char *e = strchr(p, ',');
        if (e)
            *e = '\0';
        if (*p) {
            if (*n == cap)
                return -1;
            out[(*n)++] = p;
        }
        p = e ? e + 1 : NULL;
    }
    return 0;
}

int sg_cmd_keys(int argc, char **argv)
{
    if (argc < 2)
        return sg_cli_usage_error("keys needs a subcommand: create, list, revoke or hash");
    const char *sub = argv[1];
    struct keys_args a = {0};
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **dst = strcmp(o, "--name") == 0     ? &a.name
                           : strcmp(o, "--models") == 0 ? &a.models
                           : strcmp(o, "--config") == 0 ? &a.config
                           : strcmp(o, "--db") == 0     ? &a.db
                           : strcmp(o, "--hash") == 0   ? &a.hash
                                                        : NULL;
        if (!dst || !v)
            return sg_cli_usage_error("unknown or incomplete option for keys");
        *dst = v;
        i++;
    }
    if (strcmp(sub, "hash") == 0) {
        char line[512];
        if (!fgets(line, sizeof(line), stdin)) {
            fprintf(stderr, "sovgate keys hash: no key on stdin\n");
            return 1;
        }
        size_t n = strcspn(line, "\r\n");
        uint8_t h[SG_SHA256_LEN];
        char hs[SG_KEY_HASH_STR];
        sg_key_hash(line, n, h);
        sg_key_hash_format(h, hs);
        sg_secure_zero(line, sizeof(line));
        printf("%s\n", hs);
        return 0;
    }
    char db[4096];
    struct sg_config *cfg = NULL;
    int rc = keys_db_path(&a, db, sizeof(db), &cfg);
    if (rc)
        return rc;
    struct sg_error err = {0};
    if (strcmp(sub, "create") == 0) {
        if (!a.name) {
            sg_config_free(cfg);
            return sg_cli_usage_error("keys create needs --name");
        }
        if (!sg_config_name_ok(a.name)) {
            sg_config_free(cfg);
            return sg_cli_usage_error("keys create: --name must be 1-128 characters of "
                                      "letters, digits and . _ - : / @ +");
        }
        const char *models[256];
        size_t nm = 0;
        char *csv = a.models ? strdup(a.models) : NULL;
        if (csv && split_models(csv, models, 256, &nm) != 0) {
            fprintf(stderr, "sovgate keys create: too many models\n");
            free(csv);
            sg_config_free(cfg);
            return 2;
        }
        for (size_t i = 0; cfg && i < nm; i++) {
            if (!sg_config_find_route(cfg, models[i])) {
                fprintf(stderr, "sovgate keys create: the configuration has no model \"%s\"\n",
                        models[i]);
                free(csv);
                sg_config_free(cfg);
                return 1;
            }
        }
        char key[SG_KEY_LEN + 1];
        rc = sg_keydb_create(db, a.name, models, nm, key, &err);
        free(csv);
        sg_config_free(cfg);
        if (rc) {
            fprintf(stderr, "sovgate keys create: %s\n", err.msg);
            return 1;
        }
        printf("%s\n", key);
        fflush(stdout);
        sg_secure_zero(key, sizeof(key));
        fprintf(stderr,
                "Key for \"%s\" stored (as a hash) in %s. This is the only time it is "
                "shown. Reload the gateway (SIGHUP) to apply.\n",
                a.name, db);
        return 0;
    }
    sg_config_free(cfg);
    if (strcmp(sub, "list") == 0) {
        if (sg_keydb_list(db, print_key, NULL, &err) != 0) {
            fprintf(stderr, "sovgate keys list: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    if (strcmp(sub, "revoke") == 0) {
        if (!a.name)
            return sg_cli_usage_error("keys revoke needs --name");
        int count = 0;
        if (sg_keydb_revoke(db, a.name, a.hash, &count, &err) != 0) {
            fprintf(stderr, "sovgate keys revoke: %s\n", err.msg);
            return 1;
        }
        printf("revoked %d key%s\n", count, count == 1 ? "" : "s");
        if (count) /* as for create: the running gateway reads the database on reload */
            fprintf(stderr, "A running gateway still accepts %s until it is reloaded (SIGHUP).\n",
                    count == 1 ? "it" : "them");
        return count ? 0 : 1;
    }
    return sg_cli_usage_error("unknown keys subcommand");
}
