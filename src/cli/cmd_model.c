/* `sovgate model`: the model store (import, list, verify, promote, rollback, remove, gc). See
 * docs/models.md. Settings come from the `models` section of --config, or from the flags
 * (which win). */
#include "cli/cli.h"
#include "config/config.h"
#include "core/secret.h"
#include "model/enc.h"
#include "model/gguf.h"
#include "model/model.h"
#include "model/oci.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char model_usage[] =
    "usage: sovgate model <command> [--config FILE | --store DIR] [options]\n"
    "  import FILE --name N --version V [--license L] [--source S] [--encrypt KEYREF]\n"
    "                          copy a GGUF into the store, sign its manifest\n"
    "  list [--json]           every version, its metadata and channels\n"
    "  verify [N [V]]          signatures and SHA-256 of the weights; with an encryption\n"
    "                          key (--encryption-key or models.encryption_key) every chunk\n"
    "                          and the plaintext's SHA-256 too; without N, also the orphans\n"
    "                          (files no manifest names, which gc removes): warnings only\n"
    "  promote N V --channel C point channel C of N at version V\n"
    "  rollback N --channel C  point channel C back at its previous version\n"
    "                          (both refuse a channel file older than this signer signed,\n"
    "                          a put-back file: --accept-older-channels builds on it anyway)\n"
    "  remove N V              remove a version no channel uses\n"
    "  gc [--dry-run] [--partial]\n"
    "                          remove blobs no manifest names (left by an import or pull\n"
    "                          that stopped before writing its manifest) and tmp/ leftovers;\n"
    "                          --partial: unfinished pulls too (otherwise resumed)\n"
    "  inspect FILE            print a GGUF file's metadata (reads nothing else)\n"
    "  push N V REF            upload a version to an OCI registry (REF: host[:port]/repo:tag)\n"
    "  pull REF                download REF (…:tag or …@sha256:…), verify digests and\n"
    "                          signature, add it to the store (promote it afterwards)\n"
    "options: --key REF (signing key), --pubkey REF (public key), --encryption-key REF,\n"
    "         --audit-db FILE, --no-audit, --chunk BYTES, --signer-state FILE (the\n"
    "         channel files this signer signed; default: the key file's path + .seq);\n"
    "         REF is file:PATH or env:NAME;\n"
    "         registry: --ca FILE (its CA), --registry-auth REF (user:password)\n";

struct margs {
    const char *config, *store, *key, *pubkey, *enc, *encrypt, *audit, *name, *version, *license,
        *source, *channel, *chunk, *ca, *rauth, *signer_state;
    const char *pos[3];
    int npos;
    bool json, no_audit, accept_older, dry_run, partial;
};

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "sovgate model: %s\n", msg);
    fputs(model_usage, stderr);
    return 2;
}

static int fail(const struct sg_error *err)
{
    fprintf(stderr, "sovgate model: %s\n", err->msg[0] ? err->msg : sg_strerror(err->code));
    return 1;
}

static void report(void *arg, const char *name, const char *version, int rc, const char *msg)
{
    (void)arg;
    printf("%s %s %s%s%s\n", rc ? "FAIL" : "ok  ", name, version, rc ? ": " : "", rc ? msg : "");
}

/* verify's orphans: what gc would remove (sg_model_orphans), path and size only. */
static void orphan_report(void *arg, enum sg_model_gc_action act, const char *file, uint64_t bytes,
                          const char *why)
{
    (void)arg;
    if (act == SG_MODEL_GC_WOULD_REMOVE)
        printf("WARN orphan %s (%llu bytes): %s\n", file, (unsigned long long)bytes, why);
}

/* After a verify of the whole store: one WARN line per orphan and a summary line. Orphans
 * damage no model, so they never change verify's exit status (docs/models.md). */
static void verify_orphans(struct sg_model_store *s)
{
    struct sg_model_gc_stats st;
    struct sg_error err = {0};
    int rc = sg_model_orphans(s, orphan_report, NULL, &st, &err);
    if (rc == SG_EUNAVAIL)
        printf("orphans: not looked for: %s; run verify again when it ends, or `sovgate model "
               "gc --dry-run`, which waits for it\n",
               err.msg);
    else if (rc)
        printf("orphans: could not be looked for: %s\n", err.msg[0] ? err.msg : sg_strerror(rc));
    else if (st.files == 0)
        printf("orphans: none\n");
    else
        printf("orphans: %zu file%s, %llu bytes, that no manifest names (WARN above; they damage "
               "no model): `sovgate model gc` removes them (`--dry-run` lists them first)\n",
               st.files, st.files == 1 ? "" : "s", (unsigned long long)st.bytes);
}

