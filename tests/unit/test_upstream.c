/* The upstream client's handling of a target's addresses. The client is compiled in (its
 * symbols take the place of sgcore's copy) so that a test can give a target two addresses
 * without a DNS name that resolves to both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../src/http/upstream.c"

#include <fcntl.h>
#include <time.h>

static bool done;

static int on_status(void *arg, int status, const char *ctype, const char *retry_after)
{
    (void)arg, (void)status, (void)ctype, (void)retry_after;
    return 0;
}

static int on_data(void *arg, const char *p, size_t n)
{
    (void)arg, (void)p, (void)n;
    return 0;
}

static void on_done(void *arg, int rc, bool aborted, const char *msg)
{
    (void)arg, (void)rc, (void)aborted, (void)msg;
    done = true;
}

/* A loopback listener on a free port; its port in *port. */
static int listener(int backlog, uint16_t *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s, backlog), 0);
    socklen_t l = sizeof(a);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &l), 0);
    *port = ntohs(a.sin_port);
    return s;
}

/* A connect that times out moves on to the next address, as a refused one does: the first
 * address is a listener whose accept queue is full (it drops new SYNs, as a broken route
 * does), the second one accepts. It used to end the transfer with "timed out" instead. */
static void test_connect_timeout_tries_next_address(void **state)
{
    (void)state;
    uint16_t dead_port, live_port;
    int dead = listener(0, &dead_port), live = listener(16, &live_port);
    int fill[4];
    struct sockaddr_in da = {.sin_family = AF_INET,
                             .sin_port = htons(dead_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < 4; i++) { /* fill the dead listener's queue: later SYNs get no answer */
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)connect(fill[i], (struct sockaddr *)&da, sizeof(da));
    }
    usleep(100000);
    struct event_base *base = event_base_new();
    struct sg_upstream *u = sg_upstream_new(base);
    struct sg_upstream_target *t = NULL;
    struct sg_error err = {0};
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", dead_port);
    assert_int_equal(sg_upstream_target_new(url, NULL, NULL, &t, &err), 0);
    struct sockaddr_in *second = (struct sockaddr_in *)&t->addrs[1];
    *second = (struct sockaddr_in){.sin_family = AF_INET,
                                   .sin_port = htons(live_port),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    t->addrlens[1] = sizeof(*second);
    t->naddrs = 2;
    struct sg_upstream_opts o = {
        .target = t, .method = "GET", .path = "/x", .connect_timeout_ms = 200};
    struct sg_upstream_callbacks cb = {on_status, on_data, on_done};
    struct sg_upstream_xfer *x = NULL;
    assert_int_equal(sg_upstream_start(u, &o, &cb, NULL, &x, &err), 0);
    fcntl(live, F_SETFL, O_NONBLOCK);
    int got = -1;
    for (int i = 0; i < 400 && got < 0 && !done; i++) { /* at most 2 s */
        event_base_loop(base, EVLOOP_NONBLOCK);
        got = accept(live, NULL, NULL);
        if (got < 0)
            usleep(5000);
    }
    assert_true(got >= 0); /* the second address was tried */
    assert_false(done);
    close(got);
    sg_upstream_cancel(x);
    sg_upstream_free(u);
    sg_upstream_target_unref(t);
    event_base_free(base);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(dead);
    close(live);
}

/* Pooled connections are shared only by targets with the same checks: the pool key names
 * the whole pin set (it named only the first pin, so a target pinning {K1} reused a
 * connection that a target pinning {K1, K2} had accepted for K2) and the CA bundle's
 * content (not only its path, which a reload may keep while the file changes). */
static void test_pool_key_covers_checks(void **state)
{
    (void)state;
    uint8_t pins[2][32];
    memset(pins[0], 0x11, 32);
    memset(pins[1], 0x22, 32);
    /* a CA bundle file: the system's, copied */
    FILE *sys = fopen("/etc/ssl/certs/ca-certificates.crt", "rb");
    if (!sys)
        skip();
    static char pem[1 << 20];
    size_t pl = fread(pem, 1, sizeof(pem), sys);
    fclose(sys);
    char ca[] = "/tmp/sg-test-upstream-ca-XXXXXX";
    int fd = mkstemp(ca);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, pem, pl), (ssize_t)pl);
    struct sg_upstream_target *both = NULL, *one = NULL, *none = NULL, *ca1 = NULL, *ca2 = NULL;
    struct sg_error err = {0};
    const char *url = "https://127.0.0.1:9";
    assert_int_equal(sg_upstream_target_new(url, NULL, NULL, &both, &err), 0);
    assert_int_equal(sg_upstream_target_new(url, NULL, NULL, &one, &err), 0);
    assert_int_equal(sg_upstream_target_new(url, NULL, NULL, &none, &err), 0);
    assert_int_equal(sg_upstream_target_pin(both, (const uint8_t(*)[32])pins, 2), 0);
    assert_int_equal(sg_upstream_target_pin(one, (const uint8_t(*)[32])pins, 1), 0);
    assert_string_not_equal(both->key, one->key);
    assert_string_not_equal(one->key, none->key);
    assert_int_equal(sg_upstream_target_new(url, NULL, ca, &ca1, &err), 0);
    assert_int_equal(write(fd, "\n", 1), 1); /* the same path, other content */
    assert_int_equal(sg_upstream_target_new(url, NULL, ca, &ca2, &err), 0);
    assert_string_not_equal(ca1->key, ca2->key);
    sg_upstream_target_unref(both);
    sg_upstream_target_unref(one);
    sg_upstream_target_unref(none);
    sg_upstream_target_unref(ca1);
    sg_upstream_target_unref(ca2);
    close(fd);
    unlink(ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_timeout_tries_next_address),
        cmocka_unit_test(test_pool_key_covers_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
