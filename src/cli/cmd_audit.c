/* `sovgate audit`: verify a trail (SQLite file or the shared PostgreSQL trail), export and
 * tail its records, prune it for retention, and make or show its Ed25519 signing key. See
 * docs/audit.md. */
#include "audit/audit.h"
#include "cli/cli.h"
#include "core/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char audit_usage[] =
    "usage: sovgate audit <command> [options]\n"
    "  verify --db FILE [--pubkey FILE]...   check the chain and the checkpoints; exit 0\n"
    "                                        only when intact, else print the first bad\n"
    "                                        record or checkpoint and exit 1 (after a key\n"
    "                                        rotation: every public key, oldest first)\n"
    "  verify --postgres CONNINFO [--instance ID] [--pubkey FILE]\n"
    "                                        the same for the shared PostgreSQL trail\n"
    "  export --db FILE [--since T] [--from-seq N] [--format jsonl|csv]\n"
    "                                        print records (jsonl: the hashed content)\n"
    "  tail --db FILE [-n N] [--follow]      print the last N records (default 10)\n"
    "  prune --db FILE --before T [--pubkey FILE]\n"
    "                                        delete records older than T up to a checkpoint\n"
    "  keygen --out FILE                     make an Ed25519 signing key (PEM, mode 0600);\n"
    "                                        print its public key\n"
    "  pubkey --key FILE                     print the public key of a signing key\n"
    "T: 2026-11-26, 2026-11-26T10:00:00Z, @<unix seconds>, or an age such as 90d, 12h, 30m\n";

struct audit_args {
    const char *db, *pubkey, *postgres, *instance, *since, *from_seq, *format, *n, *before, *out,
        *key;
    bool follow;
    /* --pubkey may be given several times after a key rotation: oldest first */
    const char *pubkeys[SG_AUDIT_MAX_KEYS];
    size_t npub;
};

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "sovgate audit: %s\n", msg);
    fputs(audit_usage, stderr);
    return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || strlen(s) > 19)
        return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int load_pubkey(const char *path, uint8_t pub[SG_AUDIT_KEY_LEN])
{
    char *data = NULL;
    size_t len = 0;
    struct sg_error err = {0};
    if (sg_read_file(path, 64 * 1024, &data, &len, &err) != 0 ||
        sg_audit_pubkey_parse(data, len, pub, &err) != 0) {
        fprintf(stderr, "sovgate audit: %s: %s\n", path, err.msg);
        free(data);
        return -1;
    }
    free(data);
    return 0;
}

/* Every --pubkey, in the order given (oldest first), back to back into `keys`. */
static int load_pubkeys(const struct audit_args *a,
                        uint8_t keys[SG_AUDIT_MAX_KEYS * SG_AUDIT_KEY_LEN])
{
    for (size_t i = 0; i < a->npub; i++)
        if (load_pubkey(a->pubkeys[i], keys + i * SG_AUDIT_KEY_LEN) != 0)
            return -1;
    return 0;
}

static int load_seed(const char *path, uint8_t seed[SG_AUDIT_KEY_LEN])
{
    char *data = NULL;
    size_t len = 0;
    struct sg_error err = {0};
    int rc = sg_read_file(path, 64 * 1024, &data, &len, &err);
    if (!rc)
        rc = sg_audit_key_parse(data, len, seed, &err);
    if (data) {
        memset(data, 0, len);
        free(data);
    }
    if (rc) {
        fprintf(stderr, "sovgate audit: %s: %s\n", path, err.msg);
        return -1;
    }
    return 0;
}

/* Writes text that came from the trail (a record as stored, a key id, a prune note, an
 * error quoting them) with its control bytes escaped as \xNN: the file may be an
 * attacker's, and an ESC sequence printed raw could erase the FAILED line on the auditor's
 * terminal or draw a fake "ok". Export prints records raw on purpose (the hashed bytes). */
static void put_safe(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
}

