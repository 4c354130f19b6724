/* Unit tests of the record of accepted channel sequence numbers (route/chanseen.h): it
 * survives a reopen, only ever grows, is written atomically with mode 0600, and a damaged,
 * oversized or wrong-type state file is a clear error naming the line, never a guess; the
 * digest kept with each number tells another file signed under that number (built on a
 * replayed one) from the file accepted; a record in memory and a merge into a new one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "route/chanseen.h"

static char dir[64];
static char state[128];

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof(dir), "/tmp/sg-chanseen-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(state, sizeof(state), "%s/model-channels.state", dir);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void test_roundtrip_and_only_grows(void **st)
{
    (void)st;
    struct sg_chanseen *s = NULL;
    struct sg_error err = {0};
    assert_int_equal(sg_chanseen_open(state, &s, &err), 0); /* no file yet: empty */
    assert_int_equal(sg_chanseen_get(s, "/srv/store/channels/shop.json"), 0);
    assert_int_equal(sg_chanseen_put(s, "/srv/store/channels/shop.json", 2, NULL, &err), 0);
    assert_int_equal(sg_chanseen_put(s, "/srv/store/channels/faq.json", 7, NULL, &err), 0);
    assert_string_equal(read_file(state),
                        "2 /srv/store/channels/shop.json\n7 /srv/store/channels/faq.json\n");
    struct stat sb;
    assert_int_equal(stat(state, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* lower or equal: nothing changes, on disk either */
    assert_int_equal(sg_chanseen_put(s, "/srv/store/channels/shop.json", 1, NULL, &err), 0);
    assert_int_equal(sg_chanseen_put(s, "/srv/store/channels/shop.json", 2, NULL, &err), 0);
    assert_int_equal(sg_chanseen_get(s, "/srv/store/channels/shop.json"), 2);
    assert_string_equal(read_file(state),
                        "2 /srv/store/channels/shop.json\n7 /srv/store/channels/faq.json\n");
    assert_int_equal(sg_chanseen_put(s, "/srv/store/channels/shop.json", 3, NULL, &err), 0);
    sg_chanseen_free(s);
    assert_int_equal(sg_chanseen_open(state, &s, &err), 0);
    assert_int_equal(sg_chanseen_get(s, "/srv/store/channels/shop.json"), 3);
    assert_int_equal(sg_chanseen_get(s, "/srv/store/channels/faq.json"), 7);
    assert_int_equal(sg_chanseen_get(s, "/srv/store/channels/shop.jso"), 0);
    assert_string_equal(sg_chanseen_path(s), state);
    /* the largest sequence number there is */
    assert_int_equal(sg_chanseen_put(s, "/a", UINT64_MAX, NULL, &err), 0);
    sg_chanseen_free(s);
    assert_int_equal(sg_chanseen_open(state, &s, &err), 0);
    assert_true(sg_chanseen_get(s, "/a") == UINT64_MAX);
    sg_chanseen_free(s);
    /* no temporary file is left behind */
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "test $(ls '%s' | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
}

static void expect_bad(const char *content, size_t n, int code, const char *msg)
{
    write_file(state, content, n);
    struct sg_chanseen *s = (struct sg_chanseen *)1;
    struct sg_error err = {0};
    assert_int_equal(sg_chanseen_open(state, &s, &err), code);
    assert_null(s);
    if (!strstr(err.msg, msg))
        fail_msg("expected \"%s\" in \"%s\"", msg, err.msg);
}

/* a string literal with its length (NUL bytes included) */
#define BAD(lit, code, msg) expect_bad(lit, sizeof(lit) - 1, code, msg)

static void test_malformed(void **st)
{
    (void)st;
    char where[160];
    snprintf(where, sizeof(where), "%s:2: expected a sequence number", state);
    BAD("1 /a\nabc /b\n", SG_EINVAL, where);
    BAD("\n", SG_EINVAL, ":1: expected a sequence number");
    BAD("5/x\n", SG_EINVAL, ":1: expected one space");
    BAD("5 relative/x\n", SG_EINVAL, ":1: expected the absolute path");
    BAD("5  /x\n", SG_EINVAL, ":1: expected the absolute path");
    BAD("5 /x", SG_EINVAL, ":1: the last line does not end");
    BAD("01 /x\n", SG_EINVAL, ":1: expected a sequence number");
    BAD("-1 /x\n", SG_EINVAL, ":1: expected a sequence number");
    BAD("18446744073709551616 /x\n", SG_EINVAL, ":1: sequence number out of range");
    BAD("1 /x\n2 /x\n", SG_EINVAL, ":2: channel file listed twice");
    BAD("1 /a\001b\n", SG_EINVAL, ":1: expected the absolute path");
    BAD("1 /a\0b\n", SG_EINVAL, ":1: expected the absolute path");
    BAD("1 /a\r\n", SG_EINVAL, ":1: expected the absolute path");
}

static void test_oversized_and_too_many(void **st)
{
    (void)st;
    size_t big = SG_CHANSEEN_MAX_BYTES + 1;
    char *b = malloc(big);
    assert_non_null(b);
    memset(b, '1', big);
    expect_bad(b, big, SG_ETOOBIG, "larger than");
    /* SG_CHANSEEN_MAX + 1 lines */
    size_t n = 0;
    for (int i = 0; i <= SG_CHANSEEN_MAX; i++)
        n += (size_t)snprintf(b + n, big - n, "1 /s/%d\n", i);
    expect_bad(b, n, SG_EINVAL, ":4097: too many channel files");
    /* exactly SG_CHANSEEN_MAX lines load; one more channel file is refused */
    n = 0;
    for (int i = 0; i < SG_CHANSEEN_MAX; i++)
        n += (size_t)snprintf(b + n, big - n, "1 /s/%d\n", i);
    write_file(state, b, n);
    free(b);
    struct sg_chanseen *s = NULL;
    struct sg_error err = {0};
    assert_int_equal(sg_chanseen_open(state, &s, &err), 0);
    assert_int_equal(sg_chanseen_get(s, "/s/4095"), 1);
    assert_int_equal(sg_chanseen_put(s, "/s/new", 1, NULL, &err), SG_ETOOBIG);
    assert_int_equal(sg_chanseen_put(s, "/s/17", 2, NULL, &err), 0); /* a known one still grows */
    sg_chanseen_free(s);
}

static void test_wrong_type_and_hostile(void **st)
{
    (void)st;
    struct sg_chanseen *s = NULL;
    struct sg_error err = {0};
    /* a folder where the file should be */
    assert_int_equal(mkdir(state, 0700), 0);
    assert_int_equal(sg_chanseen_open(state, &s, &err), SG_EINVAL);
    assert_non_null(strstr(err.msg, "not a regular file"));
    assert_int_equal(rmdir(state), 0);
    /* a symbolic link is not followed */
    char target[160];
    snprintf(target, sizeof(target), "%s/elsewhere", dir);
    write_file(target, "9 /x\n", 5);
    assert_int_equal(symlink(target, state), 0);
    assert_int_equal(sg_chanseen_open(state, &s, &err), SG_EIO);
    assert_int_equal(unlink(state), 0);
    /* a relative path, or none */
    assert_int_equal(sg_chanseen_open("model-channels.state", &s, &err), SG_EINVAL);
    assert_int_equal(sg_chanseen_open(NULL, &s, &err), SG_EINVAL);
    /* paths that cannot be recorded */
    assert_int_equal(sg_chanseen_open(state, &s, &err), 0);
    assert_int_equal(sg_chanseen_put(s, "relative.json", 1, NULL, &err), SG_EINVAL);
    assert_int_equal(sg_chanseen_put(s, "/a\nb", 1, NULL, &err), SG_EINVAL);
    assert_int_equal(sg_chanseen_put(s, "", 1, NULL, &err), SG_EINVAL);
    assert_int_equal(sg_chanseen_put(s, NULL, 1, NULL, &err), SG_EINVAL);
    assert_int_equal(sg_chanseen_get(s, NULL), 0);
    sg_chanseen_free(s);
    /* a folder that does not exist: the write fails clearly, the value stays in memory */
    char gone[160];
    snprintf(gone, sizeof(gone), "%s/no-such-folder/state", dir);
    assert_int_equal(sg_chanseen_open(gone, &s, &err), 0);
    assert_int_equal(sg_chanseen_put(s, "/s/c.json", 4, NULL, &err), SG_EIO);
    assert_non_null(strstr(err.msg, "cannot write"));
    assert_int_equal(sg_chanseen_get(s, "/s/c.json"), 4);
    sg_chanseen_free(s);
}

static const uint8_t D1[32] = {1, 2, 3}, D2[32] = {9, 9, 9};

static void test_digest_and_verdicts(void **st)
{
    (void)st;
    struct sg_chanseen *s = NULL;
    struct sg_error err = {0};
    const char *shop = "/srv/store/channels/shop.json";
    /* a record from before digests: "<seq> <path>" */
    write_file(state, "2 /srv/store/channels/shop.json\n", 32);
    assert_int_equal(sg_chanseen_open(state, &s, &err), 0);
    uint64_t rec = 99;
    assert_int_equal(sg_chanseen_check(s, shop, 2, D1, &rec), SG_CHANSEEN_OK); /* unknown */
    assert_int_equal(rec, 2);
    assert_int_equal(sg_chanseen_check(s, shop, 1, D1, NULL), SG_CHANSEEN_OLDER);
    assert_int_equal(sg_chanseen_check(s, "/other.json", 1, D1, &rec), SG_CHANSEEN_OK);
    assert_int_equal(rec, 0);
    /* the same number with its digest now known: filled in, written */
    assert_int_equal(sg_chanseen_put(s, shop, 2, D1, &err), 0);
    char want[200];
    snprintf(want, sizeof(want),
             "2 0102030000000000000000000000000000000000000000000000000000000000 %s\n", shop);
    assert_string_equal(read_file(state), want);
    /* another file under that number: refused, and the first one's digest stays */
    assert_int_equal(sg_chanseen_check(s, shop, 2, D2, &rec), SG_CHANSEEN_OTHER);
    assert_int_equal(sg_chanseen_check(s, shop, 2, D1, NULL), SG_CHANSEEN_OK);
    assert_int_equal(sg_chanseen_check(s, shop, 2, NULL, NULL), SG_CHANSEEN_OK);
    assert_int_equal(sg_chanseen_check(s, shop, 3, D2, NULL), SG_CHANSEEN_OK);
    assert_int_equal(sg_chanseen_put(s, shop, 2, D2, &err), 0);
    assert_string_equal(read_file(state), want);
    sg_chanseen_free(s);
    /* it survives a reopen */
    assert_int_equal(sg_chanseen_open(state, &s, &err), 0);
    assert_int_equal(sg_chanseen_check(s, shop, 2, D2, NULL), SG_CHANSEEN_OTHER);
    assert_int_equal(sg_chanseen_put(s, shop, 3, D2, &err), 0);
    assert_int_equal(sg_chanseen_check(s, shop, 3, D1, NULL), SG_CHANSEEN_OTHER);
    assert_int_equal(sg_chanseen_check(s, shop, 3, D2, NULL), SG_CHANSEEN_OK);
    sg_chanseen_free(s);
    /* sequence 0 (files from before sequence numbers) cannot be told apart: never OTHER */
    assert_int_equal(sg_chanseen_open(state, &s, &err), 0);
    assert_int_equal(sg_chanseen_put(s, "/z.json", 0, D1, &err), 0);
    assert_int_equal(sg_chanseen_check(s, "/z.json", 0, D2, NULL), SG_CHANSEEN_OK);
    sg_chanseen_free(s);
    /* nothing recorded at all */
    assert_int_equal(sg_chanseen_check(NULL, shop, 1, D1, &rec), SG_CHANSEEN_OK);
    assert_int_equal(rec, 0);
    /* a damaged digest is named */
    BAD("1 01020300000000000000000000000000000000000000000000000000000000zz /x\n", SG_EINVAL,
        ":1: expected a digest of 64 lowercase hex digits");
    BAD("1 0102030000000000000000000000000000000000000000000000000000000000 x\n", SG_EINVAL,
        ":1: expected the absolute path");
}

static void test_memory_and_merge(void **st)
{
    (void)st;
    struct sg_error err = {0};
    struct sg_chanseen *m = sg_chanseen_new();
    assert_non_null(m);
    assert_null(sg_chanseen_path(m));
    assert_int_equal(sg_chanseen_put(m, "/s/a.json", 2, D1, &err), 0);
    assert_int_equal(sg_chanseen_put(m, "/s/b.json", 5, NULL, &err), 0);
    assert_int_equal(sg_chanseen_get(m, "/s/a.json"), 2);
    assert_int_equal(sg_chanseen_check(m, "/s/a.json", 2, D2, NULL), SG_CHANSEEN_OTHER);
    assert_int_equal(access(state, F_OK), -1); /* no file anywhere */
    /* into a file that knows more of one channel file and less of another */
    write_file(state, "7 /s/b.json\n1 /s/a.json\n", 24);
    struct sg_chanseen *f = NULL;
    assert_int_equal(sg_chanseen_open(state, &f, &err), 0);
    assert_int_equal(sg_chanseen_merge(f, m, &err), 0);
    assert_int_equal(sg_chanseen_get(f, "/s/a.json"), 2);
    assert_int_equal(sg_chanseen_get(f, "/s/b.json"), 7);
    assert_int_equal(sg_chanseen_check(f, "/s/a.json", 2, D2, NULL), SG_CHANSEEN_OTHER);
    sg_chanseen_free(f);
    assert_int_equal(sg_chanseen_open(state, &f, &err), 0); /* written */
    assert_int_equal(sg_chanseen_check(f, "/s/a.json", 2, D2, NULL), SG_CHANSEEN_OTHER);
    /* and back into memory */
    struct sg_chanseen *m2 = sg_chanseen_new();
    assert_int_equal(sg_chanseen_merge(m2, f, &err), 0);
    assert_int_equal(sg_chanseen_get(m2, "/s/b.json"), 7);
    assert_int_equal(sg_chanseen_check(m2, "/s/a.json", 1, D1, NULL), SG_CHANSEEN_OLDER);
    sg_chanseen_free(m2);
    sg_chanseen_free(f);
    sg_chanseen_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_and_only_grows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_and_too_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_type_and_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_and_verdicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_and_merge, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