static void gc_report(void *arg, enum sg_model_gc_action act, const char *file, uint64_t bytes,
                      const char *why)
{
    (void)arg;
    static const char *const verb[] = {"removed", "would remove", "kept", "left alone", "FAILED"};
    printf("%s %s (%llu bytes): %s\n", verb[act], file, (unsigned long long)bytes, why);
}

/* The signer's state file (absolute): --signer-state, else the signing key's file + ".seq";
 * "" when the key is no file (env:) and none was named. */
static int signer_state_path(const struct margs *a, const char *base, char *out, size_t cap)
{
    char rel[PATH_MAX], cwd[PATH_MAX], key[PATH_MAX];
    out[0] = '\0';
    if (a->signer_state) {
        if (snprintf(rel, sizeof(rel), "%s", a->signer_state) >= (int)sizeof(rel))
            return SG_ETOOBIG;
    } else if (a->key && strncmp(a->key, "file:", 5) == 0) {
        if (sg_path_resolve(base, a->key + 5, key, sizeof(key)) != 0 ||
            snprintf(rel, sizeof(rel), "%s.seq", key) >= (int)sizeof(rel))
            return SG_ETOOBIG;
    } else {
        return 0;
    }
    int n;
    if (rel[0] == '/')
        n = snprintf(out, cap, "%s", rel);
    else if (getcwd(cwd, sizeof(cwd)))
        n = snprintf(out, cap, "%s/%s", cwd, rel);
    else
        return SG_EIO;
    return n < 0 || (size_t)n >= cap ? SG_ETOOBIG : 0;
}

static int cmd_inspect(const char *file)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        perror(file);
        return 1;
    }
    struct sg_gguf_info g;
    struct sg_error err = {0};
    int rc = sg_gguf_read_fd(fileno(f), &g, &err);
    fclose(f);
    if (rc)
        return fail(&err);
    char hex[65] = "";
    if (g.has_chat_template)
        sg_hex_encode(g.chat_template_sha256, 32, hex);
    const char *ft = sg_gguf_ftype_name(g.file_type);
    /* Built with jansson, not printf: the architecture comes from the file and may hold
     * quotes or backslashes, which must be escaped to keep the output JSON. */
    json_t *j = json_pack("{s:I,s:s,s:I,s:I,s:s,s:I,s:s}", "gguf_version", (json_int_t)g.version,
                          "architecture", g.arch, "parameters", (json_int_t)g.n_params, "tensors",
                          (json_int_t)g.n_tensors, "file_type", ft ? ft : "", "context_length",
                          (json_int_t)g.context_length, "chat_template_sha256", hex);
    if (!j || json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0) {
        json_decref(j);
        fprintf(stderr, "sovgate model: out of memory\n");
        return 1;
    }
    json_decref(j);
    putchar('\n');
    return 0;
}

