/* Unit tests of the model store's changes (src/model/store.c, ops.c) on a real store in a
 * temporary folder, with small GGUF files written here: `remove` takes only valid names and
 * removes nothing outside the store, nor a manifest that does not verify; stored weights
 * are read-only; promote and rollback with the signer's state refuse to build on a channel
 * file put back (older than signed, or another file under the number signed), build above
 * both when told to, and the channel digest tells a file built on a replay from the one
 * signed before under the same number; a symbolic link planted in the store (blob,
 * manifest, channel file) is refused, not read through; the engine's way in
 * (sg_model_open_ref) loads only the manifest whose digest it was given, and refuses
 * malformed digests; gc and the orphans `verify` reports (one scan); the store's lock is
 * taken again on a lock file put in the place of the one waited for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "audit/audit.h"
#include "core/crypto.h"
#include "model/model.h"
#include "model/oci.h"
#include "route/chanseen.h"

#include "gguf_build.h"

static const uint8_t seed[32] = {7,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static char dir[64], store[128], signer[128];

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof(dir), "/tmp/sg-mstore-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(store, sizeof(store), "%s/a/b/store", dir);
    snprintf(signer, sizeof(signer), "%s/org.pem.seq", dir);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- a small GGUF (header, one tensor, its data) ---- */

/* Writes a GGUF whose data bytes depend on `fill` into dir/<name>; returns its path. */
static const char *gguf(const char *name, uint8_t fill)
{
    static char path[160];
    struct gb b;
    head(&b, 3, 1, 1); /* one tensor, one metadata pair */
    kv_str(&b, "general.architecture", "llama");
    const uint64_t ne[1] = {16};
    tensor(&b, "w", 1, ne, 0 /* F32 */, 0);
    for (int i = 0; i < 64; i++)
        u8(&b, fill);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.p, 1, b.n, f), b.n);
    assert_int_equal(fclose(f), 0);
    return path;
}

static struct sg_model_store *open_store(const char *signer_state, bool accept_older)
{
    struct sg_model_store_opts o = {.root = store,
                                    .signing_key = seed,
                                    .audit_path = "",
                                    .create = true,
                                    .signer_state = signer_state,
                                    .accept_older_channels = accept_older};
    struct sg_model_store *s = NULL;
    struct sg_error err = {0};
    assert_int_equal(sg_model_store_open(&o, &s, &err), 0);
    return s;
}

static void import(struct sg_model_store *s, const char *version, uint8_t fill)
{
    char file[32];
    snprintf(file, sizeof(file), "m-%s.gguf", version);
    struct sg_model_import_opts io = {.file = gguf(file, fill), .name = "m", .version = version};
    struct sg_error err = {0};
    if (sg_model_import(s, &io, NULL, &err) != 0)
        fail_msg("import %s: %s", version, err.msg);
}

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 16);
    assert_non_null(buf);
    *n = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

static void expect_err(int rc, int code, const struct sg_error *err, const char *msg)
{
    assert_int_equal(rc, code);
    if (!strstr(err->msg, msg))
        fail_msg("expected \"%s\" in \"%s\"", msg, err->msg);
}

/* ---- remove ---- */

static void test_remove_stays_in_the_store(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    /* victims beside the store and above it: <store>/manifests/../../victim is
     * dir/a/b/victim, one more ../ is dir/a/victim, and so on */
    const char *names[] = {
        "../../victim", "../../../victim", "../../../../victim", "..", ".", "a/b", ""};
    const char *above[] = {"/a/b", "/a", ""}; /* where each climb above ends */
    char vdir[3][200], victim[3][220];
    for (int i = 0; i < 3; i++) {
        snprintf(vdir[i], sizeof(vdir[i]), "%s%s/victim", dir, above[i]);
        assert_int_equal(mkdir(vdir[i], 0700), 0);
        snprintf(victim[i], sizeof(victim[i]), "%s/x.json", vdir[i]);
        write_file(victim[i], "precious", 8);
    }
    struct sg_error err = {0};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        expect_err(sg_model_remove(s, names[i], "x", &err), SG_EINVAL, &err,
                   "invalid model name or version");
        expect_err(sg_model_remove(s, "m", names[i], &err), SG_EINVAL, &err,
                   "invalid model name or version");
    }
    expect_err(sg_model_remove(s, NULL, "x", &err), SG_EINVAL, &err, "invalid");
    for (int i = 0; i < 3; i++) {
        struct stat sb;
        assert_int_equal(stat(victim[i], &sb), 0);
        assert_int_equal(stat(vdir[i], &sb), 0);
    }
    /* an unknown version is named as such */
    expect_err(sg_model_remove(s, "m", "9", &err), SG_ENOTFOUND, &err,
               "no model m version 9 in the store");
    /* a manifest that does not verify is not removed (nor its blob) */
    char mpath[256];
    snprintf(mpath, sizeof(mpath), "%s/manifests/m/1.json", store);
    size_t n = 0;
    char *m = read_file(mpath, &n);
    char *at = strstr(m, "\"llama\"");
    assert_non_null(at);
    at[1] = 'L';
    write_file(mpath, m, n);
    free(m);
    expect_err(sg_model_remove(s, "m", "1", &err), SG_ECRYPTO, &err, "does not verify");
    assert_int_equal(access(mpath, F_OK), 0);
    sg_model_store_free(s);
}

