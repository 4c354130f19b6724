/* The event-loop mailbox: letters posted from other threads run on the loop's thread, once
 * per posting while queued, in order; a mailbox freed with letters queued drops them. The
 * loop's base has no locks (EVENT_BASE_FLAG_NOLOCK), as the gateway's workers run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/mailbox.h"

static struct event_base *nolock_base(void)
{
    struct event_config *ec = event_config_new();
    assert_non_null(ec);
    assert_int_equal(event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK), 0);
    struct event_base *b = event_base_new_with_config(ec);
    event_config_free(ec);
    assert_non_null(b);
    return b;
}

struct counter {
    pthread_t loop_thread;
    atomic_int runs;
    atomic_int wrong_thread;
    struct event_base *base;
    int stop_at; /* loopbreak once runs reaches this */
};

static void count(void *arg)
{
    struct counter *c = arg;
    if (!pthread_equal(pthread_self(), c->loop_thread))
        atomic_fetch_add(&c->wrong_thread, 1);
    if (atomic_fetch_add(&c->runs, 1) + 1 >= c->stop_at)
        event_base_loopbreak(c->base);
}

/* Posting a queued letter again does nothing: it runs once. */
static void test_once_while_queued(void **state)
{
    (void)state;
    struct event_base *base = nolock_base();
    struct sg_mailbox *mb = sg_mailbox_new(base);
    assert_non_null(mb);
    struct counter c = {.loop_thread = pthread_self(), .base = base, .stop_at = 1000};
    struct sg_mail m;
    sg_mail_init(&m, count, &c);
    sg_mailbox_post(mb, &m);
    sg_mailbox_post(mb, &m);
    sg_mailbox_post(mb, &m);
    assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 0);
    assert_int_equal(atomic_load(&c.runs), 1);
    /* once it has run, a new posting runs it again */
    sg_mailbox_post(mb, &m);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(atomic_load(&c.runs), 2);
    /* nothing queued: the loop finds nothing to run */
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(atomic_load(&c.runs), 2);
    sg_mailbox_free(mb);
    event_base_free(base);
}

struct order {
    int seen[3];
    int n;
};

static struct order order;

static void note(void *arg)
{
    order.seen[order.n++] = (int)(intptr_t)arg;
}

static void test_order_and_drop(void **state)
{
    (void)state;
    struct event_base *base = nolock_base();
    struct sg_mailbox *mb = sg_mailbox_new(base);
    struct sg_mail a, b, c;
    sg_mail_init(&a, note, (void *)(intptr_t)1);
    sg_mail_init(&b, note, (void *)(intptr_t)2);
    sg_mail_init(&c, note, (void *)(intptr_t)3);
    sg_mailbox_post(mb, &b);
    sg_mailbox_post(mb, &a);
    sg_mailbox_post(mb, &c);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(order.n, 3);
    assert_int_equal(order.seen[0], 2);
    assert_int_equal(order.seen[1], 1);
    assert_int_equal(order.seen[2], 3);
    /* freed with letters queued: they do not run, and are no longer marked queued */
    sg_mailbox_post(mb, &a);
    sg_mailbox_post(mb, &b);
    sg_mailbox_free(mb);
    assert_false(a.queued);
    assert_false(b.queued);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(order.n, 3);
    event_base_free(base);
}

struct poster {
    struct sg_mailbox *mb;
    struct sg_mail *mail;
    int n;
};

static void *post_many(void *arg)
{
    struct poster *p = arg;
    for (int i = 0; i < p->n; i++) {
        sg_mailbox_post(p->mb, p->mail);
        if (i % 64 == 0)
            sched_yield();
    }
    return NULL;
}

/* Four threads post their own letters while the loop runs on this thread: every letter
 * runs on the loop's thread, and the last posting of each is never lost (the loop ends
 * only when each letter has run after its thread finished posting). */
static void test_threads(void **state)
{
    (void)state;
    struct event_base *base = nolock_base();
    struct sg_mailbox *mb = sg_mailbox_new(base);
    struct counter c = {.loop_thread = pthread_self(), .base = base, .stop_at = 1 << 30};
    struct sg_mail m[4];
    struct poster p[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        sg_mail_init(&m[i], count, &c);
        p[i] = (struct poster){mb, &m[i], 20000};
        assert_int_equal(pthread_create(&t[i], NULL, post_many, &p[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        while (pthread_tryjoin_np(t[i], NULL) != 0)
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    }
    /* every thread is done: whatever is still queued is woken for */
    int before = atomic_load(&c.runs);
    c.stop_at = before + 1;
    bool queued = false;
    for (int i = 0; i < 4; i++)
        queued |= m[i].queued;
    if (queued)
        event_base_loop(base, EVLOOP_ONCE); /* blocks until the eventfd wakes it */
    for (int i = 0; i < 4; i++)
        assert_false(m[i].queued);
    assert_true(atomic_load(&c.runs) >= 4);
    assert_int_equal(atomic_load(&c.wrong_thread), 0);
    sg_mailbox_free(mb);
    event_base_free(base);
}

int main(void)
{
    evthread_use_pthreads();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_once_while_queued),
        cmocka_unit_test(test_order_and_drop),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
