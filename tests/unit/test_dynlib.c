/* Unit tests of the optional-library loader (core/dynlib.h): a real library's functions
 * arrive in their slots and work; a missing library or a missing symbol is a clear
 * SG_EUNAVAIL naming the library and its package, remembered for later calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/dynlib.h"

static void test_opens_and_resolves(void **state)
{
    (void)state;
    /* zlib: a library the gateway never links, so the slot can only come from dlopen */
    unsigned long (*crc)(unsigned long, const unsigned char *, unsigned) = NULL;
    const char *(*version)(void) = NULL;
    const struct sg_dynsym syms[] = {{"crc32", &crc}, {"zlibVersion", &version}};
    struct sg_dynlib lib = {"libz.so.1", "zlib1g", syms, 2, PTHREAD_MUTEX_INITIALIZER, false, ""};
    struct sg_error err = {0};
    assert_int_equal(sg_dynlib_open(&lib, &err), 0);
    assert_non_null(crc);
    assert_non_null(version);
    /* CRC-32 of "123456789" is the standard check value 0xCBF43926 */
    assert_int_equal(crc(0, (const unsigned char *)"123456789", 9), 0xCBF43926UL);
    assert_int_equal(version()[0], '1');
    /* a second call opens nothing again and succeeds */
    crc = NULL;
    assert_int_equal(sg_dynlib_open(&lib, &err), 0);
    assert_null(crc);
}

static void test_missing_library(void **state)
{
    (void)state;
    void (*fn)(void) = NULL;
    const struct sg_dynsym syms[] = {{"anything", &fn}};
    struct sg_dynlib lib = {"libsovgate-no-such-library.so.9",
                            "sovgate-nothing",
                            syms,
                            1,
                            PTHREAD_MUTEX_INITIALIZER,
                            false,
                            ""};
    struct sg_error err = {0};
    assert_int_equal(sg_dynlib_open(&lib, &err), SG_EUNAVAIL);
    assert_non_null(strstr(err.msg, "cannot load libsovgate-no-such-library.so.9"));
    assert_non_null(strstr(err.msg, "Debian package sovgate-nothing"));
    assert_null(fn);
    /* the failure is remembered: the same answer without trying again */
    struct sg_error again = {0};
    assert_int_equal(sg_dynlib_open(&lib, &again), SG_EUNAVAIL);
    assert_string_equal(again.msg, err.msg);
}

static void test_missing_symbol(void **state)
{
    (void)state;
    unsigned long (*crc)(unsigned long, const unsigned char *, unsigned) = NULL;
    void (*bogus)(void) = NULL;
    const struct sg_dynsym syms[] = {{"crc32", &crc}, {"sg_no_such_function", &bogus}};
    struct sg_dynlib lib = {"libz.so.1", "zlib1g", syms, 2, PTHREAD_MUTEX_INITIALIZER, false, ""};
    struct sg_error err = {0};
    assert_int_equal(sg_dynlib_open(&lib, &err), SG_EUNAVAIL);
    assert_non_null(
        strstr(err.msg, "libz.so.1 (Debian package zlib1g) has no sg_no_such_function"));
    assert_null(bogus);
    assert_int_equal(sg_dynlib_open(&lib, &err), SG_EUNAVAIL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opens_and_resolves),
        cmocka_unit_test(test_missing_library),
        cmocka_unit_test(test_missing_symbol),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