static void test_blobs_are_read_only(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    json_t *p = NULL;
    struct sg_error err = {0};
    assert_int_equal(sg_model_resolve(s, "m:1", &p, NULL, &err), 0);
    char blob[256];
    snprintf(blob, sizeof(blob), "%s/blobs/sha256/%s", store,
             json_string_value(json_object_get(json_object_get(p, "blob"), "sha256")));
    json_decref(p);
    struct stat sb;
    assert_int_equal(stat(blob, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0440);
    sg_model_store_free(s);
}

/* ---- the signer's state ---- */

static void chanver(struct sg_model_store *s, const char *ref, struct sg_model_chanver *v)
{
    json_t *p = NULL;
    struct sg_error err = {0};
    if (sg_model_resolve(s, ref, &p, v, &err) != 0)
        fail_msg("resolve %s: %s", ref, err.msg);
    json_decref(p);
}

static void promote(struct sg_model_store *s, const char *v, const char *ch)
{
    struct sg_error err = {0};
    if (sg_model_promote(s, "m", v, ch, &err) != 0)
        fail_msg("promote %s %s: %s", v, ch, err.msg);
}

static void test_signer_refuses_a_put_back_channel_file(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(signer, false);
    for (int i = 1; i <= 3; i++) {
        char v[4];
        snprintf(v, sizeof(v), "%d", i);
        import(s, v, (uint8_t)i);
    }
    char chan[256];
    snprintf(chan, sizeof(chan), "%s/channels/m.json", store);
    promote(s, "1", "prod"); /* sequence 1 */
    size_t n1 = 0;
    char *seq1 = read_file(chan, &n1);
    promote(s, "2", "prod"); /* sequence 2 */
    struct sg_model_chanver real2;
    chanver(s, "m@prod", &real2);
    assert_int_equal(real2.seq, 2);
    /* the record: "2 <digest> <the channel file through the store's real path>" */
    size_t n = 0;
    char *rec = read_file(signer, &n);
    char want[400], real[256], hex[65];
    assert_non_null(realpath(store, real));
    sg_hex_encode(real2.digest, 32, hex);
    snprintf(want, sizeof(want), "2 %s %s/channels/m.json\n", hex, real);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(rec, want, n);
    free(rec);
    struct stat sb;
    assert_int_equal(stat(signer, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    /* the signed file of sequence 1 put back: the next unrelated change is refused, and
     * the store keeps the put-back file */
    write_file(chan, seq1, n1);
    struct sg_error err = {0};
    expect_err(sg_model_promote(s, "m", "3", "staging", &err), SG_EINVAL, &err,
               "channels/m.json has sequence 1, older than the 2 this signer signed");
    assert_non_null(strstr(err.msg, "--accept-older-channels"));
    struct sg_model_chanver now;
    chanver(s, "m@prod", &now);
    assert_int_equal(now.seq, 1);
    /* a signer without its state builds sequence 2 on it (prod back at 1, history lost):
     * genuinely signed, but another file than the sequence 2 signed before */
    sg_model_store_free(s); /* one store at a time: each holds the store's lock */
    s = open_store(NULL, false);
    promote(s, "3", "staging");
    sg_model_store_free(s);
    s = open_store(signer, false);
    struct sg_model_chanver fake2;
    chanver(s, "m@prod", &fake2);
    assert_int_equal(fake2.seq, 2);
    assert_memory_not_equal(fake2.digest, real2.digest, 32);
    /* which the gateway's record tells apart (route/chanseen.h) */
    struct sg_chanseen *gw = sg_chanseen_new();
    assert_int_equal(sg_chanseen_put(gw, chan, real2.seq, real2.digest, &err), 0);
    assert_int_equal(sg_chanseen_check(gw, chan, fake2.seq, fake2.digest, NULL), SG_CHANSEEN_OTHER);
    assert_int_equal(sg_chanseen_check(gw, chan, now.seq, now.digest, NULL), SG_CHANSEEN_OLDER);
    sg_chanseen_free(gw);
    /* and so does the signer with its state */
    expect_err(sg_model_promote(s, "m", "2", "prod", &err), SG_EINVAL, &err,
               "channels/m.json is not the file this signer signed as sequence 2");
    /* the operator builds on it knowingly: the new sequence number is above both */
    sg_model_store_free(s);
    s = open_store(signer, true);
    promote(s, "2", "prod");
    chanver(s, "m@prod", &now);
    assert_int_equal(now.seq, 3);
    sg_model_store_free(s);
    size_t n3 = 0;
    char *seq3 = read_file(chan, &n3);
    /* and the next change needs no flag */
    s = open_store(signer, false);
    promote(s, "1", "staging");
    chanver(s, "m@staging", &now);
    assert_int_equal(now.seq, 4);
    /* rollback refuses a put-back file too (sequence 3 has prod 2, history 1) */
    write_file(chan, seq3, n3);
    free(seq3);
    expect_err(sg_model_rollback(s, "m", "prod", NULL, &err), SG_EINVAL, &err,
               "has sequence 3, older than the 4");
    /* a channel file removed is older than signed too */
    assert_int_equal(unlink(chan), 0);
    expect_err(sg_model_promote(s, "m", "2", "prod", &err), SG_EINVAL, &err,
               "has sequence 0, older than the 4");
    sg_model_store_free(s);
    free(seq1);
}

static void test_signer_state_damaged_or_unwritable(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(signer, false);
    import(s, "1", 1);
    import(s, "2", 2);
    /* a damaged state stops the change, naming the file and line */
    write_file(signer, "x\n", 2);
    struct sg_error err = {0};
    int rc = sg_model_promote(s, "m", "1", "prod", &err);
    assert_int_equal(rc, SG_EINVAL);
    char where[200];
    snprintf(where, sizeof(where), "%s:1: expected a sequence number", signer);
    if (!strstr(err.msg, where))
        fail_msg("expected \"%s\" in \"%s\"", where, err.msg);
    char chan[256];
    snprintf(chan, sizeof(chan), "%s/channels/m.json", store);
    assert_int_equal(access(chan, F_OK), -1); /* nothing written */
    sg_model_store_free(s);
    /* a state that cannot be written: the change is made, and said to be unrecorded */
    char gone[200];
    snprintf(gone, sizeof(gone), "%s/no-such-folder/org.pem.seq", dir);
    s = open_store(gone, false);
    expect_err(sg_model_promote(s, "m", "1", "prod", &err), SG_EIO, &err,
               "channels/m.json was written (sequence 1), the signer's state was not");
    assert_int_equal(access(chan, F_OK), 0);
    sg_model_store_free(s);
}

/* ---- review findings: pinned manifests, shared blobs, damaged blobs ---- */

static void blob_of(struct sg_model_store *s, const char *ref, char *out, size_t cap)
{
    json_t *p = NULL;
    struct sg_error err = {0};
    if (sg_model_resolve(s, ref, &p, NULL, &err) != 0)
        fail_msg("resolve %s: %s", ref, err.msg);
    snprintf(out, cap, "%s/blobs/sha256/%s", store,
             json_string_value(json_object_get(json_object_get(p, "blob"), "sha256")));
    json_decref(p);
}

static void said_fn(void *arg, const char *name, const char *version, int rc, const char *msg)
{
    char *said = arg;
    size_t n = strlen(said);
    if (rc)
        snprintf(said + n, 512 - n, "%s %s: %s\n", name, version, msg);
}

/* A channel names the manifest it was pointed at, not only its version: a version removed
 * and imported again with other weights, promoted, must not be swapped back by putting the
 * old (genuinely signed) manifest file back under the same version. */
static void test_channel_pins_the_manifest(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    char mpath[256];
    snprintf(mpath, sizeof(mpath), "%s/manifests/m/1.json", store);
    size_t oldn = 0;
    char *old = read_file(mpath, &oldn);
    struct sg_error err = {0};
    assert_int_equal(sg_model_remove(s, "m", "1", &err), 0);
    import(s, "1", 2); /* the same version, other weights */
    promote(s, "1", "prod");
    size_t curn = 0;
    char *cur = read_file(mpath, &curn);
    json_t *p = NULL;
    assert_int_equal(sg_model_resolve(s, "m@prod", &p, NULL, &err), 0);
    json_decref(p);
    write_file(mpath, old, oldn); /* the old signed manifest put back */
    p = NULL;
    expect_err(sg_model_resolve(s, "m@prod", &p, NULL, &err), SG_ECRYPTO, &err,
               "is not the one promoted to channel prod");
    assert_null(p);
    /* and `model verify` says so, naming the channel */
    char said[512] = "";
    assert_int_not_equal(sg_model_verify(s, "m", NULL, NULL, said_fn, said, &err), 0);
    if (!strstr(said, "m (channel prod): manifest m 1 is not the one promoted"))
        fail_msg("verify said: %s", said);
    /* a rollback pins the manifest it points back at, too */
    write_file(mpath, cur, curn);
    import(s, "2", 3);
    promote(s, "2", "prod");
    struct sg_model_rollback_result rr;
    assert_int_equal(sg_model_rollback(s, "m", "prod", &rr, &err), 0);
    assert_string_equal(rr.version, "1");
    assert_int_equal(sg_model_resolve(s, "m@prod", &p, NULL, &err), 0);
    json_decref(p);
    write_file(mpath, old, oldn);
    p = NULL;
    expect_err(sg_model_resolve(s, "m@prod", &p, NULL, &err), SG_ECRYPTO, &err,
               "is not the one promoted to channel prod");
    free(old);
    free(cur);
    sg_model_store_free(s);
}

/* Remove keeps a blob that another manifest names even when that manifest does not verify
 * with this key (signed before a key rotation, say): a blob is deleted only when no
 * manifest file at all names it. */
static void test_remove_keeps_a_blob_an_unverified_manifest_names(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    sg_model_store_free(s); /* its lock */
    /* version 2, the same weights, signed by another (the former) key */
    static const uint8_t other[32] = {1};
    struct sg_model_store_opts o = {
        .root = store, .signing_key = other, .audit_path = "", .create = true};
    struct sg_model_store *s2 = NULL;
    struct sg_error err = {0};
    assert_int_equal(sg_model_store_open(&o, &s2, &err), 0);
    import(s2, "2", 1);
    sg_model_store_free(s2);
    s = open_store(NULL, false);
    char blob[256];
    blob_of(s, "m:1", blob, sizeof(blob));
    assert_int_equal(sg_model_remove(s, "m", "1", &err), 0);
    if (access(blob, F_OK) != 0)
        fail_msg("the blob that manifest m/2 names was removed");
    sg_model_store_free(s);
}

/* Remove decides whether a blob is still named as gc does (one answer): a manifest file
 * the store would not read by its name (manifests/m/.2.json, a copy an operator put aside)
 * still keeps its blob, and one that cannot be read at all keeps every blob. */
static void test_remove_keeps_what_gc_keeps(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    import(s, "2", 2);
    char blob[256], m1[PATH_MAX], aside[PATH_MAX], bad[PATH_MAX];
    blob_of(s, "m:1", blob, sizeof(blob));
    snprintf(m1, sizeof(m1), "%s/manifests/m/1.json", store);
    snprintf(aside, sizeof(aside), "%s/manifests/m/.1.json", store);
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", m1, aside);
    assert_int_equal(system(cmd), 0);
    struct sg_error err = {0};
    assert_int_equal(sg_model_remove(s, "m", "1", &err), 0);
    if (access(blob, F_OK) != 0)
        fail_msg("remove deleted a blob that manifests/m/.1.json names (gc keeps it)");
    /* an unreadable manifest may name any blob: version 2's stays when it is removed */
    blob_of(s, "m:2", blob, sizeof(blob));
    snprintf(bad, sizeof(bad), "%s/manifests/m/broken.json", store);
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("{not json", f);
    fclose(f);
    assert_int_equal(sg_model_remove(s, "m", "2", &err), 0);
    if (access(blob, F_OK) != 0)
        fail_msg("remove deleted a blob while a manifest could not be read");
    /* once nothing names it, remove's blob goes with it */
    unlink(bad);
    unlink(aside);
    import(s, "3", 3);
    blob_of(s, "m:3", blob, sizeof(blob));
    assert_int_equal(sg_model_remove(s, "m", "3", &err), 0);
    if (access(blob, F_OK) == 0)
        fail_msg("the blob of the last manifest naming it was kept");
    sg_model_store_free(s);
}

/* An import whose weights are already stored under their digest does not take a damaged
 * file under that name on trust: the freshly copied, hashed bytes replace it. */
static void test_import_replaces_a_damaged_blob(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    char blob[256];
    blob_of(s, "m:1", blob, sizeof(blob));
    assert_int_equal(chmod(blob, 0640), 0);
    size_t n = 0;
    char *b = read_file(blob, &n);
    b[n - 1] ^= 1;
    write_file(blob, b, n);
    free(b);
    import(s, "2", 1); /* the same weights again */
    struct sg_error err = {0};
    if (sg_model_verify(s, "m", "2", NULL, NULL, NULL, &err) != 0)
        fail_msg("version 2 does not verify: the damaged blob was kept");
    struct stat sb;
    assert_int_equal(stat(blob, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0440);
    sg_model_store_free(s);
}

/* The chunk size is checked before anything is reserved: a tiny chunk must not first ask
 * the disk for 17 times the model's size (and fail as "disk full"). */
static void test_import_checks_the_chunk_first(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    const char *f = gguf("big.gguf", 1);
    assert_int_equal(truncate(f, 64ll << 30), 0); /* sparse: 64 GiB of weights */
    static const uint8_t key[32] = {5};
    struct sg_model_import_opts io = {
        .file = f, .name = "m", .version = "1", .enc_key = key, .chunk = 1};
    struct sg_error err = {0};
    expect_err(sg_model_import(s, &io, NULL, &err), SG_EINVAL, &err, "chunk size 1 out of range");
    unlink(f);
    sg_model_store_free(s);
}

/* ---- symbolic links ---- */

/* Moves `path` out of the store to `out` and puts a symbolic link to it in its place. */
static void link_out(const char *path, const char *out)
{
    assert_int_equal(rename(path, out), 0);
    assert_int_equal(symlink(out, path), 0);
}

static void put_back(const char *path, const char *out)
{
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rename(out, path), 0);
}

/* A symbolic link planted in the store is refused by verify, load (the engine's path) and
 * push (export), not read through: even one to the genuine bytes kept elsewhere, which
 * every digest and signature check would pass, since the link could as well name
 * /etc/shadow or a file that changes after the check. */
static void test_symlinks_in_the_store_are_refused(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    promote(s, "1", "prod");
    char blob[256], mpath[256], cpath[256], out[256], said[512] = "", digest[72];
    blob_of(s, "m:1", blob, sizeof(blob));
    snprintf(mpath, sizeof(mpath), "%s/manifests/m/1.json", store);
    snprintf(cpath, sizeof(cpath), "%s/channels/m.json", store);
    snprintf(out, sizeof(out), "%s/outside", dir);
    const char *reg = "127.0.0.1:9/sovgate/m:1"; /* refused before any connection */
    struct sg_error err = {0};
    json_t *p = NULL;
    int fd = -1;

    /* the blob */
    link_out(blob, out);
    assert_int_not_equal(sg_model_verify(s, "m", "1", NULL, said_fn, said, &err), 0);
    if (!strstr(said, "m 1: the weights blob sha256:") || !strstr(said, "is not a regular file"))
        fail_msg("verify said: %s", said);
    assert_int_equal(sg_model_resolve(s, "m@prod", &p, NULL, &err), 0);
    expect_err(sg_model_open_weights(s, p, NULL, &fd, &err), SG_EIO, &err, "is not a regular file");
    assert_int_equal(fd, -1);
    json_decref(p);
    expect_err(sg_model_push(s, "m", "1", reg, NULL, digest, &err), SG_EIO, &err,
               "is not a regular file");
    put_back(blob, out);
    assert_int_equal(sg_model_verify(s, "m", "1", NULL, NULL, NULL, &err), 0);

    /* the manifest */
    link_out(mpath, out);
    said[0] = '\0';
    assert_int_not_equal(sg_model_verify(s, "m", "1", NULL, said_fn, said, &err), 0);
    if (!strstr(said, "m 1: manifest m 1 is not a regular file"))
        fail_msg("verify said: %s", said);
    p = NULL;
    expect_err(sg_model_resolve(s, "m@prod", &p, NULL, &err), SG_EIO, &err,
               "manifest m 1 is not a regular file");
    assert_null(p);
    expect_err(sg_model_push(s, "m", "1", reg, NULL, digest, &err), SG_EIO, &err,
               "manifest m 1 is not a regular file");
    put_back(mpath, out);

    /* the channel file */
    link_out(cpath, out);
    expect_err(sg_model_resolve(s, "m@prod", &p, NULL, &err), SG_EIO, &err,
               "channels of m is not a regular file");
    put_back(cpath, out);
    assert_int_equal(sg_model_verify(s, NULL, NULL, NULL, NULL, NULL, &err), 0);
    sg_model_store_free(s);
}

/* ---- the engine's manifest pin (sovgate-engine --manifest-sha256) ---- */

/* The digest of the manifest `ref` resolves to (sg_model_manifest_sha256). */
static void manifest_digest(struct sg_model_store *s, const char *ref, char hex[65])
{
    json_t *p = NULL;
    struct sg_error err = {0};
    if (sg_model_resolve(s, ref, &p, NULL, &err) != 0)
        fail_msg("resolve %s: %s", ref, err.msg);
    assert_int_equal(sg_model_manifest_sha256(p, hex), 0);
    assert_int_equal(strlen(hex), 64);
    json_decref(p);
}

/* The engine's way in with a pin: the gateway resolved the channel to a manifest and passes
 * its digest; another genuinely signed manifest put under that version before the engine
 * loads (the old file of a version removed and imported again) is refused, naming both
 * digests, before any weights are opened; the right pin loads, by version and by channel;
 * with no pin a name:version loads whatever verifies, as before. Malformed pins (empty, short,
 * long, not hex, upper case) are refused with the reason and never quoted. */
static void test_open_ref_enforces_the_manifest_pin(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    import(s, "keep", 1); /* the same weights: the blob outlives the remove of version 1 */
    char mpath[256], pubref[160], old_hex[65], pin[65];
    snprintf(mpath, sizeof(mpath), "%s/manifests/m/1.json", store);
    manifest_digest(s, "m:1", old_hex);
    size_t oldn = 0;
    char *old = read_file(mpath, &oldn); /* genuinely signed, version 1, the first weights */
    struct sg_error err = {0};
    assert_int_equal(sg_model_remove(s, "m", "1", &err), 0);
    import(s, "1", 2); /* the same version, other weights */
    promote(s, "1", "prod");
    manifest_digest(s, "m@prod", pin);
    assert_string_not_equal(pin, old_hex);
    /* what the gateway passes is what the channel file pins */
    char cpath[256];
    snprintf(cpath, sizeof(cpath), "%s/channels/m.json", store);
    json_t *cdoc = json_load_file(cpath, 0, NULL);
    assert_non_null(cdoc);
    json_t *prod =
        json_object_get(json_object_get(json_object_get(cdoc, "payload"), "channels"), "prod");
    assert_string_equal(json_string_value(json_object_get(prod, "manifest")), pin);
    json_decref(cdoc);

    uint8_t pub[32];
    char pubhex[65];
    assert_int_equal(sg_audit_key_public(seed, pub), 0);
    sg_hex_encode(pub, 32, pubhex);
    snprintf(pubref, sizeof(pubref), "file:%s/org.pub", dir);
    write_file(pubref + 5, pubhex, 64);

    /* the right pin loads, by version and by channel */
    int fd = -1;
    json_t *p = NULL;
    assert_int_equal(sg_model_open_ref(store, "m:1", pubref, NULL, pin, &fd, &p, &err), 0);
    assert_true(fd >= 0);
    close(fd);
    assert_string_equal(json_string_value(json_object_get(p, "version")), "1");
    json_decref(p);
    assert_int_equal(sg_model_open_ref(store, "m@prod", pubref, NULL, pin, &fd, NULL, &err), 0);
    close(fd);

    /* the old signed manifest put back after the gateway resolved the channel */
    write_file(mpath, old, oldn);
    p = NULL;
    char want[400];
    snprintf(want, sizeof(want),
             "manifest m 1 is sha256:%s, not the one pinned by --manifest-sha256 (sha256:%s)",
             old_hex, pin);
    expect_err(sg_model_open_ref(store, "m:1", pubref, NULL, pin, &fd, &p, &err), SG_ECRYPTO, &err,
               want);
    assert_int_equal(fd, -1);
    assert_null(p);
    /* without the pin the version alone is checked: the put-back manifest verifies and loads
     * (what the pin closes) */
    assert_int_equal(sg_model_open_ref(store, "m:1", pubref, NULL, NULL, &fd, &p, &err), 0);
    close(fd);
    json_decref(p);
    p = NULL;
    /* a pin of the put-back manifest is what it is: it loads that one, and only by version
     * (the channel itself pins the new one) */
    assert_int_equal(sg_model_open_ref(store, "m:1", pubref, NULL, old_hex, &fd, NULL, &err), 0);
    close(fd);
    expect_err(sg_model_open_ref(store, "m@prod", pubref, NULL, old_hex, &fd, NULL, &err),
               SG_ECRYPTO, &err, "is not the one promoted to channel prod");

    /* malformed pins: refused before the store is opened, the value never quoted */
    char upper[65], nonhex[65], longer[66], huge[4097];
    snprintf(upper, sizeof(upper), "%s", pin);
    for (char *c = upper; *c; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    if (strcmp(upper, pin) == 0) /* all digits: make sure there is a letter */
        upper[0] = 'A';
    snprintf(nonhex, sizeof(nonhex), "%s", pin);
    nonhex[17] = 'g';
    snprintf(longer, sizeof(longer), "%s0", pin);
    memset(huge, 'a', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    const struct {
        const char *pin, *msg;
    } bad[] = {
        {"", "is empty"},
        {"abc", "has 3 characters, not 64"},
        {pin + 1, "has 63 characters, not 64"},
        {longer, "is longer than 64 characters"},
        {huge, "is longer than 64 characters"},
        {nonhex, "a character that is not a hex digit at position 18"},
        {upper, "an upper-case hex digit"},
        {" 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
         "not a hex digit at position 1"},
        {"sha256:0123456789abcdef0123456789abcdef0123456789abcdef012345678",
         "not a hex digit at position 1"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char hex[65];
        memset(&err, 0, sizeof(err));
        expect_err(sg_model_digest_parse(bad[i].pin, hex, &err), SG_EINVAL, &err, bad[i].msg);
        char head[9];
        snprintf(head, sizeof(head), "%s", bad[i].pin);
        if (strlen(head) == 8 && strstr(err.msg, head)) /* the value is never quoted */
            fail_msg("the error quotes the pin: %s", err.msg);
        memset(&err, 0, sizeof(err));
        expect_err(sg_model_open_ref(store, "m:1", pubref, NULL, bad[i].pin, &fd, NULL, &err),
                   SG_EINVAL, &err, bad[i].msg);
        assert_int_equal(fd, -1);
    }
    char hex[65];
    expect_err(sg_model_digest_parse(NULL, hex, &err), SG_EINVAL, &err, "is empty");
    assert_int_equal(sg_model_digest_parse(pin, hex, &err), 0);
    assert_string_equal(hex, pin);
    free(old);
    sg_model_store_free(s);
}

/* ---- orphaned blobs: sg_model_gc ---- */

struct gc_said {
    char text[8192];
};

static void gc_fn(void *arg, enum sg_model_gc_action act, const char *file, uint64_t bytes,
                  const char *why)
{
    static const char *const verb[] = {"removed", "would remove", "kept", "left", "FAILED"};
    struct gc_said *g = arg;
    size_t n = strlen(g->text);
    snprintf(g->text + n, sizeof(g->text) - n, "%s %s %llu: %s\n", verb[act], file,
             (unsigned long long)bytes, why);
}

static void must_say(const struct gc_said *g, const char *what)
{
    if (!strstr(g->text, what))
        fail_msg("expected \"%s\" in:\n%s", what, g->text);
}

static void must_not_say(const struct gc_said *g, const char *what)
{
    if (strstr(g->text, what))
        fail_msg("did not expect \"%s\" in:\n%s", what, g->text);
}

static bool exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* What a crash between storing the weights and writing the manifest leaves: the blob, under
 * the SHA-256 of its bytes, read-only, in blobs/sha256/, and no manifest naming it. */
static void crashed_import(const char *bytes, size_t n, char path[256], char hex[65])
{
    uint8_t d[32];
    sg_sha256(bytes, n, d);
    sg_hex_encode(d, 32, hex);
    snprintf(path, 256, "%s/blobs/sha256/%s", store, hex);
    write_file(path, bytes, n);
    assert_int_equal(chmod(path, 0440), 0);
}

/* gc removes the blobs no manifest names and tmp/'s leftovers, keeps every blob a manifest
 * names (shared by two versions; encrypted and plaintext), keeps a pull's partial download
 * unless asked, and a dry run removes nothing. */
static void test_gc_removes_orphaned_blobs_only(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    import(s, "2", 1); /* shares version 1's blob */
    static const uint8_t ekey[32] = {9};
    struct sg_model_import_opts io = {
        .file = gguf("enc.gguf", 4), .name = "m", .version = "enc", .enc_key = ekey};
    struct sg_error err = {0};
    assert_int_equal(sg_model_import(s, &io, NULL, &err), 0);
    promote(s, "2", "prod");
    char shared[256], enc[256];
    blob_of(s, "m:1", shared, sizeof(shared));
    blob_of(s, "m:enc", enc, sizeof(enc));
    sg_model_store_free(s);

    /* a plaintext import that died before its manifest (the GGUF's own bytes), and an
     * encrypted one (any bytes: the stored file) */
    size_t gn = 0;
    char *g = read_file(gguf("lost.gguf", 5), &gn);
    char orphan[256], ohex[65], orphan2[256], ohex2[65], tmpf[256], part[256];
    crashed_import(g, gn, orphan, ohex);
    free(g);
    crashed_import("SGMENC01 not really", 19, orphan2, ohex2);
    snprintf(tmpf, sizeof(tmpf), "%s/tmp/new-crashed", store);
    write_file(tmpf, "half a model", 12);
    char pdir[200];
    snprintf(pdir, sizeof(pdir), "%s/partial", store);
    assert_int_equal(mkdir(pdir, 0750), 0);
    snprintf(part, sizeof(part), "%s/%s", pdir, ohex2); /* an unfinished pull */
    write_file(part, "SGMENC", 6);

    /* a dry run lists them and removes nothing */
    s = open_store(NULL, false);
    struct gc_said said = {""};
    struct sg_model_gc_opts dry = {.dry_run = true};
    struct sg_model_gc_stats gs;
    assert_int_equal(sg_model_gc(s, &dry, gc_fn, &said, &gs, &err), 0);
    char want[400];
    snprintf(want, sizeof(want), "would remove blobs/sha256/%s %zu: named by no manifest", ohex,
             gn);
    must_say(&said, want);
    snprintf(want, sizeof(want), "would remove blobs/sha256/%s 19: named by no manifest", ohex2);
    must_say(&said, want);
    must_say(&said, "would remove tmp/new-crashed 12: left by a change that did not finish");
    snprintf(want, sizeof(want), "kept partial/%s 6: a pull's unfinished download", ohex2);
    must_say(&said, want);
    must_not_say(&said, shared + strlen(store) + 1);
    must_not_say(&said, enc + strlen(store) + 1);
    assert_int_equal(gs.files, 3);
    assert_int_equal(gs.bytes, gn + 19 + 12);
    assert_int_equal(gs.kept, 1);
    assert_true(exists(orphan) && exists(orphan2) && exists(tmpf) && exists(part));
    sg_model_store_free(s);

    /* gc removes them, and keeps every blob a manifest names */
    s = open_store(NULL, false);
    memset(&said, 0, sizeof(said));
    assert_int_equal(sg_model_gc(s, NULL, gc_fn, &said, &gs, &err), 0);
    snprintf(want, sizeof(want), "removed blobs/sha256/%s %zu:", ohex, gn);
    must_say(&said, want);
    assert_int_equal(gs.files, 3);
    assert_false(exists(orphan) || exists(orphan2) || exists(tmpf));
    assert_true(exists(part) && exists(shared) && exists(enc));
    if (sg_model_verify(s, NULL, NULL, ekey, NULL, NULL, &err) != 0)
        fail_msg("the store does not verify after gc: %s", err.msg);
    /* again: nothing left to do */
    memset(&said, 0, sizeof(said));
    assert_int_equal(sg_model_gc(s, NULL, gc_fn, &said, &gs, &err), 0);
    assert_int_equal(gs.files, 0);
    /* the partial download only when asked */
    struct sg_model_gc_opts withp = {.partial = true};
    memset(&said, 0, sizeof(said));
    assert_int_equal(sg_model_gc(s, &withp, gc_fn, &said, &gs, &err), 0);
    snprintf(want, sizeof(want), "removed partial/%s 6: a pull's unfinished download", ohex2);
    must_say(&said, want);
    assert_false(exists(part));
    assert_true(exists(shared) && exists(enc));
    /* the weights of the lost import come back with the next import of them */
    import(s, "lost", 5);
    assert_true(exists(orphan));
    sg_model_store_free(s);
}

/* Hostile contents of blobs/sha256/: a link (to a file outside the store, named like a
 * blob), a folder under a blob's name, names that are not a blob's: left alone, the link's
 * target untouched; a link in tmp/ is removed as a link (its target stays). */
static void test_gc_leaves_what_is_not_a_blob(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    char victim[200], lnk[256], folder[256], inner[300], odd[256], upper[256], tlink[256];
    snprintf(victim, sizeof(victim), "%s/precious", dir);
    write_file(victim, "precious", 8);
    const char *hex1 = "1111111111111111111111111111111111111111111111111111111111111111";
    const char *hex2 = "2222222222222222222222222222222222222222222222222222222222222222";
    snprintf(lnk, sizeof(lnk), "%s/blobs/sha256/%s", store, hex1);
    assert_int_equal(symlink(victim, lnk), 0);
    snprintf(folder, sizeof(folder), "%s/blobs/sha256/%s", store, hex2);
    assert_int_equal(mkdir(folder, 0750), 0);
    snprintf(inner, sizeof(inner), "%s/x", folder);
    write_file(inner, "x", 1);
    snprintf(odd, sizeof(odd), "%s/blobs/sha256/notes\x1b[31m.txt", store);
    write_file(odd, "mine", 4);
    snprintf(upper, sizeof(upper), "%s/blobs/sha256/%s", store,
             "ABCDEF1111111111111111111111111111111111111111111111111111111111");
    write_file(upper, "mine", 4);
    snprintf(tlink, sizeof(tlink), "%s/tmp/new-link", store);
    assert_int_equal(symlink(victim, tlink), 0);
    struct gc_said said = {""};
    struct sg_model_gc_stats gs;
    struct sg_error err = {0};
    assert_int_equal(sg_model_gc(s, NULL, gc_fn, &said, &gs, &err), 0);
    char want[300];
    snprintf(want, sizeof(want), "left blobs/sha256/%s 0: a symbolic link, which the store", hex1);
    must_say(&said, want);
    snprintf(want, sizeof(want), "left blobs/sha256/%s 0: a folder", hex2);
    must_say(&said, want);
    must_say(&said, "left blobs/sha256/notes?[31m.txt 4: not a blob's name");
    must_say(&said, "left blobs/sha256/ABCDEF1111");
    must_say(&said, "removed tmp/new-link 0:");
    must_not_say(&said, "\x1b");
    assert_int_equal(gs.left, 4);
    assert_int_equal(gs.files, 1);
    assert_true(exists(lnk) && exists(inner) && exists(odd) && exists(upper));
    assert_false(exists(tlink));
    size_t n = 0;
    char *v = read_file(victim, &n);
    assert_int_equal(n, 8);
    assert_memory_equal(v, "precious", 8);
    free(v);
    assert_int_equal(sg_model_verify(s, "m", "1", NULL, NULL, NULL, &err), 0);
    sg_model_store_free(s);
}

/* A manifest file that cannot be read (damaged, a link) may name any blob: gc removes
 * nothing and says which file stopped it; a manifest that does not verify with this key
 * still keeps its blob. */
static void test_gc_stops_at_an_unreadable_manifest(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    size_t gn = 0;
    char *g = read_file(gguf("lost.gguf", 5), &gn);
    char orphan[256], ohex[65], bad[256], tmpf[256];
    crashed_import(g, gn, orphan, ohex);
    free(g);
    snprintf(tmpf, sizeof(tmpf), "%s/tmp/new-crashed", store);
    write_file(tmpf, "x", 1);
    snprintf(bad, sizeof(bad), "%s/manifests/m/2.json", store);
    write_file(bad, "{\"payload\":", 11);
    struct gc_said said = {""};
    struct sg_model_gc_stats gs;
    struct sg_error err = {0};
    expect_err(sg_model_gc(s, NULL, gc_fn, &said, &gs, &err), SG_EINVAL, &err,
               "manifests/m/2.json is not JSON: nothing was removed");
    assert_int_equal(gs.files, 0);
    assert_true(exists(orphan) && exists(tmpf));
    write_file(bad, "{\"payload\": {\"blob\": {}}}", 25);
    expect_err(sg_model_gc(s, NULL, gc_fn, &said, &gs, &err), SG_EINVAL, &err,
               "manifests/m/2.json names no blob");
    assert_non_null(strstr(err.msg, "nothing was removed"));
    assert_true(exists(orphan) && exists(tmpf));
    /* a link in its place */
    assert_int_equal(unlink(bad), 0);
    assert_int_equal(symlink("/etc/hostname", bad), 0);
    expect_err(sg_model_gc(s, NULL, gc_fn, &said, &gs, &err), SG_EINVAL, &err,
               "manifests/m/2.json cannot be read");
    assert_true(exists(orphan));
    /* a manifest signed by another key (before a rotation) names the blob: kept */
    assert_int_equal(unlink(bad), 0);
    sg_model_store_free(s);
    static const uint8_t other[32] = {1};
    struct sg_model_store_opts o = {
        .root = store, .signing_key = other, .audit_path = "", .create = true};
    struct sg_model_store *s2 = NULL;
    assert_int_equal(sg_model_store_open(&o, &s2, &err), 0);
    char file[200];
    snprintf(file, sizeof(file), "%s", gguf("lost.gguf", 5));
    struct sg_model_import_opts io = {.file = file, .name = "old", .version = "1"};
    assert_int_equal(sg_model_import(s2, &io, NULL, &err), 0);
    sg_model_store_free(s2);
    s = open_store(NULL, false);
    assert_int_equal(sg_model_gc(s, NULL, NULL, NULL, &gs, &err), 0);
    assert_int_equal(gs.files, 0); /* tmp/ was emptied by that import */
    assert_true(exists(orphan));
    sg_model_store_free(s);
}

/* The orphans `model verify` reports are gc's own dry run (one scan, not two): the blob of
 * an import that died before its manifest, the blob of a manifest removed by hand, tmp/'s
 * leftovers; nothing is removed. It does not wait for a change that holds the lock (the
 * blob of an import under way has no manifest yet): SG_EUNAVAIL, nothing looked at. A
 * store without a lock file (as restored) is looked at, and no lock file is made; a store
 * that holds its own lock does not wait for itself. */
static void test_orphans_are_what_gc_would_remove(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    import(s, "2", 2);
    char b2[256], m2[256], orphan[256], ohex[65], tmpf[256], lock[256];
    blob_of(s, "m:2", b2, sizeof(b2));
    sg_model_store_free(s);
    struct stat sb;
    assert_int_equal(stat(b2, &sb), 0);
    uint64_t b2size = (uint64_t)sb.st_size;
    crashed_import("SGMENC01 not really", 19, orphan, ohex);
    snprintf(m2, sizeof(m2), "%s/manifests/m/2.json", store);
    assert_int_equal(unlink(m2), 0); /* removed by hand: its blob is left */
    snprintf(tmpf, sizeof(tmpf), "%s/tmp/new-crashed", store);
    write_file(tmpf, "half", 4);
    snprintf(lock, sizeof(lock), "%s/.lock", store);

    s = open_store(NULL, false);
    struct gc_said said = {""};
    struct sg_model_gc_stats gs;
    struct sg_error err = {0};
    assert_int_equal(sg_model_orphans(s, gc_fn, &said, &gs, &err), 0);
    char want[400];
    snprintf(want, sizeof(want), "would remove blobs/sha256/%s 19: named by no manifest", ohex);
    must_say(&said, want);
    snprintf(want, sizeof(want), "would remove %s %llu: named by no manifest",
             b2 + strlen(store) + 1, (unsigned long long)b2size);
    must_say(&said, want);
    must_say(&said, "would remove tmp/new-crashed 4: left by a change that did not finish");
    assert_int_equal(gs.files, 3);
    assert_int_equal(gs.bytes, 19 + b2size + 4);
    assert_true(exists(orphan) && exists(b2) && exists(tmpf));

    /* a change holds the lock (another open file description: flock conflicts) */
    int lfd = open(lock, O_RDWR | O_CLOEXEC);
    assert_true(lfd >= 0);
    assert_int_equal(flock(lfd, LOCK_EX), 0);
    memset(&said, 0, sizeof(said));
    expect_err(sg_model_orphans(s, gc_fn, &said, &gs, &err), SG_EUNAVAIL, &err,
               "a change of the store is under way");
    assert_string_equal(said.text, "");
    assert_int_equal(gs.files, 0);
    close(lfd);

    /* no lock file: looked at all the same, and none made */
    assert_int_equal(unlink(lock), 0);
    assert_int_equal(sg_model_orphans(s, NULL, NULL, &gs, &err), 0);
    assert_int_equal(gs.files, 3);
    assert_false(exists(lock));

    /* gc removes exactly those; the store then holds its lock, and finds none */
    memset(&said, 0, sizeof(said));
    assert_int_equal(sg_model_gc(s, NULL, gc_fn, &said, &gs, &err), 0);
    assert_int_equal(gs.files, 3);
    assert_false(exists(orphan) || exists(b2) || exists(tmpf));
    assert_int_equal(sg_model_orphans(s, NULL, NULL, &gs, &err), 0);
    assert_int_equal(gs.files, 0);
    sg_model_store_free(s);
}

/* A process that waited for the store's lock while the folder holding the store was
 * replaced (`restore --force` swaps the folder, under the old store's lock) must not go on
 * under the lock of a file that is gone, beside a change that holds the new one: the lock
 * is taken again on the file now there, by a change (blocking) and by backup and restore
 * (sg_model_lock_root, waiting at most as long as asked). */
static void test_lock_follows_a_replaced_lock_file(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    sg_model_store_free(s);
    char lock[256], moved[256];
    snprintf(lock, sizeof(lock), "%s/.lock", store);
    snprintf(moved, sizeof(moved), "%s/old-lock", dir);
    for (int writer = 0; writer < 2; writer++) {
        int old = open(lock, O_RDWR | O_CLOEXEC);
        assert_true(old >= 0);
        assert_int_equal(flock(old, LOCK_EX), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(old); /* the parent's lock (a descriptor inherited shares it) */
            struct sg_error e = {0};
            if (writer) { /* a change: gc waits for the lock as long as it takes */
                struct sg_model_store *cs = open_store(NULL, false);
                int rc = sg_model_gc(cs, NULL, NULL, NULL, NULL, &e);
                sg_model_store_free(cs);
                _exit(rc == 0 ? 0 : 20);
            }
            int fd = -1;
            int rc = sg_model_lock_root(store, true, 1500, NULL, NULL, &fd, &e);
            _exit(rc == SG_EUNAVAIL ? 0 : rc == 0 ? 10 : 20);
        }
        usleep(300 * 1000); /* the child waits for the old file's lock */
        assert_int_equal(rename(lock, moved), 0);
        int nw = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        assert_true(nw >= 0);
        assert_int_equal(flock(nw, LOCK_EX), 0); /* a change on the store now there */
        close(old);                              /* the old lock is let go */
        int status = 0;
        if (writer) {
            usleep(1000 * 1000);
            if (waitpid(pid, &status, WNOHANG) != 0)
                fail_msg("gc went on under the lock of a replaced lock file");
            close(nw); /* the change ends: gc goes on */
            assert_int_equal(waitpid(pid, &status, 0), pid);
        } else {
            assert_int_equal(waitpid(pid, &status, 0), pid);
            close(nw);
        }
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) != 0)
            fail_msg("%s: child exit %d (10: it took the lock of the replaced file)",
                     writer ? "a change" : "sg_model_lock_root", WEXITSTATUS(status));
        assert_int_equal(unlink(moved), 0);
    }
    /* the lock of the file there now, not created when missing */
    int fd = -1;
    struct sg_error err = {0};
    assert_int_equal(sg_model_lock_root(store, false, 0, NULL, NULL, &fd, &err), 0);
    assert_true(fd >= 0);
    struct stat a, b;
    assert_int_equal(fstat(fd, &a), 0);
    assert_int_equal(stat(lock, &b), 0);
    assert_true(a.st_ino == b.st_ino);
    close(fd);
    assert_int_equal(unlink(lock), 0);
    assert_int_equal(sg_model_lock_root(store, true, 0, NULL, NULL, &fd, &err), 0);
    assert_int_equal(fd, -1);
    assert_false(exists(lock));
}

/* The message of a command that finds the store's lock held names every command that may
 * hold it: a backup (shared) waits only for the changes (every `sovgate model` change, gc
 * included, and `restore --force`); a restore (exclusive) for the readers too (gc
 * --dry-run, verify's look for orphans, a backup). */
static void test_busy_store_names_every_lock_holder(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    sg_model_store_free(s);
    char lock[256];
    snprintf(lock, sizeof(lock), "%s/.lock", store);
    static const char *const changers[] = {"import", "pull", "promote",        "rollback",
                                           "remove", "gc",   "restore --force"};
    for (int excl = 0; excl < 2; excl++) {
        int held = open(lock, O_RDONLY | O_CLOEXEC); /* another open file: its own lock */
        assert_true(held >= 0);
        assert_int_equal(flock(held, excl ? LOCK_SH : LOCK_EX), 0);
        int fd = -1;
        struct sg_error err = {0};
        assert_int_equal(sg_model_lock_root(store, excl, 0, NULL, NULL, &fd, &err), SG_EUNAVAIL);
        assert_int_equal(fd, -1);
        if (!strstr(err.msg, "the model store is busy (") || !strstr(err.msg, lock))
            fail_msg("%s", err.msg);
        for (size_t i = 0; i < sizeof(changers) / sizeof(changers[0]); i++)
            if (!strstr(err.msg, changers[i]))
                fail_msg("does not name %s: %s", changers[i], err.msg);
        if (excl != (strstr(err.msg, "verify") && strstr(err.msg, "backup")))
            fail_msg("the readers %s named: %s", excl ? "are not" : "are", err.msg);
        close(held);
    }
}

/* ---- rollback history pins ---- */

/* Signs `payload` as a channel file of `m` with the test key (what a signer of another
 * version, or a damaged signer, would write) and writes it. */
static void write_channels(json_t *payload)
{
    char *body = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    assert_non_null(body);
    size_t tn = strlen(body) + 32;
    char *text = malloc(tn);
    snprintf(text, tn, "sovgate-model-channels:1:%s", body);
    free(body);
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t sig[64];
    size_t sl = sizeof(sig);
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, k), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sl, (unsigned char *)text, strlen(text)), 1);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    free(text);
    uint8_t pub[32];
    char hex[129], kid[SG_AUDIT_KEY_ID_STR];
    assert_int_equal(sg_audit_key_public(seed, pub), 0);
    sg_audit_key_id(pub, kid);
    sg_hex_encode(sig, 64, hex);
    json_t *doc = json_pack("{s:O,s:{s:s,s:s,s:s}}", "payload", payload, "signature", "alg",
                            "ed25519", "key_id", kid, "value", hex);
    char path[256];
    snprintf(path, sizeof(path), "%s/channels/m.json", store);
    assert_int_equal(json_dump_file(doc, path, JSON_INDENT(2) | JSON_SORT_KEYS), 0);
    json_decref(doc);
}

static json_t *read_channels(void)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/channels/m.json", store);
    json_t *doc = json_load_file(path, 0, NULL);
    assert_non_null(doc);
    json_t *p = json_incref(json_object_get(doc, "payload"));
    json_decref(doc);
    return p;
}