int sg_cmd_model(int argc, char **argv)
{
    if (argc < 2)
        return usage(NULL);
    const char *cmd = argv[1];
    struct margs a = {0};
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = NULL;
        if (strcmp(o, "--json") == 0) {
            a.json = true;
            continue;
        }
        if (strcmp(o, "--no-audit") == 0) {
            a.no_audit = true;
            continue;
        }
        if (strcmp(o, "--accept-older-channels") == 0) {
            a.accept_older = true;
            continue;
        }
        if (strcmp(o, "--dry-run") == 0) {
            a.dry_run = true;
            continue;
        }
        if (strcmp(o, "--partial") == 0) {
            a.partial = true;
            continue;
        }
        if (o[0] != '-') {
            if (a.npos == 3)
                return usage("too many arguments");
            a.pos[a.npos++] = o;
            continue;
        }
        static const struct {
            const char *flag;
            size_t off;
        } flags[] = {
            {"--config", offsetof(struct margs, config)},
            {"--store", offsetof(struct margs, store)},
            {"--key", offsetof(struct margs, key)},
            {"--pubkey", offsetof(struct margs, pubkey)},
            {"--encryption-key", offsetof(struct margs, enc)},
            {"--encrypt", offsetof(struct margs, encrypt)},
            {"--audit-db", offsetof(struct margs, audit)},
            {"--name", offsetof(struct margs, name)},
            {"--version", offsetof(struct margs, version)},
            {"--license", offsetof(struct margs, license)},
            {"--source", offsetof(struct margs, source)},
            {"--channel", offsetof(struct margs, channel)},
            {"--chunk", offsetof(struct margs, chunk)},
            {"--ca", offsetof(struct margs, ca)},
            {"--registry-auth", offsetof(struct margs, rauth)},
            {"--signer-state", offsetof(struct margs, signer_state)},
        };
        for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++)
            if (strcmp(o, flags[f].flag) == 0)
                slot = (const char **)((char *)&a + flags[f].off);
        if (!slot)
            return usage("unknown option");
        if (!v)
            return usage("an option lacks its value");
        *slot = v;
        i++;
    }
    if (strcmp(cmd, "inspect") == 0) {
        if (a.npos != 1)
            return usage("inspect needs FILE");
        return cmd_inspect(a.pos[0]);
    }

    struct sg_config *cfg = NULL;
    const char *base = NULL;
    if (a.config) {
        struct sg_config_diags d = {0};
        if (sg_config_load_file(a.config, &cfg, &d) != 0) {
            for (size_t i = 0; i < d.n; i++)
                fprintf(stderr, "%s\n", d.v[i].msg);
            sg_config_diags_free(&d);
            return 1;
        }
        sg_config_diags_free(&d);
        base = cfg->dir;
        if (!a.store)
            a.store = cfg->models.store;
        if (!a.key)
            a.key = cfg->models.signing_key;
        if (!a.pubkey)
            a.pubkey = cfg->models.public_key;
        if (!a.enc)
            a.enc = cfg->models.encryption_key;
        if (!a.audit)
            a.audit = cfg->models.audit;
    }
    struct sg_error err = {0};
    uint8_t seed[32], pub[32], ekey[SG_MENC_KEY_LEN];
    bool need_seed = strcmp(cmd, "import") == 0 || strcmp(cmd, "promote") == 0 ||
                     strcmp(cmd, "rollback") == 0 || strcmp(cmd, "remove") == 0;
    bool is_pull = strcmp(cmd, "pull") == 0;
    int rc = 1;
    struct sg_model_store *s = NULL;
    bool have_seed = false, have_pub = false, have_ekey = false;
    if (!a.store) {
        rc = usage("no store: --store DIR or models.store in --config");
        goto out;
    }
    /* pull, push and gc need no signing key, but sign their audit checkpoints with it when
     * it is at hand; without it their records wait for a command that has it (see
     * docs/models.md "Audit"), so one that cannot be read only costs that. */
    bool audits_unsigned = is_pull || strcmp(cmd, "push") == 0 || strcmp(cmd, "gc") == 0;
    if (a.key && (need_seed || audits_unsigned || !a.pubkey)) {
        if (sg_model_key_load(a.key, base, true, seed, &err) == 0) {
            have_seed = true;
        } else if (audits_unsigned && a.pubkey) {
            fprintf(stderr, "sovgate model: note: the signing key is not used: %s\n", err.msg);
            memset(&err, 0, sizeof(err));
        } else {
            rc = fail(&err);
            goto out;
        }
    }
    if (a.pubkey) {
        if (sg_model_key_load(a.pubkey, base, false, pub, &err) != 0) {
            rc = fail(&err);
            goto out;
        }
        have_pub = true;
    }
    if (need_seed && !have_seed) {
        rc = usage("this command needs the signing key: --key REF or models.signing_key");
        goto out;
    }
    const char *ekref = strcmp(cmd, "import") == 0 ? a.encrypt : a.enc;
    if (ekref) {
        if (sg_menc_key_load(ekref, base, ekey, &err) != 0) {
            rc = fail(&err);
            goto out;
        }
        have_ekey = true;
    }
    char sstate[PATH_MAX];
    if (signer_state_path(&a, base, sstate, sizeof(sstate)) != 0) {
        rc = usage("--signer-state (or the signing key's path) is too long, or the working "
                   "directory unknown");
        goto out;
    }
    bool moves = strcmp(cmd, "promote") == 0 || strcmp(cmd, "rollback") == 0;
    if (moves && !sstate[0])
        fprintf(stderr, "sovgate model: note: no signer state (the key is not a file: name one "
                        "with --signer-state FILE), so a channel file put back into the store "
                        "is not noticed here\n");
    struct sg_model_store_opts so = {.root = a.store,
                                     .signing_key = have_seed ? seed : NULL,
                                     .public_key = have_pub ? pub : NULL,
                                     .audit_path = a.no_audit ? "" : a.audit,
                                     .create = strcmp(cmd, "import") == 0 || is_pull,
                                     .signer_state = sstate[0] ? sstate : NULL,
                                     .accept_older_channels = a.accept_older};
    struct sg_oci_opts oo = {.ca_file = a.ca, .credential = a.rauth, .base_dir = base};
    if (sg_model_store_open(&so, &s, &err) != 0) {
        rc = fail(&err);
        goto out;
    }
    if (strcmp(cmd, "import") == 0) {
        if (a.npos != 1 || !a.name || !a.version) {
            rc = usage("import needs FILE --name N --version V");
            goto out;
        }
        long chunk = a.chunk ? strtol(a.chunk, NULL, 10) : 0;
        if (a.chunk && (chunk < (long)SG_MENC_MIN_CHUNK || chunk > (long)SG_MENC_MAX_CHUNK)) {
            rc = usage("--chunk: 4096 to 67108864 bytes");
            goto out;
        }
        struct sg_model_import_opts io = {.file = a.pos[0],
                                          .name = a.name,
                                          .version = a.version,
                                          .license = a.license,
                                          .source = a.source,
                                          .enc_key = have_ekey ? ekey : NULL,
                                          .chunk = (uint32_t)chunk};
        json_t *m = NULL;
        if (sg_model_import(s, &io, &m, &err) != 0) {
            json_decref(m);
            rc = fail(&err);
            goto out;
        }
        json_t *p = json_object_get(m, "payload");
        printf("imported %s %s sha256:%s%s\n", a.name, a.version,
               json_string_value(json_object_get(json_object_get(p, "weights"), "sha256")),
               have_ekey ? " (encrypted)" : "");
        json_decref(m);
        rc = 0;
    } else if (strcmp(cmd, "list") == 0) {
        json_t *l = NULL;
        if (sg_model_list(s, &l, &err) != 0) {
            rc = fail(&err);
            goto out;
        }
        if (a.json) {
            json_dumpf(l, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
            putchar('\n');
        } else {
            printf("%-20s %-12s %-10s %-8s %14s %-10s %s\n", "NAME", "VERSION", "ARCH", "TYPE",
                   "PARAMETERS", "ENCRYPTED", "CHANNELS");
            size_t i;
            json_t *e;
            json_array_foreach(l, i, e)
            {
                json_t *g = json_object_get(e, "gguf");
                const char *err_s = json_string_value(json_object_get(e, "error"));
                char chs[256] = "";
                size_t j;
                json_t *c;
                json_array_foreach(json_object_get(e, "channels"), j, c)
                {
                    size_t n = strlen(chs);
                    snprintf(chs + n, sizeof(chs) - n, "%s%s", n ? "," : "", json_string_value(c));
                }
                printf("%-20s %-12s %-10s %-8s %14lld %-10s %s%s%s\n",
                       json_string_value(json_object_get(e, "name")),
                       json_string_value(json_object_get(e, "version")),
                       err_s ? "?" : json_string_value(json_object_get(g, "architecture")),
                       err_s ? "?" : json_string_value(json_object_get(g, "file_type")),
                       (long long)json_integer_value(json_object_get(g, "parameters")),
                       json_is_object(json_object_get(json_object_get(e, "blob"), "encryption"))
                           ? "yes"
                           : "no",
                       chs, err_s ? " UNVERIFIED: " : "", err_s ? err_s : "");
            }
        }
        json_decref(l);
        rc = 0;
    } else if (strcmp(cmd, "verify") == 0) {
        if (a.npos > 2) {
            rc = usage("verify [NAME [VERSION]]");
            goto out;
        }
        int vrc = sg_model_verify(s, a.npos > 0 ? a.pos[0] : NULL, a.npos > 1 ? a.pos[1] : NULL,
                                  have_ekey ? ekey : NULL, report, NULL, &err);
        if (a.npos == 0) /* orphans belong to no model: looked for in a whole-store verify */
            verify_orphans(s);
        rc = vrc ? fail(&err) : 0;
    } else if (strcmp(cmd, "promote") == 0) {
        if (a.npos != 2 || !a.channel) {
            rc = usage("promote needs N V --channel C");
            goto out;
        }
        if (sg_model_promote(s, a.pos[0], a.pos[1], a.channel, &err) != 0) {
            rc = fail(&err);
            goto out;
        }
        printf("%s@%s -> %s\n", a.pos[0], a.channel, a.pos[1]);
        rc = 0;
    } else if (strcmp(cmd, "rollback") == 0) {
        if (a.npos != 1 || !a.channel) {
            rc = usage("rollback needs N --channel C");
            goto out;
        }
        struct sg_model_rollback_result rr;
        if (sg_model_rollback(s, a.pos[0], a.channel, &rr, &err) != 0) {
            rc = fail(&err);
            goto out;
        }
        if (rr.unpinned)
            fprintf(stderr,
                    "sovgate model: note: the history entry of version %s was written before "
                    "history entries were pinned: rolled back to the manifest found under that "
                    "version (sha256:%s, its signature verified), which the channel pins now\n",
                    rr.version, rr.manifest);
        printf("%s@%s -> %s\n", a.pos[0], a.channel, rr.version);
        rc = 0;
    } else if (strcmp(cmd, "remove") == 0) {
        if (a.npos != 2) {
            rc = usage("remove needs N V");
            goto out;
        }
        if (sg_model_remove(s, a.pos[0], a.pos[1], &err) != 0) {
            rc = fail(&err);
            goto out;
        }
        printf("removed %s %s\n", a.pos[0], a.pos[1]);
        rc = 0;
    } else if (strcmp(cmd, "gc") == 0) {
        if (a.npos != 0) {
            rc = usage("gc takes no arguments: gc [--dry-run] [--partial]");
            goto out;
        }
        struct sg_model_gc_opts go = {.dry_run = a.dry_run, .partial = a.partial};
        struct sg_model_gc_stats gs;
        int grc = sg_model_gc(s, &go, gc_report, NULL, &gs, &err);
        if (gs.kept)
            printf("kept %zu unfinished pull%s (%llu bytes)\n", gs.kept, gs.kept == 1 ? "" : "s",
                   (unsigned long long)gs.kept_bytes);
        if (!grc || gs.files)
            printf("%s %zu file%s, %llu bytes\n", a.dry_run ? "would free" : "freed", gs.files,
                   gs.files == 1 ? "" : "s", (unsigned long long)gs.bytes);
        rc = grc ? fail(&err) : 0;
    } else if (strcmp(cmd, "push") == 0) {
        char digest[72];
        if (a.npos != 3) {
            rc = usage("push needs N V REF");
            goto out;
        }
        if (sg_model_push(s, a.pos[0], a.pos[1], a.pos[2], &oo, digest, &err) != 0) {
            rc = fail(&err);
            goto out;
        }
        printf("pushed %s %s to %s (%s)\n", a.pos[0], a.pos[1], a.pos[2], digest);
        rc = 0;
    } else if (is_pull) {
        char n[SG_MODEL_NAME_MAX + 1], v[SG_MODEL_NAME_MAX + 1];
        if (a.npos != 1) {
            rc = usage("pull needs REF");
            goto out;
        }
        if (sg_model_pull(s, a.pos[0], &oo, n, v, &err) != 0) {
            rc = fail(&err);
            goto out;
        }
        printf("pulled %s %s from %s\n", n, v, a.pos[0]);
        rc = 0;
    } else {
        rc = usage("unknown command");
    }
out:
    if (s && sg_model_store_deferred(s))
        fprintf(stderr,
                "sovgate model: note: no signing key: the audit record waits in %s until the "
                "next change made with the key moves it into the trail, signed\n",
                sg_model_store_deferred(s));
    sg_model_store_free(s);
    sg_secure_zero(seed, sizeof(seed));
    sg_secure_zero(ekey, sizeof(ekey));
    sg_config_free(cfg);
    return rc;
}
