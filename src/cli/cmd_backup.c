/* `sovgate backup` and `sovgate restore`: one encrypted, signed archive of a deployment
 * (src/backup/backup.h; docs/operations.md). */
#include "audit/audit.h"
#include "backup/backup.h"
#include "cli/cli.h"
#include "config/config.h"
#include "core/crypto.h"
#include "core/secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char backup_usage[] =
    "usage: sovgate backup --config FILE --out FILE --key KEYREF [--sign-key KEYREF]\n"
    "                      [--with-weights] [--with-secrets] [--chunk BYTES]\n"
    "                      [--store-wait SECONDS] [--quiet]\n"
    "  KEYREF is file:PATH or env:NAME. --key: the 32-byte backup key (64 hex digits);\n"
    "  --sign-key: the organisation's Ed25519 key (default: the config's audit.signing_key)\n"
    "  --store-wait: how long to wait for a change of the model store to finish (default 30)\n";

static const char restore_usage[] =
    "usage: sovgate restore FILE --to DIR --key KEYREF --pubkey FILE|KEYREF [--force]\n"
    "                       [--store-wait SECONDS]\n"
    "       sovgate restore FILE --verify-only --key KEYREF --pubkey FILE|KEYREF\n"
    "  --force: replace a non-empty DIR (and a model store in it: its lock is taken first)\n"
    "  --store-wait: how long to wait for a change of such a store to finish (default 30)\n";

static int usage(const char *u, const char *msg)
{
    if (msg)
        fprintf(stderr, "sovgate: %s\n", msg);
    fputs(u, stderr);
    return 2;
}

static void print_note(void *arg, const char *line)
{
    (void)arg;
    fprintf(stderr, "sovgate backup: %s\n", line);
}

static void print_restore_note(void *arg, const char *line)
{
    (void)arg;
    fprintf(stderr, "sovgate restore: %s\n", line);
}

/* --store-wait SECONDS: 1 to 3600; 0 when `v` is not that. */
static unsigned store_wait_ms(const char *v)
{
    char *end = NULL;
    unsigned long n = strtoul(v, &end, 10);
    if (!*v || *end || v[0] == '-' || n < 1 || n > 3600)
        return 0;
    return (unsigned)n * 1000u;
}

/* An Ed25519 key (private: seed) from a file:/env: reference, or for public keys also a
 * plain path. */
static int load_ed25519(const char *ref, const char *base, bool is_private, uint8_t out[32],
                        struct sg_error *err)
{
    char buf[4200];
    if (!sg_secret_is_ref(ref)) {
        if (is_private)
            return sg_error_set(err, SG_EINVAL, "--sign-key must be file:PATH or env:NAME");
        snprintf(buf, sizeof(buf), "file:%s", ref);
        ref = buf;
    }
    struct sg_secret s = {0};
    int rc = sg_secret_load(ref, base, &s, err);
    if (rc != 0)
        return rc;
    rc = is_private ? sg_audit_key_parse(s.data ? s.data : "", s.len, out, err)
                    : sg_audit_pubkey_parse(s.data ? s.data : "", s.len, out, err);
    sg_secret_free(&s);
    return rc;
}

int sg_cmd_backup(int argc, char **argv)
{
    struct sg_bak_backup_opts o = {0};
    const char *keyref = NULL, *signref = NULL;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(a, "--config") == 0 && has)
            o.config = argv[++i];
        else if (strcmp(a, "--out") == 0 && has)
            o.out = argv[++i];
        else if (strcmp(a, "--key") == 0 && has)
            keyref = argv[++i];
        else if (strcmp(a, "--sign-key") == 0 && has)
            signref = argv[++i];
        else if (strcmp(a, "--chunk") == 0 && has) {
            size_t n = 0;
            if (sg_parse_size(argv[++i], &n) != 0 || n > SG_BAK_MAX_CHUNK)
                return usage(backup_usage, "bad --chunk");
            o.chunk = (uint32_t)n;
        } else if (strcmp(a, "--store-wait") == 0 && has) {
            if (!(o.store_wait_ms = store_wait_ms(argv[++i])))
                return usage(backup_usage, "bad --store-wait (1 to 3600 seconds)");
        } else if (strcmp(a, "--with-weights") == 0)
            o.with_weights = true;
        else if (strcmp(a, "--with-secrets") == 0)
            o.with_secrets = true;
        else if (strcmp(a, "--quiet") == 0)
            quiet = true;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(backup_usage, stdout);
            return 0;
        } else
            return usage(backup_usage, "unknown or incomplete option");
    }
    if (!o.config || !o.out || !keyref)
        return usage(backup_usage, "backup needs --config, --out and --key");
    struct sg_error err = {0};
    uint8_t key[SG_BAK_KEY_LEN], seed[32];
    if (!signref) {
        /* The organisation's key as the config names it for the audit trail. */
        struct sg_config *cfg = NULL;
        struct sg_config_diags d = {0};
        if (sg_config_load_file(o.config, &cfg, &d) != 0) {
            for (size_t i = 0; i < d.n; i++)
                fprintf(stderr, "%s\n", d.v[i].msg);
            sg_config_diags_free(&d);
            return 1;
        }
        sg_config_diags_free(&d);
        int rc = 0;
        if (!cfg->audit.signing_key)
            rc = sg_error_set(&err, SG_EINVAL,
                              "no --sign-key and the config has no audit.signing_key");
        else
            rc = load_ed25519(cfg->audit.signing_key, cfg->dir, true, seed, &err);
        sg_config_free(cfg);
        if (rc != 0) {
            fprintf(stderr, "sovgate backup: %s\n", err.msg);
            return 1;
        }
    } else if (load_ed25519(signref, NULL, true, seed, &err) != 0) {
        fprintf(stderr, "sovgate backup: signing key: %s\n", err.msg);
        return 1;
    }
    if (sg_bak_key_load(keyref, NULL, key, &err) != 0) {
        sg_secure_zero(seed, sizeof(seed));
        fprintf(stderr, "sovgate backup: %s\n", err.msg);
        return 1;
    }
    o.key = key;
    o.seed = seed;
    o.note = quiet ? NULL : print_note;
    int rc = sg_bak_backup(&o, &err);
    sg_secure_zero(key, sizeof(key));
    sg_secure_zero(seed, sizeof(seed));
    if (rc != 0) {
        fprintf(stderr, "sovgate backup: %s\n", err.msg);
        return 1;
    }
    printf("%s\n", o.out);
    return 0;
}