static json_t *chan_entry(json_t *payload, const char *ch)
{
    return json_object_get(json_object_get(payload, "channels"), ch);
}

/* promote writes, beside each history entry, the digest of the manifest the channel served;
 * rollback refuses another genuinely signed manifest under that version (the old file of a
 * version removed and imported again, put back), naming both digests and changing nothing,
 * and `verify` reports it; with the pinned manifest back it rolls back. */
static void test_rollback_refuses_another_manifest_than_the_history_pins(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    import(s, "keep", 1); /* the old weights stay: the old manifest verifies in full */
    char mpath[256], cpath[256], old_hex[65], pin[65];
    snprintf(mpath, sizeof(mpath), "%s/manifests/m/1.json", store);
    snprintf(cpath, sizeof(cpath), "%s/channels/m.json", store);
    manifest_digest(s, "m:1", old_hex);
    size_t oldn = 0, curn = 0;
    char *old = read_file(mpath, &oldn);
    struct sg_error err = {0};
    assert_int_equal(sg_model_remove(s, "m", "1", &err), 0);
    import(s, "1", 2);
    promote(s, "1", "prod");
    manifest_digest(s, "m@prod", pin);
    char *cur = read_file(mpath, &curn);
    import(s, "2", 3);
    promote(s, "2", "prod");
    json_t *p = read_channels();
    json_t *e = chan_entry(p, "prod");
    assert_int_equal(json_array_size(json_object_get(e, "history")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(e, "history"), 0)), "1");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(e, "history_manifests"), 0)), pin);
    json_decref(p);

    /* the old signed manifest put back under version 1 */
    write_file(mpath, old, oldn);
    size_t before_n = 0, after_n = 0;
    char *before = read_file(cpath, &before_n);
    char want[400];
    snprintf(want, sizeof(want),
             "manifest m 1 is sha256:%s, not sha256:%s, the one channel prod served when it left "
             "that version",
             old_hex, pin);
    struct sg_model_rollback_result rr;
    expect_err(sg_model_rollback(s, "m", "prod", &rr, &err), SG_ECRYPTO, &err, want);
    char *after = read_file(cpath, &after_n);
    assert_int_equal(before_n, after_n);
    assert_memory_equal(before, after, before_n); /* nothing changed */
    free(before);
    free(after);
    char said[1024] = "";
    assert_int_not_equal(sg_model_verify(s, "m", NULL, NULL, said_fn, said, &err), 0);
    char vwant[600];
    snprintf(vwant, sizeof(vwant), "m (channel prod, history): entry 1 of 1, version 1: %s", want);
    if (!strstr(said, vwant))
        fail_msg("verify said: %s", said);
    /* the pinned manifest back: rollback takes it */
    write_file(mpath, cur, curn);
    assert_int_equal(sg_model_verify(s, "m", NULL, NULL, NULL, NULL, &err), 0);
    assert_int_equal(sg_model_rollback(s, "m", "prod", &rr, &err), 0);
    assert_string_equal(rr.version, "1");
    assert_string_equal(rr.manifest, pin);
    assert_false(rr.unpinned);
    free(old);
    free(cur);
    sg_model_store_free(s);
}

