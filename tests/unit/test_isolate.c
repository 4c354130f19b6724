/* Unit tests of src/route/isolate.c: the engine's network namespace, also for a process
 * that is not root and not dumpable (as the gateway is after `user:`), which could create
 * the namespaces but not write its own uid map: the engine then ran as the overflow user
 * and the gateway logged "network_namespace": false for a namespace that existed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <grp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "route/isolate.h"

#define TEST_UID 43210 /* no passwd entry needed */
#define TEST_GID 43211

static unsigned long long net_ns(void)
{
    struct stat st;
    return stat("/proc/self/ns/net", &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

/* Runs in a child: returns the exit code (0 ok, 1 failed, 77 cannot be tested here). */
static int child_case(bool drop, unsigned long long outer_ns)
{
    if (drop) {
        if (setgroups(0, NULL) != 0 || setgid(TEST_GID) != 0 || setuid(TEST_UID) != 0)
            return 77;
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* as the gateway keeps it */
    }
    const char *why = sg_isolate_network();
    if (why) {
        /* no privilege and no unprivileged user namespaces on this kernel: nothing to test */
        if (drop && strstr(why, "no user namespaces"))
            return 77;
        fprintf(stderr, "isolation failed: %s\n", why);
        return 1;
    }
    if (net_ns() == outer_ns) {
        fprintf(stderr, "still in the outer network namespace\n");
        return 1;
    }
    if (drop) {
        /* the same user inside, not the overflow user of an unmapped namespace */
        if (getuid() != TEST_UID || getgid() != TEST_GID) {
            fprintf(stderr, "uid %u gid %u inside\n", (unsigned)getuid(), (unsigned)getgid());
            return 1;
        }
        if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) {
            fprintf(stderr, "left dumpable\n");
            return 1;
        }
    }
    return 0;
}

static int run_case(bool drop)
{
    unsigned long long outer = net_ns();
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_case(drop, outer));
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_isolate_as_is(void **state)
{
    (void)state;
    int rc = run_case(false);
    if (rc == 77)
        skip();
    assert_int_equal(rc, 0);
}

static void test_isolate_not_root_not_dumpable(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* needs root to become another user first */
    int rc = run_case(true);
    if (rc == 77)
        skip();
    assert_int_equal(rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isolate_as_is),
        cmocka_unit_test(test_isolate_not_root_not_dumpable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