static void puts_safe(FILE *f, const char *s)
{
    put_safe(f, s, strlen(s));
}

/* Prints a record's content bounded (for the verify report). */
static int print_bad_row(void *arg, const struct sg_audit_row *r)
{
    (void)arg;
    size_t n = r->len > 2000 ? 2000 : r->len;
    printf("  record %" PRIu64 " as stored: ", r->seq);
    if (r->content)
        put_safe(stdout, r->content, n);
    printf("%s\n", n < r->len ? "..." : "");
    return 1;
}

/* What pruning removed, and what of that is proven: the anchor is a signed checkpoint, the
 * prune's own notes in meta are not. */
static void print_anchor(const struct sg_audit_verify_report *rep)
{
    if (!rep->anchor_seq)
        return;
    printf("anchor: the records up to seq %" PRIu64 " were removed; the chain starts after "
           "checkpoint %" PRIu64 " (signed, made ",
           rep->anchor_seq, rep->anchor_seq);
    puts_safe(stdout, rep->anchor_ts[0] ? rep->anchor_ts : "?");
    printf(")\n");
    if (rep->pruned_at[0]) {
        /* unsigned notes from meta: anyone with write access chose these bytes */
        printf("  the trail says `audit prune` removed them at ");
        puts_safe(stdout, rep->pruned_at);
        printf(" (records before ");
        puts_safe(stdout, rep->pruned_before[0] ? rep->pruned_before : "?");
        printf("); that note is not signed:\n");
    } else
        printf("  no prune note in the trail (pruned_at): not removed by `audit prune`?\n");
    printf("  check the anchor's time against the retention policy (removing the oldest records "
           "up to a checkpoint looks the same as a prune)\n");
}

/* The writer state and the records it leaves unsigned (the tail rule, docs/audit.md). */
static void print_writer_state(const struct sg_audit_verify_report *rep)
{
    if (strcmp(rep->state, "closed") == 0)
        printf("writer: closed cleanly at seq %" PRIu64 "\n", rep->state_seq);
    else if (strcmp(rep->state, "open") == 0)
        printf("writer: open since seq %" PRIu64 ", checkpoint_every %" PRIu32
               " (a gateway writes the trail, or stopped without closing it)\n",
               rep->state_seq, rep->checkpoint_every);
    if (!rep->unsigned_tail)
        return;
    printf("note: the last %" PRIu64 " records (seq %" PRIu64 "..%" PRIu64
           ") are after the last checkpoint, not signed yet",
           rep->unsigned_tail, rep->last_seq - rep->unsigned_tail + 1, rep->last_seq);
    if (rep->checkpoint_every)
        printf(" (the writer leaves at most %" PRIu32 "; it signs them within its checkpoint "
               "interval, at close, or when it starts again)\n",
               rep->checkpoint_every - 1);
    else
        printf(" (the writer signs them within its checkpoint interval, or at close)\n");
}