/* A channel file written before histories were pinned (no history_manifests; its current
 * entry maybe without "manifest" too) still rolls back, by version alone, saying so; a
 * promote on it pins the entry it pushes (the current pin, else the manifest under that
 * version now) and keeps the old entries unpinned (null). */
static void test_old_channel_file_without_history_pins(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    import(s, "2", 2);
    import(s, "3", 3);
    char d1[65], d2[65], d3[65];
    manifest_digest(s, "m:1", d1);
    manifest_digest(s, "m:2", d2);
    manifest_digest(s, "m:3", d3);
    /* the old format: prod at 2 (unpinned), history [1] */
    json_t *p =
        json_pack("{s:s,s:s,s:I,s:{s:{s:s,s:[s]}}}", "schema", "sovgate-model-channels/1", "name",
                  "m", "seq", (json_int_t)5, "channels", "prod", "version", "2", "history", "1");
    write_channels(p);
    json_decref(p);
    struct sg_error err = {0};
    if (sg_model_verify(s, NULL, NULL, NULL, NULL, NULL, &err) != 0)
        fail_msg("an old-format channel file does not verify: %s", err.msg);
    promote(s, "3", "prod");
    p = read_channels();
    json_t *e = chan_entry(p, "prod");
    json_t *hm = json_object_get(e, "history_manifests");
    assert_int_equal(json_array_size(hm), 2);
    assert_true(json_is_null(json_array_get(hm, 0)));
    assert_string_equal(json_string_value(json_array_get(hm, 1)), d2); /* found under 2 */
    assert_string_equal(json_string_value(json_object_get(e, "manifest")), d3);
    json_decref(p);
    struct sg_model_rollback_result rr;
    assert_int_equal(sg_model_rollback(s, "m", "prod", &rr, &err), 0);
    assert_string_equal(rr.version, "2");
    assert_false(rr.unpinned);
    assert_int_equal(sg_model_rollback(s, "m", "prod", &rr, &err), 0);
    assert_string_equal(rr.version, "1");
    assert_string_equal(rr.manifest, d1);
    assert_true(rr.unpinned); /* the old entry: by version alone, and said so */
    p = read_channels();
    e = chan_entry(p, "prod");
    assert_string_equal(json_string_value(json_object_get(e, "manifest")), d1);
    assert_int_equal(json_array_size(json_object_get(e, "history")), 0);
    assert_int_equal(json_array_size(json_object_get(e, "history_manifests")), 0);
    json_decref(p);
    expect_err(sg_model_rollback(s, "m", "prod", &rr, &err), SG_ENOTFOUND, &err,
               "has no earlier version");
    sg_model_store_free(s);
}