int sg_cmd_restore(int argc, char **argv)
{
    struct sg_bak_restore_opts o = {0};
    const char *keyref = NULL, *pubref = NULL;
    bool verify_only = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(a, "--to") == 0 && has)
            o.dir = argv[++i];
        else if (strcmp(a, "--key") == 0 && has)
            keyref = argv[++i];
        else if (strcmp(a, "--pubkey") == 0 && has)
            pubref = argv[++i];
        else if (strcmp(a, "--force") == 0)
            o.force = true;
        else if (strcmp(a, "--store-wait") == 0 && has) {
            if (!(o.store_wait_ms = store_wait_ms(argv[++i])))
                return usage(restore_usage, "bad --store-wait (1 to 3600 seconds)");
        } else if (strcmp(a, "--verify-only") == 0)
            verify_only = true;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(restore_usage, stdout);
            return 0;
        } else if (a[0] != '-' && !o.archive)
            o.archive = a;
        else
            return usage(restore_usage, "unknown or incomplete option");
    }
    if (!o.archive || !keyref || !pubref || (!o.dir && !verify_only) || (o.dir && verify_only))
        return usage(restore_usage, "restore needs FILE, --key, --pubkey and --to DIR "
                                    "(or --verify-only)");
    struct sg_error err = {0};
    uint8_t key[SG_BAK_KEY_LEN], pub[32];
    if (load_ed25519(pubref, NULL, false, pub, &err) != 0) {
        fprintf(stderr, "sovgate restore: public key: %s\n", err.msg);
        return 1;
    }
    if (sg_bak_key_load(keyref, NULL, key, &err) != 0) {
        fprintf(stderr, "sovgate restore: %s\n", err.msg);
        return 1;
    }
    o.key = key;
    o.pubkey = pub;
    o.note = print_restore_note;
    struct sg_bak_info info = {0};
    int rc;
    if (verify_only) {
        FILE *f = fopen(o.archive, "rb");
        if (!f) {
            rc = sg_error_set(&err, SG_ENOTFOUND, "cannot open %s", o.archive);
        } else {
            rc = sg_bak_read(fileno(f), key, pub, NULL, &info, &err);
            fclose(f);
        }
    } else {
        rc = sg_bak_restore(&o, &info, &err);
    }
    sg_secure_zero(key, sizeof(key));
    if (rc != 0) {
        fprintf(stderr, "sovgate restore: %s: %s\n", o.archive, err.msg);
        fprintf(stderr, "sovgate restore: nothing was written\n");
        return 1;
    }
    const char *created = json_string_value(json_object_get(info.manifest, "created"));
    const char *host = json_string_value(json_object_get(info.manifest, "host"));
    printf("%s: verified: signature, %llu chunks, %llu files (%llu bytes); made %s on %s\n",
           o.archive, (unsigned long long)info.chunks, (unsigned long long)info.entries,
           (unsigned long long)info.bytes, created ? created : "?", host ? host : "?");
    if (!verify_only)
        printf("restored into %s; start it with: sovgate serve --config %s/sovgate.yaml\n", o.dir,
               o.dir);
    json_t *ni = json_object_get(info.manifest, "not_included");
    size_t i;
    json_t *e;
    json_array_foreach(ni, i, e)
    {
        const char *k = json_string_value(json_object_get(e, "key"));
        const char *p = json_string_value(json_object_get(e, "path"));
        const char *why = json_string_value(json_object_get(e, "why"));
        printf("not in the archive: %s %s (%s)\n", k ? k : "", p ? p : "", why ? why : "");
    }
    json_decref(info.manifest);
    return 0;
}
