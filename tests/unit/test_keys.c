/* Unit tests of client keys: format, hashing against a known digest, constant-time
 * digest comparison, the key table built from config and database, and revocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/keys.h"

static void test_generate_format(void **state)
{
    (void)state;
    char a[SG_KEY_LEN + 1], b[SG_KEY_LEN + 1];
    assert_int_equal(sg_key_generate(a), 0);
    assert_int_equal(sg_key_generate(b), 0);
    assert_int_equal(strlen(a), SG_KEY_LEN);
    assert_memory_equal(a, "sg-", 3);
    for (size_t i = 3; i < SG_KEY_LEN; i++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]));
    assert_string_not_equal(a, b);
}

static void test_hash_vector(void **state)
{
    (void)state;
    /* SHA-256("foo") from FIPS 180-4 implementations (e.g. `printf foo | sha256sum`). */
    uint8_t h[SG_SHA256_LEN];
    char s[SG_KEY_HASH_STR];
    sg_key_hash("foo", 3, h);
    sg_key_hash_format(h, s);
    assert_string_equal(s,
                        "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae");
}

static void test_digest_compare(void **state)
{
    (void)state;
    uint8_t a[SG_SHA256_LEN], b[SG_SHA256_LEN];
    sg_key_hash("sg-one", 6, a);
    memcpy(b, a, sizeof(b));
    assert_true(sg_key_hash_equal(a, b));
    /* A difference in any single byte, first or last, is detected. */
    for (size_t i = 0; i < SG_SHA256_LEN; i++) {
        b[i] ^= 0x01;
        assert_false(sg_key_hash_equal(a, b));
        b[i] ^= 0x01;
    }
}

static const char cfg_yaml[] =
    "listen: {address: \"127.0.0.1:1\", plaintext: true}\n"
    "clients:\n"
    "  - {name: cfgclient, key_hash: "
    "\"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\", models: [m]}\n"
    "keys_db: %s\n"
    "backends: [{name: a, url: \"http://a\", sovereign: true}]\n"
    "egress: {allow: [a]}\n"
    "routes:\n"
    "  - {model: m, aliases: [m-alias], backends: [a]}\n"
    "  - {model: other, backends: [a]}\n";

static struct sg_config *load_cfg(const char *db)
{
    char y[1024];
    snprintf(y, sizeof(y), cfg_yaml, db);
    struct sg_config *c = NULL;
    struct sg_config_diags d = {0};
    assert_int_equal(sg_config_load_string(y, strlen(y), "t", "/tmp", &c, &d), 0);
    sg_config_diags_free(&d);
    return c;
}

static void test_keytab_config_and_db(void **state)
{
    (void)state;
    char dir[] = "/tmp/sgkeysXXXXXX";
    assert_non_null(mkdtemp(dir));
    char db[256];
    snprintf(db, sizeof(db), "%s/keys.db", dir);
    struct sg_error err = {0};
    char k1[SG_KEY_LEN + 1], k2[SG_KEY_LEN + 1];
    const char *models[] = {"other"};
    assert_int_equal(sg_keydb_create(db, "plugin", models, 1, k1, &err), 0);
    assert_int_equal(sg_keydb_create(db, "admin", NULL, 0, k2, &err), 0);

    struct sg_config *c = load_cfg(db);
    struct sg_keytab *t = NULL;
    assert_int_equal(sg_keytab_build(c, &t, &err), 0);
    assert_int_equal(sg_keytab_count(t), 3);

    const struct sg_client *cl = sg_keytab_lookup(t, "foo", 3);
    assert_non_null(cl);
    assert_string_equal(cl->name, "cfgclient");
    const struct sg_config_route *m = sg_config_find_route(c, "m-alias");
    const struct sg_config_route *other = sg_config_find_route(c, "other");
    assert_true(sg_client_allows(cl, m));
    assert_false(sg_client_allows(cl, other));

    cl = sg_keytab_lookup(t, k1, strlen(k1));
    assert_non_null(cl);
    assert_string_equal(cl->name, "plugin");
    assert_false(sg_client_allows(cl, m));
    assert_true(sg_client_allows(cl, other));

    cl = sg_keytab_lookup(t, k2, strlen(k2));
    assert_non_null(cl);
    assert_true(cl->all_models);

    /* Wrong keys: one character changed, a prefix, empty, the hash itself. */
    char wrong[SG_KEY_LEN + 1];
    memcpy(wrong, k1, sizeof(wrong));
    wrong[10] = wrong[10] == 'A' ? 'B' : 'A';
    assert_null(sg_keytab_lookup(t, wrong, strlen(wrong)));
    assert_null(sg_keytab_lookup(t, k1, strlen(k1) - 1));
    assert_null(sg_keytab_lookup(t, "", 0));
    assert_null(sg_keytab_lookup(
        t, "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", 71));
    sg_keytab_free(t);

    /* Revocation takes effect on the next build (reload). */
    int count = 0;
    assert_int_equal(sg_keydb_revoke(db, "plugin", NULL, &count, &err), 0);
    assert_int_equal(count, 1);
    assert_int_equal(sg_keytab_build(c, &t, &err), 0);
    assert_null(sg_keytab_lookup(t, k1, strlen(k1)));
    assert_non_null(sg_keytab_lookup(t, k2, strlen(k2)));
    sg_keytab_free(t);
    assert_int_equal(sg_keydb_revoke(db, "nobody", NULL, &count, &err), 0);
    assert_int_equal(count, 0);

    sg_config_free(c);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_keydb_missing(void **state)
{
    (void)state;
    struct sg_error err = {0};
    int count;
    assert_int_equal(sg_keydb_revoke("/nonexistent/dir/keys.db", "x", NULL, &count, &err),
                     SG_ENOTFOUND);
    char k[SG_KEY_LEN + 1];
    assert_int_not_equal(sg_keydb_create("/nonexistent/dir/keys.db", "x", NULL, 0, k, &err), 0);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/keys.db"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_format), cmocka_unit_test(test_hash_vector),
        cmocka_unit_test(test_digest_compare),  cmocka_unit_test(test_keytab_config_and_db),
        cmocka_unit_test(test_keydb_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