static int cmd_verify(const struct audit_args *a)
{
    if (!a->db == !a->postgres)
        return usage("verify needs --db FILE or --postgres CONNINFO");
    uint8_t keys[SG_AUDIT_MAX_KEYS * SG_AUDIT_KEY_LEN];
    if (load_pubkeys(a, keys) != 0)
        return 1;
    struct sg_audit_verify_report rep;
    struct sg_error err = {0};
    uint64_t instances = 0;
    int rc =
        a->db ? sg_audit_verify_keys(a->db, keys, a->npub, &rep, &err)
              : sg_audit_verify_pg(a->postgres, a->instance, keys, a->npub, &rep, &instances, &err);
    if (rc == SG_EINVAL) {
        printf("FAILED: ");
        puts_safe(stdout, err.msg);
        printf("\n");
        if (rep.bad_seq)
            printf("  first bad record or checkpoint: seq %" PRIu64 "\n", rep.bad_seq);
        if (a->db && rep.bad_seq) {
            struct sg_audit_scan_opts so = {.from_seq = rep.bad_seq};
            struct sg_error e2 = {0};
            sg_audit_scan(a->db, &so, print_bad_row, NULL, &e2);
        }
        return 1;
    }
    if (rc) {
        fprintf(stderr, "sovgate audit verify: ");
        puts_safe(stderr, err.msg);
        fputc('\n', stderr);
        return 1;
    }
    if (a->postgres)
        printf("ok: %" PRIu64 " instance(s) intact; the last checked, ", instances);
    else
        printf("ok: instance ");
    puts_safe(stdout, rep.instance);
    printf(": ");
    printf("%" PRIu64 " records", rep.records);
    if (rep.records)
        printf(" (seq %" PRIu64 "..%" PRIu64 ")", rep.first_seq, rep.last_seq);
    printf(", %" PRIu64 " checkpoints", rep.checkpoints);
    if (a->npub) {
        printf(" (%" PRIu64 " signatures verified with key", rep.signed_cps);
        for (size_t i = 0; i < a->npub; i++) {
            char kid[SG_AUDIT_KEY_ID_STR];
            sg_audit_key_id(keys + i * SG_AUDIT_KEY_LEN, kid);
            printf("%s %s", i ? "," : a->npub > 1 ? "s" : "", kid);
        }
        printf(")");
    }
    if (rep.anchor_seq)
        printf(", pruned up to seq %" PRIu64 " (signed anchor)", rep.anchor_seq);
    printf("\n");
    print_anchor(&rep);
    print_writer_state(&rep);
    if (!a->pubkey)
        fprintf(stderr, "sovgate audit verify: no --pubkey: checkpoint signatures were not "
                        "checked (hash chain only)\n");
    return 0;
}

struct export_ctx {
    bool csv;
};

static int export_row(void *arg, const struct sg_audit_row *r)
{
    const struct export_ctx *x = arg;
    if (!r->content)
        return 0;
    if (!x->csv) {
        fwrite(r->content, 1, r->len, stdout);
        fputc('\n', stdout);
    } else {
        char hex[2 * 32 + 1] = "";
        if (r->hash && r->hash_len == 32) {
            static const char digits[] = "0123456789abcdef";
            for (size_t i = 0; i < 32; i++) {
                hex[2 * i] = digits[r->hash[i] >> 4];
                hex[2 * i + 1] = digits[r->hash[i] & 15];
            }
            hex[64] = '\0';
        }
        printf("%" PRIu64 ",%s,%s,\"", r->seq, r->ts ? r->ts : "", hex);
        for (size_t i = 0; i < r->len; i++) {
            if (r->content[i] == '"')
                fputc('"', stdout);
            fputc(r->content[i], stdout);
        }
        fputs("\"\n", stdout);
    }
    return ferror(stdout) ? SG_EIO : 0;
}