/* Damaged history pins (wrong types, another count, not a digest, oversized) in a
 * genuinely signed channel file: verify reports each clearly, rollback and promote refuse
 * it before anything is written; the channel's current version still resolves. Changing
 * the pins without signing breaks the signature. */
static void test_damaged_history_pins_are_refused(void **st)
{
    (void)st;
    struct sg_model_store *s = open_store(NULL, false);
    import(s, "1", 1);
    import(s, "2", 2);
    promote(s, "1", "prod");
    promote(s, "2", "prod");
    char d1[65], cpath[256];
    manifest_digest(s, "m:1", d1);
    snprintf(cpath, sizeof(cpath), "%s/channels/m.json", store);
    char upper[65], long65[66], *huge = malloc(100001);
    snprintf(upper, sizeof(upper), "%s", d1);
    for (char *c = upper; *c; c++)
        *c = (char)(*c >= 'a' && *c <= 'f' ? *c - 'a' + 'A' : *c);
    if (strcmp(upper, d1) == 0)
        upper[0] = 'A';
    snprintf(long65, sizeof(long65), "%s0", d1);
    memset(huge, 'a', 100000);
    huge[100000] = '\0';
    const struct {
        json_t *hist, *pins;
        const char *msg;
    } bad[] = {
        {json_pack("[s]", "1"), json_string(d1), "history_manifests is not a list"},
        {json_pack("[s]", "1"), json_pack("[]"), "(0 of them for 1 history entries)"},
        {json_pack("[s]", "1"), json_pack("[s,s]", d1, d1), "(2 of them for 1 history entries)"},
        {json_pack("[s]", "1"), json_pack("[i]", 7),
         "damaged history pin 1 of 1 (version 1): not a manifest digest"},
        {json_pack("[s]", "1"), json_pack("[{s:s}]", "sha256", d1),
         "damaged history pin 1 of 1 (version 1): not a manifest digest"},
        {json_pack("[s]", "1"), json_pack("[s]", "abc"), "has 3 characters, not 64"},
        {json_pack("[s]", "1"), json_pack("[s]", long65), "is longer than 64 characters"},
        {json_pack("[s]", "1"), json_pack("[s]", huge), "is longer than 64 characters"},
        {json_pack("[s]", "1"), json_pack("[s]", upper), "an upper-case hex digit"},
        {json_pack("[s]", "1"), json_pack("[s]", ""), "is empty"},
        {json_pack("[i]", 1), json_pack("[s]", d1), "entry 1 of 1 is not a version"},
        {json_pack("[s]", "../1"), json_pack("[s]", d1), "entry 1 of 1 is not a version"},
        {json_string("1"), json_pack("[s]", d1), "damaged history (not a list)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *p = read_channels();
        json_t *e = chan_entry(p, "prod");
        json_object_set_new(e, "history", bad[i].hist);
        json_object_set_new(e, "history_manifests", bad[i].pins);
        json_object_set_new(p, "seq", json_integer(10 + (json_int_t)i));
        write_channels(p);
        json_decref(p);
        char said[1024] = "";
        struct sg_error err = {0};
        assert_int_not_equal(sg_model_verify(s, "m", NULL, NULL, said_fn, said, &err), 0);
        if (!strstr(said, "m (channel prod, history): channels of m: channel prod: ") ||
            !strstr(said, bad[i].msg))
            fail_msg("case %zu: expected \"%s\"; verify said: %s", i, bad[i].msg, said);
        if (strlen(said) > 600)
            fail_msg("case %zu: the report quotes the value: %s", i, said);
        size_t n0 = 0, n1 = 0;
        char *before = read_file(cpath, &n0);
        struct sg_model_rollback_result rr;
        expect_err(sg_model_rollback(s, "m", "prod", &rr, &err), SG_EINVAL, &err, bad[i].msg);
        expect_err(sg_model_promote(s, "m", "1", "prod", &err), SG_EINVAL, &err, bad[i].msg);
        char *after = read_file(cpath, &n1);
        assert_int_equal(n0, n1);
        assert_memory_equal(before, after, n0);
        free(before);
        free(after);
        json_t *rp = NULL; /* the gateway's resolution does not read the history */
        assert_int_equal(sg_model_resolve(s, "m@prod", &rp, NULL, &err), 0);
        json_decref(rp);
    }
    free(huge);
    /* well-formed again (null: an entry without pin) */
    json_t *p = read_channels();
    json_t *e = chan_entry(p, "prod");
    json_object_set_new(e, "history", json_pack("[s,s]", "1", "1"));
    json_object_set_new(e, "history_manifests", json_pack("[n,s]", d1));
    json_object_set_new(p, "seq", json_integer(99));
    write_channels(p);
    json_decref(p);
    struct sg_error err = {0};
    if (sg_model_verify(s, "m", NULL, NULL, NULL, NULL, &err) != 0)
        fail_msg("a well-formed history does not verify: %s", err.msg);
    /* the pins are signed: changed without the key, the file no longer verifies */
    size_t n = 0;
    char *text = read_file(cpath, &n);
    char *at = strstr(text, d1);
    assert_non_null(at);
    at[0] = at[0] == '0' ? '1' : '0';
    write_file(cpath, text, n);
    free(text);
    char said[1024] = "";
    assert_int_not_equal(sg_model_verify(s, "m", NULL, NULL, said_fn, said, &err), 0);
    if (!strstr(said, "the signature does not verify"))
        fail_msg("verify said: %s", said);
    struct sg_model_rollback_result rr;
    expect_err(sg_model_rollback(s, "m", "prod", &rr, &err), SG_ECRYPTO, &err,
               "the signature does not verify");
    sg_model_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_remove_stays_in_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blobs_are_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signer_refuses_a_put_back_channel_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_signer_state_damaged_or_unwritable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_pins_the_manifest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_keeps_a_blob_an_unverified_manifest_names,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_keeps_what_gc_keeps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_replaces_a_damaged_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_checks_the_chunk_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinks_in_the_store_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_ref_enforces_the_manifest_pin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_removes_orphaned_blobs_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_leaves_what_is_not_a_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_stops_at_an_unreadable_manifest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphans_are_what_gc_would_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_follows_a_replaced_lock_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_store_names_every_lock_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_rollback_refuses_another_manifest_than_the_history_pins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_channel_file_without_history_pins, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_damaged_history_pins_are_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