static int cmd_export(const struct audit_args *a)
{
    if (!a->db)
        return usage("export needs --db FILE");
    struct sg_audit_scan_opts so = {0};
    if (a->since && sg_audit_parse_time(a->since, now_ms(), &so.since_ms) != 0)
        return usage("--since: not a time (2026-11-26, 2026-11-26T10:00:00Z, @SECONDS, 90d)");
    if (a->from_seq && parse_u64(a->from_seq, &so.from_seq) != 0)
        return usage("--from-seq: not a number");
    struct export_ctx x = {.csv = false};
    if (a->format) {
        if (strcmp(a->format, "csv") == 0)
            x.csv = true;
        else if (strcmp(a->format, "jsonl") != 0)
            return usage("--format must be jsonl or csv");
    }
    if (x.csv)
        puts("seq,ts,hash,content");
    struct sg_error err = {0};
    int rc = sg_audit_scan(a->db, &so, export_row, &x, &err);
    if (fflush(stdout) != 0 || rc == SG_EIO) {
        if (rc && err.msg[0])
            fprintf(stderr, "sovgate audit export: %s\n", err.msg);
        else
            fprintf(stderr, "sovgate audit export: cannot write the output\n");
        return 1;
    }
    if (rc) {
        fprintf(stderr, "sovgate audit export: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static volatile sig_atomic_t stop_follow;

static void on_signal(int sig)
{
    (void)sig;
    stop_follow = 1;
}

struct tail_ctx {
    uint64_t last;
};

static int tail_row(void *arg, const struct sg_audit_row *r)
{
    struct tail_ctx *t = arg;
    t->last = r->seq;
    struct export_ctx x = {.csv = false};
    return export_row(&x, r);
}

static int cmd_tail(const struct audit_args *a)
{
    if (!a->db)
        return usage("tail needs --db FILE");
    uint64_t n = 10;
    if (a->n && (parse_u64(a->n, &n) != 0 || n == 0))
        return usage("-n needs a positive number");
    struct tail_ctx t = {0};
    struct sg_audit_scan_opts so = {.last = n};
    struct sg_error err = {0};
    int rc = sg_audit_scan(a->db, &so, tail_row, &t, &err);
    fflush(stdout);
    if (rc) {
        fprintf(stderr, "sovgate audit tail: %s\n",
                rc == SG_EIO && !err.msg[0] ? "write error" : err.msg);
        return 1;
    }
    if (!a->follow)
        return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!stop_follow) {
        struct timespec d = {0, 200 * 1000000L};
        nanosleep(&d, NULL);
        if (stop_follow)
            break;
        struct sg_audit_scan_opts f = {.from_seq = t.last + 1};
        rc = sg_audit_scan(a->db, &f, tail_row, &t, &err);
        if (fflush(stdout) != 0 || rc) {
            fprintf(stderr, "sovgate audit tail: %s\n", rc && err.msg[0] ? err.msg : "write error");
            return 1;
        }
    }
    return 0;
}

static int cmd_prune(const struct audit_args *a)
{
    if (!a->db || !a->before)
        return usage("prune needs --db FILE and --before T");
    int64_t before = 0;
    if (sg_audit_parse_time(a->before, now_ms(), &before) != 0)
        return usage("--before: not a time (2026-11-26, 2026-11-26T10:00:00Z, @SECONDS, 90d)");
    uint8_t keys[SG_AUDIT_MAX_KEYS * SG_AUDIT_KEY_LEN];
    if (load_pubkeys(a, keys) != 0)
        return 1;
    struct sg_audit_prune_result res;
    struct sg_error err = {0};
    if (sg_audit_prune_keys(a->db, before, keys, a->npub, &res, &err) != 0) {
        fprintf(stderr, "sovgate audit prune: ");
        puts_safe(stderr, err.msg); /* quotes verify's finding */
        fputc('\n', stderr);
        return 1;
    }
    char ts[SG_AUDIT_TS_LEN + 1];
    sg_audit_format_time(before, ts);
    if (res.pruned)
        printf("pruned %" PRIu64 " records older than %s; the trail now starts after the "
               "checkpoint at seq %" PRIu64 "\n",
               res.pruned, ts, res.anchor_seq);
    else
        printf("nothing to prune: no checkpoint lies entirely before %s\n", ts);
    return 0;
}

static int print_public(const uint8_t seed[SG_AUDIT_KEY_LEN])
{
    uint8_t pub[SG_AUDIT_KEY_LEN];
    char pem[512], kid[SG_AUDIT_KEY_ID_STR];
    if (sg_audit_key_public(seed, pub) != 0 || sg_audit_key_pem(pub, false, pem, sizeof(pem)) < 0) {
        fprintf(stderr, "sovgate audit: cannot derive the public key\n");
        return 1;
    }
    sg_audit_key_id(pub, kid);
    fputs(pem, stdout);
    fprintf(stderr, "key id: %s\n", kid);
    return 0;
}

static int cmd_keygen(const struct audit_args *a)
{
    if (!a->out)
        return usage("keygen needs --out FILE");
    uint8_t seed[SG_AUDIT_KEY_LEN];
    char pem[512];
    int n;
    if (sg_audit_key_generate(seed) != 0 ||
        (n = sg_audit_key_pem(seed, true, pem, sizeof(pem))) < 0) {
        fprintf(stderr, "sovgate audit keygen: cannot make a key\n");
        return 1;
    }
    /* Never overwrite a key: the checkpoints it signed would become unverifiable. */
    int fd = open(a->out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "sovgate audit keygen: cannot create %s: %s\n", a->out,
                errno == EEXIST ? "it exists (keys are never overwritten)" : strerror(errno));
        memset(seed, 0, sizeof(seed));
        memset(pem, 0, sizeof(pem));
        return 1;
    }
    bool ok = write(fd, pem, (size_t)n) == n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    memset(pem, 0, sizeof(pem));
    if (!ok) {
        fprintf(stderr, "sovgate audit keygen: cannot write %s\n", a->out);
        unlink(a->out);
        memset(seed, 0, sizeof(seed));
        return 1;
    }
    int rc = print_public(seed);
    memset(seed, 0, sizeof(seed));
    return rc;
}

static int cmd_pubkey(const struct audit_args *a)
{
    if (!a->key)
        return usage("pubkey needs --key FILE");
    uint8_t seed[SG_AUDIT_KEY_LEN];
    if (load_seed(a->key, seed) != 0)
        return 1;
    int rc = print_public(seed);
    memset(seed, 0, sizeof(seed));
    return rc;
}

int sg_cmd_audit(int argc, char **argv)
{
    if (argc < 2)
        return usage("audit needs a command");
    const char *sub = argv[1];
    if (strcmp(sub, "help") == 0 || strcmp(sub, "--help") == 0) {
        fputs(audit_usage, stdout);
        return 0;
    }
    struct audit_args a = {0};
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--follow") == 0 || strcmp(o, "-f") == 0) {
            a.follow = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **dst = strcmp(o, "--db") == 0         ? &a.db
                           : strcmp(o, "--pubkey") == 0   ? &a.pubkey
                           : strcmp(o, "--postgres") == 0 ? &a.postgres
                           : strcmp(o, "--instance") == 0 ? &a.instance
                           : strcmp(o, "--since") == 0    ? &a.since
                           : strcmp(o, "--from-seq") == 0 ? &a.from_seq
                           : strcmp(o, "--format") == 0   ? &a.format
                           : strcmp(o, "-n") == 0         ? &a.n
                           : strcmp(o, "--before") == 0   ? &a.before
                           : strcmp(o, "--out") == 0      ? &a.out
                           : strcmp(o, "--key") == 0      ? &a.key
                                                          : NULL;
        if (!dst) {
            fprintf(stderr, "sovgate audit: unknown option %s\n", o);
            return usage(NULL);
        }
        if (!v || !*v) {
            fprintf(stderr, "sovgate audit: %s needs a value\n", o);
            return usage(NULL);
        }
        if (dst == &a.pubkey) {
            if (a.npub == SG_AUDIT_MAX_KEYS)
                return usage("too many --pubkey");
            a.pubkeys[a.npub++] = v;
        }
        *dst = v;
        i++;
    }
    if (strcmp(sub, "verify") == 0)
        return cmd_verify(&a);
    if (strcmp(sub, "export") == 0)
        return cmd_export(&a);
    if (strcmp(sub, "tail") == 0)
        return cmd_tail(&a);
    if (strcmp(sub, "prune") == 0)
        return cmd_prune(&a);
    if (strcmp(sub, "keygen") == 0)
        return cmd_keygen(&a);
    if (strcmp(sub, "pubkey") == 0)
        return cmd_pubkey(&a);
    return usage("unknown audit command");
}
